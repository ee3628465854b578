"""The baselines' pieces: the digital chain is bit-exact without noise and its error
rates agree with theory; JPEG rate control respects the budget and loses images (grey,
never the original) when blocks fail; the quantiser and the image codec behave; and the
four baselines run end to end at the same receiver on a tiny CLIP."""

import math
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from semclip.baselines.digital import CRC_BITS, MAX_K, MCS, BlockPlan, DigitalLink, bits_from_bytes, bytes_from_bits, coherent_channel
from semclip.baselines.image_jscc import ImageJSCC, ImageJSCCConfig, auto_config, load_image_jscc, save_image_jscc
from semclip.baselines.jpeg import QUALITIES, JpegImage, decode, default_sides, frame, known_header, receive, sent_size, unframe
from semclip.baselines.quantize import TokenQuantizer
from semclip.baselines.common import BaselineConfig, Context, Outcome, best_over_mcs
from semclip.baselines.jpeg import FRAMING as JPEG_FRAMING
from semclip.baselines.jpeg_source import JpegSource
from semclip.baselines.methods.image_jpeg_ldpc import jpeg_ldpc_outcome
from semclip.channels.registry import create_channel
from semclip.errors import SemclipError
from semclip.stats import unpack_outcomes
from semclip.tasks.zeroshot import correct


def _quantizers(train: torch.Tensor):
    """Context's bits -> quantiser, fitted on ``train``."""
    return lambda bits: TokenQuantizer(train, bits)


def _texture(seed: int, size=(28, 28), mode="L") -> Image.Image:
    rng = np.random.default_rng(seed)
    shape = size[::-1] + ((3,) if mode == "RGB" else ())
    base = np.linspace(0, 255, size[0])[None, :] * np.ones(size[::-1])
    arr = np.clip(base[..., None] if mode == "RGB" else base, 0, 255) + rng.normal(0, 15, shape)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), mode)


@pytest.mark.parametrize("spec, payload", [("qpsk:1/3", 500), ("16qam:2/3", 3000), ("64qam:1/2", 2 * MAX_K),
                                           ("qpsk:1/3", 57504)])  # blocks of 8239 bits: base graph 1, no lower than 1/3
def test_digital_chain_is_bit_exact_without_noise(spec, payload):
    plan = BlockPlan.for_payload(payload, MCS.parse(spec))
    assert plan.payload_bits >= payload and plan.info_bits <= MAX_K and plan.coded_bits % plan.mcs.bits_per_symbol == 0
    link = DigitalLink(plan)
    bits = torch.randint(0, 2, (3, plan.payload_bits), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    x = link.modulate(bits)
    assert x.shape == (3, plan.channel_uses) and abs(x.abs().pow(2).mean().item() - 1) < 0.05
    got, ok = link.demodulate(x, torch.full((3, 1), 1e-4))  # the transmitted symbols themselves
    assert ok.all() and torch.equal(got, bits)
    got, ok = link.transmit(bits, create_channel("awgn"), 100.0)
    assert ok.all() and torch.equal(got, bits)
    assert plan.blocks == math.ceil(payload / (MAX_K - CRC_BITS))


def test_uncoded_qpsk_ber_matches_theory():
    """Mapper + our AWGN + demapper: BER of Gray QPSK is Q(sqrt(Es/N0)), which pins the
    SNR convention (Es/N0 per complex use, unit-energy constellations)."""
    from sionna.phy.mapping import Demapper, Mapper

    snr_db = 4.0
    bits = torch.randint(0, 2, (50, 4000), generator=torch.Generator().manual_seed(1)).float()
    x = Mapper("qam", 2)(bits)
    out = create_channel("awgn", torch.Generator().manual_seed(2))(x, snr_db)
    llr = Demapper("app", "qam", 2)(out.y, out.noise_var.expand_as(out.y.real))
    ber = ((llr > 0).float() != bits).float().mean().item()
    theory = 0.5 * math.erfc(math.sqrt(10 ** (snr_db / 10)) / math.sqrt(2))
    assert abs(ber - theory) / theory < 0.05, (ber, theory)


def test_ldpc_bler_waterfall_sits_just_above_capacity():
    """QPSK r=1/2 (1 information bit per use; Shannon limit 0 dB, QPSK-constrained 0.19 dB)
    with k=1024: below the Shannon limit (nearly) every block must fail, and BP decoding of
    a code of this length should work within 2.5 dB of the limit."""
    plan = BlockPlan.for_payload(1024 - CRC_BITS, MCS.parse("qpsk:1/2"))
    link = DigitalLink(plan)
    bits = torch.randint(0, 2, (60, plan.payload_bits), dtype=torch.uint8, generator=torch.Generator().manual_seed(3))
    bler = {}
    for snr in (-1.0, 2.5):
        _, ok = link.transmit(bits, create_channel("awgn", torch.Generator().manual_seed(4)), snr)
        bler[snr] = 1 - ok.float().mean().item()
    assert bler[-1.0] > 0.95 and bler[2.5] < 0.05, bler


def test_block_plans_and_mcs_parsing():
    plan = BlockPlan.for_budget(1024, MCS.parse("64qam:2/3"))
    assert plan.channel_uses <= 1024 and plan.info_bits == 4096
    assert BlockPlan.for_budget(1024, MCS.parse("qpsk:1/3")).channel_uses == 1024
    assert MCS.parse("16-QAM:1/2").efficiency == 2.0 and MCS.parse("qpsk:1/3").name == "QPSK r=1/3"
    for bad in ("8psk:1/2", "qpsk:3/2", "qpsk", "16qam:x"):
        with pytest.raises(SemclipError, match="bad MCS"):
            MCS.parse(bad)
    with pytest.raises(SemclipError, match="too few"):
        BlockPlan.for_budget(4, MCS.parse("qpsk:1/3"))
    big = BlockPlan.for_budget(6001, MCS.parse("qpsk:1/3"))  # blocks of 4000 bits: base graph 1, no lower than 1/3
    assert big.channel_uses <= 6001 and 3 * big.info_bits >= big.coded_bits
    DigitalLink(big)  # Sionna accepts it
    with pytest.raises(SemclipError, match="need CSI|CSI at the receiver"):
        coherent_channel("rayleigh:none")
    assert coherent_channel("rayleigh").csi == "zf"


def test_bit_packing_roundtrip_and_overflow():
    data = bytes(range(256))
    assert bytes_from_bits(bits_from_bytes(data, 8 * 256 + 5)) == data
    with pytest.raises(SemclipError, match="do not fit"):
        bits_from_bytes(b"abc", 16)


@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_abbreviated_jpeg_is_the_file_pillow_writes(mode):
    import io

    im = _texture(0, (28, 20), mode)
    j = JpegImage.of(im)
    for q in (5, 50, 90):
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=q, subsampling=0 if mode == "RGB" else -1)
        assert known_header(q, im.size, mode) + j.scan(28, q) + b"\xff\xd9" == buf.getvalue()
    assert len(j.scan(28, 5)) < len(j.scan(28, 50)) < len(j.scan(28, 90))
    assert decode(j.scan(28, 50), 50, im.size, mode).size == im.size
    empty = decode(b"", 50, im.size, mode)  # an empty scan must not raise: None, or a frame of the right size
    assert empty is None or (empty.size == im.size and empty.mode == mode)
    budget = len(j.scan(28, 50))
    assert j.best_fit(budget) == max(q for q in QUALITIES if len(j.scan(28, q)) <= budget) >= 50
    assert j.best_fit(len(j.scan(28, 1)) - 1) is None


def test_downscaled_jpeg_rate_distortion_choice():
    """Sides 28 down to 7 for a 28-px image; a smaller picture is sent when the full one does
    not fit, the receiver shows it at the original size, and among what fits the transmitter
    takes the least pixel error (by hand over every side), reading no label."""
    im = _texture(3, (28, 28))
    assert default_sides(im.size) == (28, 20, 14, 10, 7)
    assert sent_size((28, 20), 14) == (14, 10)
    j = JpegImage.of(im, default_sides(im.size))
    tight = len(j.scan(28, 1)) - 1  # the full-size picture no longer fits at any quality
    side, q = j.choose(tight)
    assert side < 28 and len(j.scan(side, q)) <= tight
    fits = [(s, j.best_fit(tight, s)) for s in j.sides if j.best_fit(tight, s)]
    errors = {sq: float(np.mean((np.asarray(receive(j.scan(*sq), sq[1], sq[0], im.size, "L"), float) - np.asarray(im, float)) ** 2))
              for sq in fits}
    assert (side, q) == min(errors, key=errors.get)
    assert receive(j.scan(side, q), q, side, im.size, "L").size == im.size
    assert j.choose(len(j.scan(7, 1)) - 1) is None  # nothing fits: the image is lost
    loose = j.choose(10_000)
    assert loose[0] == 28 and loose[1] == 95  # room for everything: full size at the top quality
    payload = frame(q, side, j.scan(side, q))
    assert unframe(payload, tight, j.sides) == (q, side, j.scan(side, q))
    assert unframe(payload, tight, (28,)) is None  # a side the receiver does not serve
    with pytest.raises(SemclipError, match=r"side\(s\) \[40\] px outside 4..28"):
        JpegImage.of(im, (28, 40))
    with pytest.raises(SemclipError, match="JPEG sides must be pixels"):
        BaselineConfig(jpeg_sides=[2]).validate()


def _context(backbone, n=6, tokens=None):
    from semclip.tasks.zeroshot import ZeroShotClassifier

    images = [_texture(i) for i in range(n)]
    with torch.no_grad():
        from semclip.backbones.stream import encode_images

        toks = encode_images(backbone, lambda i: images[i], range(n))
    clf = ZeroShotClassifier(backbone, ["dark thing", "bright thing"])
    return Context(backbone, clf, images, torch.tensor([i % 2 for i in range(n)]), toks, _quantizers(torch.randn(50, toks.shape[1])), None, "t", 0)


def test_jpeg_over_ldpc_respects_budget_and_loses_images_as_grey(tiny_clip_dir):
    from semclip.backbones.registry import create_backbone
    from semclip.baselines.receiver import ImageReceiver

    backbone = create_backbone(f"hf-clip:{tiny_clip_dir}")
    ctx = _context(backbone)
    src = JpegSource(ctx, ImageReceiver(backbone))
    shown = []
    src.outcomes = lambda s: shown.append(s) or torch.zeros(len(s), dtype=torch.bool)  # record what the receiver was shown
    for spec, snr, lost in (("qpsk:1/3", 30.0, 0.0), ("64qam:2/3", -5.0, 1.0)):
        link = DigitalLink(BlockPlan.for_budget(400, MCS.parse(spec)))
        o = jpeg_ldpc_outcome(src, link, coherent_channel("awgn", torch.Generator().manual_seed(0)), snr, 4)
        assert o.lost == lost and o.uses == link.plan.channel_uses <= 1024
        max_scan = link.plan.payload_bits // 8 - JPEG_FRAMING
        for i, (im, key) in enumerate(shown[-1]):
            if lost:  # every block failed: a grey frame, never the original
                assert key[0] == "grey" and set(np.asarray(im).ravel()) == {128}
            else:
                side, q = key[1:]
                assert key == (i, side, q) and len(src.jpegs[i].scan(side, q)) <= max_scan
                assert (side, q) == src.jpegs[i].choose(max_scan)


def test_held_pictures_are_not_decoded_again(tiny_clip_dir):
    """A JPEG whose tokens the receiver holds is shown by its key alone (no decode), with the
    same tokens; a picture neither shown nor held is an error, not a silent zero."""
    from semclip.backbones.registry import create_backbone
    from semclip.baselines.receiver import ImageReceiver

    backbone = create_backbone(f"hf-clip:{tiny_clip_dir}")
    ctx = _context(backbone)
    receiver = ImageReceiver(backbone)
    src = JpegSource(ctx, receiver)
    choices = [j.choose(200) for j in src.jpegs]
    first = [src.received(i, c) for i, c in enumerate(choices)]
    assert all(im is not None for im, _ in first)
    tokens = receiver.tokens(*zip(*first))
    again = [src.received(i, c) for i, c in enumerate(choices)]
    assert all(im is None for im, _ in again) and [k for _, k in again] == [k for _, k in first]
    assert torch.equal(receiver.tokens(*zip(*again)), tokens)
    with pytest.raises(ValueError, match="missing"):
        receiver.tokens([None], [("never", "held")])


def test_mcs_search_stops_after_a_total_loss():
    table = [MCS.parse(s) for s in ("qpsk:1/3", "qpsk:2/3", "16qam:1/2", "64qam:2/3")]
    seen = []

    def evaluate(m):
        seen.append(m)
        return Outcome(torch.arange(10) < [5, 7, 1, 9][len(seen) - 1], uses=10, lost=[0, 0, 1.0, 0][len(seen) - 1], detail=m.name)

    best = best_over_mcs(table, evaluate)
    assert best.detail == "QPSK r=2/3" and len(seen) == 3


def test_quantiser_roundtrip():
    t = torch.nn.functional.normalize(torch.randn(200, 16), dim=-1)
    for bits in (1, 2, 8):
        q = TokenQuantizer(t, bits)
        b = q.encode(t[:10])
        assert b.shape == (10, 16 * bits) and b.dtype == torch.uint8 and set(b.unique().tolist()) <= {0, 1}
        cos = (q.decode(b) * t[:10]).sum(-1)
        assert cos.min() > {1: 0.6, 2: 0.85, 8: 0.999}[bits]
    with pytest.raises(SemclipError, match="1..16 bits"):
        TokenQuantizer(t, 0)
    with pytest.raises(SemclipError, match=r"tokens \[B, 16\]"):
        q.encode(torch.zeros(2, 5))


def test_one_bit_quantiser_levels_by_hand():
    """1 bit per component: the threshold is the (lower) median, the two levels the means of the
    training values on each side of it."""
    train = torch.tensor([[-1.0, 10.0], [-1.0, 20.0], [1.0, 30.0], [3.0, 40.0]])
    q = TokenQuantizer(train, 1)
    assert q.lo.tolist() == [-1.0, 20.0]  # torch's median of an even count is the lower middle value
    assert q.levels.tolist() == [[-1.0, 2.0], [15.0, 35.0]]  # mean of {-1,-1} and {1,3}; of {10,20} and {30,40}
    bits = q.encode(torch.tensor([[0.0, 25.0], [-5.0, 0.0]]))
    assert bits.tolist() == [[1, 1], [0, 0]]
    expected = torch.nn.functional.normalize(torch.tensor([[2.0, 35.0], [-1.0, 15.0]]), dim=-1)
    assert torch.allclose(q.decode(bits), expected)


def test_capacity_and_outage_bounds_by_hand():
    """AWGN at 10 dB carries log2(1 + 10) = 3.4594 bits per channel use; with a budget of 300 uses
    an image gets the best JPEG whose scan and 4 framing bytes fit 300 * 3.4594 / 8 = 129.7 bytes;
    at -10 dB nothing fits and it is lost. Every image baseline occupies its budget. On Rayleigh
    the outage bound sends at one rate R = log2(1 - SNR ln(1 - 0.1)) and loses exactly the images
    whose fade cannot carry it; the capacity bound (CSIT) adapts to each fade."""
    import math

    from semclip.baselines.receiver import ImageReceiver
    from semclip.baselines.common import BASELINES
    from scipy.special import exp1

    from semclip.channels.rayleigh import common_gains

    class Receiver(ImageReceiver):  # the arithmetic is the test here, not the backbone
        def __init__(self):
            super().__init__(None)
            self.shown = []

        def tokens(self, images, keys):
            self.shown.append(images)
            return torch.zeros(len(images), 2)

    images = [_texture(i, (24, 24)) for i in range(3)]
    clf = type("Clf", (), {"predict": lambda self, t: torch.zeros(len(t), dtype=torch.long)})()
    ctx = Context(None, clf, images, torch.zeros(3, dtype=torch.long), torch.zeros(3, 2), _quantizers(torch.zeros(5, 2)), None, "t", 0)
    receiver = Receiver()
    src = JpegSource(ctx, receiver)
    cfg = BaselineConfig(budget=300)
    capacity, outage = BASELINES.create("image-capacity"), BASELINES.create("image-outage")
    recs = capacity.run(ctx, cfg, "awgn", [10.0, -10.0], receiver, lambda: None)
    c = 3.4594316186372973  # log2(11)
    fits = [j.choose(300 * c / 8 - 4) for j in src.jpegs]
    assert all(fits) and [r.channel_uses_per_image for r in recs] == [300.0, 300.0]
    assert "fit no JPEG 1.000" in recs[1].detail and recs[0].value == 1.0 and recs[0].receiver is None
    assert outage.run(ctx, cfg, "awgn", [10.0], receiver, lambda: None)[0].value == recs[0].value  # AWGN: the same bound
    # Rayleigh at 5 dB: which images the outage bound loses, by hand
    snr = 5.0
    rate = math.log2(1 - 10 ** (snr / 10) * math.log(0.9))
    inst = torch.log2(1 + common_gains(0, snr, 3).abs().pow(2).reshape(-1).cpu() * 10 ** (snr / 10))
    expect_lost = sum(1 for i, j in enumerate(src.jpegs) if inst[i] < rate or j.choose(300 * rate / 8 - 4) is None)
    out = outage.run(ctx, cfg, "rayleigh", [snr], receiver, lambda: None)[0]
    assert f"fixed rate {rate:.3f}" in out.detail and f"images lost {expect_lost / 3:.3f}" in out.detail
    cap = capacity.run(ctx, cfg, "rayleigh", [snr], receiver, lambda: None)[0]
    assert cap.receiver == "csit" and out.receiver is None and out.channel_uses_per_image == 300.0
    # the ergodic bound: every image at E[log2(1 + |h|^2 SNR)] whatever its fade; lost only if no JPEG fits
    ergodic = BASELINES.create("image-ergodic").run(ctx, cfg, "rayleigh", [snr], receiver, lambda: None)[0]
    rate = math.exp(10 ** (-snr / 10)) * exp1(10 ** (-snr / 10)) / math.log(2)
    expect_lost = sum(1 for j in src.jpegs if j.choose(300 * rate / 8 - 4) is None)
    assert f"fixed rate {rate:.3f}" in ergodic.detail and f"images lost {expect_lost / 3:.3f}" in ergodic.detail
    assert ergodic.method == "image-ergodic" and ergodic.receiver is None


def test_image_jscc_shapes_power_checkpoint(tmp_path):
    cfg = auto_config(_texture(0, (28, 28)))
    assert (cfg.size, cfg.channels, cfg.channel_uses) == (28, 1, 98)
    assert auto_config(Image.new("RGB", (300, 200))).size == 64
    model = ImageJSCC(cfg)
    x = torch.rand(3, 1, 28, 28)
    sym = model.encode(x, torch.zeros(3, 1))
    assert sym.shape == (3, 98) and torch.allclose(sym.abs().pow(2).mean(1), torch.ones(3), atol=1e-5)
    rec, _ = model(x, torch.zeros(3, 1), create_channel("awgn"))
    assert rec.shape == x.shape and rec.min() >= 0 and rec.max() <= 1
    with pytest.raises(SemclipError, match="expects images"):
        model(torch.rand(3, 3, 28, 28), torch.zeros(3, 1), create_channel("awgn"))
    path = save_image_jscc(model, tmp_path / "m.safetensors")
    assert torch.equal(load_image_jscc(path, cfg).encode(x, torch.zeros(3, 1)), sym)
    with pytest.raises(SemclipError, match="retrain"):
        load_image_jscc(path, ImageJSCCConfig(latent=4))
    (tmp_path / "bad.safetensors").write_bytes(b"not a checkpoint")
    with pytest.raises(SemclipError, match="cannot read"):
        load_image_jscc(tmp_path / "bad.safetensors")


def test_config_validation():
    with pytest.raises(SemclipError, match="unknown baseline"):
        BaselineConfig(methods=["image-bpg"]).validate()
    with pytest.raises(SemclipError, match="bad MCS"):
        BaselineConfig(mcs=["qpsk:1/3", "1024qam:1/2"]).validate()
    assert [m.efficiency for m in BaselineConfig().mcs_table] == sorted(m.efficiency for m in BaselineConfig().mcs_table)


def test_all_baselines_run_at_the_same_receiver(tiny_clip_dir, image_folder, isolated_cache):
    from semclip.backbones.registry import create_backbone
    from semclip.baselines.image_jscc import ImageJSCCTrainConfig
    from semclip.baselines.common import BASELINES
    from semclip.baselines.run import run_baselines
    from semclip.data.registry import create_dataset

    backbone = create_backbone(f"hf-clip:{tiny_clip_dir}")
    ctx = _context(backbone)
    ctx.image_train = create_dataset(f"folder:{image_folder}")
    ctx.indomain_train = create_dataset(f"folder:{image_folder}", limit=3)
    assert "image-ergodic" not in BaselineConfig().methods  # built in, run when named
    cfg = BaselineConfig(methods=BASELINES.names(), limit=6, budget=300, mcs=["qpsk:1/3", "16qam:1/2", "64qam:2/3"], token_bits=[1, 2],
                         image_jscc_train=ImageJSCCTrainConfig(steps=5, batch_size=4))
    recs = run_baselines(ctx, cfg, ["awgn", "rayleigh"], [0.0, 20.0], log=lambda *a: None)
    assert {(r.method, r.channel, r.snr_db) for r in recs} == {
        (m, c, s) for m in BASELINES.names() for c in ("awgn", "rayleigh") for s in (0.0, 20.0)}
    for r in recs:
        assert 0 <= r.value <= 1 and r.n_images == 6 and r.detail
        assert unpack_outcomes(r.outcomes, 6).mean() == pytest.approx(r.value)  # per image, for paired comparisons
        # the channel's mode names the comparison; the receiver says what each chain really did:
        # digital chains equalise by zero forcing, the capacity bound adapts to h at the transmitter
        expected = {"image-jpeg-ldpc": "zf", "token-digital": "zf", "image-capacity": "csit", "image-outage": None, "image-ergodic": None,
                    "image-jscc": "mmse", "image-jscc-indomain": "mmse"}
        assert r.csi == ("mmse" if r.channel == "rayleigh" else None)
        assert r.receiver == (expected[r.method] if r.channel == "rayleigh" else None), (r.method, r.receiver)
    uses = {r.method: r.channel_uses_per_image for r in recs if r.snr_db == 20.0 and r.channel == "awgn"}
    assert uses["image-jpeg-ldpc"] <= 300 and uses["image-capacity"] <= 300 and uses["image-jscc"] == 98
    assert len(list((isolated_cache / "baselines").glob("*.json"))) == 2 * len(BASELINES.names())
    trained = list((isolated_cache / "jscc").glob("image-jscc-*.safetensors"))
    assert len(trained) == 2  # one pixel codec per training set (the corpus; the in-domain reference)
    again = run_baselines(ctx, cfg, ["awgn", "rayleigh"], [0.0, 20.0], log=lambda *a: None)  # from the cache
    assert [r.model_dump() for r in again] == [r.model_dump() for r in recs]
    # one method fewer in the list: the others' cached records still serve (no new file)
    fewer = run_baselines(ctx, replace(cfg, methods=cfg.methods[1:]), ["awgn", "rayleigh"], [0.0, 20.0], log=lambda *a: None)
    assert len(list((isolated_cache / "baselines").glob("*.json"))) == 2 * len(BASELINES.names())
    assert [r.model_dump() for r in fewer] == [r.model_dump() for r in recs if r.method != cfg.methods[0]]


def test_link_adaptation_picks_by_bler_and_refuses_bad_targets():
    from semclip.baselines.adaptation import _measure, measure_bler, select_mcs

    table = [MCS.parse(s) for s in ("qpsk:1/3", "16qam:1/2", "64qam:2/3")]
    links = {m: DigitalLink(BlockPlan.for_budget(512, m)) for m in table}
    # far above every waterfall: the most efficient MCS; far below: the most robust one
    assert select_mcs(links, "awgn", 30.0, 0.1, 40, seed=0) == (MCS.parse("64qam:2/3"), 0.0)
    m, bler = select_mcs(links, "awgn", -10.0, 0.1, 40, seed=0)
    assert m == MCS.parse("qpsk:1/3") and bler == 1.0
    # between them (AWGN, 9 dB: QPSK 1/3 and 16-QAM 1/2 decode, 64-QAM 2/3 does not)
    assert measure_bler(links[MCS.parse("64qam:2/3")], "awgn", 9.0, 40, seed=0) > 0.5
    assert select_mcs(links, "awgn", 9.0, 0.1, 40, seed=0)[0] == MCS.parse("16qam:1/2")
    # the same probes give the same figure (a stream per channel, MCS and SNR), so a run measures each once
    link = links[MCS.parse("16qam:1/2")]
    assert _measure(link, "awgn", 3.0, 40, 1, None, None) == _measure(link, "awgn", 3.0, 40, 1, None, None)
    sent = []
    link.transmit = lambda *a, **k: sent.append(1) or DigitalLink.transmit(link, *a, **k)
    first = measure_bler(link, "awgn", 3.5, 40, seed=1)
    calls = len(sent)
    assert calls > 0 and measure_bler(link, "awgn", 3.5, 40, seed=1) == first and len(sent) == calls
    for bad in (0.0, 1.0, -0.1, float("nan")):
        with pytest.raises(SemclipError, match=r"target BLER must be in \(0, 1\)"):
            BaselineConfig(target_bler=bad).validate()
    with pytest.raises(SemclipError, match="unknown link adaptation 'genie'"):
        BaselineConfig(link_adaptation="genie").validate()


def test_default_link_adaptation_never_reads_the_test_labels(tiny_clip_dir, tmp_path, monkeypatch):
    """The labels are read once per reported accuracy, to score it, after the choice is
    made: the digital baselines' choices (MCS, JPEG side and quality, bit width) are the same
    whatever the labels say, and only the accuracy changes. The oracle reads them for every
    candidate, and says it is one."""
    from semclip.baselines import jpeg_source
    from semclip.baselines.methods import token_digital
    from semclip.backbones.registry import create_backbone
    from semclip.baselines.run import run_baselines

    scored = []  # every read of the labels goes through correct()
    for module in (jpeg_source, token_digital):
        monkeypatch.setattr(module, "correct", lambda pred, labels: scored.append(1) or correct(pred, labels))

    backbone = create_backbone(f"hf-clip:{tiny_clip_dir}")
    cfg = BaselineConfig(methods=["image-jpeg-ldpc", "token-digital"], limit=6, budget=300,
                         mcs=["qpsk:1/3", "16qam:1/2", "64qam:2/3"], token_bits=[1, 2], probe_payloads=20)
    runs, ctx = [], _context(backbone)
    for i, labels in enumerate(([0, 1, 0, 1, 0, 1], [1, 1, 1, 0, 0, 0])):
        ctx = replace(ctx, labels=torch.tensor(labels))
        runs.append(run_baselines(ctx, cfg, ["awgn", "rayleigh"], [0.0, 8.0, 20.0], log=lambda *a: None, cache=tmp_path / str(i)))
    a, b = runs
    assert len(scored) == len(a) + len(b)  # one read per record: its score
    assert [r.detail for r in a] == [r.detail for r in b]  # the same choices
    assert [r.channel_uses_per_image for r in a] == [r.channel_uses_per_image for r in b]
    assert [r.value for r in a] != [r.value for r in b]  # ... scored against other labels
    assert {r.link_adaptation for r in a} == {"bler"} and all("probe BLER" in r.detail for r in a)
    oracle = run_baselines(ctx, replace(cfg, link_adaptation="oracle"), ["awgn"], [20.0], log=lambda *a: None,
                           cache=tmp_path / "oracle")
    assert {r.link_adaptation for r in oracle} == {"oracle"} and len(scored) - len(a) - len(b) > len(oracle)


def test_every_method_sees_the_same_fade_on_the_same_image(tiny_clip_dir, tmp_path, monkeypatch):
    """Common random numbers: at a given (image, SNR, seed) semclip's sweep and every
    baseline's link fade by the same h (their noise stays their own; the link-adaptation
    probes draw fades of their own)."""
    from semclip.backbones.registry import create_backbone
    from semclip.baselines.run import run_baselines
    from semclip.channels.rayleigh import RayleighBlockFading, common_gains
    from semclip.eval.sweep import sweep
    from semclip.jscc.linear import LinearCode

    used: list[torch.Tensor] = []  # the common fades each channel block took, in order
    draw = RayleighBlockFading.sample_gain

    def spy(self, batch, device=None):
        h = draw(self, batch, device)
        if getattr(self, "_fixed", None) is not None:
            used.append(h)
        return h

    monkeypatch.setattr(RayleighBlockFading, "sample_gain", spy)
    backbone = create_backbone(f"hf-clip:{tiny_clip_dir}")
    ctx = _context(backbone, n=8)
    cfg = BaselineConfig(limit=8, budget=1024, mcs=["64qam:2/3"], token_bits=[1], probe_payloads=10, batch_size=3)
    by_method = {}
    for method in ("image-jpeg-ldpc", "token-digital"):  # image-jscc sends through its model like the sweep below
        used.clear()
        run_baselines(ctx, replace(cfg, methods=[method]), ["rayleigh"], [5.0], log=lambda *a: None, cache=tmp_path / method)
        by_method[method] = torch.cat(used)
    used.clear()
    sweep(LinearCode.fitted(torch.randn(50, ctx.tokens.shape[1]), [4], 4), ctx.tokens, ctx.labels, lambda t, s: t[:, 0] > 0,
          ["rayleigh"], [5.0], seed=0, batch_size=3)
    by_method["semclip"] = torch.cat(used)
    h = common_gains(0, 5.0, 8)
    for method, got in by_method.items():
        assert torch.equal(got.cpu(), h.cpu()), method
    assert not torch.equal(common_gains(0, 5.0, 8), common_gains(0, 10.0, 8))  # another SNR, other fades
    assert not torch.equal(common_gains(0, 5.0, 8), common_gains(1, 5.0, 8))  # another seed, too


def test_baselines_run_on_an_ofdm_link(tiny_clip_dir, tmp_path):
    """JPEG over LDPC and the digital token go over an OFDM link with its LMMSE detection
    (``receiver`` "mmse"), and the capacity bounds over its frames (CSIT per frame; outage
    over the frame; the ergodic mean), all charged for the pilots and the prefix."""
    from semclip.backbones.registry import create_backbone
    from semclip.baselines.run import run_baselines

    ctx = _context(create_backbone(f"hf-clip:{tiny_clip_dir}"))
    link = "ofdm-tdl:C:300ns:120kmh:ls"
    cfg = BaselineConfig(methods=["image-jpeg-ldpc", "token-digital", "image-capacity", "image-outage", "image-ergodic"], limit=6,
                         budget=300, mcs=["qpsk:1/3", "16qam:1/2"], token_bits=[1])
    recs = run_baselines(ctx, cfg, [link], [20.0], log=lambda *a: None, cache=tmp_path / "a")
    receivers = {"image-jpeg-ldpc": "mmse", "token-digital": "mmse", "image-capacity": "csit", "image-outage": None, "image-ergodic": None}
    assert {r.method: r.receiver for r in recs} == receivers
    for r in recs:
        assert (r.channel, r.csi) == ("ofdm-tdl:C:300ns:120kmh", "ls") and r.pilot_overhead == pytest.approx(2 / 14)
    by = {r.method: r for r in recs}
    assert 300 < by["image-jpeg-ldpc"].channel_uses_per_image <= round(300 * 14 / 12 * 137 / 128, 1)
    assert by["image-capacity"].value >= by["image-outage"].value  # CSIT carries at least the fixed rate
    assert "images lost 0.000" in by["image-ergodic"].detail  # at 20 dB every image's JPEG fits the ergodic rate
