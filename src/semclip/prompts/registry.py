"""Prompt learners by name: a family (``LEARNERS``, each registered in its own file) and,
after a colon, one of its named variants (``tapl:no-snr``)."""

from __future__ import annotations

from dataclasses import replace

from semclip.backbones.base import Backbone
from semclip.errors import SemclipError
from semclip.prompts.base import LEARNERS, PromptConfig, PromptLearner


def list_learners() -> list[str]:
    """Every family, then every named variant."""
    names = LEARNERS.names()
    return names + [f"{n}:{v}" for n in names for v in _family(n).variants]


def _family(name: str) -> type[PromptLearner]:
    return LEARNERS.entry(name)[0].factory  # type: ignore[return-value]


def learner_config(name: str, cfg: PromptConfig | None = None) -> tuple[str, PromptConfig]:
    """"tapl:no-snr" -> ("tapl", cfg with snr_conditioning off); unknown names are refused."""
    cfg = cfg or PromptConfig()
    entry, variant = LEARNERS.entry(name)
    if not variant:
        return entry.name, cfg
    variants = _family(entry.name).variants
    if variant not in variants:
        raise SemclipError(f"unknown prompt learner {name!r}; choose one of {list_learners()}")
    return entry.name, replace(cfg, **variants[variant])


def resolved_config(name: str, cfg: PromptConfig | None = None) -> PromptConfig:
    """The settings the learner ``name`` runs with: its variant's switches and its defaults
    applied (what names its prompts and what its checkpoint records)."""
    family, cfg = learner_config(name, cfg)
    return _family(family).resolve(cfg)


def create_learner(name: str, backbone: Backbone, cfg: PromptConfig | None = None, k: int | None = None) -> PromptLearner:
    family, cfg = learner_config(name, cfg)
    return _family(family)(backbone, cfg, k).to(backbone.device)  # a learner lives with its backbone
