"""Our layered offset min-sum LDPC decoder against Sionna's: the same block error rate as
Sionna's decoder running the same algorithm at three SNRs, exact decoding of clean codewords
at every modulation (rate matching and bit interleaving as Sionna's), and the digital link
giving the same payloads with either decoder."""

from __future__ import annotations

import math

import pytest
import torch

from semclip.baselines.digital import MCS, BlockPlan, DigitalLink, coherent_channel
from semclip.baselines.common import BaselineConfig
from semclip.channels.registry import create_channel
from semclip.errors import SemclipError


def _llrs(link: DigitalLink, n: int, snr: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Random payloads through QAM and AWGN -> (code blocks' info bits with CRC [n * blocks, k],
    their LLRs [n * blocks, n_code])."""
    p = link.plan
    g = torch.Generator(device="cpu").manual_seed(seed)
    bits = torch.randint(0, 2, (n, p.payload_bits), generator=g, device="cpu").float()
    out = create_channel("awgn", g)(link.modulate(bits), snr)
    no = out.noise_var.expand(n, p.channel_uses).reshape(n * p.blocks, -1)
    llr = link.demapper(out.y.reshape(n * p.blocks, -1), no)
    return link.crc_enc(bits.reshape(n * p.blocks, -1)), llr


@pytest.mark.long
def test_same_bler_as_sionnas_layered_offset_min_sum_at_three_snrs():
    """Sionna's LDPC5GDecoder with the same schedule and check update is the reference: same
    LLRs, 400 codewords per SNR across the waterfall; the BLERs must agree within the
    Monte-Carlo interval (3 sigma of the difference of two binomial estimates)."""
    from sionna.phy.fec.ldpc import LDPC5GDecoder

    link = DigitalLink(BlockPlan.for_budget(256, MCS.parse("qpsk:1/3")), num_iter=20, device=torch.device("cpu"))
    ref = LDPC5GDecoder(link.enc, cn_schedule="layered", cn_update="offset-minsum", num_iter=20, hard_out=True, device="cpu")
    n = 400
    blers = []
    for i, snr in enumerate((-1.5, -0.5, 0.5)):
        truth, llr = _llrs(link, n, snr, seed=i)
        ours, iters = link.dec(llr, 20)
        p_ours = (ours != truth).any(1).float().mean().item()
        p_ref = (ref(llr) != truth).any(1).float().mean().item()
        sigma = math.sqrt((p_ours * (1 - p_ours) + p_ref * (1 - p_ref)) / n)
        assert abs(p_ours - p_ref) <= 3 * sigma + 1 / n, (snr, p_ours, p_ref)
        blers.append(p_ours)
        assert int(iters.max()) <= 20 and int(iters.min()) >= 1
    assert blers[0] > 0.3 and blers[-1] < 0.05  # the three points span the waterfall


@pytest.mark.parametrize("spec,budget", [("qpsk:1/3", 1024), ("16qam:1/2", 1024), ("64qam:2/3", 3000)])
def test_clean_codewords_decode_exactly_in_one_iteration(spec, budget):
    link = DigitalLink(BlockPlan.for_budget(budget, MCS.parse(spec)), device=torch.device("cpu"))
    truth, llr = _llrs(link, 37, 40.0, seed=3)  # 37: not a multiple of the SIMD group
    ours, iters = link.dec(llr, 20)
    assert torch.equal(ours, truth)
    assert int(iters.max()) == 1


def test_link_gives_the_same_payloads_with_either_decoder():
    plan = BlockPlan.for_payload(3000, MCS.parse("16qam:1/2"))  # one block per payload, interleaved bits
    bits = torch.randint(0, 2, (20, plan.payload_bits), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    got = {}
    for decoder in ("layered", "sionna"):
        link = DigitalLink(plan, decoder=decoder, device=torch.device("cpu"))
        ch = coherent_channel("rayleigh", torch.Generator().manual_seed(5))
        got[decoder] = link.transmit(bits, ch, 12.0)
    assert torch.equal(got["layered"][1], got["sionna"][1])  # the same blocks pass their CRC
    ok = got["layered"][1].all(1)
    assert ok.float().mean() > 0.5
    assert torch.equal(got["layered"][0][ok], bits[ok]) and torch.equal(got["sionna"][0][ok], bits[ok])


def test_unknown_decoder_is_refused():
    with pytest.raises(SemclipError, match="unknown LDPC decoder 'turbo'"):
        DigitalLink(BlockPlan.for_budget(512, MCS.parse("qpsk:1/2")), decoder="turbo")
    with pytest.raises(SemclipError, match="unknown LDPC decoder"):
        BaselineConfig(decoder="bp").validate()


@pytest.mark.parametrize("bits_per_symbol", [2, 4, 6])
def test_separable_demapper_equals_sionnas_app_demapper(bits_per_symbol):
    from sionna.phy.mapping import Demapper, Mapper

    from semclip.baselines.demapper import SeparableQAMDemapper

    g = torch.Generator(device="cpu").manual_seed(bits_per_symbol)
    x = Mapper("qam", bits_per_symbol, device="cpu")(torch.randint(0, 2, (6, 60 * bits_per_symbol), generator=g, device="cpu").float())
    no = torch.tensor([[0.05], [0.3], [1.0], [3.0], [0.01], [0.5]], device="cpu")
    y = x + (no / 2).sqrt() * torch.complex(torch.randn(x.shape, generator=g, device="cpu"), torch.randn(x.shape, generator=g, device="cpu"))
    ref = Demapper("app", "qam", bits_per_symbol, device="cpu")(y, no.expand_as(y))
    ours = SeparableQAMDemapper(bits_per_symbol)(y, no)
    assert torch.allclose(ours, ref, rtol=1e-4, atol=1e-3)


def test_pruned_matrix_is_sionnas_for_every_default_link():
    """Our decoder is built from the matrix Sionna's LDPC5GDecoder prunes (``pruned_pcm``
    replays its rule without building the BP decoder): equal, entry for entry, for every MCS
    of the default table at every budget the main job and its views use."""
    from sionna.phy.fec.ldpc import LDPC5GDecoder

    from semclip.baselines.ldpc import pruned_pcm
    from semclip.eval.views import VIEW_BUDGETS

    seen = set()
    for budget in VIEW_BUDGETS:
        for mcs in BaselineConfig().mcs_table:
            p = BlockPlan.for_budget(budget, mcs)
            if (p.info_bits, p.coded_bits, mcs.bits_per_symbol) in seen:
                continue
            seen.add((p.info_bits, p.coded_bits, mcs.bits_per_symbol))
            link = DigitalLink(p, device=torch.device("cpu"))
            ref = LDPC5GDecoder(link.enc, device="cpu").pcm
            ours = pruned_pcm(link.enc)
            assert ours.shape == ref.shape and (ours != ref).nnz == 0, (budget, mcs.name)
    assert len(seen) > 30
