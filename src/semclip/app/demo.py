"""The main job: encode (cached), make the token codes (or reuse them), sweep channels and
SNRs, train receiver prompts on base classes and test them on base and novel classes, run
the baselines and the two fair views, retrieval; write results.json, results.md and the
figures. Each stage is a function of ``semclip.job`` with its own settings."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from semclip import artefacts
from semclip._io import clean_stale_tmp
from semclip.backbones.base import Backbone
from semclip.backbones.registry import create_backbone
from semclip.baselines.common import BaselineConfig
from semclip.baselines.digital import BlockPlan
from semclip.baselines.quantize import TokenQuantizer, fitted_quantizer
from semclip.data.registry import create_dataset
from semclip.digest import json_digest
from semclip.distributed import dist
from semclip.job.baselines import run_baseline_stage
from semclip.job.codecs import Codes, make_codes, zero_shot_checks
from semclip.job.config import CodecsConfig, DataConfig, GridConfig, PromptStageConfig, RetrievalConfig, ViewsConfig
from semclip.job.encode import DataSets, Encoded, encode
from semclip.job.prompts import base_to_novel
from semclip.job.report import backbone_provenance, jpeg_floor, write_results_page
from semclip.job.retrieval import run_retrieval
from semclip.job.sweeps import sweep_codes
from semclip.job.views import run_views
from semclip.jscc.zoo import codec_provenance
from semclip.provenance import leak_note
from semclip.results import Record, Results, software_versions
from semclip.settings import setting
from semclip.stopwatch import Stopwatch


@dataclass
class DemoConfig:
    """Every setting of the main job, one sub-config per stage (``semclip.job.config``)."""

    data: DataConfig = setting(factory=DataConfig, help="What the job encodes and evaluates.")
    grid: GridConfig = setting(factory=GridConfig, help="Where every stage measures.")
    codecs: CodecsConfig = setting(factory=CodecsConfig, help="The token codes.")
    prompts: PromptStageConfig = setting(factory=PromptStageConfig, help="Receiver prompt learning.")
    baselines: BaselineConfig = setting(factory=BaselineConfig, help="The baselines (methods [] to skip).")
    views: ViewsConfig = setting(factory=ViewsConfig, help="The equal-energy and equal-bandwidth views.")
    retrieval: RetrievalConfig = setting(factory=RetrievalConfig, help="Image-text retrieval.")
    allow_leak: bool = setting(False, help="Run even if an evaluation split or class list reached the codec or prompts "
                                           "(every record says so).")
    shipped: bool = setting(True, help="Use the trained parts shipped with semclip where they match this run's recipe "
                                       "(--no-shipped trains them, as scripts/ship_artefacts.py does to regenerate them).")

    def validate(self) -> None:
        # the job's own stages first, then the library's configs they hold (the order a reader follows)
        self.views.validate()
        self.retrieval.validate()
        self.prompts.validate()
        self.grid.validate()
        self.codecs.jscc.validate()
        self.baselines.validate()
        if self.views.enabled:
            table = self.baselines.mcs_table
            for budget in self.views.budgets:  # a budget that carries no payload at any MCS of the table: said now
                BlockPlan.for_budget(budget, max(table, key=lambda m: m.efficiency))


def collect(cfg: DemoConfig, backbone: Backbone, data: Encoded, codes: Codes, records: list[Record], provenance: dict, leaks: list[str],
            seconds: dict) -> Results:
    """The run's results file: every record (each marked when zero-shot was broken), what
    every trained part and the backbone saw, and the facts of the run."""
    if leaks:
        note = leak_note(leaks)
        records = [r.model_copy(update={"leak": note}) for r in records]
    seen = codec_provenance(data.train, cfg.codecs.jscc)
    jpegs = {"image-jpeg-ldpc", "image-capacity"} & set(cfg.baselines.methods)
    return Results(
        versions=software_versions(),
        backbone=backbone.fingerprint,
        dataset=data.main.data.name,
        records=records,
        config=json.loads(json.dumps(asdict(cfg))),
        jscc_checkpoints={ch: str(codes.get("semclip", ch).path) for ch in cfg.grid.channels},
        provenance={"backbone": backbone_provenance(backbone), **provenance,
                    "leaks": list(dict.fromkeys(leaks)),
                    "vocabulary_overlap": {e.data.name: seen.overlaps(e.data.classes) for e in data.evals}},
        n_test=len(data.main.data),
        n_train=len(data.train),
        **({"jpeg_min_channel_uses": jpeg_floor(cfg.baselines, cfg.grid.snrs_db, data.main.data)} if jpegs else {}),
        seconds=seconds,  # summed over every start of this run ("starts" counts them)
        artefacts=artefacts.used(),  # every trained part: cached, shipped with semclip, or trained by this run
    )


def run_demo(cfg: DemoConfig, out: Path, log=print) -> Results:
    """The stages in order; every record of a run that broke zero-shot says so."""
    cfg.validate()
    torch.manual_seed(cfg.grid.seed)
    started = time.monotonic()
    artefacts.use_shipped(cfg.shipped)
    artefacts.reset()
    clean_stale_tmp(out)  # what a killed earlier start left half-written in the output folder
    backbone = create_backbone(cfg.data.backbone)
    sets = DataSets.of(cfg.data)
    # the run's time, kept across restarts of the same configuration in the output folder
    # (made once the inputs are known to be good: a refused run leaves no folder)
    clock = Stopwatch(out, json_digest(asdict(cfg), sort_keys=True), persist=dist().is_main, since=started)
    clock.stage("encode")
    data = encode(backbone, sets)
    grid = cfg.grid

    def quantizer(bits: int) -> TokenQuantizer:
        return fitted_quantizer(backbone, data.train, data.train_tokens, bits, log)

    clock.stage("jscc_and_sweep")
    codes = make_codes(cfg.codecs, grid, backbone, data, cfg.data.train_limit, log)
    checks = zero_shot_checks(codes, data.evals, cfg.allow_leak, log)
    records = sweep_codes(grid, codes, data.evals)
    records += run_retrieval(cfg.retrieval, grid, backbone, codes, cfg.baselines, cfg.data, quantizer, log)
    clock.stage("prompts")
    prompts = base_to_novel(cfg.prompts, grid, backbone, data.main, codes, cfg.allow_leak, log)
    clock.stage("baselines")
    provenance, leaks = checks.provenance | prompts.provenance, checks.leaks + prompts.leaks
    records += prompts.records
    if cfg.baselines.methods:
        indomain = create_dataset(cfg.prompts.shots_dataset)  # image-jscc-indomain's images: the main set's training split
        done = run_baseline_stage(cfg.baselines, grid, backbone, data, indomain, quantizer, codes, cfg.allow_leak, log)
        records += done.records + run_views(cfg.views, grid, cfg.baselines, done, codes, log)
        provenance |= done.provenance
        leaks += done.leaks
    clock.stage("report")
    results = collect(cfg, backbone, data, codes, records, provenance, leaks, clock.summary())
    if dist().is_main:  # under a launch every process computed the records; one writes them
        out.mkdir(parents=True, exist_ok=True)
        results.write(out / "results.json")
        write_results_page(results, data.evals, data.train, out, grid, cfg.codecs, cfg.prompts, cfg.baselines, cfg.views)
    clock.close()
    return results
