"""The OFDM link (``semclip.channels.ofdm``): the same numbers as Sionna's own full-grid
blocks, the physics of the TR 38.901 models, and one-line errors for what the model does not cover."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from semclip.channels import create_channel
from semclip.channels.ofdm import OFDMLink, ls_estimate, parse_link
from semclip.errors import SemclipError


def _unit_symbols(shape, seed=0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.polar(torch.ones(shape), 2 * math.pi * torch.rand(shape, generator=g))


def _sionna_chain(ch: OFDMLink, x, a, noise_grid, var, equalizer):
    """The link assembled only from Sionna's blocks, on the full resource grid: mapper,
    frequency response from the paths, channel, LS estimation with linear interpolation,
    LMMSE (or ZF) equalisation -> (unbiased estimates, effective noise) on every data element."""
    from sionna.phy.channel import ApplyOFDMChannel, cir_to_ofdm_channel, subcarrier_frequencies
    from sionna.phy.mimo import StreamManagement
    from sionna.phy.ofdm import LMMSEEqualizer, LSChannelEstimator, RemoveNulledSubcarriers, ResourceGridMapper, ZFEqualizer

    rg, b = ch.grid, x.shape[0]
    data = torch.zeros(b, 1, 1, rg.num_data_symbols, dtype=torch.complex64)
    data[..., ch.data_positions(x.shape[1])] = x[:, None, None]
    sent = ResourceGridMapper(rg)(data)
    tau = ch.delays(torch.device("cpu"))
    freqs = subcarrier_frequencies(ch.cfg.fft_size, ch.cfg.scs_khz * 1e3)
    h = cir_to_ofdm_channel(freqs, a.reshape(b, 1, 1, 1, 1, *a.shape[1:]), tau.reshape(1, 1, 1, -1).expand(b, 1, 1, -1))
    y = ApplyOFDMChannel()(sent, h) + noise_grid[:, None, None]
    no = var.reshape(b)
    if ch.cfg.csi == "ls":
        h_hat, err = LSChannelEstimator(rg, interpolation_type="lin")(y, no)
    else:
        h_hat, err = RemoveNulledSubcarriers(rg)(h), torch.zeros(())
    eq = (LMMSEEqualizer if equalizer == "lmmse" else ZFEqualizer)(rg, StreamManagement(np.array([[1]]), 1))
    return eq(y, h_hat, err, no)


@pytest.mark.parametrize("spec", ["ofdm-tdl:C:300ns:120kmh:ls", "ofdm-tdl:A:100ns:3kmh:perfect",
                                  "ofdm-cdl:B:300ns:30kmh:ls:zf", "ofdm-tdl:E:30ns:60kmh:fft64:cp5:pilots3:slots2:ls"])
def test_the_link_equals_sionnas_own_blocks(spec):
    """Same paths, same noise: our link on the block's elements gives what Sionna's mapper,
    channel, LS estimator and equaliser give on the whole grid."""
    ch = create_channel(spec)
    b, n = 8, 37
    a = ch.draw(b, torch.Generator().manual_seed(1))
    var = torch.full((b, 1), 0.05)
    rg = ch.grid
    noise_grid = torch.complex(*(torch.randn(2, b, rg.num_ofdm_symbols, rg.fft_size, generator=torch.Generator().manual_seed(2))
                                 * math.sqrt(0.025)))
    x = _unit_symbols((b, n))
    lay, pos = ch.layout, ch.data_positions(n)
    out = ch.receive(x, a, var, noise_grid[:, lay.data_symbol[pos], lay.data_carrier[pos]],
                     noise_grid[:, lay.pilot_symbol, lay.pilot_carrier])
    x_ref, no_ref = _sionna_chain(ch, x, a, noise_grid, var, ch.cfg.equalizer)
    x_ref, no_ref = x_ref.reshape(b, -1)[:, pos], no_ref.reshape(b, -1)[:, pos]
    unbiased = out.y / out.gain
    assert torch.allclose(unbiased, x_ref, rtol=1e-3, atol=1e-4)
    ours_no = out.noise_var / out.gain.pow(2)
    assert torch.allclose(ours_no, no_ref.float(), rtol=1e-3, atol=1e-5)


def test_average_power_gain_is_one():
    """E|H|^2 = 1 over the grid (the profiles' powers are normalised), TDL and CDL, within
    the 99 % interval of the mean over independent frames."""
    for spec in ("ofdm-tdl:C:300ns:120kmh", "ofdm-tdl:D:100ns:3kmh", "ofdm-cdl:A:300ns:30kmh"):
        ch = create_channel(spec)
        a = ch.draw(4000, torch.Generator().manual_seed(3))
        lay = ch.layout
        g = ch.response(a, ch.delays(torch.device("cpu")), lay.data_symbol[::97], lay.data_carrier[::97]).abs().pow(2)
        per_frame = g.mean(1)
        half = 2.58 * per_frame.std() / math.sqrt(len(per_frame))
        assert abs(per_frame.mean().item() - 1.0) < half + 1e-3, (spec, per_frame.mean().item(), half)


def _correlation(h0: torch.Tensor, h1: torch.Tensor) -> complex:
    return complex((h0 * h1.conj()).mean().item())


def test_frequency_correlation_follows_the_delay_spread():
    """The profile's RMS delay spread is the one asked for, and the correlation between
    subcarriers Delta f apart is sum_p P_p exp(-j 2 pi Delta f tau_p) (TR 38.901's power delay profile)."""
    ch = create_channel("ofdm-tdl:C:300ns:3kmh:perfect")
    model = ch._model(torch.device("cpu"))
    p, tau = model.mean_powers.double(), ch.delays(torch.device("cpu")).double()
    p = p / p.sum()
    mean = (p * tau).sum()
    assert math.isclose(math.sqrt((p * (tau - mean) ** 2).sum()), 300e-9, rel_tol=0.01)
    a = ch.draw(6000, torch.Generator().manual_seed(4))
    t0 = torch.zeros(1, dtype=torch.long)
    for shift in (1, 4, 12):
        df = shift * ch.cfg.scs_khz * 1e3
        theory = complex((p * torch.exp(-2j * math.pi * df * tau)).sum().item())
        h0 = ch.response(a, tau.float(), t0, torch.tensor([40]))
        h1 = ch.response(a, tau.float(), t0, torch.tensor([40 + shift]))
        got = _correlation(h1, h0)
        assert abs(got - theory) < 0.05, (shift, got, theory)


def test_time_correlation_follows_the_doppler():
    """Between OFDM symbols Delta t apart, a Rayleigh TDL tap decorrelates as Clarke's
    J0(2 pi f_D Delta t) (the sum-of-sinusoids model of TR 38.901's TDL)."""
    ch = create_channel("ofdm-tdl:A:100ns:120kmh:perfect")
    a = ch.draw(6000, torch.Generator().manual_seed(5))
    fd, ts = ch.cfg.max_doppler_hz, ch.cfg.symbol_duration_s
    tap = a[:, 0, :]
    power = tap.abs().pow(2).mean()
    for lag in (3, 7, 13):
        got = _correlation(tap[:, lag], tap[:, 0]).real / power.item()
        theory = torch.special.bessel_j0(torch.tensor(2 * math.pi * fd * lag * ts)).item()
        assert abs(got - theory) < 0.05, (lag, got, theory)
    assert _correlation(tap[:, 13], tap[:, 0]).real / power.item() < 0.95  # it does move at 120 km/h


def test_ls_error_matches_theory():
    """LS at a pilot: E|h_ls - h|^2 = sigma^2 / |p|^2; on a static channel, linear
    interpolation between pilot symbols t0 and t1 has sigma^2 ((1 - w)^2 + w^2), w = (t - t0) / (t1 - t0)."""
    ch = create_channel("ofdm-tdl:B:100ns:0kmh:ls")
    b, var = 4000, 0.1
    a = ch.draw(b, torch.Generator().manual_seed(6))
    tau, lay = ch.delays(torch.device("cpu")), ch.layout
    g = torch.Generator().manual_seed(7)
    hp = ch.response(a, tau, lay.pilot_symbol, lay.pilot_carrier)
    noise = torch.complex(*(torch.randn(2, *hp.shape, generator=g) * math.sqrt(var / 2)))
    yp = hp * lay.pilots + noise
    h_ls, err = ls_estimate(yp, lay.pilots, torch.full((b, 1), var), torch.eye(len(lay.pilots), dtype=torch.complex64))
    mse = (h_ls - hp).abs().pow(2).mean().item()
    assert abs(mse - var) < 3 * var / math.sqrt(b * len(lay.pilots)) * 1.5 and torch.allclose(err, torch.full_like(err, var))
    t0, t1 = ch.cfg.pilot_symbols
    for t in (4, 6, 9):
        sel = (lay.data_symbol == t).nonzero()[:, 0][:16]
        h = ch.response(a, tau, lay.data_symbol[sel], lay.data_carrier[sel])
        est, err = ls_estimate(yp, lay.pilots, torch.full((b, 1), var), lay.interpolation[sel])
        w = (t - t0) / (t1 - t0)
        theory = var * ((1 - w) ** 2 + w ** 2)
        got = (est - h).abs().pow(2).mean().item()
        assert abs(got - theory) < 0.05 * theory, (t, got, theory)
        assert torch.allclose(err.mean(), torch.tensor(var * 1.0), rtol=1e-5)  # Sionna interpolates the variance linearly


def test_common_realisations_are_shared_by_csi_modes_and_snrs_and_repeat():
    ls, perfect = create_channel("ofdm-tdl:C:300ns:120kmh:ls"), create_channel("ofdm-tdl:C:300ns:120kmh:perfect")
    h1, h2 = ls.common_fades(0, 5.0, 16), perfect.common_fades(0, 5.0, 16)
    assert torch.equal(h1, h2) and torch.equal(h1, ls.common_fades(0, 6.0, 16)) and not torch.equal(h1, ls.common_fades(1, 5.0, 16))
    x = _unit_symbols((16, 16))
    with perfect.gains(h1):
        out = perfect(x, 40.0)
    assert (out.y / out.gain - x).abs().median() < 0.05  # near noiseless with the true channel
    with pytest.raises(SemclipError, match="common fades left"), perfect.gains(h1[:4]):
        perfect(x, 10.0)


def test_a_link_is_the_same_link_in_every_run():
    """Two links of the same settings with the same noise seed give the same output: the
    pilots (random QPSK in Sionna's pattern) are drawn under a fixed seed, and building a
    link leaves Sionna's own generator where it was."""
    from sionna.phy import config

    outs = []
    for _ in range(2):
        torch.rand(3, generator=config.torch_rng("cpu"))  # Sionna's generator elsewhere, as in another process
        before = config.torch_rng("cpu").get_state()
        ch = create_channel("ofdm-tdl:C:300ns:120kmh:ls", generator=torch.Generator().manual_seed(5))
        with ch.gains(ch.common_fades(0, 5.0, 8)):
            outs.append(ch(_unit_symbols((8, 16)), 10.0).y)
        assert torch.equal(config.torch_rng("cpu").get_state(), before)
    assert torch.equal(outs[0], outs[1])


def test_names_round_trip_and_what_it_charges():
    ch = create_channel("ofdm-tdl:c:120kmh:300ns")
    assert ch.spec == "ofdm-tdl:C:300ns:120kmh:ls" and create_channel(ch.spec).spec == ch.spec
    assert create_channel("ofdm-cdl:A:fft64:cp4:pilots2:zf:perfect").spec == "ofdm-cdl:A:300ns:3kmh:fft64:cp4:pilots2:perfect:zf"
    c = ch.cfg
    assert c.data_per_frame == 12 * 128 and math.isclose(c.pilot_overhead, 2 / 14)
    assert math.isclose(c.charge, 14 / 12 * 137 / 128)
    assert ch.csi == "ls" and ch.fading and ch.codec_recipe == (("awgn", "rayleigh"), False)


@pytest.mark.parametrize("spec, message", [
    ("ofdm-tdl:F", r"unknown TDL profile 'F': choose one of A, B, C, D, E"),
    ("ofdm-tdl:C:5000ns", r"delay spread 5000 ns is outside 10..1000 ns"),
    ("ofdm-tdl:C:900kmh", r"user speed 900 km/h is outside 0..500 km/h"),
    ("ofdm-tdl:C:200ghz", r"carrier frequency 200 GHz is outside 0.5..100 GHz"),
    ("ofdm-tdl:C:fft8:cp9", r"FFT size 8 is too small for a cyclic prefix of 9 samples"),
    ("ofdm-tdl:C:sym3:pilots0+1+2", r"no data element is left"),
    ("ofdm-tdl:C:pilots:ls", r"LS estimation needs pilots"),
    ("ofdm-tdl:C:20khz", r"not an NR numerology"),
    ("ofdm-tdl:C:400kmh:28ghz:15khz", r"exceeds 10% of the 15 kHz subcarrier spacing"),
    ("ofdm-tdl:C:fast", r"unknown setting 'fast' in ofdm-tdl:C:fast; the link reads"),
])
def test_bad_links_are_one_line(spec, message):
    with pytest.raises(SemclipError, match=message) as err:
        create_channel(spec)
    assert "\n" not in str(err.value)


def test_a_block_longer_than_the_frame_is_refused():
    ch = create_channel("ofdm-tdl:C")
    with pytest.raises(SemclipError, match=r"1537 symbols do not fit in the frame .* holds 1536 data elements"):
        ch(_unit_symbols((2, 1537)), 10.0)
    assert create_channel("ofdm-tdl:C:slots2")(_unit_symbols((2, 1537)), 10.0).y.shape == (2, 1537)


def test_parse_defaults():
    assert parse_link("tdl", "") == parse_link("tdl", "C:300ns:3kmh:ls")


def test_a_sweep_on_the_link_records_what_it_charges_and_ls_costs_accuracy():
    """A token code over the link: records name the link and the receiver's knowledge, charge
    the pilots and the prefix, and (same realisations, same noise) LS estimation loses
    accuracy against perfect CSI at low SNR."""
    from semclip.eval.sweep import sweep
    from semclip.jscc.linear import LinearCode

    torch.manual_seed(0)
    tokens = torch.nn.functional.normalize(torch.randn(2000, 16), dim=-1)
    labels = (tokens[:, 0] > 0).long()
    code = LinearCode.fitted(tokens, [8], 8)
    recs = sweep(code, tokens, labels, lambda t, s: (t[:, 0] > 0).long(),
                 ["ofdm-tdl:C:300ns:120kmh:perfect", "ofdm-tdl:C:300ns:120kmh:ls"], [0.0, 30.0], outcomes=True)
    perfect, ls = recs[:2], recs[2:]
    for r in recs:
        assert r.channel == "ofdm-tdl:C:300ns:120kmh" and r.pilot_overhead == pytest.approx(2 / 14)
        assert r.channel_uses_per_image == pytest.approx(8 * 14 / 12 * 137 / 128, abs=0.01)
    assert [r.csi for r in recs] == ["perfect", "perfect", "ls", "ls"]
    assert ls[0].value < perfect[0].value and perfect[1].value > 0.95


def _sionna_only_frame_errors(snr_db: float, frames: int, k: int, n: int, seed: int, profile: str = "C", speed_kmh: float = 3.0) -> int:
    """Frames with a block error, of QPSK LDPC(k, n) over TDL-``profile`` 300 ns at ``speed_kmh``,
    LS + LMMSE, two code blocks filling each frame, assembled only from Sionna's blocks: source,
    5G LDPC encoder, mapper, resource-grid mapper, OFDM channel, LS estimator, LMMSE equaliser,
    APP demapper, BP decoder."""
    from sionna.phy import config
    from sionna.phy.channel import ApplyOFDMChannel, GenerateOFDMChannel
    from sionna.phy.channel.tr38901 import TDL
    from sionna.phy.fec.ldpc import LDPC5GDecoder, LDPC5GEncoder
    from sionna.phy.mapping import BinarySource, Demapper, Mapper
    from sionna.phy.mimo import StreamManagement
    from sionna.phy.ofdm import LMMSEEqualizer, LSChannelEstimator, ResourceGrid, ResourceGridMapper

    config.seed = seed
    rg = ResourceGrid(num_ofdm_symbols=14, fft_size=128, subcarrier_spacing=30e3, num_tx=1, num_streams_per_tx=1,
                      cyclic_prefix_length=9, pilot_pattern="kronecker", pilot_ofdm_symbol_indices=[2, 11], device="cpu")
    enc = LDPC5GEncoder(k, n, device="cpu")
    dec = LDPC5GDecoder(enc, num_iter=20, device="cpu")
    bits = BinarySource(device="cpu")([frames, 1, 1, 2, k])
    x = Mapper("qam", 2, device="cpu")(enc(bits).reshape(frames, 1, 1, 2 * n))
    h = GenerateOFDMChannel(TDL(profile, 300e-9, 3.5e9, min_speed=speed_kmh / 3.6, device="cpu"), rg)(frames)
    no = torch.tensor(10 ** (-snr_db / 10))
    y = ApplyOFDMChannel()(ResourceGridMapper(rg)(x), h, no)
    h_hat, err = LSChannelEstimator(rg, interpolation_type="lin")(y, no)
    x_hat, no_eff = LMMSEEqualizer(rg, StreamManagement(np.array([[1]]), 1))(y, h_hat, err, no)
    llr = Demapper("app", "qam", 2, device="cpu")(x_hat, no_eff)
    decoded = dec(llr.reshape(frames, 1, 1, 2, n))
    return int((decoded != bits).any(-1).reshape(frames, 2).any(1).sum())


def test_digital_link_bler_equals_a_sionna_only_chain():
    """The baselines' digital link (CRC + 5G LDPC + QPSK, Sionna's BP decoder) over our
    OFDM link, de-biased for the demapper (``coherent``), has the error rate of the same code
    over a chain built only from Sionna's OFDM blocks: the difference's 95 % interval
    (Newcombe) holds 0 at three SNRs of the waterfall. Counted per frame (either of its two
    blocks lost): the blocks of one frame share its channel, the frames are independent."""
    from fractions import Fraction

    from semclip.baselines.digital import MCS, BlockPlan, DigitalLink
    from semclip.stats import newcombe

    k, n, frames = 768, 1536, 250
    plan = BlockPlan(MCS(2, Fraction(1, 2)), 2, k, n)
    link = DigitalLink(plan, num_iter=20, decoder="sionna", device=torch.device("cpu"))
    ch = create_channel("ofdm-tdl:C:300ns:3kmh:ls", generator=torch.Generator().manual_seed(11))
    assert plan.channel_uses == ch.cfg.data_per_frame  # the frame filled, in Sionna's own order
    payload = torch.randint(0, 2, (frames, plan.payload_bits), generator=torch.Generator().manual_seed(12), dtype=torch.uint8)
    seen = []
    for i, snr in enumerate((2.0, 5.0, 8.0)):
        _, ok = link.transmit(payload, ch.coherent(), snr)
        ours = 1 - ok.all(1).float().mean().item()
        theirs = _sionna_only_frame_errors(snr, frames, k, n, seed=100 + i) / frames
        lo, hi = newcombe(ours, frames, theirs, frames)
        assert lo <= 0 <= hi, (snr, ours, theirs, lo, hi)
        seen.append(theirs)
    assert seen == sorted(seen, reverse=True) and any(0.05 < b < 0.95 for b in seen), seen  # on the waterfall


def test_capacity_bounds_over_the_frame():
    """With CSI at the transmitter a frame carries the mean of log2(1 + |H_i|^2 SNR) over the
    elements its block uses (H from Sionna's ``cir_to_ofdm_channel``); the outage rate is
    the target quantile of that capacity, so on frames it never saw about the target share
    falls below it."""
    from sionna.phy.channel import cir_to_ofdm_channel, subcarrier_frequencies

    from semclip.stats import wilson

    ch = create_channel("ofdm-tdl:C:300ns:3kmh:ls")
    n, snr = 300, 10.0
    a = ch.draw(64, torch.Generator().manual_seed(8))
    tau = ch.delays(torch.device("cpu"))
    h = cir_to_ofdm_channel(subcarrier_frequencies(128, 30e3), a.reshape(64, 1, 1, 1, 1, *a.shape[1:]),
                            tau.reshape(1, 1, 1, -1).expand(64, 1, 1, -1)).reshape(64, -1)  # [frames, symbols x subcarriers]
    lay, pos = ch.layout, ch.data_positions(n)
    h = h[:, lay.data_symbol[pos] * 128 + lay.data_carrier[pos]]
    expected = torch.log2(1 + h.abs().pow(2) * 10 ** (snr / 10)).mean(1)
    assert torch.allclose(ch.capacities(a, snr, n, 64), expected, rtol=1e-4)
    rate = ch.outage_rate(snr, 0.1, n, seed=0)
    fresh = ch.capacities(ch.draw(2000, torch.Generator().manual_seed(9)), snr, n, 2000)
    lo, hi = wilson(float((fresh < rate).float().mean()), 2000)
    assert lo <= 0.1 <= hi and rate < ch.capacity(snr)
    # the ergodic rate is the frames' mean capacity; every TDL-C element fades as Rayleigh, so it is Rayleigh's
    ergodic = ch.ergodic_rate(snr, n, seed=0)
    assert abs(ergodic - fresh.mean().item()) < 3 * fresh.std().item() / 2000 ** 0.5 + 1e-3
    assert ergodic == pytest.approx(create_channel("rayleigh").ergodic_rate(snr, n, 0), abs=0.03) and rate < ergodic
