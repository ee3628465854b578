"""Prompt learners by name."""

from __future__ import annotations

from dataclasses import replace

from semclip.backbones.base import Backbone
from semclip.errors import SemclipError
from semclip.prompts.base import DEFAULTED, PromptConfig, PromptLearner
from semclip.prompts.coop import CoCoOp, CoOp
from semclip.prompts.handcrafted import Handcrafted
from semclip.prompts.tapl import TAPL

LEARNERS: dict[str, type[PromptLearner]] = {c.name: c for c in (Handcrafted, CoOp, CoCoOp, TAPL)}
# Variants by name: each sets a few PromptConfig fields
ABLATIONS: dict[str, dict[str, bool | float]] = {
    "tapl:no-snr": {"snr_conditioning": False},
    "tapl:text-only": {"visual_side": False},
    "tapl:visual-only": {"text_side": False},
    "tapl:plain": {f: 0.0 for f in DEFAULTED},  # TAPL before issue 26: no regulariser but its anchor, no centering
    "handcrafted:centred": {"centering": 1.0},  # the template ensemble on centred received tokens
    # centering and all three PromptSRC-style regularisers (benchmarks/prompt_validation.py's "all three")
    "tapl:regularised": {"centering": 1.0, "agreement": 1.0, "image_anchor": 10.0, "ensemble": 0.15},
}


def list_learners() -> list[str]:
    return list(LEARNERS) + list(ABLATIONS)


def learner_config(name: str, cfg: PromptConfig | None = None) -> tuple[str, PromptConfig]:
    """"tapl:no-snr" -> ("tapl", cfg with snr_conditioning off); unknown names are refused."""
    cfg = cfg or PromptConfig()
    if name in ABLATIONS:
        return name.split(":")[0], replace(cfg, **ABLATIONS[name])
    if name not in LEARNERS:
        raise SemclipError(f"unknown prompt learner {name!r}; choose one of {list_learners()}")
    return name, cfg


def resolved_config(name: str, cfg: PromptConfig | None = None) -> PromptConfig:
    """The settings the learner ``name`` runs with: its ablation switches and its defaults
    applied (what names its prompts and what its checkpoint records)."""
    family, cfg = learner_config(name, cfg)
    return LEARNERS[family].resolve(cfg)


def create_learner(name: str, backbone: Backbone, cfg: PromptConfig | None = None, k: int | None = None) -> PromptLearner:
    family, cfg = learner_config(name, cfg)
    return LEARNERS[family](backbone, cfg, k).to(backbone.device)  # a learner lives with its backbone
