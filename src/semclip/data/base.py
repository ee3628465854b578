"""The labelled-image interface shared by every dataset, and safe image loading."""

from __future__ import annotations

import re
import warnings
from abc import ABC, abstractmethod
from pathlib import Path
from typing import IO

import numpy as np
from PIL import Image, UnidentifiedImageError

from semclip.errors import SemclipError
from semclip.registry import Registry


# what Pillow raises for a corrupt, truncated, non-image or decompression-bomb file
IMAGE_ERRORS = (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError)
# decoding is refused above this many pixels (read from the header, before a byte of pixels):
# a few drawings are 15k x 15k, and a 12k x 12k PNG of 420 KB decodes to 0.5-1 GB, for a 128 px token
# every dataset family, by name (``semclip.registry``): each registers itself in its own file
DATASETS: Registry[LabelledImages] = Registry("dataset", builtins=tuple(f"semclip.data.{m}" for m in (
    "fashion_mnist", "clipart_topics", "corpus", "image_folder", "hf", "benchmarks", "cifar")), hint="; see `semclip datasets`")

MAX_PIXELS = 25_000_000


def decode_image(source: str | Path | IO[bytes], max_pixels: int = MAX_PIXELS, max_side: int | None = None) -> Image.Image:
    """Open and fully decode an image (a path or a binary file object); raises IMAGE_ERRORS.

    The size is read from the header first: a JPEG over ``max_pixels`` is decoded at the
    largest of libjpeg's 1/2, 1/4, 1/8 scales that fits; any other image over it is refused
    (``Image.DecompressionBombError`` naming its size) before its pixels are decoded. With
    ``max_side`` the decoded image is reduced to at most that many pixels a side."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit is lower
        with _open(source, max_pixels) as im:
            w, h = im.size
            if w * h > max_pixels and im.format == "JPEG":
                scale = next((f for f in (2, 4, 8) if (w / f) * (h / f) <= max_pixels), 8)
                im.draft(im.mode, (max(1, w // scale), max(1, h // scale)))  # Pillow picks the scale from the ratio
            if im.width * im.height > max_pixels:
                raise Image.DecompressionBombError(
                    f"{w} x {h} pixels is more than the {max_pixels / 1e6:.1f} megapixels semclip decodes"
                )
            im.load()
            if max_side is not None:
                im.thumbnail((max_side, max_side))
            return im.copy()


def _open(source: str | Path | IO[bytes], max_pixels: int) -> Image.Image:
    """``Image.open``, except that a JPEG is opened by Pillow's JPEG plugin itself: Pillow's
    own check at open (above 179 megapixels) would refuse a large JPEG before ``decode_image``
    can decode it at a reduced scale. Any other image that Pillow refuses there is refused in
    ``decode_image``'s words."""
    from PIL import JpegImagePlugin

    if isinstance(source, (str, Path)):
        with open(source, "rb") as f:
            head = f.read(3)
    else:
        at = source.tell()
        head, _ = source.read(3), source.seek(at)
    if head == b"\xff\xd8\xff":
        return JpegImagePlugin.JpegImageFile(source)
    try:
        return Image.open(source)
    except Image.DecompressionBombError as exc:
        size = re.search(r"\((\d+) pixels\)", str(exc))
        raise Image.DecompressionBombError(
            f"{int(size[1]) / 1e6 if size else 'over 179'} megapixels is more than the {max_pixels / 1e6:.1f} megapixels semclip decodes") from exc


def load_image(path: str | Path) -> Image.Image:
    """Open and fully decode an image, or raise a SemclipError naming the file."""
    path = Path(path)
    if path.is_dir():
        raise SemclipError(f"{path} is a folder, not an image: give one image file")
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

    _labels: np.ndarray  # set by each dataset when it is made

    @property
    def labels(self) -> np.ndarray:
        """[N] int64 class indices."""
        return self._labels

    @property
    def cache_id(self) -> str:
        """Names the exact content (dataset, split, size) for the token cache."""
        return f"{self.name}-n{len(self)}"
