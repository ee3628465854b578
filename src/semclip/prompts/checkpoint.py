"""Prompt-learner checkpoints: safetensors weights plus what is needed to rebuild and check
them (learner name, config, backbone fingerprint, JSCC bandwidth, training classes)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from semclip._io import atomic_write, checkpoint_errors, load_weights, safetensors_meta
from semclip.backbones.base import Backbone
from semclip.errors import SemclipError
from semclip.prompts.base import PromptConfig, PromptLearner
from semclip.prompts.registry import create_learner
from semclip.provenance import META_KEY, Provenance

KIND = "semclip-prompts"


def state_tensors(learner: PromptLearner) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().contiguous().clone() for k, v in learner.state_dict().items()}


def save_prompts(
    learner: PromptLearner, path: str | Path, classes: list[str], extra: dict | None = None, provenance: Provenance | None = None
) -> Path:
    meta = {
        "kind": KIND,
        "learner": learner.name,
        "config": json.dumps(asdict(learner.cfg)),
        "backbone": learner.backbone.fingerprint,
        "k": json.dumps(learner.k),
        "classes": json.dumps(classes),
        "extra": json.dumps(extra or {}),
    }
    if provenance is not None:
        meta[META_KEY] = provenance.to_json()
    tensors = state_tensors(learner) or {"_empty": torch.zeros(1, device="cpu")}
    return atomic_write(path, lambda p: save_file(tensors, str(p), metadata=meta))


def read_meta(path: str | Path) -> dict:
    meta = safetensors_meta(path, "prompt checkpoint", KIND, "train one with `semclip train --stage prompts`")
    with checkpoint_errors(path, "prompt checkpoint"):
        return {k: json.loads(v) if k in ("config", "k", "classes", "extra") else v for k, v in meta.items()}


def load_prompts(
    path: str | Path, backbone: Backbone, k: int | None = None, classes: list[str] | None = None, codec: str | None = None
) -> tuple[PromptLearner, dict]:
    """Rebuild a learner on ``backbone``; refuse one trained for another backbone, another
    JSCC bandwidth, (when ``codec`` is given) another codec, or (when ``classes`` is given)
    another set of training classes. Prompts learn what one codec's received tokens look
    like (and a centering table is that codec's), so another codec's are refused."""
    meta = read_meta(path)
    with checkpoint_errors(path, "prompt checkpoint"):
        return _build(path, meta, backbone, k, classes, codec)


def _build(path, meta: dict, backbone: Backbone, k: int | None, classes: list[str] | None,
           codec: str | None) -> tuple[PromptLearner, dict]:
    if meta["backbone"] != backbone.fingerprint:
        raise SemclipError(f"{path} was trained for backbone {meta['backbone']}, not {backbone.fingerprint}")
    trained_for = meta["extra"].get("jscc")
    if codec is not None and trained_for is not None and trained_for != codec:
        raise SemclipError(f"{path} was trained for codec {trained_for}, not {codec}: train prompts for this codec")
    if k is not None and meta["k"] is not None and meta["k"] != k:
        raise SemclipError(f"{path} was trained for a JSCC with k = {meta['k']}, not k = {k}")
    if classes is not None and len(classes) != len(meta["classes"]):
        raise SemclipError(
            f"{path} was trained on {len(meta['classes'])} classes, but {len(classes)} were given"
        )
    learner = create_learner(meta["learner"], backbone, PromptConfig(**meta["config"]), meta["k"])
    state = {k_: v for k_, v in load_file(str(path)).items() if k_ != "_empty"}
    load_weights(learner, path, f"the {meta['learner']} learner", state)
    return learner.eval(), meta
