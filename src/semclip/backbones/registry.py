"""Backbones by name: ``pocketclip`` or ``hf-clip:<hub id or local folder>``.

Implementations register themselves on ``semclip.backbones.base.BACKBONES`` in their own
files (``register_backbone``); the registry imports the built-in ones on first use.
"""

from __future__ import annotations

import torch

from semclip.backbones.base import BACKBONES, Backbone
from semclip.device import current, precision, resolve
from semclip.settings import setting

DEFAULT_BACKBONE = "pocketclip"  # the offline default every command starts from
BACKBONE_HELP = "pocketclip, or hf-clip:<hub id or folder>."


def backbone_setting():
    """The ``backbone`` field of a command's config (one declaration for every command)."""
    return setting(DEFAULT_BACKBONE, help=BACKBONE_HELP)


def list_backbones() -> list[str]:
    return sorted(BACKBONES.names())


def create_backbone(spec: str = DEFAULT_BACKBONE, device: torch.device | str | None = None) -> Backbone:
    """``pocketclip`` or ``hf-clip:<hub id or local folder>``, frozen, on ``device`` (default:
    the run's device, ``semclip.device.current()``)."""
    model = BACKBONES.create(spec)
    model.precision = precision()
    return model.eval().requires_grad_(False).to(resolve(device) if device is not None else current())
