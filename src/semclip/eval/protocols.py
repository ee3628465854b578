"""Zero-shot protocols for receiver prompt learning, as in CoOp / CoCoOp / MaPLe.

- base-to-novel: the first half of a dataset's classes is *base*; a learner trains on
  K shots per base class (from the training split) and is tested on the test split twice:
  on base images against base names, on novel images against novel names. The harmonic
  mean of the two is the headline number.
- cross-dataset: a learner trains on K shots of every class of dataset A and is tested on
  dataset B's test split against B's names.

Every learner sees the same few-shot images and, at test time, the same channel noise.
Trained prompts are cached by (backbone, codec, data, settings, seed) and record what they
saw; before testing, each learner's provenance (and the codec's, when given) is checked
against the split and the classes it is tested on (``semclip.provenance``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from semclip import artefacts
from semclip._io import atomic_write
from semclip.backbones.base import Backbone
from semclip.data.base import LabelledImages
from semclip.data.registry import create_dataset
from semclip.tokens.cache import dataset_tokens, lazy_tokens
from semclip.errors import SemclipError
from semclip.device import of as device_of
from semclip.eval.memo import memo_records
from semclip.results import Record
from semclip.eval.sweep import sweep
from semclip.jscc.model import TokenJSCC
from semclip.jscc.zoo import CODEC_DATASET
from semclip.prompts.base import DEFAULTED, PromptConfig, PromptLearner
from semclip.prompts.centering import LEVELS_DB, TABLE_CHANNELS, TABLE_TOKENS, measure
from semclip.prompts.checkpoint import load_prompts
from semclip.prompts.registry import create_learner, list_learners, resolved_config
from semclip.prompts.splits import base_novel, few_shot
from semclip.prompts.train import PromptTrainConfig, train_prompts
from semclip.prompts.train import recipe as train_recipe
from semclip.prompts.tta import TestTimePrompts, TTAConfig, split_name
from semclip.settings import setting
from semclip.provenance import META_KEY, DatasetSeen, Provenance, check, prompts_provenance
from semclip.tasks.zeroshot import top1_accuracy


class Split:
    """Tokens of one dataset split, with its class names and a content id for caches. A
    split made by ``Split.of`` reads (or encodes) its tokens at their first use: prompts
    found cached or shipped never need them."""

    def __init__(self, name: str, tokens: torch.Tensor | None, labels: torch.Tensor | None, classes: Sequence[str],
                 cache_id: str, load: Callable[[], tuple[torch.Tensor, torch.Tensor]] | None = None) -> None:
        self.name, self.classes, self.cache_id = name, list(classes), cache_id
        self._tokens, self._labels, self._load = tokens, labels, load

    @classmethod
    def of(cls, backbone: Backbone, data: LabelledImages) -> "Split":
        """A dataset's (cached) tokens, labels of its readable images and class names."""
        return cls(data.name, None, None, list(data.classes), data.cache_id, load=lambda: dataset_tokens(backbone, data))

    def _read(self) -> None:
        if self._tokens is None:
            self._tokens, self._labels = self._load()

    @property
    def tokens(self) -> torch.Tensor:
        """[N, d] tokens of the readable images."""
        self._read()
        return self._tokens

    @property
    def labels(self) -> torch.Tensor:
        """[N] labels of the same images."""
        self._read()
        return self._labels

    def take(self, idx: torch.Tensor) -> "Split":
        """The images at ``idx`` (e.g. a few-shot sample), same classes."""
        return Split(self.name, self.tokens[idx], self.labels[idx], self.classes, f"{self.cache_id}-take{len(idx)}")

    def subset(self, class_ids: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
        """Images of ``class_ids`` only, labels renumbered 0..len(class_ids)-1."""
        dev = self.labels.device
        ids = torch.tensor(list(class_ids), device=dev)
        keep = (self.labels[:, None] == ids[None]).any(1)
        remap = torch.full((len(self.classes),), -1, dtype=torch.long, device=dev)
        remap[ids] = torch.arange(len(ids), device=dev)
        return self.tokens[keep], remap[self.labels[keep]], [self.classes[i] for i in class_ids]


@dataclass
class ProtocolConfig:
    learners: list[str] = setting(factory=lambda: ["handcrafted", "coop", "tapl"], help=(
        "Comma-separated learners (handcrafted, coop, cocoop, tapl, tapl:no-snr, ...); add +tta for test-time prompt tuning "
        "(coop+tta; handcrafted+tta is TPT)."))
    seeds: list[int] = setting(factory=lambda: [0, 1, 2], help="Comma-separated seeds.")
    channels: list[str] = setting(factory=lambda: ["awgn"], help="Channels to test on (prompts train on the same).")
    snrs_db: list[float] = setting(factory=lambda: [-10.0, -5.0, 0.0, 5.0, 10.0, 15.0, 20.0], help="Comma-separated SNRs in dB.",
                                   flag="snrs")
    prompt: PromptConfig = field(default_factory=PromptConfig)
    # the protocols seed each run themselves (``seeds``); the prompts' steps are this command's plain --steps
    train: PromptTrainConfig = setting(factory=PromptTrainConfig, help="How the prompts train.",
                                       rename={"prompt_steps": "steps", "seed": None})
    tta: TTAConfig = field(default_factory=TTAConfig)  # for learners named "<learner>+tta"

    def validate(self) -> None:
        for name in self.learners:
            if split_name(name)[0] not in list_learners():
                raise SemclipError(f"unknown prompt learner {name!r}; choose one of {list_learners()}, "
                                   "each optionally with +tta (adapted at test time)")
        if not self.seeds:
            raise SemclipError("give at least one seed")


def method_name(learner: str) -> str:
    """results.json method names: the hand-crafted receiver is plain "semclip", with
    test-time prompt tuning "semclip+tpt"."""
    if learner == "handcrafted+tta":
        return "semclip+tpt"
    return "semclip" if learner == "handcrafted" else f"semclip+{learner}"


@dataclass
class ProtocolRun:
    """Records of a protocol run, the provenance of every learner it used (by
    'learner seed N'), and the leaks it was allowed to run with (empty when zero-shot)."""

    records: list[Record]
    provenance: dict[str, dict] = field(default_factory=dict)
    leaks: list[str] = field(default_factory=list)


def prompts_name(name: str, backbone: Backbone, jscc_id: str, train_id: str, class_ids: Sequence[int], prompt: PromptConfig,
                 tcfg: PromptTrainConfig, k: int = 16) -> str:
    """A learner's artefact name (``semclip.artefacts``): by learner, backbone, codec and the
    bandwidth k it sends (one codec file serves several), data, classes and settings (the
    seed among them)."""
    # "v2": deterministic scoring on the CPU (prompts trained before it are retrained)
    recipe = [name, backbone.fingerprint, jscc_id, train_id, list(class_ids), prompt_recipe(resolved_config(name, prompt)),
              train_recipe(tcfg), "v2"]
    if k != 16:  # every name made before k entered the recipe was for k = 16: those keep their names
        recipe.append({"k": k})
    return artefacts.name("prompts", f"{train_id}-{name.replace(':', '-')}", recipe)


def prompt_recipe(cfg: PromptConfig) -> dict:
    """The settings as they name prompts: ``asdict`` without the regularisers added later
    while they are off, so prompts trained before them keep their names (and shipped files)."""
    out = asdict(cfg)
    for key in (*DEFAULTED, "centering_learned"):
        if not out[key]:  # off (0, False) or not resolved (None)
            del out[key]
    if out["blend_train"] or "blend" not in out:  # blend_train's default, or nothing to blend
        del out["blend_train"]
    return out


def centering_table(backbone: Backbone, jscc: TokenJSCC, jscc_id: str, log=print) -> tuple[torch.Tensor, Provenance]:
    """The received-mean table of ``jscc`` at its bandwidth (``semclip.prompts.centering``):
    measured on the transmitter corpus (cached, shipped, or measured now), with what it saw."""
    corpus = create_dataset(CODEC_DATASET)
    k = jscc.cfg.k
    recipe = [backbone.fingerprint, jscc_id, k, corpus.cache_id, LEVELS_DB, TABLE_TOKENS, TABLE_CHANNELS, "v1"]
    seen = DatasetSeen(corpus.name, corpus.cache_id, TABLE_TOKENS, list(getattr(corpus, "excludes", [])))
    prov = Provenance("centering", datasets=[seen],
                      notes=[f"mean received token of codec {jscc_id} at k = {k}, no labels, no class names"])

    def make(path: Path) -> torch.Tensor:
        means = measure(jscc, lazy_tokens(backbone, corpus)(), k)
        atomic_write(path, lambda p: save_file({"means": means.contiguous()}, str(p), metadata={META_KEY: prov.to_json()}))
        return means

    table, _ = artefacts.obtain(artefacts.name("centering", f"{jscc_id}-k{k}", recipe), f"receiver centering table (k = {k})",
                                lambda path: load_file(str(path))["means"], make, log)
    return table, prov


def fill_centering(learner: PromptLearner, jscc: TokenJSCC, jscc_id: str, prov: Provenance, log=print) -> None:
    """Give a learner that centres received tokens its codec's table (``centering_table``)
    and add what the table saw to the learner's provenance ``prov``; others are left alone."""
    if learner.received_mean is None:
        return
    table, seen = centering_table(learner.backbone, jscc, jscc_id, log)
    learner.received_mean.fill(table.to(learner.backbone.device))
    prov.datasets += seen.datasets
    prov.notes += seen.notes


def get_learner(
    name: str,
    backbone: Backbone,
    jscc: TokenJSCC,
    jscc_id: str,
    train: Split,
    class_ids: Sequence[int],
    cfg: ProtocolConfig,
    seed: int,
    log=print,
) -> tuple[PromptLearner, Provenance]:
    """The learner trained on ``cfg.train.shots`` shots of ``class_ids``: cached, shipped
    with semclip (``semclip.artefacts``), or trained now; returned with what it saw."""
    name = split_name(name)[0]  # "coop+tta" trains (and shares) coop's prompts
    tcfg = PromptTrainConfig(**{**asdict(cfg.train), "seed": seed})
    classes = [train.classes[i] for i in class_ids]
    which = "all" if len(class_ids) == len(train.classes) else "base"

    def load(path: Path) -> tuple[PromptLearner, Provenance]:
        learner, meta = load_prompts(path, backbone, k=jscc.cfg.k, classes=classes, codec=jscc_id)
        return learner, Provenance.from_meta(meta, f"prompts {path}")

    def make(path: Path) -> tuple[PromptLearner, Provenance]:
        idx = few_shot(train.labels, class_ids, tcfg.shots, seed, train.cache_id)
        tokens, labels, _ = train.take(idx).subset(class_ids)
        torch.manual_seed(seed)
        learner = create_learner(name, backbone, PromptConfig(**asdict(cfg.prompt)), k=jscc.cfg.k)
        prov = prompts_provenance(train.name, train.cache_id, len(idx), classes, which, jscc_id)
        fill_centering(learner, jscc, jscc_id, prov, log)
        train_prompts(learner, jscc, tokens, labels, classes, tcfg, path, extra={"jscc": jscc_id, "shots": idx.tolist()}, provenance=prov)
        log(f"trained {name} (seed {seed}) on {len(idx)} tokens of {train.name} -> {path}")
        return learner.eval(), prov

    art = prompts_name(name, backbone, jscc_id, train.cache_id, class_ids, cfg.prompt, tcfg, jscc.cfg.k)
    got, _ = artefacts.obtain(art, f"{method_name(name)} prompts ({train.name}, {which} classes, seed {seed})", load, make, log)
    return got


def sweep_learner(learner: PromptLearner, jscc: TokenJSCC, tokens: torch.Tensor, labels: torch.Tensor, classes: Sequence[str],
                  channels: Sequence[str], snrs_db: Sequence[float], seed: int, tta: TTAConfig | None = None,
                  **kwargs) -> list[Record]:
    """``learner``'s records over the grid, with per-image outcomes. The noise is seed
    1000 + ``seed``'s, the same for every learner of a seed, so differences between them
    are paired. With ``tta`` the learner is adapted at test time, drawing its views from
    each channel tested. ``kwargs`` go to ``sweep`` (method, split, batch_size)."""
    if tta is None:
        return sweep(jscc, tokens, labels, lambda t, s: learner.predict(t, s, classes), channels, snrs_db, seed=1000 + seed,
                     outcomes=True, **kwargs)
    records = []
    for ch in channels:
        adapted = TestTimePrompts(learner, jscc, ch, tta, seed)
        records += sweep(jscc, tokens, labels, lambda t, s: adapted.predict(t, s, classes), [ch], snrs_db, seed=1000 + seed,
                         outcomes=True, **kwargs)
    return records


def _evaluate(learner, jscc, tokens, labels, classes, cfg, method, split, dataset, seed, tta: bool = False) -> list[Record]:
    def compute() -> list[Record]:
        return sweep_learner(learner, jscc, tokens, labels, classes, cfg.channels, cfg.snrs_db, seed, cfg.tta if tta else None,
                             method=method, split=split, batch_size=1024)

    # the same noise for every learner of a seed (seed 1000 + seed): differences between them are paired
    key = [learner, learner.cfg, learner.k, jscc, tokens, labels, list(classes), list(cfg.channels), list(cfg.snrs_db),
           method, split, seed, device_of(jscc).type, "outcomes"] + ([asdict(cfg.tta)] if tta else [])
    records = memo_records("protocol", key, compute)
    return [r.model_copy(update={"dataset": dataset, "seed": seed}) for r in records]


def _clean(learner: PromptLearner, tokens, labels, classes, split, dataset) -> Record:
    acc = top1_accuracy(learner.predict(tokens, torch.zeros(tokens.shape[0], 1, device=tokens.device), classes), labels)
    return Record(method="clean", split=split, channel="none", snr_db=None, value=acc, channel_uses_per_image=0, dataset=dataset,
                  n=len(labels))


def harmonic_records(records: Sequence[Record]) -> list[Record]:
    """One ``split="hm"`` record per (method, channel, SNR, seed) that has base and novel."""
    by = {}
    for r in records:
        if r.split in ("base", "novel"):
            by.setdefault((r.method, r.channel, r.csi, r.snr_db, r.seed, r.dataset), {})[r.split] = r
    out = []
    for pair in by.values():
        if len(pair) == 2:
            b, n = pair["base"].value, pair["novel"].value
            hm = 0.0 if b + n == 0 else 2 * b * n / (b + n)
            out.append(pair["base"].model_copy(update={"split": "hm", "value": hm, "n": None, "ci95": None}))  # not a proportion
    return out


def run_base2novel(
    backbone: Backbone, jscc: TokenJSCC, jscc_id: str, train: Split, test: Split, cfg: ProtocolConfig, log=print,
    codec: Provenance | None = None, allow_leak: bool = False,
) -> ProtocolRun:
    """Learners trained on the base classes of ``train``, tested on base and novel classes
    of ``test``. The codec (``codec``, when known) must not have seen ``test`` or its
    classes; the prompts must not have seen ``test`` or a novel class."""
    cfg.validate()
    base, novel = base_novel(test.classes)
    parts = {s: test.subset(ids) for s, ids in (("base", base), ("novel", novel))}
    leaks = check(codec, test.name, test.classes, allow_leak, log, split_id=test.cache_id) if codec else []
    ref = create_learner("handcrafted", backbone)
    run = ProtocolRun([_clean(ref, t, y, c, s, test.name) for s, (t, y, c) in parts.items()], leaks=leaks)
    for seed in cfg.seeds:
        for name in cfg.learners:
            learner, prov = get_learner(name, backbone, jscc, jscc_id, train, base, cfg, seed, log)
            run.provenance[f"{method_name(name)} seed {seed}"] = asdict(prov)
            run.leaks += check(prov, test.name, parts["novel"][2], allow_leak, log, split_id=test.cache_id)
            for s, (t, y, c) in parts.items():
                run.records += _evaluate(learner, jscc, t, y, c, cfg, method_name(name), s, test.name, seed, split_name(name)[1])
    return run


def run_cross_dataset(
    backbone: Backbone, jscc: TokenJSCC, jscc_id: str, train: Split, source: Split, targets: Sequence[Split], cfg: ProtocolConfig,
    log=print, codec: Provenance | None = None, allow_leak: bool = False,
) -> ProtocolRun:
    """Train on every class of ``train`` (test on its own test split ``source``), then on
    each target dataset's test split, whose images and classes neither the codec nor the
    prompts may have seen."""
    cfg.validate()
    if sorted(train.classes) != sorted(source.classes):
        raise SemclipError("the source test split must have the training split's classes")
    every = list(range(len(train.classes)))
    run = ProtocolRun([])
    for data in ([source, *targets] if codec else []):
        run.leaks += check(codec, data.name, data.classes, allow_leak, log, split_id=data.cache_id)
    for seed in cfg.seeds:
        for name in cfg.learners:
            learner, prov = get_learner(name, backbone, jscc, jscc_id, train, every, cfg, seed, log)
            run.provenance[f"{method_name(name)} seed {seed} (all classes of {train.name})"] = asdict(prov)
            for data in targets:
                run.leaks += check(prov, data.name, data.classes, allow_leak, log, split_id=data.cache_id)
            for data in [source, *targets]:
                split = "source" if data is source else "target"
                run.records += _evaluate(learner, jscc, data.tokens, data.labels, data.classes, cfg, method_name(name), split,
                                         data.name, seed, split_name(name)[1])
    return run
