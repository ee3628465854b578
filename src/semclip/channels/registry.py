"""Channels by name: ``awgn``, ``rayleigh`` (MMSE), ``rayleigh:zf|decoder|none``; each
family registers itself on ``semclip.channels.base.CHANNELS`` in its own file."""

from __future__ import annotations

import torch

from semclip.channels.base import CHANNELS, Channel


def list_channels() -> list[str]:
    """Every family as written: ``awgn``, ``rayleigh[:mmse|zf|decoder|none]``."""
    return CHANNELS.usages()


def create_channel(spec: str, generator: torch.Generator | None = None) -> Channel:
    """The channel ``spec`` names, drawing its noise (and fades) from ``generator``."""
    return CHANNELS.create(spec, generator=generator)
