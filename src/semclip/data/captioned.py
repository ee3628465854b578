"""Captioned offline images (image-text pairs), used to align PocketCLIP's heads:
Open Clip Art drawings (Debian ``openclipart-png``, caption from topic folder and file
name) and Noto colour emoji (Debian ``fonts-noto-color-emoji``, caption from the Unicode
name)."""

from __future__ import annotations

import re
import warnings
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from semclip.data.base import MAX_PIXELS, load_image
from semclip.errors import SemclipError

CLIPART_DIR = Path("/usr/share/openclipart/png")
EMOJI_FONT = Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")


@dataclass
class CaptionedImages:
    """Parallel lists: ``load(i)`` gives image i, ``captions[i]`` its text."""

    name: str
    captions: list[str]
    keys: list[str]
    loader: object = field(repr=False)
    skipped: list[str] = field(default_factory=list)  # unreadable or oversized, by name

    def __len__(self) -> int:
        return len(self.captions)

    def load(self, i: int) -> Image.Image:
        return self.loader(self.keys[i])  # type: ignore[operator]


def _title_from_filename(stem: str) -> str:
    # "armadillo_architetto_fra_01" -> "armadillo architetto fra"; drop numbers
    words = [w for w in re.split(r"[_\-\s]+", stem) if w and not w.isdigit()]
    return " ".join(words)


def readable(path: Path) -> bool:
    """Header-only check: cheap, and catches truncated files and decompression bombs."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                return im.width * im.height <= MAX_PIXELS
    except (OSError, Image.DecompressionBombError, SyntaxError, ValueError):
        return False


def clipart_caption(path: Path, root: Path = CLIPART_DIR) -> str:
    """'clip art of <title from the file name>, <topic folders>'."""
    topic = " ".join(p.replace("_", " ") for p in path.relative_to(root).parent.parts)
    return f"clip art of {_title_from_filename(path.stem)}, {topic}"


def clipart(root: str | Path = CLIPART_DIR) -> CaptionedImages:
    root = Path(root)
    files = sorted(root.rglob("*.png")) if root.is_dir() else []
    if not files:
        raise SemclipError(f"Open Clip Art not found in {root}: `apt-get install openclipart-png`")
    captions, keys, skipped = [], [], []
    for f in files:
        if not readable(f):
            skipped.append(str(f))
            continue
        keys.append(str(f))
        captions.append(clipart_caption(f, root))
    return CaptionedImages("openclipart", captions, keys, load_image, skipped)


def _emoji_font():
    from PIL import ImageFont

    if not EMOJI_FONT.is_file():
        raise SemclipError(f"Noto Color Emoji not found at {EMOJI_FONT}: `apt-get install fonts-noto-color-emoji`")
    return ImageFont.truetype(str(EMOJI_FONT), 109)  # the bitmap font's only size


def render_emoji(ch: str) -> Image.Image:
    from PIL import ImageDraw

    img = Image.new("RGBA", (136, 128), (255, 255, 255, 0))
    ImageDraw.Draw(img).text((0, 0), ch, font=_emoji_font(), embedded_color=True)
    return img


def emoji() -> CaptionedImages:
    """Single-code-point emoji present in the Noto font, named by Unicode."""
    from fontTools.ttLib import TTFont

    _emoji_font()
    cmap = TTFont(str(EMOJI_FONT), lazy=True).getBestCmap()
    keys, captions = [], []
    for cp in sorted(cmap):
        if cp < 0x2000:  # digits, #, *, (c): not pictures
            continue
        name = unicodedata.name(chr(cp), "")
        if not name or "VARIATION SELECTOR" in name or "JOINER" in name or "COMBINING" in name or "REGIONAL INDICATOR" in name or "TAG" in name.split():
            continue
        keys.append(chr(cp))
        captions.append(f"an emoji of {name.lower()}")
    return CaptionedImages("noto-emoji", captions, keys, render_emoji)
