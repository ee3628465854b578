"""A generic labelled image folder: ``root/<class name>/<image>``, as torchvision's
ImageFolder. Unreadable files are found when an image is read and reported by name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from semclip.data.base import LabelledImages, load_image
from semclip.errors import SemclipError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


class ImageFolder(LabelledImages):
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise SemclipError(f"image folder not found: {self.root}")
        class_dirs = sorted(d for d in self.root.iterdir() if d.is_dir() and not d.name.startswith("."))
        if not class_dirs:
            raise SemclipError(f"{self.root} has no class sub-folders (expected root/<class>/<image>)")
        self.classes = [d.name.replace("_", " ") for d in class_dirs]
        self.paths: list[Path] = []
        labels = []
        for c, d in enumerate(class_dirs):
            files = sorted(p for p in d.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
            self.paths += files
            labels += [c] * len(files)
        if not self.paths:
            raise SemclipError(f"{self.root} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
        self._labels = np.asarray(labels, dtype=np.int64)
        self.name = f"folder-{self.root.resolve().name}"

    def __len__(self) -> int:
        return len(self.paths)

    def image(self, i: int) -> Image.Image:
        return load_image(self.paths[i])

    @property
    def labels(self) -> np.ndarray:
        return self._labels

    @property
    def cache_id(self) -> str:
        # content changes (files added/removed/renamed/rewritten) invalidate the cache
        import hashlib

        h = hashlib.sha1()
        for p in self.paths:
            st = p.stat()
            h.update(f"{p.relative_to(self.root)}:{st.st_size}:{st.st_mtime_ns}".encode())
        return f"{self.name}-{h.hexdigest()[:12]}"
