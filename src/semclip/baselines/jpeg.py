"""JPEG as a digital source code (Pillow / libjpeg), sending only what the receiver
cannot know, at the resolution and quality that serve the image best within its bits.

With standard Huffman tables (no ``optimize``) and no metadata, everything before the
entropy-coded scan (quantisation and Huffman tables, frame size) is fixed by the quality,
the image size and the colour mode. The receiver knows those, so only the scan is sent:
an 'abbreviated' stream, as in systems that agree on tables beforehand. ``decode`` glues
the known header back on, bit-exactly the file Pillow wrote.

A picture may be sent downscaled (a real system sends a smaller picture rather than
nothing when the link is poor); the receiver upscales it to the original size before its
backbone. Which (side, quality) an image is sent at is the transmitter's rate-distortion
choice, made from the image alone: among the sides, the best quality that fits the bytes
at each, the one with the least pixel error against the original (no label is read).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache

import numpy as np
from PIL import Image

from semclip.data.base import IMAGE_ERRORS, decode_image, flatten_alpha
from semclip.errors import SemclipError

FRAMING = 4  # bytes sent before the scan: quality (1) + side (1) + scan length (2)
QUALITIES = tuple(range(1, 96))  # libjpeg's useful range; above 95 only grows the file
SIDE_FRACTIONS = (1.0, 5 / 7, 1 / 2, 5 / 14, 1 / 4)  # default sides, of the original's longer side (28 px: 28, 20, 14, 10, 7)
MIN_SIDE = 4
MAX_SIDE = 255  # the side travels in one byte
SOS = b"\xff\xda"
EOI = b"\xff\xd9"


def _encode(image: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=quality, optimize=False, progressive=False, subsampling=0 if image.mode == "RGB" else -1)
    return buf.getvalue()


def split_jpeg(data: bytes) -> tuple[bytes, bytes]:
    """A baseline JPEG file -> (header up to and including the SOS segment, scan bytes
    without the EOI marker)."""
    sos = data.find(SOS)
    if sos < 0 or not data.endswith(EOI):
        raise SemclipError("not a baseline JPEG stream (no SOS marker or no EOI)")
    start = sos + 2 + int.from_bytes(data[sos + 2 : sos + 4], "big")
    return data[:start], data[start:-2]


@lru_cache(maxsize=4096)
def known_header(quality: int, size: tuple[int, int], mode: str) -> bytes:
    """The header the receiver regenerates from (quality, size, mode) alone."""
    return split_jpeg(_encode(Image.new(mode, size), quality))[0]


def sent_size(size: tuple[int, int], side: int) -> tuple[int, int]:
    """The picture's size when its longer side is ``side`` pixels (aspect kept)."""
    w, h = size
    scale = side / max(w, h)
    return max(1, round(w * scale)), max(1, round(h * scale))


def default_sides(size: tuple[int, int]) -> tuple[int, ...]:
    """``SIDE_FRACTIONS`` of the longer side, distinct, largest first (28 px: 28, 20, 14, 10, 7)."""
    longest = min(max(size), MAX_SIDE)
    return tuple(sorted({max(MIN_SIDE, round(longest * f)) for f in SIDE_FRACTIONS}, reverse=True))


def check_sides(sides: Sequence[int], size: tuple[int, int]) -> tuple[int, ...]:
    """The sides a picture of ``size`` may be sent at, checked: each in MIN_SIDE..its longer side."""
    top = min(max(size), MAX_SIDE)
    bad = [s for s in sides if not MIN_SIDE <= s <= top]
    if bad or not sides:
        raise SemclipError(f"JPEG side(s) {list(bad) or list(sides)} px outside {MIN_SIDE}..{top} "
                           f"(the test images are {size[0]}x{size[1]}; sides are pixels of the longer side)")
    return tuple(sorted(set(sides), reverse=True))


def _pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.float32)


@dataclass
class JpegImage:
    """One image's scans at every (side, quality), made when first asked for: what the
    rate control chooses from. ``sides``: pixels of the longer side it may be sent at."""

    image: Image.Image  # the original, as the transmitter holds it (mode L or RGB)
    sides: tuple[int, ...]
    _scans: dict[tuple[int, int], bytes] = field(default_factory=dict, repr=False)
    _errors: dict[tuple[int, int], float] = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, image: Image.Image, sides: Sequence[int] | None = None) -> "JpegImage":
        image = flatten_alpha(image)
        image = image.convert("L" if image.mode in ("L", "1", "I", "F") else "RGB")
        return cls(image, check_sides(sides, image.size) if sides else (max(image.size),))

    @cached_property
    def _original(self) -> np.ndarray:
        """The original's pixels, the reference of every candidate's error."""
        return _pixels(self.image)

    @property
    def size(self) -> tuple[int, int]:
        return self.image.size

    @property
    def mode(self) -> str:
        return self.image.mode

    def scan(self, side: int, quality: int) -> bytes:
        """The entropy-coded scan of the picture at ``side`` px and ``quality``."""
        key = (side, quality)
        if key not in self._scans:
            small = self.image if side == max(self.size) else self.image.resize(sent_size(self.size, side), Image.Resampling.BOX)
            header, scan = split_jpeg(_encode(small, quality))
            if header != known_header(quality, small.size, small.mode):
                raise SemclipError("JPEG header depends on the content: cannot send an abbreviated stream")
            self._scans[key] = scan
        return self._scans[key]

    def best_fit(self, max_bytes: float, side: int | None = None) -> int | None:
        """The highest quality whose scan at ``side`` (default: full size) fits
        ``max_bytes``, or None. A binary search: a JPEG grows with its quality."""
        side = side or max(self.size)
        lo, hi = -1, len(QUALITIES)  # QUALITIES[lo] fits, QUALITIES[hi] does not
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if len(self.scan(side, QUALITIES[mid])) <= max_bytes:
                lo = mid
            else:
                hi = mid
        return QUALITIES[lo] if lo >= 0 else None

    def error(self, side: int, quality: int) -> float:
        """Mean squared pixel error of what the receiver would show against the original."""
        key = (side, quality)
        if key not in self._errors:
            shown = receive(self.scan(side, quality), quality, side, self.size, self.mode)
            self._errors[key] = float(np.mean((_pixels(shown) - self._original) ** 2)) if shown else float("inf")
        return self._errors[key]

    def choose(self, max_bytes: float) -> tuple[int, int] | None:
        """(side, quality) to send within ``max_bytes``: per side the best quality that
        fits, then the least pixel error; None when nothing fits."""
        fits = [(s, q) for s in self.sides if (q := self.best_fit(max_bytes, s)) is not None]
        return min(fits, key=lambda sq: (self.error(*sq), -sq[0])) if fits else None


def decode(scan: bytes, quality: int, size: tuple[int, int], mode: str) -> Image.Image | None:
    """Known header + received scan -> the image, or None where libjpeg cannot parse it
    (what a real receiver would face; the caller decides what to show instead)."""
    try:
        im = decode_image(io.BytesIO(known_header(quality, size, mode) + scan + EOI))
    except IMAGE_ERRORS:
        return None
    return im if im.size == size else None


def receive(scan: bytes, quality: int, side: int, size: tuple[int, int], mode: str) -> Image.Image | None:
    """A picture sent at ``side`` px, decoded and brought back to the original ``size``
    (bicubic) for the backbone; None where it cannot be decoded."""
    im = decode(scan, quality, sent_size(size, side), mode)
    if im is None or im.size == size:
        return im
    return im.resize(size, Image.Resampling.BICUBIC)


def grey(size: tuple[int, int], mode: str) -> Image.Image:
    """What a receiver shows when nothing usable arrived: a mid-grey frame."""
    return Image.new(mode, size, 128 if mode == "L" else (128, 128, 128))


def frame(quality: int, side: int, scan: bytes) -> bytes:
    """What the link carries for one image: quality, side, scan length, scan."""
    return bytes([quality, side]) + len(scan).to_bytes(2, "big") + scan


def unframe(data: bytes, max_scan: int, sides: Sequence[int]) -> tuple[int, int, bytes] | None:
    """Received payload -> (quality, side, scan), or None where the framing is impossible."""
    if len(data) < FRAMING:
        return None
    q, side, n = data[0], data[1], int.from_bytes(data[2:4], "big")
    if q not in QUALITIES or side not in sides or n > min(max_scan, len(data) - FRAMING):
        return None
    return q, side, data[FRAMING : FRAMING + n]
