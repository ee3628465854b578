"""Label-free adaptation to the sender's domain: what moves and what stays, the receiver
update and its size, the checkpoint round trip, the provenance rule and its errors."""

import json

import pytest
import torch
import torch.nn.functional as F

from semclip.channels import create_channel
from semclip.errors import SemclipError
from semclip.jscc import JSCCConfig, JSCCTrainConfig, TokenJSCC, load_jscc, save_jscc, train_jscc
from semclip.jscc.adapt import AdaptConfig, adapt_codec, adapted_provenance, check_adaptation_set
from semclip.jscc.checkpoint import read_adaptation, read_provenance
from semclip.provenance import DatasetSeen, Provenance, check, is_evaluation_split

FAST = JSCCTrainConfig(steps=60, batch_size=64, semantic_weight=0.0, instance_weight=0.0, channels=["awgn"])  # reconstruction: what error() measures


def domain(n, d, shift, seed):
    """Unit tokens around a centre, varying in a 4-dimensional subspace of their own: one
    'domain' per shift."""
    g, gd = torch.Generator().manual_seed(seed), torch.Generator().manual_seed(shift)
    centre, basis = F.normalize(torch.randn(d, generator=gd), dim=0), F.normalize(torch.randn(4, d, generator=gd), dim=-1)
    return F.normalize(centre + 0.6 * torch.randn(n, 4, generator=g) @ basis, dim=-1)



@pytest.fixture(scope="module")
def trained():
    torch.manual_seed(0)
    codec = TokenJSCC(JSCCConfig(dim=24, ks=[2, 4], width=32, depth=1))
    train_jscc(codec, domain(512, 24, 1, 0), None, FAST)
    return codec


def fresh(trained):
    codec = TokenJSCC(trained.cfg)
    codec.load_state_dict(trained.state_dict())
    return codec.eval()


def error(codec, tokens, snr=10.0):
    """Mean squared error of the received token at k=4 over a fixed noise draw."""
    with torch.no_grad():
        rx = codec.at(4).transmit(tokens, torch.full((len(tokens), 1), snr), create_channel("awgn", generator=torch.Generator().manual_seed(3)))
    return float((rx - tokens).pow(2).sum(1).mean())


def test_transmitter_mode_moves_the_encoder_only_and_helps_on_the_new_domain(trained):
    codec, before = fresh(trained), fresh(trained)
    own, held_out = domain(300, 24, 7, 1), domain(300, 24, 7, 2)  # the sender's domain, not the codec's
    adapt_codec(codec, own, None, AdaptConfig(steps=200, batch_size=64, lr=1e-3, loss=FAST))
    assert codec.decoder.update is None
    new, old = codec.state_dict(), before.state_dict()
    assert new.keys() == old.keys()  # the receiver needs nothing new
    moved = {k for k in new if not torch.equal(new[k], old[k])}
    assert moved and all(k.startswith("encoder.net.") for k in moved)  # decoder and shared linear code untouched
    assert error(codec, held_out, 0.0) < 0.95 * error(before, held_out, 0.0)
    assert all(not p.requires_grad for p in codec.parameters())


def test_both_mode_sends_an_8_bit_update_that_survives_the_checkpoint(trained, tmp_path):
    codec = fresh(trained)
    adapt_codec(codec, domain(200, 24, 7, 1), None, AdaptConfig(mode="both", steps=40, batch_size=64, lr=1e-2, loss=FAST))
    upd = codec.decoder.update
    assert upd is not None and upd.bits == 2 * (24 * 8 + 32)
    for p in (upd.shift, upd.log_scale):  # on the 8-bit grid of its own range
        step = p.abs().max() / 127
        assert step > 0 and torch.allclose(p / step, torch.round(p / step), atol=1e-3)
    path = save_jscc(codec, tmp_path / "a.safetensors", "bb", provenance=Provenance("token-codec"), adaptation={"mode": "both"})
    back = load_jscc(path, backbone="bb", k=4)
    assert read_adaptation(path) == {"mode": "both"} and back.decoder.update is not None
    tokens = domain(50, 24, 7, 5)
    ch = lambda: create_channel("awgn", generator=torch.Generator().manual_seed(0))  # noqa: E731
    snr = torch.zeros(50, 1)
    assert torch.allclose(back.transmit(tokens, snr, ch()), codec.at(4).transmit(tokens, snr, ch()), atol=1e-6)
    with pytest.raises(SemclipError, match="trained for backbone 'bb', not 'other'"):
        load_jscc(path, backbone="other")
    with pytest.raises(SemclipError, match=r"serves k in \[2, 4\] complex symbols per token, not k=16"):
        load_jscc(path, backbone="bb", k=16)


def test_bad_adaptation_sets_and_settings_are_named():
    with pytest.raises(SemclipError, match="holds 1 readable image"):
        check_adaptation_set(torch.randn(1, 24), 24, "--adapt-on x")
    with pytest.raises(SemclipError, match=r"expected tokens \[N, 24\], got \[5, 12\]"):
        check_adaptation_set(torch.randn(5, 12), 24, "--adapt-on x")
    with pytest.raises(SemclipError, match="unknown adaptation mode 'blind'"):
        AdaptConfig(mode="blind").validate()
    with pytest.raises(SemclipError, match="unknown receiver update 'decoder-net' for mode both"):
        AdaptConfig(mode="both", update="decoder-net").validate()  # a whole decoder is not sent
    with pytest.raises(SemclipError, match="unknown adaptation mode 'blind'"):
        AdaptConfig.chosen("blind")
    assert AdaptConfig.chosen("transmitter") == AdaptConfig()  # the defaults are the transmitter's chosen settings
    with pytest.raises(SemclipError, match="traffic SNR nan dB"):
        AdaptConfig(mode="receiver", traffic_snr_db=float("nan")).validate()


def test_receiver_mode_learns_from_its_own_decisions_only_and_helps(trained, monkeypatch):
    import semclip.jscc.adapt as adapt

    codec, before = fresh(trained), fresh(trained)
    own, held_out = domain(300, 24, 7, 1), domain(300, 24, 7, 2)
    seen = []
    real = adapt.jscc_loss
    monkeypatch.setattr(adapt, "jscc_loss", lambda decoded, clean, *a: (seen.append(clean), real(decoded, clean, *a))[1])
    cfg = AdaptConfig(mode="receiver", steps=200, batch_size=64, lr=1e-3, loss=FAST, traffic_snr_db=20.0, traffic_k=4, update="decoder-net")
    adapt_codec(codec, own, None, cfg)
    new, old = codec.state_dict(), before.state_dict()
    moved = {k for k in new if not torch.equal(new[k], old[k])}
    assert moved and all(k.startswith("decoder.net.") for k in moved)  # the transmitter is as shipped
    decisions = adapt.decoded_traffic(before, own, cfg, torch.Generator().manual_seed(cfg.seed))
    assert all((c @ own.t()).max() < 1 - 1e-4 for c in seen)  # the sender's tokens never reach the loss
    assert all(torch.isclose(c @ decisions.t(), torch.ones(()), atol=1e-5).any(1).all() for c in seen[:3])  # its decisions do
    assert error(codec, held_out, 0.0) < 0.95 * error(before, held_out, 0.0)
    assert "traffic_snr_db" in cfg.record() and "update" not in AdaptConfig().record() and "traffic_k" not in AdaptConfig(mode="both").record()
    with pytest.raises(SemclipError, match=r"traffic at k=16: this codec serves k in \[2, 4\]"):
        adapt_codec(fresh(trained), own, None, AdaptConfig(mode="receiver", steps=1, loss=FAST))


def test_snr_update_corrects_more_where_the_noise_is_larger():
    from semclip.jscc.model import ReceiverUpdate

    upd = ReceiverUpdate(3, snr_shift=True)
    assert upd.bits == 3 * (3 * 8 + 32)
    with torch.no_grad():
        upd.noise_shift.fill_(1.0)
    est, received = torch.zeros(2, 3), torch.zeros(2, 5)
    out = upd(est, torch.tensor([[0.0], [20.0]]), received)
    assert torch.allclose(out[0], torch.full((3,), 0.5)) and torch.allclose(out[1], torch.full((3,), 1 / 101))
    assert torch.equal(ReceiverUpdate(3)(est, torch.zeros(2, 1), received), est)


def test_low_rank_update_maps_what_was_received_and_lives_on_its_grid():
    from semclip.jscc.model import ReceiverUpdate

    upd = ReceiverUpdate.of_kind("low-rank-4-3bit", 6, 5)
    assert upd.bits == 3 * (6 * 3 + 32) + (4 * 5 * 3 + 32) + (6 * 4 * 3 + 32)  # three vectors and two factors, 3 bits a value
    with torch.no_grad():
        upd.up.copy_(torch.randn(6, 4))
    received = torch.randn(2, 5)
    out = upd(torch.zeros(2, 6), torch.full((2, 1), 60.0), received)
    upd.quantize()
    for p in upd.parameters():  # 3 bits: integers -3..3 times one step per tensor
        step = p.abs().max() / 3
        assert step == 0 or torch.allclose(p / step, torch.round(p / step), atol=1e-4)
    assert torch.allclose(out, (received @ upd.down.t()) @ upd.up.t(), atol=1e-5)  # trained on what is sent


class Split:
    def __init__(self, name, n=10):
        self.name, self.cache_id, self.n = name, f"{name}-abc", n

    def __len__(self):
        return self.n


def test_evaluation_splits_are_refused_or_marked():
    assert is_evaluation_split("fashion-mnist-test") and is_evaluation_split("clipart:test#100")
    assert is_evaluation_split("imagenet-val-n500") and not is_evaluation_split("fashion-mnist:train#1000")
    assert not is_evaluation_split("folder:/data/mytests")
    prov = Provenance("token-codec", datasets=[DatasetSeen("corpus-v3", "c", 9)])
    with pytest.raises(SemclipError, match="fashion-mnist-test is an evaluation split"):
        adapted_provenance(prov, "fashion-mnist:test#10", Split("fashion-mnist-test"), 10, "transmitter", allow_leak=False)
    leaky = adapted_provenance(prov, "fashion-mnist:test#10", Split("fashion-mnist-test"), 10, "transmitter", allow_leak=True)
    assert "NOT ZERO-SHOT" in leaky.notes[0]
    with pytest.raises(SemclipError, match="adapted \\(without labels\\) on images of fashion-mnist-test"):
        check(leaky, "fashion-mnist-test", ["bag"], allow_leak=False)
    ok = adapted_provenance(prov, "fashion-mnist:train#10", Split("fashion-mnist-train"), 10, "both", allow_leak=False)
    assert check(ok, "fashion-mnist-test", ["bag"], allow_leak=False) == []
    assert ok.adapted_on[0].used.startswith("images only") and ok.adapted_on[0].mode == "both"
    assert Provenance.from_dict(json.loads(ok.to_json())) == ok
    assert "adapted_on" not in json.loads(prov.to_json())  # records of codecs never adapted read as before


def test_adapted_checkpoint_records_what_it_was_adapted_on(trained, tmp_path):
    codec = fresh(trained)
    prov = adapted_provenance(Provenance("token-codec"), "toy:train#40", Split("toy-train", 40), 40, "transmitter", False)
    adapt_codec(codec, domain(40, 24, 7, 1), None, AdaptConfig(steps=2, batch_size=16, loss=FAST))
    path = save_jscc(codec, tmp_path / "t.safetensors", "bb", provenance=prov, adaptation={"mode": "transmitter"})
    assert read_provenance(path).adapted_on[0].spec == "toy:train#40"
    assert load_jscc(path, backbone="bb").decoder.update is None


def test_train_adapt_on_end_to_end_on_a_tiny_clip(tiny_clip_dir, image_folder, tmp_path):
    from semclip.app.train import adapt_stage
    from semclip.backbones.registry import create_backbone
    from semclip.jscc.model import ReceiverUpdate
    from semclip.jscc.train import recipe

    bb = create_backbone(f"hf-clip:{tiny_clip_dir}")
    codec = TokenJSCC(JSCCConfig(dim=bb.dim, ks=[2, 4], width=16, depth=1))
    codec.fit_base(F.normalize(torch.randn(64, bb.dim), dim=-1))
    source = save_jscc(codec, tmp_path / "c.safetensors", bb.fingerprint, extra={"train": recipe(FAST)},
                       provenance=Provenance("token-codec", datasets=[DatasetSeen("toy", "toy-1", 64)]))
    path = adapt_stage(bb, f"folder:{image_folder}#6", tmp_path / "out", source, "both", 3, 0, False, log=lambda *a: None)
    assert path.name == "jscc-adapted-both-folder-imgs-n6.safetensors"
    seen = read_provenance(path).adapted_on[0]
    assert (seen.spec, seen.n, seen.mode) == (f"folder:{image_folder}#6", 6, "both")
    chosen = ReceiverUpdate.of_kind(AdaptConfig.chosen("both").update, bb.dim, 3 * 4)  # the decoder reads 3 k_max values
    assert read_adaptation(path)["update_bits"] == chosen.bits and chosen.down is not None  # the chosen kind, low rank
    assert load_jscc(path, backbone=bb.fingerprint, k=2).decoder.update is not None
    from semclip.jscc.zoo import adapt_saved

    blind = adapt_saved(bb, source, f"folder:{image_folder}#6", AdaptConfig.chosen("receiver", steps=3, traffic_k=4),
                        tmp_path / "out" / "r.safetensors", log=lambda *a: None)
    record = read_adaptation(tmp_path / "out" / "r.safetensors")
    assert blind.decoder.update is None and record["update"] == "decoder-net" and "update_bits" not in record  # nothing sent
    assert load_jscc(tmp_path / "out" / "r.safetensors", backbone=bb.fingerprint).decoder.update is None
    with pytest.raises(SemclipError, match="is already adapted"):
        adapt_stage(bb, f"folder:{image_folder}#6", tmp_path / "out", path, "transmitter", 3, 0, False)
    with pytest.raises(SemclipError, match="fashion-mnist-test is an evaluation split"):
        adapt_stage(bb, "fashion-mnist:test#5", tmp_path / "out", source, "transmitter", 3, 0, False)
