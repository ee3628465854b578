"""``semclip eval``: the prompt-learning protocols end to end (tokens cached, codec shared
with the demo, trained prompts cached), written as results.json, summary.md and a plot."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from semclip._io import atomic_write_text, clean_stale_tmp
from semclip.backbones.base import Backbone
from semclip.backbones.registry import backbone_setting, create_backbone
from semclip.data.registry import create_dataset, has_splits, with_split
from semclip.jscc.zoo import default_codec
from semclip.distributed import dist
from semclip.errors import SemclipError
from semclip.eval.plot import plot_protocol
from semclip.eval.protocols import ProtocolConfig, Split, harmonic_records, run_base2novel, run_cross_dataset
from semclip.results import Record, Results, software_versions
from semclip.eval.summary import paired_markdown, summarize, summary_markdown
from semclip.provenance import leak_note
from semclip.settings import setting

PROTOCOLS = ("base2novel", "cross-dataset", "all")


@dataclass
class EvalConfig:
    protocol: str = setting("base2novel", help="base2novel, cross-dataset or all.")
    dataset: str = setting("fashion-mnist", help=("Dataset to train prompts on (and base-to-novel on): fashion-mnist, clipart, "
                                                  "imagenet, any set with splits."))
    targets: list[str] = setting(factory=lambda: ["clipart"], help="Comma-separated cross-dataset targets (e.g. caltech101,oxford_pets,...).")
    protocol_cfg: ProtocolConfig = setting(factory=ProtocolConfig, help="The protocols' learners, seeds, channels and SNRs.")
    backbone: str = backbone_setting()
    jscc_path: str | None = setting(None, help="Codec checkpoint (default: the demo's cached codec).", flag="jscc")
    k: int = setting(16, help="Complex channel uses per image (one the codec serves).")
    test_limit: int | None = setting(None, help="Use only N test images (spread over the classes for on-disk sets).")
    train_limit: int | None = setting(10000, help="Few-shot pool: N training images (spread over the classes for on-disk sets).")
    allow_leak: bool = setting(False, help="Run even if a test split or class list reached the codec or prompts (every record says so).")

    def validate(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise SemclipError(f"unknown protocol {self.protocol!r}; choose one of {PROTOCOLS}")
        for name in [self.dataset, *self.targets]:
            if not has_splits(name):
                raise SemclipError(
                    f"dataset {name!r} has no train/test split; use fashion-mnist, clipart, a benchmark "
                    "(imagenet, caltech101, ..., cifar10; see `semclip datasets`) or hf:<id>"
                )
        self.protocol_cfg.validate()


def load_split(backbone: Backbone, spec: str, limit: int | None = None) -> Split:
    return Split.of(backbone, create_dataset(spec, limit=limit))


def load_codec(cfg: EvalConfig, backbone: Backbone, log=print):
    """The codec given, or the demo's default one (trained on the transmitter corpus,
    cached), sending ``cfg.k`` symbols; with its id and provenance."""
    from semclip.jscc.checkpoint import load_jscc, read_provenance

    if cfg.jscc_path:
        path = cfg.jscc_path
        return load_jscc(path, backbone=backbone.fingerprint, k=cfg.k), Path(path).stem, read_provenance(path)
    jscc, path = default_codec(backbone, "awgn", log, k=cfg.k)
    return jscc, path.stem, read_provenance(path)


def paired_section(records: list[Record]) -> str:
    """The paired-differences part of summary.md ('' when no record carries outcomes)."""
    tables = paired_markdown(records)
    if not tables:
        return ""
    return ("\n## Paired differences\n\nEach learner minus the hand-crafted receiver on the same test images and channel "
            "noise; per image averaged over the seeds, 95 % normal interval over images (`*`: it excludes zero).\n" + tables)


def run_eval(cfg: EvalConfig, out: Path, log=print) -> Results:
    cfg.validate()
    clean_stale_tmp(out)  # what a killed earlier start left half-written in the output folder
    t0 = time.time()
    backbone = create_backbone(cfg.backbone)
    jscc, jscc_id, codec_prov = load_codec(cfg, backbone, log)
    pc = cfg.protocol_cfg
    records: list[Record] = []
    provenance: dict = {"token-codec": asdict(codec_prov)}
    leaks: list[str] = []
    guard = dict(codec=codec_prov, allow_leak=cfg.allow_leak)
    train = load_split(backbone, with_split(cfg.dataset, "train"), cfg.train_limit)
    test = load_split(backbone, with_split(cfg.dataset, "test"), cfg.test_limit)
    runs = []
    if cfg.protocol in ("base2novel", "all"):
        for name in dict.fromkeys([cfg.dataset, *(cfg.targets if cfg.protocol == "all" else [])]):
            tr = train if name == cfg.dataset else load_split(backbone, with_split(name, "train"), cfg.train_limit)
            te = test if name == cfg.dataset else load_split(backbone, with_split(name, "test"), cfg.test_limit)
            runs.append(run_base2novel(backbone, jscc, jscc_id, tr, te, pc, log, **guard))
    if cfg.protocol in ("cross-dataset", "all"):
        targets = [load_split(backbone, with_split(t, "test"), cfg.test_limit) for t in cfg.targets if t != cfg.dataset]
        runs.append(run_cross_dataset(backbone, jscc, jscc_id, train, test, targets, pc, log, **guard))
    for run in runs:
        records += run.records
        provenance |= run.provenance
        leaks += run.leaks
    records += harmonic_records(records)
    if leaks:
        note = leak_note(leaks)
        records = [r.model_copy(update={"leak": note}) for r in records]
    rows = summarize(records)
    results = Results(
        versions=software_versions(),
        backbone=backbone.fingerprint,
        dataset=cfg.dataset,
        records=records,
        config=json.loads(json.dumps(asdict(cfg))),
        jscc=jscc_id,
        provenance=provenance | {"leaks": list(dict.fromkeys(leaks))},
        summary=rows,
        seconds=round(time.time() - t0, 1),
    )
    if not dist().is_main:  # every launched process computed the records; one writes them
        return results
    out.mkdir(parents=True, exist_ok=True)
    results.write(out / "results.json")
    md = (f"**{leak_note(leaks)}**\n\n" if leaks else "") + (
        f"# Prompt-learning protocols ({cfg.protocol}), backbone {backbone.fingerprint}\n\n"
        f"Zero-shot top-1 over {len(pc.seeds)} seed(s) (mean ± sample std), {pc.train.shots} shots per class, "
        f"codec {jscc_id} (k = {jscc.cfg.k}). 'hm' is the harmonic mean of base and novel.\n" + summary_markdown(rows)
        + paired_section(records)
    )
    atomic_write_text(out / "summary.md", md)
    plot_protocol(rows, out / "protocols.png")
    return results
