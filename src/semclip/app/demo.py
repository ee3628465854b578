"""The main job: encode (cached), train the token codec (or reuse it), sweep channels and
SNRs, train receiver prompts on base classes and test them on base and novel classes; write
results.json, results.md, accuracy_vs_snr.png and base_to_novel.png."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch

from semclip.digest import json_digest
from semclip import artefacts
from semclip._io import atomic_write_json, atomic_write_text, cache_dir, clean_stale_tmp
from semclip.backbones.base import Backbone
from semclip.backbones.registry import create_backbone
from semclip.baselines import probe_store
from semclip.baselines.quantize import TokenQuantizer, fitted_quantizer
from semclip.baselines.digital import BlockPlan
from semclip.baselines.receiver import ImageReceiver
from semclip.baselines.common import BaselineConfig, Context
from semclip.baselines.methods.image_jscc import image_codec_provenance
from semclip.baselines.run import run_baselines
from semclip.channels.base import as_snr_tensor
from semclip.channels.registry import create_channel
from semclip.data.registry import create_dataset
from semclip.tokens.cache import Tokens, dataset_tokens, lazy_tokens
from semclip.distributed import dist
from semclip.errors import SemclipError
from semclip.eval.compare import claims_markdown, comparison_markdown, floor_markdown
from semclip.eval.plot import plot_accuracy_vs_k, plot_accuracy_vs_snr, plot_equal_bandwidth, plot_equal_energy, plot_protocol
from semclip.eval.protocols import ProtocolConfig, Split, harmonic_records, run_base2novel
from semclip.device import of as device_of
from semclip.eval.memo import memo_records
from semclip.results import Record, Results, channel_label, software_versions
from semclip.eval.retrieval import retrieval_markdown, sweep_retrieval, sweep_retrieval_digital
from semclip.eval.summary import summarize, summary_markdown
from semclip.eval.views import BANDWIDTH_SPLIT, BASELINE_METHODS, ENERGY_SPLIT, VIEW_BUDGETS, VIEW_SNRS, equal_energy_snrs, views_markdown
from semclip.eval.sweep import sweep
from semclip.eval.table import markdown_table
from semclip.data.base import LabelledImages
from semclip.jscc.checkpoint import read_provenance
from semclip.jscc.model import DEFAULT_KS, JSCCConfig
from semclip.jscc.train import JSCCTrainConfig
from semclip.jscc.adapt import AdaptConfig
from semclip.jscc.zoo import CODEC_DATASET, LINEAR_METHODS, adapted_codec, codec_provenance, codec_recipe, get_jscc, linear_code
from semclip.prompts.registry import learner_config
from semclip.provenance import check, leak_note
from semclip.stopwatch import Stopwatch
from semclip.prompts.train import PromptTrainConfig
from semclip.tasks.retrieval import CaptionIndex
from semclip.tasks.zeroshot import ZeroShotClassifier, top1_accuracy

DEFAULT_SNRS = (-10.0, -5.0, 0.0, 5.0, 10.0, 15.0, 20.0)
MAIN_SET_ONLY = ("semclip-adapted", "semclip-indomain")  # codes about the main set's domain, scored on it alone


@dataclass
class DemoConfig:
    backbone: str = "pocketclip"
    dataset: str = "fashion-mnist:test"  # main evaluation set: a domain the default codec never saw
    transfer_dataset: str | None = "clipart:test"  # second one: unseen images, class names no codec loss used
    train_dataset: str = CODEC_DATASET  # the codec's images: the task-agnostic transmitter corpus
    reference_dataset: str | None = "corpus+fashion-mnist:train#10000"  # in-domain reference codec on the main set; None to skip
    # the sender's own unlabelled images (a training split of the main set's domain) the default codec's transmitter
    # adapts on (semclip.jscc.adapt, mode transmitter: the receiver unchanged); None to skip
    adapt_dataset: str | None = "fashion-mnist:train#1000"
    adapt: AdaptConfig = field(default_factory=AdaptConfig)
    shots_dataset: str = "fashion-mnist:train"  # few-shot pool for prompts: the test set's classes
    shots_limit: int | None = 10000  # the pool's first N images
    test_limit: int | None = None
    train_limit: int | None = None
    k: int = 16  # what the main tables, prompts and baselines use
    ks: list[int] = field(default_factory=lambda: list(DEFAULT_KS))  # served by the one codec; swept at k_sweep_snr_db
    k_sweep_snr_db: float = 10.0
    channels: list[str] = field(default_factory=lambda: ["awgn", "rayleigh"])
    snrs_db: list[float] = field(default_factory=lambda: list(DEFAULT_SNRS))
    jscc: JSCCTrainConfig = field(default_factory=JSCCTrainConfig)
    learners: list[str] = field(default_factory=lambda: ["coop", "tapl"])  # base-to-novel; [] to skip
    prompts: PromptTrainConfig = field(default_factory=PromptTrainConfig)
    baselines: BaselineConfig = field(default_factory=BaselineConfig)  # methods [] to skip
    views: bool = True  # the equal-energy and equal-bandwidth views of the comparison (semclip.eval.views)
    view_snrs_db: list[float] = field(default_factory=lambda: list(VIEW_SNRS))  # SNRs of the equal-bandwidth view
    view_budgets: list[int] = field(default_factory=lambda: list(VIEW_BUDGETS))  # image baselines' channel uses there
    view_limit: int | None = 500  # the equal-bandwidth view's images: the first N of the baselines'
    retrieval_dataset: str | None = "clipart:test"  # captioned images for retrieval; None to skip
    allow_leak: bool = False  # run even if an evaluation split or class list reached a trained part (recorded)
    shipped: bool = True  # take trained parts shipped with semclip when they match the recipe (semclip.artefacts)
    seed: int = 0

    def validate(self) -> None:
        JSCCConfig(ks=self.ks, k=self.k)  # raises on a k not among ks
        self.jscc.validate()
        self.baselines.validate()
        if self.views:
            as_snr_tensor(torch.tensor(self.view_snrs_db, device="cpu"), len(self.view_snrs_db))
            table = self.baselines.mcs_table
            for budget in self.view_budgets:  # a budget that carries no payload at any MCS of the table: said now
                BlockPlan.for_budget(budget, max(table, key=lambda m: m.efficiency))
            if self.view_limit is not None and self.view_limit < 1:
                raise SemclipError(f"view_limit must be at least 1 image, got {self.view_limit}")
        for name in self.learners:
            learner_config(name)
        as_snr_tensor(torch.tensor(self.snrs_db, device="cpu"), len(self.snrs_db))
        as_snr_tensor(self.k_sweep_snr_db, 1)
        for ch in self.channels:
            create_channel(ch)
        if self.retrieval_dataset and not hasattr(create_dataset(self.retrieval_dataset, limit=1), "captions"):
            raise SemclipError(f"{self.retrieval_dataset} has no captions: retrieval needs a captioned dataset such as clipart:test")


@dataclass
class EvalSet:
    """One evaluation set's (cached) tokens, labels and zero-shot classifier."""

    data: LabelledImages
    tokens: torch.Tensor
    labels: torch.Tensor
    classifier: ZeroShotClassifier

    @classmethod
    def of(cls, backbone: Backbone, data: LabelledImages) -> "EvalSet":
        tokens, labels = dataset_tokens(backbone, data)
        if data.skipped:  # unreadable images (reported): the baselines read the rest, row for row with the tokens
            from semclip.data.listed import SubsetImages

            data = SubsetImages(data, sorted(set(range(len(data))) - set(data.skipped)))
        return cls(data, tokens, labels, ZeroShotClassifier(backbone, data.classes))


def token_codes(cfg: DemoConfig, backbone: Backbone, train: LabelledImages, train_tokens: Tokens, log=print) -> dict:
    """The token codes the demo compares, by method: ``semclip`` per codec recipe, the linear
    codes fitted on the same corpus (``pca`` with the LMMSE-optimal power allocation, the
    floor semclip is measured against, and ``pca-flat`` without it), ``semclip-adapted`` (its transmitter adapted on the
    sender's unlabelled images) and ``semclip-indomain`` (the same recipe plus the main set's training images) where
    those sets are given. Values: {recipe: (code, path)}.
    Each is cached, shipped or trained (``semclip.artefacts``); images are encoded only for
    what is trained."""
    codes: dict[str, dict] = {"semclip": {}}
    for ch in cfg.channels:
        recipe = codec_recipe(ch)
        if recipe not in codes["semclip"]:
            jscc, path = get_jscc(backbone, train, train_tokens, *recipe, cfg.ks, cfg.jscc, cfg.k, log=log)
            codes["semclip"][recipe] = (jscc, path)
    for method, allocation in LINEAR_METHODS.items():
        linear, linear_path = linear_code(backbone, train, train_tokens, cfg.ks, cfg.k, log, allocation)
        linear = linear.to(backbone.device)
        codes[method] = {codec_recipe(ch): (linear, linear_path) for ch in cfg.channels if ch != "rayleigh:none"}
    if cfg.adapt_dataset:
        recipe = codec_recipe("awgn")
        source = codes["semclip"].get(recipe) or get_jscc(backbone, train, train_tokens, *recipe, cfg.ks, cfg.jscc, cfg.k, log=log)
        codes["semclip-adapted"] = {recipe: adapted_codec(backbone, source[1], cfg.adapt_dataset, cfg.adapt, cfg.k, log)}
    if cfg.reference_dataset:
        ref = create_dataset(cfg.reference_dataset, limit=cfg.train_limit)
        recipe = codec_recipe("awgn")
        codes["semclip-indomain"] = {recipe: get_jscc(backbone, ref, lazy_tokens(backbone, ref), *recipe, cfg.ks, cfg.jscc, cfg.k,
                                                      log=log)}
    return codes


def zero_shot_checks(cfg: DemoConfig, codes: dict, evals: list[EvalSet], log=print) -> tuple[dict, list[str]]:
    """Each learned code's provenance checked against every evaluation set it is scored on
    (images of the split, its class list); returns (provenance by code, leak reasons)."""
    provenance, leaks = {}, []
    for method, by_recipe in codes.items():
        for recipe, (_, path) in by_recipe.items():
            if path is None:
                continue
            prov = read_provenance(path)
            provenance[f"{method} ({'+'.join(recipe[0])}{', csi' if recipe[1] else ''})"] = asdict(prov)
            scored = evals[:1] if method in MAIN_SET_ONLY else evals
            for e in scored:
                leaks += check(prov, e.data.name, e.data.classes, cfg.allow_leak, log, split_id=e.data.cache_id)
    return provenance, leaks


def code_records(cfg: DemoConfig, codes: dict, evals: list[EvalSet]) -> list[Record]:
    """Zero-shot top-1 of every code on every evaluation set: the channel x SNR grid at
    ``cfg.k`` (split 'all') and the k sweep at ``cfg.k_sweep_snr_db`` on AWGN (split 'k-sweep')."""
    records = []
    for i, e in enumerate(evals):
        clean = top1_accuracy(e.classifier.predict(e.tokens), e.labels)
        records.append(Record(method="clean", channel="none", snr_db=None, value=clean, channel_uses_per_image=0, dataset=e.data.name,
                              n=len(e.labels)))
        for method, by_recipe in codes.items():
            if method in MAIN_SET_ONLY and i > 0:
                continue  # the reference and the adapted codec are about the main set's domain
            for ch in cfg.channels:
                if codec_recipe(ch) not in by_recipe:
                    continue
                code, _ = by_recipe[codec_recipe(ch)]
                records += _sweep_once(code, e, ch, cfg.snrs_db, method, "all", cfg.seed)
            if codec_recipe("awgn") in by_recipe:
                code, _ = by_recipe[codec_recipe("awgn")]
                for k in cfg.ks:
                    records += _sweep_once(code.at(k), e, "awgn", [cfg.k_sweep_snr_db], method, "k-sweep", cfg.seed)
    return records


def _sweep_once(code, e: EvalSet, channel: str, snrs_db: Sequence[float], method: str, split: str, seed: int) -> list[Record]:
    """One code on one evaluation set with the hand-crafted receiver, over ``channel`` at
    ``snrs_db``; computed once per content (``semclip.eval.memo``), read back on reruns."""
    def compute() -> list[Record]:
        return sweep(code, e.tokens, e.labels, lambda t, s: e.classifier.predict(t), [channel], snrs_db,
                     method=method, split=split, seed=seed, outcomes=True)

    key = [code, code.cfg, e.tokens, e.labels, e.classifier.weights, channel, list(snrs_db), method, split, seed,
           device_of(code).type, "outcomes"]
    return [r.model_copy(update={"dataset": e.data.name}) for r in memo_records("sweep", key, compute)]


def backbone_provenance(backbone: Backbone) -> dict:
    """What the backbone's trained parts saw, where semclip knows it (PocketCLIP's heads)."""
    heads = getattr(backbone, "heads_path", None)
    if heads is None:
        return {"component": "backbone", "notes": [f"{backbone.name}: see its model card for its training data"]}
    from safetensors import safe_open

    with safe_open(str(heads), "pt") as f:
        meta = f.metadata() or {}
    sizes = json.loads(meta.get("train_sizes", "{}"))
    notes = ["trained on " + ", ".join(f"{n} {name}" for name, n in sizes.items()) + " images (towers frozen)"]
    if "fashion-mnist-train" in sizes:
        notes.append("saw Fashion-MNIST training images captioned with the official class names: its Fashion-MNIST "
                     "zero-shot is seen concepts on unseen images (benchmarks/backbone_knowledge.py measures synonyms)")
    return {"component": "pocketclip-heads", "sha": meta.get("sha"), "train_sizes": sizes, "notes": notes}


def run_demo(cfg: DemoConfig, out: Path, log=print) -> Results:
    cfg.validate()
    torch.manual_seed(cfg.seed)
    started = time.monotonic()
    artefacts.use_shipped(cfg.shipped)
    artefacts.reset()
    clean_stale_tmp(out)  # what a killed earlier start left half-written in the output folder
    backbone = create_backbone(cfg.backbone)
    test = create_dataset(cfg.dataset, limit=cfg.test_limit)
    train = create_dataset(cfg.train_dataset, limit=cfg.train_limit)
    if train.cache_id == test.cache_id:
        raise SemclipError("the JSCC training set and the evaluation set are the same: pick another --train-dataset")
    # the run's time, kept across restarts of the same configuration in the output folder
    # (made once the inputs are known to be good: a refused run leaves no folder)
    clock = Stopwatch(out, json_digest(asdict(cfg), sort_keys=True),
                      persist=dist().is_main, since=started)
    clock.stage("encode")
    evals = [EvalSet.of(backbone, test)]
    if cfg.transfer_dataset:
        evals.append(EvalSet.of(backbone, create_dataset(cfg.transfer_dataset, limit=cfg.test_limit)))
    main = evals[0]
    train_tokens = lazy_tokens(backbone, train)  # encoded only if a part trained on it must be trained

    def quantizer(bits: int) -> TokenQuantizer:
        return fitted_quantizer(backbone, train, train_tokens, bits, log)

    clock.stage("jscc_and_sweep")
    codes = token_codes(cfg, backbone, train, train_tokens, log)
    provenance, leaks = zero_shot_checks(cfg, codes, evals, log)
    records = code_records(cfg, codes, evals)
    checkpoints = {ch: str(codes["semclip"][codec_recipe(ch)][1]) for ch in cfg.channels}
    if cfg.retrieval_dataset:
        records += retrieval(cfg, backbone, codes, quantizer, log)
    clock.stage("prompts")
    if cfg.learners:
        b2n, prompt_prov, prompt_leaks = base_to_novel(cfg, backbone, main, codes["semclip"], log)
        records += b2n
        provenance |= prompt_prov
        leaks += prompt_leaks
    clock.stage("baselines")
    if cfg.baselines.methods:
        if "image-jscc" in cfg.baselines.methods:  # the corpus codec of pixels is held to zero-shot like semclip's
            prov = image_codec_provenance(train, in_domain=False)
            provenance["image-jscc"] = asdict(prov)
            leaks += check(prov, main.data.name, main.data.classes, cfg.allow_leak, log, split_id=main.data.cache_id)
        if "image-jscc-indomain" in cfg.baselines.methods:
            provenance["image-jscc-indomain"] = asdict(image_codec_provenance(create_dataset(cfg.shots_dataset), in_domain=True))
        records += baselines(cfg, backbone, main, train, quantizer, codes["semclip"], log)
    clock.stage("report")
    if leaks:
        note = leak_note(leaks)
        records = [r.model_copy(update={"leak": note}) for r in records]
    seen = codec_provenance(train, cfg.jscc)
    results = Results(
        versions=software_versions(),
        backbone=backbone.fingerprint,
        dataset=main.data.name,
        records=records,
        config=json.loads(json.dumps(asdict(cfg))),
        jscc_checkpoints=checkpoints,
        provenance={"backbone": backbone_provenance(backbone), **provenance,
                    "leaks": list(dict.fromkeys(leaks)),
                    "vocabulary_overlap": {e.data.name: seen.overlaps(e.data.classes) for e in evals}},
        n_test=len(main.data),
        n_train=len(train),
        **({"jpeg_min_channel_uses": jpeg_floor(cfg, main.data)} if {"image-jpeg-ldpc", "image-capacity"} & set(cfg.baselines.methods) else {}),
        seconds=clock.summary(),  # summed over every start of this run ("starts" counts them)
        artefacts=artefacts.used(),  # every trained part: cached, shipped with semclip, or trained by this run
    )
    if dist().is_main:  # under a launch every process computed the records; one writes them
        out.mkdir(parents=True, exist_ok=True)
        results.write(out / "results.json")
        write_demo_pages(cfg, results, evals, train, out)
    clock.close()
    return results


def write_demo_pages(cfg: DemoConfig, results: Results, evals: list[EvalSet], train: LabelledImages, out: Path) -> None:
    """results.md and the figures, from the records."""
    records = results.records
    main = evals[0].data
    for i, e in enumerate(evals):
        view = results.model_copy(update={"dataset": e.data.name, "records": [r for r in records if (r.dataset or main.name) == e.data.name]})
        name = "accuracy_vs_snr.png" if i == 0 else f"accuracy_vs_snr_{e.data.name}.png"
        plot_accuracy_vs_snr(view, out / name, chance=1.0 / len(e.data.classes))
    plot_accuracy_vs_k(records, out / "accuracy_vs_k.png")
    summary = getattr(train, "summary", None)
    md = (
        f"# SemCLIP demo, backbone {results.backbone}\n\n"
        f"Token codec: one checkpoint serving k in {cfg.ks} complex channel uses per image (tables at k = {cfg.k}), trained on "
        f"{summary() if summary else f'{len(train)} images of {train.name}'}. `pca` is the linear code fitted on the same "
        "corpus with the power allocation optimal for its linear MMSE receiver at each SNR, `pca-flat` the same code without "
        "it; `semclip-adapted` the same codec with its transmitter adapted on unlabelled images of the main set's "
        f"training split ({cfg.adapt_dataset}: no labels, no class names; the receiver unchanged); `semclip-indomain` "
        "the same recipe plus the main set's training images (the price of universality).\n"
    )
    md += artefacts_markdown(results.model_extra.get("artefacts", []))
    if results.provenance["leaks"]:
        md += f"\n**{leak_note(results.provenance['leaks'])}**\n"
    for e in evals:
        view = results.model_copy(update={"records": [r for r in records if (r.dataset or main.name) == e.data.name]})
        md += (f"\n## {e.data.name}: zero-shot top-1 ({len(e.data)} images, {len(e.data.classes)} classes, chance "
               f"{1 / len(e.data.classes):.3f})\n\n" + markdown_table(view))
    md += k_sweep_markdown(records, cfg.k_sweep_snr_db)
    md += "".join(floor_markdown(records, floor=m) for m in LINEAR_METHODS)
    md += retrieval_markdown([r for r in records if r.k in (None, cfg.k)])
    if cfg.baselines.methods:
        on_main = [r for r in records if (r.dataset or main.name) == main.name and r.method not in (*LINEAR_METHODS, *MAIN_SET_ONLY)]
        md += (baseline_notes(results) + comparison_markdown(on_main, 1.0 / len(main.classes)) + views_markdown(on_main, cfg.k)
               + claims_markdown(on_main, 1.0 / len(main.classes), cfg.k))
        if cfg.views:
            plot_equal_energy(on_main, out / "accuracy_vs_energy.png", BASELINE_METHODS)
            plot_equal_bandwidth(on_main, out / "accuracy_vs_bandwidth.png", BASELINE_METHODS)
        if "jpeg_min_channel_uses" in results.model_extra:
            md += (
                f"\nThe smallest JPEG of each image ({results.jpeg_min_channel_uses.get('side', '?')} px, quality 1, "
                f"{results.jpeg_min_channel_uses['mcs']}, the table's most "
                f"efficient MCS) would need {results.jpeg_min_channel_uses['mean']:.0f} channel uses per image on average: the "
                f"least any JPEG-over-LDPC link needs, {results.jpeg_min_channel_uses['mean'] / cfg.k:.1f}x semclip's {cfg.k}. "
                "Sent error-free at AWGN capacity it would need, per SNR: "
                + ", ".join(f"{v:g} at {snr} dB" for snr, v in results.jpeg_min_channel_uses["at_capacity_awgn"].items()) + ".\n"
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


def artefacts_markdown(used: Sequence[dict]) -> str:
    """Where each trained part of the run came from: trained by it, read from the cache, or
    shipped with semclip (regenerated by ``scripts/ship_artefacts.py``)."""
    return table_section(
        "Trained parts and where they came from",
        "Each trained part behind this run's results: shipped with semclip (`scripts/ship_artefacts.py` regenerates "
        "them), read from the cache, or trained by this run (results read back from the cache list the parts that made them).",
        ["part", "from", "file"], [[u["what"], u["origin"], f"`{u['name']}`"] for u in used])


def table_section(title: str, intro: str, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A results.md section: heading, one paragraph, a table; nothing when there are no rows."""
    if not rows:
        return ""
    lines = [f"\n## {title}\n", intro + "\n", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def k_sweep_markdown(records: Sequence[Record], snr_db: float) -> str:
    """Top-1 (and retrieval R@1) against k at one SNR: rows (dataset, method), columns k."""
    recs = [r for r in records if r.split == "k-sweep" or (r.task == "retrieval" and r.k is not None and r.snr_db == snr_db
                                                              and r.channel == "awgn" and r.split == "image-to-text" and r.metric == "r@1")]
    if not recs:
        return ""
    ks = sorted({r.k for r in recs})
    clean = {(r.dataset, r.task, r.split, r.metric): r.value for r in records if r.method == "clean"}
    md = [f"\n## Accuracy against bandwidth (AWGN, {snr_db:g} dB)\n", "| dataset | task | method | " + " | ".join(f"k={k}" for k in ks) + " | clean |",
          "|---|---|---|" + "---|" * (len(ks) + 1)]
    for key in dict.fromkeys((r.dataset, r.task, r.split, r.metric, r.method) for r in recs):
        by = {r.k: r.value for r in recs if (r.dataset, r.task, r.split, r.metric, r.method) == key}
        task = "top-1" if key[1] != "retrieval" else "image-to-text R@1"
        ref = clean.get((key[0], key[1], "all" if key[1] != "retrieval" else key[2], key[3]))
        md.append(f"| {key[0]} | {task} | {key[4]} | " + " | ".join(f"{by[k]:.3f}" if k in by else "" for k in ks)
                  + f" | {'' if ref is None else f'{ref:.3f}'} |")
    return "\n".join(md) + "\n"


def base_to_novel(cfg, backbone, main: EvalSet, codes: dict, log) -> tuple[list[Record], dict, list[str]]:
    """Base-to-novel records of the hand-crafted receiver and the demo's learners, on the
    channels served by the shared (AWGN + Rayleigh/MMSE) codec; with the prompts'
    provenance and any leak found."""
    recipe = codec_recipe("awgn")
    channels = [ch for ch in cfg.channels if codec_recipe(ch) == recipe]
    if not channels:
        return [], {}, []
    jscc, path = codes[recipe]  # built by run_demo: every channel kept here uses it
    pc = ProtocolConfig(
        learners=["handcrafted", *cfg.learners],
        seeds=[cfg.seed],
        channels=channels,
        snrs_db=cfg.snrs_db,
        train=replace(cfg.prompts, channels=channels),
    )
    pool = create_dataset(cfg.shots_dataset, limit=cfg.shots_limit)
    if list(pool.classes) != list(main.data.classes):
        raise SemclipError(f"the few-shot pool {pool.name} must have the test set's classes {main.data.classes}")
    tr = Split.of(backbone, pool)
    te = Split(main.data.name, main.tokens, main.labels, list(main.data.classes), main.data.cache_id)
    run = run_base2novel(backbone, jscc, path.stem, tr, te, pc, log, allow_leak=cfg.allow_leak)
    return [r.model_copy(update={"dataset": None}) for r in run.records], run.provenance, run.leaks


def baselines(cfg, backbone, main: EvalSet, corpus: LabelledImages, quantizer, codes, log) -> list[Record]:
    """The baselines on the first ``cfg.baselines.limit`` test images, and semclip on the
    same images (split 'subset') so that the comparison is paired; with ``cfg.views``,
    semclip at the energy of each baseline point (split 'equal-energy') and the
    equal-bandwidth view (split 'bandwidth')."""
    test = main.data
    n = min(cfg.baselines.limit or len(test), len(test))
    ctx = Context(  # image-jscc trains on the token codec's corpus, image-jscc-indomain on the main set's training split
        backbone, main.classifier, [test.image(i) for i in range(n)], main.labels[:n], main.tokens[:n], quantizer,
        corpus, f"{test.cache_id}-first{n}", cfg.seed, indomain_train=create_dataset(cfg.shots_dataset),
    )
    receiver = ImageReceiver(backbone)  # shared: a received picture's tokens are computed once for every run below
    recs = run_baselines(ctx, cfg.baselines, cfg.channels, cfg.snrs_db, log, receiver=receiver)
    predict = lambda t, s: main.classifier.predict(t)  # noqa: E731
    for ch in cfg.channels:
        jscc, _ = codes[codec_recipe(ch)]
        sub = sweep(jscc, ctx.tokens, ctx.labels, predict, [ch], cfg.snrs_db, split="subset", seed=cfg.seed, outcomes=True)
        if cfg.views:  # semclip given each baseline point's energy per image, on its images and fades
            label = channel_label(sub[0])
            snrs = equal_energy_snrs([r for r in recs if r.method in BASELINE_METHODS and channel_label(r) == label], jscc.cfg.k)
            sub += sweep(jscc, ctx.tokens, ctx.labels, predict, [ch], list(snrs), split=ENERGY_SPLIT, seed=cfg.seed, outcomes=True,
                         fade_snrs_db=list(snrs.values()))
        recs += [r.model_copy(update={"n_images": n}) for r in sub]
    if cfg.views:
        recs += bandwidth_view(cfg, ctx, codes, receiver, log)
    return recs


def bandwidth_view(cfg: DemoConfig, ctx: Context, codes: dict, receiver: ImageReceiver, log) -> list[Record]:
    """Accuracy against channel uses at ``cfg.view_snrs_db`` on the first ``cfg.view_limit``
    baseline images: the image baselines at each budget of ``cfg.view_budgets``, image-jscc
    at its own, token-digital at each bit width, semclip at each k it serves."""
    m = min(cfg.view_limit or len(ctx.labels), len(ctx.labels))
    small = replace(ctx, images=ctx.images[:m], labels=ctx.labels[:m], tokens=ctx.tokens[:m], dataset_id=f"{ctx.dataset_id}-first{m}",
                    jpegs=ctx.jpegs[:m] if ctx.jpegs else None)
    bcfg, snrs = cfg.baselines, cfg.view_snrs_db
    runs = [replace(bcfg, methods=[x for x in ("image-jpeg-ldpc", "image-capacity", "image-outage") if x in bcfg.methods], budget=b)
            for b in cfg.view_budgets]
    runs += [replace(bcfg, methods=[x for x in ("image-jscc", "image-jscc-indomain") if x in bcfg.methods])]
    runs += [replace(bcfg, methods=["token-digital"], token_bits=[b]) for b in bcfg.token_bits] if "token-digital" in bcfg.methods else []
    out = []
    for run in runs:
        if run.methods:
            out += run_baselines(small, replace(run, limit=m), cfg.channels, snrs, log, receiver=receiver)
    for ch in cfg.channels:
        jscc, _ = codes[codec_recipe(ch)]
        for k in cfg.ks:
            out += sweep(jscc.at(k), small.tokens, small.labels, lambda t, s: small.classifier.predict(t), [ch], snrs,
                         split=BANDWIDTH_SPLIT, seed=cfg.seed, outcomes=True)
    return [r.model_copy(update={"split": BANDWIDTH_SPLIT, "n_images": m}) for r in out]


def jpeg_floor(cfg: DemoConfig, test) -> dict:
    """Mean channel uses of each baseline test image's smallest JPEG (smallest side,
    quality 1) at the most efficient MCS."""
    from semclip.baselines.jpeg import JpegImage, default_sides
    from semclip.baselines.jpeg_source import min_jpeg_channel_uses, smallest_jpeg_bits
    from semclip.channels.base import Channel

    n = min(cfg.baselines.limit or len(test), len(test))
    table = cfg.baselines.mcs_table
    jpegs = [JpegImage.of(im, cfg.baselines.jpeg_sides or default_sides(im.size)) for im in (test.image(i) for i in range(n))]
    bits = sum(smallest_jpeg_bits(j) for j in jpegs) / n
    return {
        "mean": round(min_jpeg_channel_uses(jpegs, table), 1),
        "mcs": max(table, key=lambda m: m.efficiency).name,
        "side": min(jpegs[0].sides),
        "at_capacity_awgn": {f"{s:g}": round(bits / Channel.capacity(s), 1) for s in cfg.snrs_db},
    }


def baseline_notes(results: Results) -> str:
    """Which MCS / bit width each digital baseline chose per SNR."""
    recs = [r for r in results.records if r.detail and r.split == "all" and r.method in ("image-jpeg-ldpc", "token-digital")]
    return table_section(
        "What the digital baselines chose",
        "Link adaptation `bler`: the most efficient MCS whose block error rate on random payloads meets the target "
        "(no test label is read); `oracle`: the best by accuracy on the test labels (`--mcs-oracle`). Each image's JPEG "
        "side and quality: among the sides that fit the payload, the least pixel error against the original (the "
        "transmitter's rate-distortion choice, no label read); the receiver upscales the picture.",
        ["method", "channel", "SNR (dB)", "link adaptation", "choice"],
        [[r.method, channel_label(r), f"{r.snr_db:g}", r.link_adaptation, r.detail] for r in recs])


def retrieval(cfg: DemoConfig, backbone: Backbone, codes: dict, quantizer: Callable[[int], TokenQuantizer], log=print) -> list[Record]:
    """Image-text retrieval with received tokens on a captioned set, per channel and SNR at
    ``cfg.k`` and against k at ``cfg.k_sweep_snr_db`` (AWGN), for every token code;
    token-digital too when it is among the baselines (cached once computed)."""
    data = create_dataset(cfg.retrieval_dataset)  # validate() checked it has captions
    tokens, _ = dataset_tokens(backbone, data)
    index = CaptionIndex(backbone, data.captions())
    records = []
    for method, by_recipe in codes.items():
        for ch in cfg.channels:
            if codec_recipe(ch) in by_recipe:
                code, _ = by_recipe[codec_recipe(ch)]
                recs = sweep_retrieval(code, tokens, index, [ch], cfg.snrs_db, data.name, method=method, seed=cfg.seed)
                records += recs if not records else [r for r in recs if r.method != "clean"]
        if codec_recipe("awgn") in by_recipe:
            code, _ = by_recipe[codec_recipe("awgn")]
            for k in cfg.ks:
                if k != cfg.k:
                    recs = sweep_retrieval(code.at(k), tokens, index, ["awgn"], [cfg.k_sweep_snr_db], data.name, method=method, seed=cfg.seed)
                    records += [r for r in recs if r.method != "clean"]
    if "token-digital" in cfg.baselines.methods:
        key = json_digest([backbone.fingerprint, data.cache_id, cfg.channels, cfg.snrs_db, cfg.seed, cfg.train_dataset,
                           cfg.train_limit, cfg.baselines.target_bler, cfg.baselines.probe_payloads, "retrieval-v5"])
        path = cache_dir() / "baselines" / f"retrieval-token-digital-{key}.json"
        if path.exists():
            quantizer(1)  # read back: still list the parts that made it
            probe_store.replay(path)
            records += [Record(**r) for r in json.loads(path.read_text())]
        else:
            log("token-digital retrieval (one LDPC link per point)")
            with probe_store.recorded(path):
                recs = sweep_retrieval_digital(tokens, quantizer(1), index, cfg.channels, cfg.snrs_db, data.name, cfg.seed,
                                               target_bler=cfg.baselines.target_bler, probe_payloads=cfg.baselines.probe_payloads)
            atomic_write_json(path, [r.model_dump() for r in recs])
            records += recs
    return records
