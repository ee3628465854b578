"""The prompts stage: base-to-novel records of the hand-crafted receiver and the job's
prompt learners on the main set, over the channels served by the shared (AWGN +
Rayleigh/MMSE) codec, with the prompts' provenance and any leak found."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from semclip.backbones.base import Backbone
from semclip.data.registry import create_dataset
from semclip.errors import SemclipError
from semclip.eval.protocols import ProtocolConfig, Split, run_base2novel
from semclip.job.codecs import Codes
from semclip.job.config import GridConfig, PromptStageConfig
from semclip.job.encode import EvalSet
from semclip.jscc.zoo import codec_recipe
from semclip.results import Record


@dataclass
class PromptOutcome:
    records: list[Record] = field(default_factory=list)
    provenance: dict[str, dict] = field(default_factory=dict)
    leaks: list[str] = field(default_factory=list)


def base_to_novel(cfg: PromptStageConfig, grid: GridConfig, backbone: Backbone, main: EvalSet, codes: Codes, allow_leak: bool,
                  log=print) -> PromptOutcome:
    recipe = codec_recipe("awgn")
    channels = [ch for ch in grid.channels if codec_recipe(ch) == recipe]
    if not channels or not cfg.learners:
        return PromptOutcome()
    code = codes.get("semclip", channels[0])  # every channel kept here uses it
    pc = ProtocolConfig(
        learners=["handcrafted", *cfg.learners],
        seeds=[grid.seed],
        channels=channels,
        snrs_db=grid.snrs_db,
        train=replace(cfg.train, channels=channels),
    )
    pool = create_dataset(cfg.shots_dataset, limit=cfg.shots_limit)
    if list(pool.classes) != list(main.data.classes):
        raise SemclipError(f"the few-shot pool {pool.name} must have the test set's classes {main.data.classes}")
    tr = Split.of(backbone, pool)
    te = Split(main.data.name, main.tokens, main.labels, list(main.data.classes), main.data.cache_id)
    run = run_base2novel(backbone, code.model, code.path.stem, tr, te, pc, log, allow_leak=allow_leak)
    return PromptOutcome([r.model_copy(update={"dataset": None}) for r in run.records], run.provenance, run.leaks)
