"""Channels by name: ``awgn``, ``rayleigh`` (MMSE), ``rayleigh:zf|decoder|none``."""

from __future__ import annotations

import torch

from semclip.channels.awgn import AWGN
from semclip.channels.base import Channel
from semclip.channels.rayleigh import CSI_MODES, RayleighBlockFading
from semclip.errors import SemclipError


def list_channels() -> list[str]:
    return ["awgn"] + ["rayleigh"] + [f"rayleigh:{m}" for m in CSI_MODES]


def create_channel(spec: str, generator: torch.Generator | None = None) -> Channel:
    family, _, arg = spec.partition(":")
    if family == "awgn" and not arg:
        return AWGN(generator)
    if family == "rayleigh":
        return RayleighBlockFading(arg or "mmse", generator)
    raise SemclipError(f"unknown channel {spec!r}; choose one of {list_channels()}")
