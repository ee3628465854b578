"""The baselines over a grid of channels and SNRs, each ending at the same receiver
(backbone + zero-shot classifier) as semclip and writing the same Record schema.

- ``image-jpeg-ldpc``: JPEG at the side and quality that fit the budget with the least pixel
  error (``semclip.baselines.jpeg``: 28, 20, 14, 10 or 7 px for 28-px images, upscaled at
  the receiver; ``jpeg_sides=[28]`` is the paper's fixed-resolution framing) -> CRC + 5G LDPC ->
  QAM; the MCS per SNR by link adaptation (``semclip.baselines.adaptation``: the most
  efficient one whose BLER on random payloads meets the target; ``oracle``: the best by
  test accuracy). A block that fails its CRC loses the image: the receiver sees a grey frame.
- ``image-capacity``: the same JPEG framing sent at Shannon capacity, error-free, within
  the same budget: the ideal digital bound (Rayleigh: the instantaneous capacity of each
  block, i.e. rate adapted to h with CSI at the transmitter, an upper bound on any real
  scheme).
- ``image-outage``: the bound without CSI at the transmitter: one rate per SNR from the
  average SNR (outage probability = the target BLER); an image in outage is lost.
  Every image baseline occupies its whole budget (``channel_uses_per_image``), the
  way a transmitter holds the resource it was allotted.
- ``image-jscc``: a convolutional DeepJSCC of the pixels, then the backbone, trained on the
  same task-agnostic corpus as semclip's token codec (both learned codecs meet the test
  domain unseen); ``image-jscc-indomain``: the same trained on the main set's training
  images, the in-domain reference.
- ``token-digital``: the clean token quantised to b bits per component -> CRC + LDPC ->
  QAM; per SNR, each b's MCS by link adaptation and the largest b that then fits the
  budget (``oracle``: the best (b, MCS) by test accuracy). Failed blocks keep the
  decoder's hard bits.

Each (method, channel) result is cached on disk once finished, so a rerun or a crashed
run only redoes what is missing.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from PIL import Image

from semclip.digest import json_digest
from semclip import artefacts
from semclip._io import atomic_write_json, cache_dir
from semclip.backbones.base import Backbone
from semclip.baselines import probe_store
from semclip.baselines.adaptation import LINK_ADAPTATIONS, check_target, select_mcs
from semclip.baselines.digital import DECODERS, DEFAULT_MCS, MCS, BlockPlan, DigitalLink, bits_from_bytes, bytes_from_bits, coherent_channel
from semclip.baselines.image_jscc import (
    ImageJSCC,
    ImageJSCCConfig,
    ImageJSCCTrainConfig,
    auto_config,
    load_image_jscc,
    save_image_jscc,
    to_image,
    to_tensor,
    train_image_jscc,
)
from semclip.baselines.jpeg import FRAMING as JPEG_FRAMING
from semclip.baselines.jpeg import MAX_SIDE, MIN_SIDE, JpegImage, check_sides, default_sides, frame, grey, receive, unframe
from semclip.baselines.quantize import TokenQuantizer
from semclip.baselines.receiver import ImageReceiver
from semclip.channels.registry import create_channel
from semclip.data.base import LabelledImages
from semclip.device import keyed_generator
from semclip.distributed import dist
from semclip.errors import SemclipError
from semclip.results import Record
from semclip.progress import progress
from semclip.provenance import DatasetSeen, Provenance
from semclip.resume import partial_path
from semclip.stats import pack_outcomes
from semclip.tasks.zeroshot import ZeroShotClassifier, correct

BASELINES = ("image-jpeg-ldpc", "image-capacity", "image-outage", "image-jscc", "image-jscc-indomain", "token-digital")
IMAGE_JSCC = ("image-jscc", "image-jscc-indomain")


@dataclass
class BaselineConfig:
    """What the baselines run on. ``limit``: test images (the digital chains decode real
    LDPC codewords, about 5-80 ms each on 2 cores). ``budget``: complex channel uses per
    image for the JPEG baselines. ``mcs``: the modulation-and-coding table link adaptation chooses from.
    ``token_bits``: bit widths tried for token-digital. ``link_adaptation``: ``bler`` (the
    MCS from block error rates on ``probe_payloads`` random payloads against
    ``target_bler``; never the test labels) or ``oracle`` (the best by test accuracy)."""

    methods: list[str] = field(default_factory=lambda: list(BASELINES))
    limit: int | None = 2000
    budget: int = 1024
    mcs: list[str] = field(default_factory=lambda: list(DEFAULT_MCS))
    token_bits: list[int] = field(default_factory=lambda: [1, 2])
    image_jscc: ImageJSCCConfig | None = None  # None: fitted to the test images (auto_config)
    image_jscc_train: ImageJSCCTrainConfig = field(default_factory=ImageJSCCTrainConfig)
    num_iter: int = 20
    batch_size: int = 125
    decoder: str = "layered"  # LDPC decoder: layered offset min-sum (ours, compiled) or "sionna" (flooding BP)
    link_adaptation: str = "bler"  # "bler" (label-free, the default) or "oracle" (tuned on test labels, named so)
    target_bler: float = 0.1
    probe_payloads: int = 200  # random payloads per (channel, MCS, SNR) to measure BLER
    jpeg_sides: list[int] | None = None  # px of the longer side a JPEG may be sent at; None: 1, 5/7, 1/2, 5/14, 1/4 of it

    def validate(self) -> None:
        unknown = [m for m in self.methods if m not in BASELINES]
        if unknown:
            raise SemclipError(f"unknown baseline(s) {unknown}; choose from {list(BASELINES)}")
        for spec in self.mcs:
            MCS.parse(spec)
        if self.decoder not in DECODERS:
            raise SemclipError(f"unknown LDPC decoder {self.decoder!r}; choose from {list(DECODERS)}")
        if self.budget < 16 or (self.limit is not None and self.limit < 1):
            raise SemclipError(f"baseline budget must be >= 16 channel uses and limit >= 1 (got {self.budget}, {self.limit})")
        if not self.token_bits or any(not 1 <= b <= 16 for b in self.token_bits):
            raise SemclipError(f"token bit widths must be in 1..16, got {self.token_bits}")
        if self.link_adaptation not in LINK_ADAPTATIONS:
            raise SemclipError(f"unknown link adaptation {self.link_adaptation!r}; choose from {list(LINK_ADAPTATIONS)}")
        check_target(self.target_bler)
        if self.jpeg_sides is not None and (not self.jpeg_sides or any(not MIN_SIDE <= s <= MAX_SIDE for s in self.jpeg_sides)):
            raise SemclipError(f"JPEG sides must be pixels in {MIN_SIDE}..{MAX_SIDE} (and at most the test images' side), "
                               f"got {self.jpeg_sides}")
        if self.probe_payloads < 10:
            raise SemclipError(f"probe_payloads must be at least 10 to measure a BLER, got {self.probe_payloads}")

    @property
    def mcs_table(self) -> list[MCS]:
        """Ascending spectral efficiency: the search order."""
        return sorted({MCS.parse(s) for s in self.mcs}, key=lambda m: (m.efficiency, m.bits_per_symbol))


@dataclass
class Context:
    """What every baseline shares: the receiver and the test subset."""

    backbone: Backbone
    classifier: ZeroShotClassifier
    images: list[Image.Image]  # the test subset, as stored
    labels: torch.Tensor  # [N]
    tokens: torch.Tensor  # [N, d] clean tokens of the same images (token-digital's source)
    quantizer: Callable[[int], TokenQuantizer]  # bits -> token-digital's quantiser (fitted on training tokens)
    image_train: LabelledImages | None  # trains image-jscc: the task-agnostic corpus
    dataset_id: str
    seed: int = 0
    indomain_train: LabelledImages | None = None  # trains image-jscc-indomain: the main set's training images
    jpegs: list[JpegImage] | None = None  # the test images' JPEG ladders, made by the first JPEG baseline and kept


@dataclass
class Outcome:
    """One configuration's result at one SNR."""

    correct: torch.Tensor  # [N] bool: which test images the receiver got right
    uses: float
    lost: float  # fraction of images (or tokens) with a failed block
    detail: str

    @property
    def acc(self) -> float:
        return float(self.correct.float().mean())


STOP_DROP = 0.1  # accuracy below the best so far by this much ends the MCS search


def best_over_mcs(table: Sequence[MCS], evaluate: Callable[[MCS], Outcome]) -> Outcome:
    """Walk up the MCS table (ascending efficiency); keep the most accurate (then the
    cheapest). Stop once an MCS loses every block, or falls ``STOP_DROP`` below the best:
    more efficient MCSs need a higher SNR still, so they lose more (AWGN: all; fading:
    more blocks in outage). This saves decoding thousands of hopeless codewords."""
    best = None
    for mcs in table:
        o = evaluate(mcs)
        if best is None or (o.acc, -o.uses) > (best.acc, -best.uses):
            best = o
        if o.lost >= 1.0 or o.acc < best.acc - STOP_DROP:
            break
    return best


def _gains(ctx: Context, spec: str, snr: float) -> torch.Tensor | None:
    """The test images' fades at this SNR on a fading channel (``Channel.common_fades``: the same
    for every method, semclip's sweep included); None on AWGN."""
    return create_channel(spec).common_fades(ctx.seed, snr, len(ctx.labels))


def _fade_power(ctx: Context, spec: str, snr: float) -> torch.Tensor:
    """|h|^2 of each test image's fade at this SNR, on the host (ones on AWGN)."""
    h = _gains(ctx, spec, snr)
    return torch.ones(len(ctx.labels), device="cpu") if h is None else h.abs().pow(2).reshape(-1).cpu()


def _generator(seed: int, spec: str) -> torch.Generator:
    """Each (seed, channel) its own stream on the run's device: a configuration's draws do
    not depend on which others ran before it, or on which process ran it."""
    return keyed_generator(seed, spec, digits=6)


class JpegSource:
    """Rate control + the receiver side of the JPEG baselines."""

    def __init__(self, ctx: Context, receiver: ImageReceiver, sides: Sequence[int] | None = None) -> None:
        self.ctx = ctx
        self.receiver = receiver
        def ladder(im: Image.Image) -> tuple[int, ...]:
            return check_sides(sides, im.size) if sides else default_sides(im.size)

        if ctx.jpegs is None or len(ctx.jpegs) != len(ctx.images) or (ctx.images and ctx.jpegs[0].sides != ladder(ctx.images[0])):
            ctx.jpegs = [JpegImage.of(im, ladder(im)) for im in ctx.images]  # kept on the context for the next JPEG baseline
        self.jpegs = ctx.jpegs

    def received(self, i: int, choice: tuple[int, int] | None, scan: bytes | None = None) -> tuple[Image.Image | None, tuple | None]:
        """The image the receiver shows for test image i and its cache key: the JPEG sent
        at ``choice`` = (side, quality), upscaled, when its scan arrived intact; a grey
        frame when nothing usable did. An intact JPEG whose tokens the receiver already
        holds is not decoded again (the image is None then: only its key is needed)."""
        j = self.jpegs[i]
        if choice is None:
            return grey(j.size, j.mode), ("grey", j.size, j.mode)
        side, q = choice
        sent = j.scan(side, q)
        key = (i, side, q) if scan is None or scan == sent else None  # a corrupted scan is never cached
        if key in self.receiver:
            return None, key
        im = receive(sent if scan is None else scan, q, side, j.size, j.mode)
        if im is None:
            return grey(j.size, j.mode), ("grey", j.size, j.mode)
        return im, key

    def outcomes(self, shown: list[tuple[Image.Image | None, tuple | None]]) -> torch.Tensor:
        """[N] bool: which test images the receiver classifies right from what it was shown."""
        tokens = self.receiver.tokens([s[0] for s in shown], [s[1] for s in shown])
        return correct(self.ctx.classifier.predict(tokens), self.ctx.labels)


def sent_mix(choices: Sequence[tuple[int, int] | None]) -> str:
    """'20 px 60 %, 14 px 40 %, q≈35': what the rate control sent, for a record's detail."""
    sent = [c for c in choices if c is not None]
    if not sent:
        return "no JPEG fits"
    sides = sorted({s for s, _ in sent}, reverse=True)
    mix = ", ".join(f"{s} px {100 * sum(c[0] == s for c in sent) / len(sent):.0f} %" for s in sides)
    return f"JPEG {mix}, q≈{sum(q for _, q in sent) / len(sent):.0f}"


def jpeg_ldpc_outcome(src: JpegSource, link: DigitalLink, channel, snr: float, batch: int, gains: torch.Tensor | None = None) -> Outcome:
    plan = link.plan
    max_scan = plan.info_bits // 8 - JPEG_FRAMING
    choices = [j.choose(max_scan) for j in src.jpegs]
    shown: list = [None] * len(choices)
    sent = [i for i, c in enumerate(choices) if c is not None]
    lost = len(choices) - len(sent)
    for i, c in enumerate(choices):
        if c is None:
            shown[i] = src.received(i, None)  # does not fit even at the smallest side and lowest quality
    if sent:
        payload = torch.stack([bits_from_bytes(frame(choices[i][1], choices[i][0], src.jpegs[i].scan(*choices[i])), plan.info_bits)
                               for i in sent])
        bits, ok = link.transmit(payload, channel, snr, batch, None if gains is None else gains[sent])
        for row, i in enumerate(sent):
            got = unframe(bytes_from_bits(bits[row]), max_scan, src.jpegs[i].sides) if ok[row].all() else None
            lost += got is None
            shown[i] = src.received(i, (got[1], got[0]), got[2]) if got else src.received(i, None)
    return Outcome(src.outcomes(shown), plan.channel_uses, lost / len(choices),
                   f"{plan.mcs.name}, {sent_mix(choices)}, images lost {lost / len(choices):.3f}")


def run_jpeg_ldpc(ctx: Context, cfg: BaselineConfig, spec: str, snrs: Sequence[float], src: JpegSource, tick) -> list[Record]:
    gen = _generator(ctx.seed, spec)
    channel = coherent_channel(spec, gen)
    links = {m: DigitalLink(BlockPlan.for_budget(cfg.budget, m), cfg.num_iter, decoder=cfg.decoder) for m in cfg.mcs_table}
    out = []
    for snr in snrs:
        h = _gains(ctx, spec, snr)
        if cfg.link_adaptation == "oracle":
            best = best_over_mcs(cfg.mcs_table, lambda m: jpeg_ldpc_outcome(src, links[m], channel, snr, cfg.batch_size, h))
        else:
            mcs, bler = select_mcs(links, spec, snr, cfg.target_bler, cfg.probe_payloads, ctx.seed, cfg.batch_size)
            best = jpeg_ldpc_outcome(src, links[mcs], channel, snr, cfg.batch_size, h)
            best.detail += f", probe BLER {bler:.3f} (target {cfg.target_bler:g})"
        out.append(_record("image-jpeg-ldpc", spec, snr, best, len(ctx.labels), getattr(channel, "csi", None), cfg.link_adaptation))
        tick()
    return out


def _jpeg_at_rates(src: JpegSource, cfg: BaselineConfig, rates: torch.Tensor) -> tuple[torch.Tensor, int, str]:
    """Each image's best JPEG (side, quality) that its rate (bits per channel use; 0: in
    outage) delivers error-free within the budget, shown to the receiver -> (outcomes,
    images lost, what was sent)."""
    choices = [j.choose(cfg.budget * rates[i].item() / 8 - JPEG_FRAMING) for i, j in enumerate(src.jpegs)]
    shown = [src.received(i, c) for i, c in enumerate(choices)]
    return src.outcomes(shown), sum(c is None for c in choices), sent_mix(choices)


def run_capacity(ctx: Context, cfg: BaselineConfig, spec: str, snrs: Sequence[float], src: JpegSource, tick) -> list[Record]:
    """JPEG at log2(1 + |h|^2 SNR) per image: the rate adapted to each block's fade, i.e.
    CSI at the transmitter (CSIT) on Rayleigh; log2(1 + SNR) on AWGN."""
    n = len(ctx.images)
    fading = create_channel(spec).fading
    out = []
    for snr in snrs:
        ok, lost, mix = _jpeg_at_rates(src, cfg, torch.log2(1 + _fade_power(ctx, spec, snr) * 10 ** (snr / 10)))
        o = Outcome(ok, cfg.budget, lost / n, f"JPEG at capacity{' with CSIT' if fading else ''}, {mix}, images that fit no JPEG {lost / n:.3f}")
        out.append(_record("image-capacity", spec, snr, o, n, "csit" if fading else None))
        tick()
    return out


def run_outage(ctx: Context, cfg: BaselineConfig, spec: str, snrs: Sequence[float], src: JpegSource, tick) -> list[Record]:
    """JPEG at the outage bound, no CSI at the transmitter: one rate R per SNR, fixed from
    the average SNR so that P(log2(1 + |h|^2 SNR) < R) equals the target BLER
    (|h|^2 ~ Exp(1): R = log2(1 - SNR ln(1 - target))); an image whose block cannot carry
    R is lost. On AWGN it is the capacity bound."""
    n = len(ctx.images)
    fading = create_channel(spec).fading
    out = []
    for snr in snrs:
        lin = 10 ** (snr / 10)
        if fading:
            rate = math.log2(1 - lin * math.log(1 - cfg.target_bler))
            rates = torch.where(torch.log2(1 + _fade_power(ctx, spec, snr) * lin) >= rate, torch.tensor(rate), torch.tensor(0.0))
        else:
            rate, rates = math.log2(1 + lin), torch.full((n,), math.log2(1 + lin))
        ok, lost, mix = _jpeg_at_rates(src, cfg, rates)
        o = Outcome(ok, cfg.budget, lost / n, f"fixed rate {rate:.3f} bit/use (no CSIT, outage target {cfg.target_bler:g}), "
                    f"{mix}, images lost {lost / n:.3f}")
        out.append(_record("image-outage", spec, snr, o, n, None))
        tick()
    return out


def run_image_jscc(ctx: Context, cfg: BaselineConfig, spec: str, snrs: Sequence[float], model: ImageJSCC, receiver: ImageReceiver, tick,
                   method: str = "image-jscc") -> list[Record]:
    gen = _generator(ctx.seed, spec)
    channel = create_channel(spec, gen)
    model.to(gen.device)
    x = torch.stack([to_tensor(im, model.cfg) for im in ctx.images]).to(gen.device)
    out = []
    for snr in snrs:
        recs = []
        with torch.no_grad():
            h = _gains(ctx, spec, snr)
            for s in range(0, x.shape[0], 256):
                with channel.gains(None if h is None else h[s : s + 256]):
                    rec, _ = model(x[s : s + 256], torch.full((min(256, x.shape[0] - s), 1), float(snr), device=x.device), channel)
                recs += [to_image(r) for r in rec]
        tokens = receiver.tokens(recs, [None] * len(recs))
        o = Outcome(correct(ctx.classifier.predict(tokens), ctx.labels), model.cfg.channel_uses, 0.0, f"conv DeepJSCC {model.cfg.size}px, {model.cfg.channel_uses} ch. uses")
        out.append(_record(method, spec, snr, o, len(recs), getattr(channel, "csi", None)))
        tick()
    return out


def run_token_digital(ctx: Context, cfg: BaselineConfig, spec: str, snrs: Sequence[float], tick) -> list[Record]:
    channel = coherent_channel(spec, _generator(ctx.seed, spec))
    quant = {b: ctx.quantizer(b) for b in cfg.token_bits}
    payload = {b: q.encode(ctx.tokens) for b, q in quant.items()}

    def outcome(b: int, link: DigitalLink, snr: float) -> Outcome:
        got, ok = link.transmit(payload[b], channel, snr, cfg.batch_size, _gains(ctx, spec, snr))
        right = correct(ctx.classifier.predict(quant[b].decode(got)), ctx.labels)
        lost = 1 - ok.all(1).float().mean().item()
        return Outcome(right, link.plan.channel_uses, lost, f"{b} bit/component, {link.plan.mcs.name}, tokens hit {lost:.3f}")

    links = {b: {m: DigitalLink(BlockPlan.for_payload(q.payload_bits, m), cfg.num_iter, decoder=cfg.decoder) for m in cfg.mcs_table}
             for b, q in quant.items()}
    out = []
    for snr in snrs:
        if cfg.link_adaptation == "oracle":
            cands = [best_over_mcs(cfg.mcs_table, lambda m, b=b: outcome(b, links[b][m], snr)) for b in cfg.token_bits]
            best = max(cands, key=lambda o: (o.acc, -o.uses))
        else:
            b, mcs, bler = token_link(links, spec, snr, cfg, ctx.seed)
            best = outcome(b, links[b][mcs], snr)
            best.detail += f", probe BLER {bler:.3f} (target {cfg.target_bler:g})"
        out.append(_record("token-digital", spec, snr, best, len(ctx.labels), getattr(channel, "csi", None), cfg.link_adaptation))
        tick()
    return out


def token_link(links: dict[int, dict[MCS, DigitalLink]], spec: str, snr: float, cfg: BaselineConfig, seed: int) -> tuple[int, MCS, float]:
    """token-digital's label-free choice: each bit width's MCS by link adaptation, then the
    largest bit width whose link fits the budget (the finest token the allotted channel
    uses carry reliably); when none fits, the smallest."""
    picks = {b: select_mcs(by_mcs, spec, snr, cfg.target_bler, cfg.probe_payloads, seed, cfg.batch_size) for b, by_mcs in links.items()}
    fits = [b for b, (m, _) in picks.items() if links[b][m].plan.channel_uses <= cfg.budget]
    b = max(fits) if fits else min(picks)
    return b, *picks[b]


def _record(method: str, spec: str, snr: float, o: Outcome, n: int, receiver: str | None, link_adaptation: str | None = None) -> Record:
    """A record of the channel ``spec`` (its name and CSI mode, so methods compare per channel),
    with ``receiver`` saying what the chain really did there (digital chains equalise by zero
    forcing whatever the mode; the capacity bound adapts to h at the transmitter)."""
    ch = create_channel(spec)
    return Record(
        method=method, channel=ch.name, csi=getattr(ch, "csi", None), receiver=receiver, snr_db=float(snr), value=o.acc,
        channel_uses_per_image=round(o.uses, 1), detail=o.detail, n_images=n, n=n, link_adaptation=link_adaptation,
        outcomes=pack_outcomes(o.correct.tolist()),
    )


def image_codec_provenance(train: LabelledImages, in_domain: bool) -> Provenance:
    """What an image-jscc pixel codec learned from (MSE on pixels, no class list): the
    task-agnostic corpus, or the main set's training images (in-domain, which favours it)."""
    note = ("image-jscc-indomain reference: trained on the main set's training images (in-domain), pixel MSE" if in_domain
            else "image-jscc baseline: trained on the task-agnostic corpus (no evaluation image, no class list), pixel MSE")
    return Provenance("image-codec", datasets=[DatasetSeen(train.name, train.cache_id, len(train))], notes=[note])


def image_jscc_name(cfg: BaselineConfig, mcfg: ImageJSCCConfig, train: LabelledImages) -> str:
    return artefacts.name("jscc", f"image-jscc-{mcfg.channel_uses}", [asdict(mcfg), asdict(cfg.image_jscc_train), train.cache_id])


def image_jscc_train(ctx: Context, method: str) -> LabelledImages:
    """The images ``method`` (image-jscc or image-jscc-indomain) trains on."""
    train = ctx.indomain_train if method == "image-jscc-indomain" else ctx.image_train
    if train is None:
        raise SemclipError(f"{method} needs its training images (Context.{'indomain_train' if method.endswith('indomain') else 'image_train'})")
    return train


def image_jscc_artefact(cfg: BaselineConfig, ctx: Context, method: str) -> tuple[ImageJSCCConfig, LabelledImages, str, str]:
    """The pixel codec ``method`` uses: its config (fitted to the test images unless set), its
    training images, and its artefact name and description."""
    mcfg = cfg.image_jscc or auto_config(ctx.images[0])
    train = image_jscc_train(ctx, method)
    return mcfg, train, image_jscc_name(cfg, mcfg, train), f"image DeepJSCC ({train.name})"


def get_image_jscc(cfg: BaselineConfig, ctx: Context, log=print, method: str = "image-jscc") -> ImageJSCC:
    """The image codec of ``method`` for (config, its training images): cached, shipped with
    semclip (``semclip.artefacts``), or trained now (images resized to the test images')."""
    mcfg, train, name, what = image_jscc_artefact(cfg, ctx, method)

    def make(path: Path) -> ImageJSCC:
        torch.manual_seed(cfg.image_jscc_train.seed)
        model = ImageJSCC(mcfg)
        x = torch.stack([to_tensor(train.image(i), mcfg) for i in range(len(train))])
        train_log = train_image_jscc(model, x, cfg.image_jscc_train, partial=partial_path(path))
        save_image_jscc(model, path, {"train_data": train.cache_id, "train": asdict(cfg.image_jscc_train), "log": train_log[-1:]},
                        image_codec_provenance(train, method == "image-jscc-indomain"))
        partial_path(path).unlink(missing_ok=True)
        return model

    model, _ = artefacts.obtain(name, what, lambda path: load_image_jscc(path, mcfg), make, log)
    return model


def run_baselines(
    ctx: Context, cfg: BaselineConfig, channels: Sequence[str], snrs: Sequence[float], log=print, cache: Path | None = None,
    receiver: ImageReceiver | None = None,
) -> list[Record]:
    """Every configured baseline on every channel and SNR; finished (method, channel)
    pairs are read back from the cache. ``receiver``: one shared by several calls on the
    same images, so that a received picture's tokens are computed once. Under ``accelerate launch`` the (method, channel)
    pairs are split over the processes, each writes its own cache files, and every process
    then reads them all back in order: the records equal a one-process run."""
    cfg.validate()
    d = dist()
    cache = cache or cache_dir() / "baselines"
    todo = []  # (method, spec, cache file), in output order
    for method in cfg.methods:
        for spec in channels:
            if method not in IMAGE_JSCC and spec == "rayleigh:none":
                log(f"{method}: skipping {spec} (a digital receiver needs CSI)")
                continue
            trained_on = image_jscc_train(ctx, method).cache_id if method in IMAGE_JSCC else None
            key = json_digest([method, spec, list(snrs), ctx.backbone.fingerprint, ctx.dataset_id, ctx.seed, asdict(cfg), trained_on,
                               "v5"], sort_keys=True)
            todo.append((method, spec, cache / f"{method}-{spec.replace(':', '_')}-{key}.json"))
    to_run = [t for t in todo if not t[2].exists()]
    missing = {m for m, _, _ in to_run}
    mine = {path for _, _, path in d.shard_items(to_run)}  # this process's share of what is missing
    receiver = receiver or ImageReceiver(ctx.backbone)
    # built before the progress display: each shows its own (rich nests no live displays)
    for method in [m for m in cfg.methods if m not in missing]:  # read back: still list the trained parts that made them
        if method in IMAGE_JSCC:
            artefacts.find(*image_jscc_artefact(cfg, ctx, method)[2:])
        elif method == "token-digital":
            for b in cfg.token_bits:
                ctx.quantizer(b)
    models = {}
    for method in [m for m in IMAGE_JSCC if m in missing]:  # trained once, by the main process; the others load it
        if d.is_main:
            models[method] = get_image_jscc(cfg, ctx, log, method)
        d.barrier()
        models[method] = models.get(method) or get_image_jscc(cfg, ctx, log, method)
    src = JpegSource(ctx, receiver, cfg.jpeg_sides) if {m for m, _, p in todo if p in mine} & {"image-jpeg-ldpc", "image-capacity", "image-outage"} else None
    with progress(disable=not d.is_main) as bar:
        for method, spec, path in todo:
            if path not in mine:
                continue
            task = bar.add_task(f"{method} over {spec}", total=len(snrs))
            tick = lambda t=task: bar.advance(t)  # noqa: E731
            with probe_store.recorded(path):
                if method == "image-jpeg-ldpc":
                    recs = run_jpeg_ldpc(ctx, cfg, spec, snrs, src, tick)
                elif method == "image-capacity":
                    recs = run_capacity(ctx, cfg, spec, snrs, src, tick)
                elif method == "image-outage":
                    recs = run_outage(ctx, cfg, spec, snrs, src, tick)
                elif method in IMAGE_JSCC:
                    recs = run_image_jscc(ctx, cfg, spec, snrs, models[method], receiver, tick, method)
                else:
                    recs = run_token_digital(ctx, cfg, spec, snrs, tick)
            atomic_write_json(path, [r.model_dump() for r in recs])
    d.barrier()
    records: list[Record] = []
    for _, _, path in todo:
        records += [Record(**r) for r in json.loads(path.read_text())]
        probe_store.replay(path)  # read back (or made by another process): list the probe table if it decided them
    return records


def min_jpeg_channel_uses(jpegs: Sequence[JpegImage], table: Sequence[MCS]) -> float:
    """Mean channel uses to send each image's smallest JPEG (smallest side, quality 1) at
    the most efficient MCS of the table, CRC included: the least any JPEG-over-LDPC link needs."""
    top = max(table, key=lambda m: m.efficiency)
    bits = [smallest_jpeg_bits(j) for j in jpegs]
    return sum(BlockPlan.for_payload(b, top).channel_uses for b in bits) / len(bits) if bits else math.nan


def smallest_jpeg_bits(j: JpegImage) -> int:
    """Bits of the least a JPEG link can send of this image: smallest side, quality 1, framed."""
    return 8 * (JPEG_FRAMING + len(j.scan(min(j.sides), 1)))
