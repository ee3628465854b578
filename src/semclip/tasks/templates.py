"""Hand-crafted prompt templates (a subset of CLIP's ImageNet ensemble)."""

from __future__ import annotations

from collections.abc import Sequence

from semclip.errors import SemclipError

TEMPLATES = [
    "a photo of a {}.",
    "a photo of the {}.",
    "a black and white photo of a {}.",
    "a low resolution photo of a {}.",
    "a close-up photo of a {}.",
    "a cropped photo of a {}.",
    "a photo of a small {}.",
    "a photo of a large {}.",
]


def validate_classnames(classes: Sequence[str], minimum: int = 2) -> list[str]:
    """Strip names; refuse empty, duplicate or too few names (a classifier needs two; a
    process's slice of the classes, in class-sharded training, may hold one)."""
    names = [str(c).strip() for c in classes]
    if len(names) < minimum:
        raise SemclipError(f"need at least two class names, got {names}" if minimum == 2 else f"need at least {minimum} class name(s), got {names}")
    if any(not n for n in names):
        raise SemclipError("class names must not be empty")
    seen: set[str] = set()
    dups = sorted({n for n in names if n.lower() in seen or seen.add(n.lower())})
    if dups:
        raise SemclipError(f"duplicate class names: {dups}")
    return names
