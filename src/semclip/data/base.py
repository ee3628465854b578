"""The labelled-image interface shared by every dataset, and safe image loading."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import IO

import numpy as np
from PIL import Image, UnidentifiedImageError

from semclip.errors import SemclipError


# what Pillow raises for a corrupt, truncated, non-image or decompression-bomb file
IMAGE_ERRORS = (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError)


def decode_image(source: str | Path | IO[bytes]) -> Image.Image:
    """Open and fully decode an image (a path or a binary file object); raises IMAGE_ERRORS."""
    with Image.open(source) as im:
        im.load()
        return im.copy()


def load_image(path: str | Path) -> Image.Image:
    """Open and fully decode an image, or raise a SemclipError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise SemclipError(f"image not found: {path}")
    try:
        return decode_image(path)
    except IMAGE_ERRORS as exc:
        raise SemclipError(f"cannot read image {path}: {exc} (is it a corrupt or non-image file?)") from exc


def flatten_alpha(image: Image.Image) -> Image.Image:
    """Composite transparency on white (transparent clip art keeps its shape instead of
    turning black); images without alpha are returned as they are."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba).convert("RGB")
    return image


class LabelledImages(ABC):
    """A finite, indexable set of (image, label) pairs with class names."""

    name: str
    classes: list[str]

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def image(self, i: int) -> Image.Image:
        """The i-th image as PIL."""

    @property
    @abstractmethod
    def labels(self) -> np.ndarray:
        """[N] int64 class indices."""

    @property
    def cache_id(self) -> str:
        """Names the exact content (dataset, split, size) for the token cache."""
        return f"{self.name}-n{len(self)}"
