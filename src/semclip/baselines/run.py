"""The four baselines over a grid of channels and SNRs, each ending at the same receiver
(backbone + zero-shot classifier) as semclip and writing the same Record schema.

- ``image-jpeg-ldpc``: JPEG at the highest quality that fits the budget -> CRC + 5G LDPC ->
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
- ``image-jscc``: a convolutional DeepJSCC of the pixels, then the backbone.
- ``token-digital``: the clean token quantised to b bits per component -> CRC + LDPC ->
  QAM; per SNR, each b's MCS by link adaptation and the largest b that then fits the
  budget (``oracle``: the best (b, MCS) by test accuracy). Failed blocks keep the
  decoder's hard bits.

Each (method, channel) result is cached on disk once finished, so a rerun or a crashed
run only redoes what is missing.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from PIL import Image

from semclip import artefacts
from semclip._io import atomic_write_json, cache_dir
from semclip.backbones.base import Backbone
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
from semclip.baselines.jpeg import JpegImage, decode, frame, grey, unframe
from semclip.baselines.quantize import TokenQuantizer
from semclip.baselines.receiver import ImageReceiver
from semclip.channels.rayleigh import common_gains
from semclip.channels.registry import create_channel
from semclip.data.base import LabelledImages
from semclip.device import generator
from semclip.distributed import dist
from semclip.errors import SemclipError
from semclip.eval.results import Record
from semclip.progress import progress
from semclip.provenance import DatasetSeen, Provenance
from semclip.resume import partial_path
from semclip.tasks.zeroshot import ZeroShotClassifier, top1_accuracy

BASELINES = ("image-jpeg-ldpc", "image-capacity", "image-outage", "image-jscc", "token-digital")


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
    image_train: LabelledImages  # trains image-jscc
    dataset_id: str
    seed: int = 0


@dataclass
class Outcome:
    """One configuration's result at one SNR."""

    acc: float
    uses: float
    lost: float  # fraction of images (or tokens) with a failed block
    detail: str


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
    """The test images' fades at this SNR on a fading channel (``common_gains``: the same
    for every method, semclip's sweep included); None on AWGN."""
    return common_gains(ctx.seed, snr, len(ctx.labels)) if spec.startswith("rayleigh") else None


def _fade_power(ctx: Context, spec: str, snr: float) -> torch.Tensor:
    """|h|^2 of each test image's fade at this SNR, on the host (ones on AWGN)."""
    h = _gains(ctx, spec, snr)
    return torch.ones(len(ctx.labels), device="cpu") if h is None else h.abs().pow(2).reshape(-1).cpu()


def _generator(seed: int, spec: str) -> torch.Generator:
    """Each (seed, channel) its own stream on the run's device: a configuration's draws do
    not depend on which others ran before it, or on which process ran it."""
    return generator(seed * 1_000_003 + int(hashlib.sha1(spec.encode()).hexdigest()[:6], 16))


class JpegSource:
    """Rate control + the receiver side of the JPEG baselines."""

    def __init__(self, ctx: Context, receiver: ImageReceiver) -> None:
        self.ctx = ctx
        self.receiver = receiver
        self.jpegs = [JpegImage.of(im) for im in ctx.images]

    def received(self, i: int, q: int | None, scan: bytes | None = None) -> tuple[Image.Image, tuple | None]:
        """The image the receiver shows for test image i and its cache key: the JPEG at
        quality q when its scan arrived intact, a grey frame when nothing usable did."""
        j = self.jpegs[i]
        if q is None:
            return grey(j.size, j.mode), ("grey", j.size, j.mode)
        sent = j.scans[q]
        im = decode(sent if scan is None else scan, q, j.size, j.mode)
        if im is None:
            return grey(j.size, j.mode), ("grey", j.size, j.mode)
        return im, ((i, q) if scan is None or scan == sent else None)

    def accuracy(self, shown: list[tuple[Image.Image, tuple | None]]) -> float:
        tokens = self.receiver.tokens([s[0] for s in shown], [s[1] for s in shown])
        return top1_accuracy(self.ctx.classifier.predict(tokens), self.ctx.labels)


def jpeg_ldpc_outcome(src: JpegSource, link: DigitalLink, channel, snr: float, batch: int, gains: torch.Tensor | None = None) -> Outcome:
    plan = link.plan
    max_scan = plan.info_bits // 8 - JPEG_FRAMING
    qs = [j.best_fit(max_scan) for j in src.jpegs]
    shown: list = [None] * len(qs)
    sent = [i for i, q in enumerate(qs) if q is not None]
    lost = len(qs) - len(sent)
    for i, q in enumerate(qs):
        if q is None:
            shown[i] = src.received(i, None)  # does not fit even at the lowest quality
    if sent:
        payload = torch.stack([bits_from_bytes(frame(qs[i], src.jpegs[i].scans[qs[i]]), plan.info_bits) for i in sent])
        bits, ok = link.transmit(payload, channel, snr, batch, None if gains is None else gains[sent])
        for row, i in enumerate(sent):
            got = unframe(bytes_from_bits(bits[row]), max_scan) if ok[row].all() else None
            lost += got is None
            shown[i] = src.received(i, *got) if got else src.received(i, None)
    delivered = [qs[i] for i in sent]
    mean_q = sum(delivered) / len(delivered) if delivered else 0
    return Outcome(
        src.accuracy(shown), plan.channel_uses, lost / len(qs),
        f"{plan.mcs.name}, JPEG q≈{mean_q:.0f}, images lost {lost / len(qs):.3f}",
    )


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


def _jpeg_at_rates(src: JpegSource, cfg: BaselineConfig, rates: torch.Tensor) -> tuple[float, int]:
    """Each image's best JPEG that its rate (bits per channel use; 0: in outage) delivers
    error-free within the budget, shown to the receiver -> (accuracy, images lost)."""
    shown, lost = [], 0
    for i, j in enumerate(src.jpegs):
        q = j.best_fit(cfg.budget * rates[i].item() / 8 - JPEG_FRAMING)
        shown.append(src.received(i, q))
        lost += q is None
    return src.accuracy(shown), lost


def run_capacity(ctx: Context, cfg: BaselineConfig, spec: str, snrs: Sequence[float], src: JpegSource, tick) -> list[Record]:
    """JPEG at log2(1 + |h|^2 SNR) per image: the rate adapted to each block's fade, i.e.
    CSI at the transmitter (CSIT) on Rayleigh; log2(1 + SNR) on AWGN."""
    n = len(ctx.images)
    fading = spec.startswith("rayleigh")
    out = []
    for snr in snrs:
        acc, lost = _jpeg_at_rates(src, cfg, torch.log2(1 + _fade_power(ctx, spec, snr) * 10 ** (snr / 10)))
        o = Outcome(acc, cfg.budget, lost / n, f"JPEG at capacity{' with CSIT' if fading else ''}, images that fit no JPEG {lost / n:.3f}")
        out.append(_record("image-capacity", spec, snr, o, n, "csit" if fading else None))
        tick()
    return out


def run_outage(ctx: Context, cfg: BaselineConfig, spec: str, snrs: Sequence[float], src: JpegSource, tick) -> list[Record]:
    """JPEG at the outage bound, no CSI at the transmitter: one rate R per SNR, fixed from
    the average SNR so that P(log2(1 + |h|^2 SNR) < R) equals the target BLER
    (|h|^2 ~ Exp(1): R = log2(1 - SNR ln(1 - target))); an image whose block cannot carry
    R is lost. On AWGN it is the capacity bound."""
    n = len(ctx.images)
    fading = spec.startswith("rayleigh")
    out = []
    for snr in snrs:
        lin = 10 ** (snr / 10)
        if fading:
            rate = math.log2(1 - lin * math.log(1 - cfg.target_bler))
            rates = torch.where(torch.log2(1 + _fade_power(ctx, spec, snr) * lin) >= rate, torch.tensor(rate), torch.tensor(0.0))
        else:
            rate, rates = math.log2(1 + lin), torch.full((n,), math.log2(1 + lin))
        acc, lost = _jpeg_at_rates(src, cfg, rates)
        o = Outcome(acc, cfg.budget, lost / n, f"fixed rate {rate:.3f} bit/use (no CSIT, outage target {cfg.target_bler:g}), "
                    f"images lost {lost / n:.3f}")
        out.append(_record("image-outage", spec, snr, o, n, None))
        tick()
    return out


def run_image_jscc(ctx: Context, cfg: BaselineConfig, spec: str, snrs: Sequence[float], model: ImageJSCC, receiver: ImageReceiver, tick) -> list[Record]:
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
        acc = top1_accuracy(ctx.classifier.predict(tokens), ctx.labels)
        o = Outcome(acc, model.cfg.channel_uses, 0.0, f"conv DeepJSCC {model.cfg.size}px, {model.cfg.channel_uses} ch. uses")
        out.append(_record("image-jscc", spec, snr, o, len(recs), getattr(channel, "csi", None)))
        tick()
    return out


def run_token_digital(ctx: Context, cfg: BaselineConfig, spec: str, snrs: Sequence[float], tick) -> list[Record]:
    channel = coherent_channel(spec, _generator(ctx.seed, spec))
    quant = {b: ctx.quantizer(b) for b in cfg.token_bits}
    payload = {b: q.encode(ctx.tokens) for b, q in quant.items()}

    def outcome(b: int, link: DigitalLink, snr: float) -> Outcome:
        got, ok = link.transmit(payload[b], channel, snr, cfg.batch_size, _gains(ctx, spec, snr))
        acc = top1_accuracy(ctx.classifier.predict(quant[b].decode(got)), ctx.labels)
        lost = 1 - ok.all(1).float().mean().item()
        return Outcome(acc, link.plan.channel_uses, lost, f"{b} bit/component, {link.plan.mcs.name}, tokens hit {lost:.3f}")

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
    )


def image_codec_provenance(train: LabelledImages) -> Provenance:
    """The image-jscc baseline's pixel codec learns from training images with an MSE loss
    (no class list): in-domain by design, which favours the baseline."""
    return Provenance("image-codec", datasets=[DatasetSeen(train.name, train.cache_id, len(train))],
                      notes=["image-jscc baseline: trained on the main set's training images (in-domain), pixel MSE"])


def image_jscc_name(cfg: BaselineConfig, mcfg: ImageJSCCConfig, train: LabelledImages) -> str:
    return artefacts.name("jscc", f"image-jscc-{mcfg.channel_uses}", [asdict(mcfg), asdict(cfg.image_jscc_train), train.cache_id])


def get_image_jscc(cfg: BaselineConfig, ctx: Context, log=print) -> ImageJSCC:
    """The image codec for (config, training images): cached, shipped with semclip
    (``semclip.artefacts``), or trained now."""
    mcfg = cfg.image_jscc or auto_config(ctx.images[0])

    def make(path: Path) -> ImageJSCC:
        torch.manual_seed(cfg.image_jscc_train.seed)
        model = ImageJSCC(mcfg)
        x = torch.stack([to_tensor(ctx.image_train.image(i), mcfg) for i in range(len(ctx.image_train))])
        train_log = train_image_jscc(model, x, cfg.image_jscc_train, partial=partial_path(path))
        save_image_jscc(model, path, {"train_data": ctx.image_train.cache_id, "train": asdict(cfg.image_jscc_train), "log": train_log[-1:]},
                        image_codec_provenance(ctx.image_train))
        partial_path(path).unlink(missing_ok=True)
        return model

    model, _ = artefacts.obtain(image_jscc_name(cfg, mcfg, ctx.image_train), f"image DeepJSCC ({ctx.image_train.name})",
                                lambda path: load_image_jscc(path, mcfg), make, log)
    return model


def run_baselines(
    ctx: Context, cfg: BaselineConfig, channels: Sequence[str], snrs: Sequence[float], log=print, cache: Path | None = None
) -> list[Record]:
    """Every configured baseline on every channel and SNR; finished (method, channel)
    pairs are read back from the cache. Under ``accelerate launch`` the (method, channel)
    pairs are split over the processes, each writes its own cache files, and every process
    then reads them all back in order: the records equal a one-process run."""
    cfg.validate()
    d = dist()
    cache = cache or cache_dir() / "baselines"
    todo = []  # (method, spec, cache file), in output order
    for method in cfg.methods:
        for spec in channels:
            if method != "image-jscc" and spec == "rayleigh:none":
                log(f"{method}: skipping {spec} (a digital receiver needs CSI)")
                continue
            key = hashlib.sha1(json.dumps(
                [method, spec, list(snrs), ctx.backbone.fingerprint, ctx.dataset_id, ctx.seed, asdict(cfg), "v4"],
                sort_keys=True, default=str).encode()).hexdigest()[:16]
            todo.append((method, spec, cache / f"{method}-{spec.replace(':', '_')}-{key}.json"))
    to_run = [t for t in todo if not t[2].exists()]
    missing = {m for m, _, _ in to_run}
    mine = {path for _, _, path in d.shard_items(to_run)}  # this process's share of what is missing
    receiver = ImageReceiver(ctx.backbone)
    # built before the progress display: each shows its own (rich nests no live displays)
    model = None
    if "image-jscc" in missing:  # trained once, by the main process; the others load it
        if d.is_main:
            model = get_image_jscc(cfg, ctx, log)
        d.barrier()
        model = model or get_image_jscc(cfg, ctx, log)
    src = JpegSource(ctx, receiver) if {m for m, _, p in todo if p in mine} & {"image-jpeg-ldpc", "image-capacity", "image-outage"} else None
    with progress(disable=not d.is_main) as bar:
        for method, spec, path in todo:
            if path not in mine:
                continue
            task = bar.add_task(f"{method} over {spec}", total=len(snrs))
            tick = lambda t=task: bar.advance(t)  # noqa: E731
            if method == "image-jpeg-ldpc":
                recs = run_jpeg_ldpc(ctx, cfg, spec, snrs, src, tick)
            elif method == "image-capacity":
                recs = run_capacity(ctx, cfg, spec, snrs, src, tick)
            elif method == "image-outage":
                recs = run_outage(ctx, cfg, spec, snrs, src, tick)
            elif method == "image-jscc":
                recs = run_image_jscc(ctx, cfg, spec, snrs, model, receiver, tick)
            else:
                recs = run_token_digital(ctx, cfg, spec, snrs, tick)
            atomic_write_json(path, [r.model_dump() for r in recs])
    d.barrier()
    records: list[Record] = []
    for _, _, path in todo:
        records += [Record(**r) for r in json.loads(path.read_text())]
    return records


def min_jpeg_channel_uses(jpegs: Sequence[JpegImage], table: Sequence[MCS]) -> float:
    """Mean channel uses to send each image's smallest JPEG (quality 1) at the most
    efficient MCS of the table, CRC included: the least any JPEG-over-LDPC link needs."""
    top = max(table, key=lambda m: m.efficiency)
    bits = [8 * (JPEG_FRAMING + len(j.scans[min(j.scans)])) for j in jpegs]
    return sum(BlockPlan.for_payload(b, top).channel_uses for b in bits) / len(bits) if bits else math.nan
