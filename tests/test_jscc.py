"""Token JSCC: shapes, power constraint, SNR conditioning, training, checkpoints."""

import pytest
import torch
import torch.nn.functional as F

from semclip.channels import create_channel
from semclip.errors import SemclipError
from semclip.channels.base import ChannelOutput, power_normalize
from semclip.jscc import JSCCConfig, JSCCTrainConfig, TokenJSCC, load_jscc, save_jscc, train_jscc
from semclip.jscc.checkpoint import read_provenance
from semclip.jscc.linear import LinearCode
from semclip.provenance import DatasetSeen, Provenance


def clustered_tokens(n=2048, d=32, classes=8, seed=0):
    centres = F.normalize(torch.randn(classes, d, generator=torch.Generator().manual_seed(123)), dim=-1)
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(classes, (n,), generator=g)
    tokens = F.normalize(centres[labels] + 0.3 * torch.randn(n, d, generator=g) / d**0.5, dim=-1)
    return tokens, labels, centres


def test_every_prefix_is_a_unit_power_code():
    m = TokenJSCC(JSCCConfig(dim=32, ks=[2, 6], width=64))
    m.fit_base(torch.randn(64, 32))
    for k in (2, 6):
        x = m.encoder(torch.randn(5, 32), torch.zeros(5, 1), torch.full((5,), k))
        assert x.shape == (5, 6) and x.dtype == torch.complex64
        assert torch.allclose(x[:, :k].abs().pow(2).mean(-1), torch.ones(5), atol=1e-5)  # per sample, over its own k
        assert (x[:, k:] == 0).all()  # nothing sent past k
    assert m.at(2).cfg.k == 2 and m.cfg.k == 6  # a view: the codec itself is unchanged


def test_decoder_ignores_what_was_not_sent():
    m = TokenJSCC(JSCCConfig(dim=16, ks=[2, 4], width=32))
    for p in m.parameters():  # make the MLP branch live too
        torch.nn.init.normal_(p, std=0.1)
    y = torch.randn(3, 4, dtype=torch.complex64)
    y2 = y.clone()
    y2[:, 2:] = 100.0
    k, one, snr = torch.full((3,), 2), torch.ones(3, 1), torch.zeros(3, 1)
    assert torch.allclose(m.decoder(ChannelOutput(y, None, one, snr), k), m.decoder(ChannelOutput(y2, None, one, snr), k))


def test_bad_sizes_are_clear_errors():
    with pytest.raises(SemclipError, match="positive integers"):
        JSCCConfig(ks=[0, 4])
    with pytest.raises(SemclipError, match=r"serves k in \[4, 8\], not k=12"):
        TokenJSCC(JSCCConfig(dim=8, ks=[4, 8])).at(12)
    m = TokenJSCC(JSCCConfig(dim=32, ks=[4], width=16))
    with pytest.raises(SemclipError, match=r"\[B, 32\]"):
        m(torch.randn(3, 31), torch.zeros(3, 1), create_channel("awgn"))
    with pytest.raises(SemclipError, match="never fitted"):
        m(torch.randn(3, 32), torch.zeros(3, 1), create_channel("awgn"))


def test_csi_decoder_needs_csi():
    m = TokenJSCC(JSCCConfig(dim=8, ks=[4], width=16, csi=True))
    m.fit_base(torch.randn(16, 8))
    with pytest.raises(SemclipError, match="rayleigh:decoder"):
        m(torch.randn(2, 8), torch.zeros(2, 1), create_channel("awgn"))
    dec, out = m(torch.randn(2, 8), torch.zeros(2, 1), create_channel("rayleigh:decoder"))
    assert dec.shape == (2, 8) and out.csi is not None


def subspace_tokens(n=512, d=32, rank=7, seed=0):
    """Unit tokens in the (rank + 1)-dim span of a mean direction and ``rank`` others."""
    g = torch.Generator().manual_seed(seed)
    basis = torch.linalg.qr(torch.randn(d, rank + 1, generator=torch.Generator().manual_seed(7)))[0].t()
    coef = torch.randn(n, rank, generator=g) * torch.linspace(1.0, 0.3, rank)
    return F.normalize(3 * basis[0] + coef @ basis[1:], dim=-1)


@pytest.mark.parametrize("channel", ["awgn", "rayleigh:mmse", "rayleigh:zf", "rayleigh:decoder"])
def test_linear_code_is_exact_at_high_snr_and_mmse_beats_plain_inversion_at_low_snr(channel):
    tokens = subspace_tokens()
    code = LinearCode.fitted(tokens, ks=[2, 4])  # 2 k_max = 8 real directions: the whole subspace
    ch = create_channel(channel, generator=torch.Generator().manual_seed(0))
    rx = code.transmit(tokens, torch.full((512, 1), 50.0), ch)
    assert (rx * tokens).sum(1).median() > 0.99  # not exact: per-token power normalisation hides |z| from a linear receiver
    # at -5 dB the MMSE receiver is closer to the sent token than inverting the code without the noise term
    snr = torch.full((512, 1), -5.0)
    out = ch(power_normalize(code.encode(tokens, 4)), snr)
    lmmse = code.decode(out, 4)
    assert F.mse_loss(lmmse, tokens) < F.mse_loss(code.mean.expand_as(tokens), tokens)  # better than knowing nothing
    if channel == "awgn":  # the same receiver told the channel is noiseless inverts without the noise term: worse
        blind = code.decode(ChannelOutput(out.y, None, torch.full_like(out.noise_var, 1e-10), torch.full_like(snr, 100.0)), 4)
        assert F.mse_loss(lmmse, tokens) < 0.8 * F.mse_loss(blind, tokens)


def test_an_untrained_codec_is_exactly_the_linear_code():
    tokens = subspace_tokens()
    m = TokenJSCC(JSCCConfig(dim=32, ks=[2, 4], width=16))
    m.fit_base(tokens)
    lin = LinearCode.fitted(tokens, ks=[2, 4])
    for k, spec, lo in ((4, "awgn", -5), (4, "rayleigh:mmse", -5), (4, "rayleigh:decoder", -5), (2, "awgn", 70)):
        # (the codec draws noise for all k_max symbols, so at k < k_max the draws differ: compare noiselessly)
        ch = lambda: create_channel(spec, generator=torch.Generator().manual_seed(0))  # noqa: E731
        snr = torch.linspace(lo, 20 + lo, 512)[:, None]
        a = TokenJSCC(JSCCConfig(dim=32, ks=[2, 4], width=16, csi=spec.endswith("decoder")))
        a.load_state_dict(m.state_dict(), strict=False) if not spec.endswith("decoder") else a.fit_base(tokens)
        assert torch.allclose(a.at(k).transmit(tokens, snr, ch()), lin.at(k).transmit(tokens, snr, ch()), atol=1e-5 if lo < 0 else 1e-3)


@pytest.fixture(scope="module")
def trained():
    tokens, labels, centres = clustered_tokens()
    torch.manual_seed(0)
    m = TokenJSCC(JSCCConfig(dim=32, ks=[1, 4], width=128, depth=1))
    # reconstruction alone: what these tests measure (cosine, accuracy) is what that loss asks for
    log = train_jscc(m, tokens, centres, JSCCTrainConfig(steps=400, batch_size=128, channels=["awgn"], lr=2e-3,
                                                         semantic_weight=0.0, instance_weight=0.0))
    return m, tokens, labels, centres, log


def test_training_improves_on_the_linear_code_it_starts_from(trained):
    m, tokens, *_, log = trained
    assert log[-1]["loss"] < log[0]["loss"]
    test_t, _, _ = clustered_tokens(n=1000, seed=1)
    lin = LinearCode.fitted(tokens, ks=[1, 4])
    for k in (1, 4):
        cos = []
        for code in (m.at(k), lin.at(k)):
            rx = code.transmit(test_t, torch.full((1000, 1), 0.0), create_channel("awgn", generator=torch.Generator().manual_seed(0)))
            cos.append((rx * test_t).sum(1).mean())
        assert cos[0] > cos[1] + 0.01, (k, cos)


def test_accuracy_improves_with_snr_and_is_high_at_high_snr(trained):
    m, tokens, labels, centres, _ = trained
    test_t, test_l, _ = clustered_tokens(n=1000, seed=1)
    accs = {}
    for snr in (-10.0, 0.0, 20.0):
        ch = create_channel("awgn", generator=torch.Generator().manual_seed(0))
        rx = m.transmit(test_t, torch.full((1000, 1), snr), ch)
        accs[snr] = ((rx @ centres.t()).argmax(-1) == test_l).float().mean().item()
    assert accs[20.0] > 0.95
    assert accs[-10.0] < accs[0.0] <= accs[20.0] + 1e-9
    ch = create_channel("awgn", generator=torch.Generator().manual_seed(0))
    one = (m.at(1).transmit(test_t, torch.full((1000, 1), 0.0), ch) @ centres.t()).argmax(-1)
    assert (one == test_l).float().mean() < accs[0.0]  # one symbol carries less than four


def test_checkpoint_round_trip_and_mismatch(tmp_path, trained):
    m = trained[0]
    prov = Provenance("token-codec", datasets=[DatasetSeen("toy-train", "toy-train-n2048", 2048)])
    path = save_jscc(m.at(1), tmp_path / "c.safetensors", backbone="bb-1", provenance=prov)
    m2 = load_jscc(path, backbone="bb-1", k=4)
    assert m2.cfg.k == 4 and load_jscc(path).cfg.k == 4 and load_jscc(path, k=1).cfg.k == 1  # the checkpoint serves both
    x, s, k = torch.randn(3, 32), torch.full((3, 1), 5.0), torch.full((3,), 4)
    assert torch.allclose(m.encoder(x, s, k), m2.encoder(x, s, k))
    assert read_provenance(path) == prov
    with pytest.raises(SemclipError, match="trained for backbone"):
        load_jscc(path, backbone="other-backbone")
    with pytest.raises(SemclipError, match=r"serves k in \[1, 4\] complex symbols per token, not k=8"):
        load_jscc(path, k=8)
    bare = save_jscc(m, tmp_path / "bare.safetensors", backbone="bb-1")
    with pytest.raises(SemclipError, match="records no provenance"):
        read_provenance(bare)
    (tmp_path / "junk.safetensors").write_bytes(b"not a checkpoint")
    with pytest.raises(SemclipError, match="cannot read"):
        load_jscc(tmp_path / "junk.safetensors")
    with pytest.raises(SemclipError, match="no token-JSCC checkpoint at"):
        load_jscc(tmp_path / "missing.safetensors")


def test_training_works_under_a_callers_no_grad():
    """`transmit` and `serve` call the codec's training from inside torch.no_grad(): it must
    still train (it failed with 'element 0 of tensors does not require grad')."""
    from semclip.jscc.model import JSCCConfig, TokenJSCC
    from semclip.jscc.train import JSCCTrainConfig, train_jscc

    torch.manual_seed(0)
    model = TokenJSCC(JSCCConfig(dim=8, ks=[4], linear_base=False))
    before = [p.detach().clone() for p in model.parameters()]
    with torch.no_grad():
        train_jscc(model, torch.nn.functional.normalize(torch.randn(64, 8), dim=-1), None, JSCCTrainConfig(steps=3, batch_size=16))
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_killed_codec_training_resumes_to_the_same_weights(tmp_path, killed_after_save):
    """A run killed after a partial save restarts there (not at step 0) and ends with the
    weights of an uninterrupted run: optimiser, schedule and generator state are restored."""
    from semclip.jscc.model import JSCCConfig, TokenJSCC
    from semclip.jscc.train import JSCCTrainConfig, train_jscc

    tokens = F.normalize(torch.randn(200, 16), dim=-1)
    cfg = JSCCTrainConfig(steps=9, batch_size=32, channels=["awgn", "rayleigh"])

    def run(partial=None):
        torch.manual_seed(0)
        model = TokenJSCC(JSCCConfig(dim=16, ks=[4, 8]))
        log = train_jscc(model, tokens, None, cfg, partial=partial, save_every=4)
        return model, log

    whole, _ = run()
    partial = tmp_path / "c.partial.safetensors"
    saves = killed_after_save(1)  # killed right after the save at step 4
    with pytest.raises(KeyboardInterrupt):
        run(partial)
    assert partial.exists() and saves == [4]
    resumed, log = run(partial)
    assert log[0]["step"] >= 4  # went on from the save, not from 0
    for a, b in zip(whole.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)


def test_decoding_rows_of_mixed_bandwidths_without_grouping_gives_the_grouped_estimates():
    # on a GPU every bandwidth decodes the whole batch and each row keeps its own (no data-dependent
    # shapes, so no wait for the device); on the CPU each bandwidth decodes its own rows
    tokens, _, _ = clustered_tokens()
    code = LinearCode.fitted(tokens, ks=[4, 8, 16])
    model = TokenJSCC(JSCCConfig(dim=32, ks=[4, 8, 16], k=16))
    model.fit_base(tokens)
    k = torch.tensor([4, 8, 16, 8, 4, 16] * 10)
    snr = torch.linspace(-5, 20, len(k)).unsqueeze(1)
    for channel in ("awgn", "rayleigh"):
        x = model.encoder(tokens[: len(k)], snr, k)
        out = create_channel(channel, torch.Generator().manual_seed(0))(x, snr)
        grouped, masked = code.decode_rows(out, k, grouped=True), code.decode_rows(out, k, grouped=False)
        assert torch.allclose(grouped, masked, atol=1e-5), channel
        assert not torch.equal(grouped[0], grouped[1])  # rows of different k are decoded differently
