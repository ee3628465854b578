"""The main job: encode (cached), train the token codec (or reuse it), sweep channels and
SNRs, train receiver prompts on base classes and test them on base and novel classes; write
results.json, results.md, accuracy_vs_snr.png and base_to_novel.png."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch

from semclip._io import atomic_write_json, atomic_write_text, cache_dir
from semclip.backbones.base import Backbone, create_backbone
from semclip.baselines.run import BaselineConfig, Context, run_baselines
from semclip.channels.base import as_snr_tensor
from semclip.channels.registry import create_channel
from semclip.data.registry import create_dataset
from semclip.data.token_cache import dataset_tokens
from semclip.errors import SemclipError
from semclip.eval.compare import comparison_markdown
from semclip.eval.plot import plot_accuracy_vs_snr, plot_protocol
from semclip.eval.protocols import ProtocolConfig, Split, harmonic_records, run_base2novel
from semclip.eval.results import Record, Results, software_versions
from semclip.eval.retrieval import retrieval_markdown, sweep_retrieval, sweep_retrieval_digital
from semclip.eval.summary import summarize, summary_markdown
from semclip.eval.sweep import sweep, sweep_semclip
from semclip.eval.table import markdown_table
from semclip.jscc.checkpoint import load_jscc, save_jscc
from semclip.jscc.model import JSCCConfig, TokenJSCC
from semclip.jscc.train import JSCCTrainConfig, train_jscc
from semclip.prompts.registry import learner_config
from semclip.prompts.train import PromptTrainConfig
from semclip.tasks.retrieval import CaptionIndex
from semclip.tasks.zeroshot import ZeroShotClassifier, top1_accuracy

DEFAULT_SNRS = (-10.0, -5.0, 0.0, 5.0, 10.0, 15.0, 20.0)


@dataclass
class DemoConfig:
    backbone: str = "pocketclip"
    dataset: str = "fashion-mnist:test"
    train_dataset: str = "fashion-mnist:train+clipart:train"  # the codec's tokens: two domains
    shots_dataset: str = "fashion-mnist:train"  # few-shot pool for prompts: the test set's classes
    test_limit: int | None = None
    train_limit: int | None = 10000
    k: int = 16
    channels: list[str] = field(default_factory=lambda: ["awgn", "rayleigh"])
    snrs_db: list[float] = field(default_factory=lambda: list(DEFAULT_SNRS))
    jscc: JSCCTrainConfig = field(default_factory=JSCCTrainConfig)
    learners: list[str] = field(default_factory=lambda: ["coop", "tapl"])  # base-to-novel; [] to skip
    prompts: PromptTrainConfig = field(default_factory=PromptTrainConfig)
    baselines: BaselineConfig = field(default_factory=BaselineConfig)  # methods [] to skip
    retrieval_dataset: str | None = "clipart:test"  # captioned images for retrieval; None to skip
    seed: int = 0

    def validate(self) -> None:
        JSCCConfig(k=self.k)  # raises on k <= 0
        self.baselines.validate()
        for name in self.learners:
            learner_config(name)
        as_snr_tensor(torch.tensor(self.snrs_db), len(self.snrs_db))
        for ch in self.channels:
            create_channel(ch)
        if self.retrieval_dataset and not hasattr(create_dataset(self.retrieval_dataset, limit=1), "captions"):
            raise SemclipError(f"{self.retrieval_dataset} has no captions: retrieval needs a captioned dataset such as clipart:test")


def semantic_bank(backbone: Backbone, classes: Sequence[str]) -> torch.Tensor:
    """Text embeddings of the training classes and the 1000 ImageNet names: the
    concepts whose zero-shot distribution the codec learns to preserve."""
    from semclip.backbones.pocketclip import imagenet_classes

    names = list(dict.fromkeys(list(classes) + imagenet_classes()))
    with torch.no_grad():  # not inference_mode: the bank takes part in the codec's loss
        return backbone.encode_text([f"a photo of a {n}." for n in names])


def codec_recipe(channel: str) -> tuple[tuple[str, ...], bool]:
    """Which channels a codec serving ``channel`` is trained on, and whether its decoder
    takes CSI. AWGN and equalised Rayleigh share one codec (trained on both); the
    un-equalised modes need their own (the decoder must see h, or learn without it)."""
    family, _, mode = channel.partition(":")
    if family == "awgn" or mode in ("", "mmse"):
        return ("awgn", "rayleigh"), False
    return (channel,), mode == "decoder"


def get_jscc(
    cfg: DemoConfig,
    backbone: Backbone,
    train_tokens: torch.Tensor,
    train_classes: Sequence[str],
    train_id: str,
    channels: tuple[str, ...],
    csi: bool,
    log=print,
) -> tuple[TokenJSCC, Path]:
    """Load the cached codec for this (backbone, training data, config), or train it."""
    mcfg = JSCCConfig(dim=train_tokens.shape[1], k=cfg.k, csi=csi)
    tcfg = replace(cfg.jscc, channels=list(channels))
    key = hashlib.sha1(
        json.dumps([backbone.fingerprint, train_id, asdict(mcfg), asdict(tcfg)], sort_keys=True).encode()
    ).hexdigest()[:12]
    path = cache_dir() / "jscc" / f"token-jscc-k{cfg.k}-{key}.safetensors"
    if path.exists():
        log(f"reusing token JSCC {path}")
        return load_jscc(path, backbone=backbone.fingerprint, k=cfg.k), path
    return fit_jscc(mcfg, tcfg, backbone, train_tokens, train_classes, train_id, path), path


def default_codec(backbone: Backbone, channel: str = "awgn", log=print) -> tuple[TokenJSCC, Path]:
    """The demo's codec serving ``channel`` (trained on the demo's training set, cached):
    what eval, transmit, serve and the benchmarks use when no checkpoint is given."""
    cfg = DemoConfig(backbone=backbone.name)
    train = create_dataset(cfg.train_dataset, limit=cfg.train_limit)
    tokens, _ = dataset_tokens(backbone, train)
    return get_jscc(cfg, backbone, tokens, train.classes, train.cache_id, *codec_recipe(channel), log=log)


def fit_jscc(
    mcfg: JSCCConfig,
    tcfg: JSCCTrainConfig,
    backbone: Backbone,
    train_tokens: torch.Tensor,
    train_classes: Sequence[str],
    train_id: str,
    path: Path,
) -> TokenJSCC:
    """Train a codec on ``train_tokens`` (stage 1) and save it, with how it was made, to ``path``
    (by the main process; under ``accelerate launch`` every process trains its share)."""
    from semclip.distributed import dist

    d = dist()
    torch.manual_seed(tcfg.seed)
    model = TokenJSCC(mcfg)
    bank = semantic_bank(backbone, train_classes)
    t0 = time.time()
    train_log = train_jscc(model, train_tokens, bank, tcfg, d)
    if d.is_main:
        save_jscc(
            model,
            path,
            backbone.fingerprint,
            extra={"train": asdict(tcfg), "train_data": train_id, "seconds": time.time() - t0, "log": train_log[-1:], "processes": d.world},
        )
    d.barrier()
    return model


def run_demo(cfg: DemoConfig, out: Path, log=print) -> Results:
    cfg.validate()
    torch.manual_seed(cfg.seed)
    t0 = time.time()
    backbone = create_backbone(cfg.backbone)
    test = create_dataset(cfg.dataset, limit=cfg.test_limit)
    train = create_dataset(cfg.train_dataset, limit=cfg.train_limit)
    if train.cache_id == test.cache_id:
        raise SemclipError("the JSCC training set and the evaluation set are the same: pick another --train-dataset")
    test_tokens, test_labels = dataset_tokens(backbone, test)
    if test.skipped:  # unreadable images (reported): the baselines read the rest, row for row with the tokens
        from semclip.data.listed import SubsetImages

        test = SubsetImages(test, sorted(set(range(len(test))) - set(test.skipped)))
    train_tokens, _ = dataset_tokens(backbone, train)
    t_encode = time.time() - t0
    classifier = ZeroShotClassifier(backbone, test.classes)
    clean = top1_accuracy(classifier.predict(test_tokens), test_labels)
    records = [Record(method="clean", channel="none", snr_db=None, value=clean, channel_uses_per_image=0)]
    checkpoints, codecs = {}, {}
    for ch in cfg.channels:
        recipe = codec_recipe(ch)
        if recipe not in codecs:
            codecs[recipe] = get_jscc(cfg, backbone, train_tokens, train.classes, train.cache_id, *recipe, log=log)
        jscc, path = codecs[recipe]
        checkpoints[ch] = str(path)
        records += sweep_semclip(jscc, test_tokens, test_labels, classifier, [ch], cfg.snrs_db, seed=cfg.seed)
    if cfg.retrieval_dataset:
        records += retrieval(cfg, backbone, codecs, train_tokens, log)
    t_jscc = time.time() - t0 - t_encode
    if cfg.learners:
        records += base_to_novel(cfg, backbone, test, test_tokens, test_labels, codecs, log)
    t_prompts = time.time() - t0 - t_encode - t_jscc
    if cfg.baselines.methods:
        records += baselines(cfg, backbone, classifier, test, test_tokens, test_labels, train_tokens, codecs, log)
    t_baselines = time.time() - t0 - t_encode - t_jscc - t_prompts
    results = Results(
        versions=software_versions(),
        backbone=backbone.fingerprint,
        dataset=test.name,
        records=records,
        config=json.loads(json.dumps(asdict(cfg))),
        jscc_checkpoints=checkpoints,
        n_test=len(test),
        n_train=len(train),
        **({"jpeg_min_channel_uses": jpeg_floor(cfg, test)} if {"image-jpeg-ldpc", "image-capacity"} & set(cfg.baselines.methods) else {}),
        seconds={"encode": round(t_encode, 1), "jscc_and_sweep": round(t_jscc, 1), "prompts": round(t_prompts, 1), "baselines": round(t_baselines, 1), "total": round(time.time() - t0, 1)},
    )
    out.mkdir(parents=True, exist_ok=True)
    results.write(out / "results.json")
    plot_accuracy_vs_snr(results, out / "accuracy_vs_snr.png", chance=1.0 / len(test.classes))
    md = (
        f"# SemCLIP demo: {test.name}, backbone {backbone.fingerprint}\n\n"
        f"Zero-shot top-1 accuracy ({len(test)} test images, {len(test.classes)} classes, chance "
        f"{1 / len(test.classes):.3f}). Token JSCC: k = {cfg.k} complex channel uses per image, trained on "
        f"{len(train)} images of {train.name}.\n\n" + markdown_table(results)
    )
    md += retrieval_markdown(records)
    if cfg.baselines.methods:
        md += baseline_notes(results) + comparison_markdown(records, 1.0 / len(test.classes))
        if "jpeg_min_channel_uses" in results.model_extra:
            md += (
                f"\nThe smallest JPEG of each image (quality 1, {results.jpeg_min_channel_uses['mcs']}, the table's most "
                f"efficient MCS) would need {results.jpeg_min_channel_uses['mean']:.0f} channel uses per image on average: the "
                f"least any JPEG-over-LDPC link needs, {results.jpeg_min_channel_uses['mean'] / cfg.k:.1f}x semclip's {cfg.k}. "
                "Sent error-free at AWGN capacity it would need, per SNR: "
                + ", ".join(f"{v:g} at {k} dB" for k, v in results.jpeg_min_channel_uses["at_capacity_awgn"].items()) + ".\n"
            )
    if cfg.learners:
        b2n = [r for r in records if r.split in ("base", "novel")]
        rows = summarize(b2n + harmonic_records(b2n))
        plot_protocol(rows, out / "base_to_novel.png")
        md += (
            "\n## Base-to-novel (receiver prompt learning)\n\nPrompts trained on "
            f"{cfg.prompts.shots} shots of each base class (first half of the classes) from {cfg.shots_dataset}, "
            f"seed {cfg.seed}; 'hm' is the harmonic mean of base and novel.\n" + summary_markdown(rows)
        )
    atomic_write_text(out / "results.md", md)
    return results


def base_to_novel(cfg, backbone, test, test_tokens, test_labels, codecs, log) -> list[Record]:
    """Base-to-novel records of the hand-crafted receiver and the demo's learners, on the
    channels served by the shared (AWGN + Rayleigh/MMSE) codec."""
    recipe = codec_recipe("awgn")
    channels = [ch for ch in cfg.channels if codec_recipe(ch) == recipe]
    if not channels:
        return []
    jscc, path = codecs[recipe]  # built by run_demo: every channel kept here uses it
    pc = ProtocolConfig(
        learners=["handcrafted", *cfg.learners],
        seeds=[cfg.seed],
        channels=channels,
        snrs_db=cfg.snrs_db,
        train=replace(cfg.prompts, channels=channels),
    )
    pool = create_dataset(cfg.shots_dataset, limit=cfg.train_limit)
    if list(pool.classes) != list(test.classes):
        raise SemclipError(f"the few-shot pool {pool.name} must have the test set's classes {test.classes}")
    tr = Split.of(backbone, pool)
    te = Split(test.name, test_tokens, test_labels, list(test.classes), test.cache_id)
    recs = run_base2novel(backbone, jscc, path.stem, tr, te, pc, log)
    return [r.model_copy(update={"dataset": None}) for r in recs]


def baselines(cfg, backbone, classifier, test, test_tokens, test_labels, train_tokens, codecs, log) -> list[Record]:
    """The baselines on the first ``cfg.baselines.limit`` test images, and semclip on the
    same images (split 'subset') so that the comparison is paired."""
    n = min(cfg.baselines.limit or len(test), len(test))
    pool = create_dataset(cfg.shots_dataset)  # image-jscc trains on these images (training split)
    ctx = Context(
        backbone, classifier, [test.image(i) for i in range(n)], test_labels[:n], test_tokens[:n], train_tokens,
        pool, f"{test.cache_id}-first{n}", cfg.seed,
    )
    recs = run_baselines(ctx, cfg.baselines, cfg.channels, cfg.snrs_db, log)
    for ch in cfg.channels:
        jscc, _ = codecs[codec_recipe(ch)]
        sub = sweep(jscc, test_tokens[:n], test_labels[:n], lambda t, s: classifier.predict(t), [ch], cfg.snrs_db, split="subset", seed=cfg.seed)
        recs += [r.model_copy(update={"n_images": n}) for r in sub]
    return recs


def jpeg_floor(cfg: DemoConfig, test) -> dict:
    """Mean channel uses of each baseline test image's quality-1 JPEG at the most efficient MCS."""
    from semclip.baselines.jpeg import JpegImage
    from semclip.baselines.run import JPEG_FRAMING, min_jpeg_channel_uses
    from semclip.channels.base import Channel

    n = min(cfg.baselines.limit or len(test), len(test))
    table = cfg.baselines.mcs_table
    jpegs = [JpegImage.of(test.image(i), qualities=(1,)) for i in range(n)]
    bits = sum(8 * (JPEG_FRAMING + len(j.scans[1])) for j in jpegs) / n
    return {
        "mean": round(min_jpeg_channel_uses(jpegs, table), 1),
        "mcs": max(table, key=lambda m: m.efficiency).name,
        "at_capacity_awgn": {f"{s:g}": round(bits / Channel.capacity(s), 1) for s in cfg.snrs_db},
    }


def baseline_notes(results: Results) -> str:
    """Which MCS / bit width each digital baseline chose per SNR."""
    recs = [r for r in results.records if r.detail and r.method in ("image-jpeg-ldpc", "token-digital")]
    if not recs:
        return ""
    lines = ["\n## What the digital baselines chose\n", "| method | channel | SNR (dB) | choice |", "|---|---|---|---|"]
    lines += [f"| {r.method} | {r.channel}{f' ({r.csi})' if r.csi else ''} | {r.snr_db:g} | {r.detail} |" for r in recs]
    return "\n".join(lines) + "\n"


def retrieval(cfg: DemoConfig, backbone: Backbone, codecs: dict, train_tokens: torch.Tensor, log=print) -> list[Record]:
    """Image-text retrieval with received tokens on a captioned set, per channel and SNR;
    token-digital too when it is among the baselines (cached once computed)."""
    data = create_dataset(cfg.retrieval_dataset)  # validate() checked it has captions
    tokens, _ = dataset_tokens(backbone, data)
    index = CaptionIndex(backbone, data.captions())
    records = []
    for ch in cfg.channels:
        jscc, _ = codecs[codec_recipe(ch)]
        recs = sweep_retrieval(jscc, tokens, index, [ch], cfg.snrs_db, data.name, seed=cfg.seed)
        records += recs if not records else [r for r in recs if r.method != "clean"]
    if "token-digital" in cfg.baselines.methods:
        key = hashlib.sha1(json.dumps([backbone.fingerprint, data.cache_id, cfg.channels, cfg.snrs_db, cfg.seed,
                                       cfg.train_dataset, cfg.train_limit, "retrieval-v1"]).encode()).hexdigest()[:16]
        path = cache_dir() / "baselines" / f"retrieval-token-digital-{key}.json"
        if path.exists():
            records += [Record(**r) for r in json.loads(path.read_text())]
        else:
            log("token-digital retrieval (one LDPC link per point)")
            recs = sweep_retrieval_digital(tokens, train_tokens, index, cfg.channels, cfg.snrs_db, data.name, cfg.seed)
            atomic_write_json(path, [r.model_dump() for r in recs])
            records += recs
    return records
