"""Backbones by name: ``pocketclip`` or ``hf-clip:<hub id or local folder>``.

Implementations register themselves with ``semclip.backbones.base.register_backbone``;
this module imports the built-in ones, so asking it for a name finds them (and a backbone
module never imports the registry that lists it).
"""

from __future__ import annotations

import torch

from semclip.backbones import hf_clip, pocketclip  # noqa: F401 (registers the built-in backbones)
from semclip.backbones.base import _REGISTRY, Backbone
from semclip.device import current, precision, resolve
from semclip.errors import SemclipError


def list_backbones() -> list[str]:
    return sorted(_REGISTRY)


def create_backbone(spec: str = "pocketclip", device: torch.device | str | None = None) -> Backbone:
    """``pocketclip`` or ``hf-clip:<hub id or local folder>``, frozen, on ``device`` (default:
    the run's device, ``semclip.device.current()``)."""
    family, _, arg = spec.partition(":")
    if family not in _REGISTRY:
        raise SemclipError(
            f"unknown backbone {spec!r}; choose one of {list_backbones()} "
            "(hf-clip takes a hub id or folder: hf-clip:openai/clip-vit-base-patch32)"
        )
    model = _REGISTRY[family](arg) if arg else _REGISTRY[family]()
    model.precision = precision()
    return model.eval().requires_grad_(False).to(resolve(device) if device is not None else current())
