"""JPEG as a digital source code (Pillow / libjpeg), sending only what the receiver
cannot know.

With standard Huffman tables (no ``optimize``) and no metadata, everything before the
entropy-coded scan (quantisation and Huffman tables, frame size) is fixed by the quality,
the image size and the colour mode. The receiver knows those, so only the scan is sent:
an 'abbreviated' stream, as in systems that agree on tables beforehand. ``decode`` glues
the known header back on, bit-exactly the file Pillow wrote.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import lru_cache

from PIL import Image

from semclip.data.base import IMAGE_ERRORS, decode_image, flatten_alpha
from semclip.errors import SemclipError

FRAMING = 3  # bytes sent before the scan: quality (1) + scan length (2)
QUALITIES = tuple(range(1, 96))  # libjpeg's useful range; above 95 only grows the file
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


@lru_cache(maxsize=512)
def known_header(quality: int, size: tuple[int, int], mode: str) -> bytes:
    """The header the receiver regenerates from (quality, size, mode) alone."""
    return split_jpeg(_encode(Image.new(mode, size), quality))[0]


@dataclass(frozen=True)
class JpegImage:
    """One image's scans at every quality: what the rate control chooses from."""

    size: tuple[int, int]
    mode: str
    scans: dict[int, bytes]

    @classmethod
    def of(cls, image: Image.Image, qualities: tuple[int, ...] = QUALITIES) -> "JpegImage":
        image = flatten_alpha(image)
        image = image.convert("L" if image.mode in ("L", "1", "I", "F") else "RGB")
        scans = {}
        for q in qualities:
            header, scan = split_jpeg(_encode(image, q))
            if header != known_header(q, image.size, image.mode):
                raise SemclipError("JPEG header depends on the content: cannot send an abbreviated stream")
            scans[q] = scan
        return cls(image.size, image.mode, scans)

    def best_fit(self, max_bytes: float) -> int | None:
        """The highest quality whose scan fits ``max_bytes``, or None if none does."""
        fits = [q for q, s in self.scans.items() if len(s) <= max_bytes]
        return max(fits) if fits else None


def decode(scan: bytes, quality: int, size: tuple[int, int], mode: str) -> Image.Image | None:
    """Known header + received scan -> the image, or None where libjpeg cannot parse it
    (what a real receiver would face; the caller decides what to show instead)."""
    try:
        im = decode_image(io.BytesIO(known_header(quality, size, mode) + scan + EOI))
    except IMAGE_ERRORS:
        return None
    return im if im.size == size else None


def grey(size: tuple[int, int], mode: str) -> Image.Image:
    """What a receiver shows when nothing usable arrived: a mid-grey frame."""
    return Image.new(mode, size, 128 if mode == "L" else (128, 128, 128))


def frame(quality: int, scan: bytes) -> bytes:
    """What the link carries for one image: quality, scan length, scan."""
    return bytes([quality]) + len(scan).to_bytes(2, "big") + scan


def unframe(data: bytes, max_scan: int) -> tuple[int, bytes] | None:
    """Received payload -> (quality, scan), or None where the framing is impossible."""
    if len(data) < FRAMING:
        return None
    q, n = data[0], int.from_bytes(data[1:3], "big")
    if q not in QUALITIES or n > min(max_scan, len(data) - FRAMING):
        return None
    return q, data[FRAMING : FRAMING + n]
