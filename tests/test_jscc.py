"""Token JSCC: shapes, power constraint, SNR conditioning, training, checkpoints."""

import pytest
import torch
import torch.nn.functional as F

from semclip.channels import create_channel
from semclip.errors import SemclipError
from semclip.jscc import JSCCConfig, JSCCTrainConfig, TokenJSCC, load_jscc, save_jscc, train_jscc


def clustered_tokens(n=2048, d=32, classes=8, seed=0):
    centres = F.normalize(torch.randn(classes, d, generator=torch.Generator().manual_seed(123)), dim=-1)
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(classes, (n,), generator=g)
    tokens = F.normalize(centres[labels] + 0.3 * torch.randn(n, d, generator=g) / d**0.5, dim=-1)
    return tokens, labels, centres


def test_encoder_output_is_complex_unit_power_per_sample():
    m = TokenJSCC(JSCCConfig(dim=32, k=6, width=64))
    x = m.encoder(torch.randn(5, 32), torch.zeros(5, 1))
    assert x.shape == (5, 6) and x.dtype == torch.complex64
    assert torch.allclose(x.abs().pow(2).mean(-1), torch.ones(5), atol=1e-5)


def test_bad_sizes_are_clear_errors():
    with pytest.raises(SemclipError, match="positive integer"):
        JSCCConfig(k=0)
    m = TokenJSCC(JSCCConfig(dim=32, k=4, width=16))
    with pytest.raises(SemclipError, match=r"\[B, 32\]"):
        m(torch.randn(3, 31), torch.zeros(3, 1), create_channel("awgn"))


def test_csi_decoder_needs_csi():
    m = TokenJSCC(JSCCConfig(dim=8, k=4, width=16, csi=True))
    with pytest.raises(SemclipError, match="rayleigh:decoder"):
        m(torch.randn(2, 8), torch.zeros(2, 1), create_channel("awgn"))
    dec, out = m(torch.randn(2, 8), torch.zeros(2, 1), create_channel("rayleigh:decoder"))
    assert dec.shape == (2, 8) and out.csi is not None


@pytest.fixture(scope="module")
def trained():
    tokens, labels, centres = clustered_tokens()
    torch.manual_seed(0)
    m = TokenJSCC(JSCCConfig(dim=32, k=4, width=128, depth=1))
    log = train_jscc(m, tokens, centres, JSCCTrainConfig(steps=400, batch_size=128, channels=["awgn"]))
    return m, tokens, labels, centres, log


def test_training_lowers_the_loss(trained):
    *_, log = trained
    assert log[-1]["loss"] < 0.5 * log[0]["loss"]


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


def test_checkpoint_round_trip_and_mismatch(tmp_path, trained):
    m = trained[0]
    path = save_jscc(m, tmp_path / "c.safetensors", backbone="bb-1")
    m2 = load_jscc(path, backbone="bb-1", k=4)
    x = torch.randn(3, 32)
    s = torch.full((3, 1), 5.0)
    assert torch.allclose(m.encoder(x, s), m2.encoder(x, s))
    with pytest.raises(SemclipError, match="trained for backbone"):
        load_jscc(path, backbone="other-backbone")
    with pytest.raises(SemclipError, match="k=4 symbols"):
        load_jscc(path, k=8)
    (tmp_path / "junk.safetensors").write_bytes(b"not a checkpoint")
    with pytest.raises(SemclipError, match="cannot read"):
        load_jscc(tmp_path / "junk.safetensors")
    with pytest.raises(SemclipError, match="not found"):
        load_jscc(tmp_path / "missing.safetensors")
