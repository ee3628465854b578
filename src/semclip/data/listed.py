"""Labelled images given as a list of files: what every on-disk adapter builds (image
folders, the CoOp benchmark layouts), plus the subset view that drops unreadable files."""

from __future__ import annotations

import hashlib
from functools import cached_property
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from semclip.data.base import LabelledImages, load_image
from semclip.errors import SemclipError
from semclip.digest import text_digest


class ListedImages(LabelledImages):
    """``paths[i]`` has label ``labels[i]`` over ``classes``; files are read when asked for,
    so an unreadable one raises a SemclipError naming it (token extraction skips and counts it)."""

    def __init__(self, name: str, root: Path, paths: Sequence[Path], labels: Sequence[int], classes: Sequence[str]) -> None:
        if not paths:
            raise SemclipError(f"{name}: no images found under {root}")
        self.name = name
        self.root = Path(root)
        self.paths = [Path(p) for p in paths]
        self._labels = np.asarray(labels, dtype=np.int64)
        self.classes = list(classes)
        if self._labels.shape[0] != len(self.paths):
            raise SemclipError(f"{name}: {len(self.paths)} images but {self._labels.shape[0]} labels")

    def __len__(self) -> int:
        return len(self.paths)

    def image(self, i: int) -> Image.Image:
        return load_image(self.paths[i])

    def describe(self, i: int) -> str:
        return str(self.paths[i])

    @cached_property
    def cache_id(self) -> str:
        """Content changes (files added, removed, renamed or rewritten) give a new id. Computed
        once per object: it stats every file (1.3 M for ImageNet train) and is asked for often."""
        h = hashlib.sha1("|".join(self.classes).encode())
        for p, y in zip(self.paths, self._labels.tolist()):
            try:
                st = p.stat()
                h.update(f"{p.relative_to(self.root) if p.is_relative_to(self.root) else p}:{y}:{st.st_size}:{st.st_mtime_ns}".encode())
            except OSError:  # a missing file is reported (and skipped) when it is read
                h.update(f"{p}:{y}:missing".encode())
        return f"{self.name}-n{len(self)}-{h.hexdigest()[:12]}"


class SubsetImages(LabelledImages):
    """The images of ``base`` at ``indices`` (same classes): e.g. without the unreadable ones."""

    def __init__(self, base: LabelledImages, indices: Sequence[int]) -> None:
        self.base = base
        self.indices = [int(i) for i in indices]
        self.name = base.name
        self.classes = base.classes
        self._labels = base.labels[self.indices]
        if hasattr(base, "captions"):
            caps = base.captions()
            self.captions = lambda: [caps[i] for i in self.indices]

    def __len__(self) -> int:
        return len(self.indices)

    def image(self, i: int) -> Image.Image:
        return self.base.image(self.indices[i])

    @property
    def cache_id(self) -> str:
        h = text_digest(np.asarray(self.indices, dtype=np.int64).tobytes(), 10)
        return f"{self.base.cache_id}-sub{len(self)}-{h}"


def spread_limit(data: LabelledImages, limit: int | None) -> LabelledImages:
    """``limit`` images spread evenly over the set: on-disk sets are stored class by class,
    so the first N would hold only the first few classes."""
    if limit is None or limit >= len(data):
        return data
    return SubsetImages(data, [i * len(data) // limit for i in range(limit)])
