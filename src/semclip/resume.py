"""Partial checkpoints for training loops: a killed run restarts where it was, with the same
final weights as an uninterrupted run.

A partial checkpoint is one safetensors file beside the final one
(``<name>.partial.safetensors``) holding the model's state, the optimiser's state and
parameter groups (the schedule moves lr and momentum), the learning-rate schedule's state
and the random generator's state, with a ``key`` naming the settings it belongs to: a
partial file of other settings is ignored (and overwritten). It is written atomically every
``every`` steps and removed once the final checkpoint is written.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from semclip._io import atomic_write, checkpoint_errors

VERSION = "v2-"  # partial files of another layout are ignored, not misread


def partial_path(out: str | Path) -> Path:
    out = Path(out)
    return out.with_name(out.stem + ".partial.safetensors")


def save_partial(
    path: Path, model: nn.Module, opt: torch.optim.Optimizer, step: int, key: str,
    sched: object | None = None, gen: torch.Generator | None = None,
) -> None:
    """Everything a loop needs to go on at ``step``: weights, optimiser, schedule, generator."""
    tensors = {f"model.{k}": v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    state = opt.state_dict()
    for i, st in state["state"].items():
        for name, value in st.items():
            tensors[f"opt.{i}.{name}"] = torch.as_tensor(value).detach().cpu().clone().contiguous()
    if gen is not None:
        tensors["rng"] = gen.get_state().cpu()
    groups = [{k: v for k, v in g.items() if k != "params"} for g in state["param_groups"]]
    meta = {"step": str(step), "key": VERSION + key, "groups": json.dumps(groups)}
    if sched is not None:
        meta["sched"] = json.dumps(sched.state_dict())
    atomic_write(path, lambda p: save_file(tensors, str(p), metadata=meta))


def load_partial(
    path: Path, model: nn.Module, opt: torch.optim.Optimizer, key: str,
    sched: object | None = None, gen: torch.Generator | None = None,
) -> int:
    """Restore a partial run of the same settings (``key``); return the step to go on from
    (0: none, or one of other settings)."""
    if not path.is_file():
        return 0
    with checkpoint_errors(path, "partial training checkpoint"):
        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
        if meta.get("key") != VERSION + key:
            return 0
        tensors = load_file(str(path))
        model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        state = opt.state_dict()
        for k, v in tensors.items():
            if k.startswith("opt."):
                _, i, name = k.split(".", 2)
                state["state"].setdefault(int(i), {})[name] = v
        for group, saved in zip(state["param_groups"], json.loads(meta["groups"])):
            group.update({k: tuple(v) if isinstance(v, list) else v for k, v in saved.items()})
        opt.load_state_dict(state)
        if sched is not None and "sched" in meta:
            sched.load_state_dict(json.loads(meta["sched"]))
        if gen is not None and "rng" in tensors:
            gen.set_state(tensors["rng"])
        return int(meta["step"])
