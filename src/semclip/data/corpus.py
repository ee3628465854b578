"""The task-agnostic transmitter corpus: what the default token codec trains on.

SemCLIP's transmitter does not know the task, so its codec must not learn from any image
or class list of an evaluation split. The corpus is built from offline image-text data
that no evaluation set is drawn from, plus image augmentations so that its tokens cover
more of the backbone's space than the raw files do:

1. every readable drawing of Debian's ``openclipart-png`` (the whole topic tree), one copy
   per content hash, **minus every copy of the clip-art topics test images**: a file is
   dropped when its bytes or its file name (the same drawing filed under several topics)
   match a test image;
2. every single-code-point emoji of Debian's ``fonts-noto-color-emoji``;
3. ``views`` renderings of each: the picture as it is, then seeded augmentations that
   alternate between a small grey copy (20-40 px, inverted half of the time: negatives are
   a standard colour augmentation) and a random resized crop with colour jitter on a random
   background colour. Five views by default (two of each augmentation): the number the
   leave-one-domain-out validation chose (``benchmarks/codec_lodo.py``) over 1 and 3.

Fashion-MNIST is not in it, so in the main job Fashion-MNIST is a domain the codec has
never seen. The corpus carries captions (clip-art titles and topics, emoji names) but no
class list: every image has the label 0 of a single placeholder class, which no loss
classifies against.
"""

from __future__ import annotations

import hashlib
import zlib
from functools import cached_property
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

from semclip.data.base import LabelledImages, flatten_alpha
from semclip.data.base import DATASETS
from semclip.data.captioned import CLIPART_DIR, CaptionedImages, clipart, emoji
from semclip.errors import SemclipError
from semclip.progress import say

VERSION = "corpus-v1"  # bump when the construction or the augmentations change
PLACEHOLDER_CLASS = "(unlabelled corpus image)"
DEFAULT_VIEWS = 5  # chosen by the leave-one-domain-out validation (benchmarks/codec_lodo.py) over 1 and 3
# Open Clip Art's top-level topic folders grouped into content domains for leave-one-domain-out
# validation (``TransmitterCorpus.domains``); every other folder is "clipart-objects"
CONTENT_DOMAINS = {t: "clipart-icons" for t in ("computer", "buttons", "electronics", "office")} | {
    t: "clipart-symbols" for t in ("shapes", "signs_and_symbols", "decorations", "special")}


def is_copy(path: str, sha: str, test_hashes: set[str], test_stems: set[str]) -> bool:
    """Whether a file is a copy of an evaluation image: the same bytes, or the same file
    name (Open Clip Art files one drawing under several topics, sometimes re-encoded)."""
    return sha in test_hashes or Path(path).stem in test_stems


def augment(image: Image.Image, view: int, seed: int) -> Image.Image:
    """View 0 is the picture; odd views a small grey copy, even views a crop with colour
    jitter on a random background. Deterministic in (view, seed)."""
    if view == 0:
        return image
    rng = np.random.default_rng([seed, view])
    if view % 2 == 1:
        side = int(rng.integers(20, 41))
        grey = flatten_alpha(image).convert("L").resize((side, side), Image.BILINEAR)
        if rng.random() < 0.5:
            grey = ImageOps.invert(grey)
        return grey.convert("RGB")
    bg = tuple(int(c) for c in rng.integers(0, 256, 3))
    rgba = image.convert("RGBA")
    img = Image.alpha_composite(Image.new("RGBA", rgba.size, bg + (255,)), rgba).convert("RGB")
    w, h = img.size
    area = w * h * rng.uniform(0.5, 1.0)
    ratio = float(np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3))))
    cw, ch = min(w, max(1, round((area * ratio) ** 0.5))), min(h, max(1, round((area / ratio) ** 0.5)))
    left, top = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    img = img.crop((left, top, left + cw, top + ch))
    for enhance in (ImageEnhance.Color, ImageEnhance.Brightness, ImageEnhance.Contrast):
        img = enhance(img).enhance(float(rng.uniform(0.6, 1.4)))
    return img


class TransmitterCorpus(LabelledImages):
    """Open Clip Art (minus the clip-art topics test images) and Noto emoji, ``views``
    renderings each; ``captions()`` gives each image's text."""

    def __init__(self, views: int = DEFAULT_VIEWS, limit: int | None = None, clipart_root: str | Path = CLIPART_DIR, log=say) -> None:
        from semclip.data.clipart_topics import build, content_sha1

        if views < 1:
            raise SemclipError(f"the corpus needs at least one view per image, got views={views}")
        test = build(str(clipart_root))["test"]
        drawings = clipart(clipart_root)
        self.clipart_root = Path(clipart_root)
        test_hashes, test_stems = {sha for _, _, sha in test}, {Path(f).stem for f, _, _ in test}
        seen: set[str] = set()
        self.sources: list[tuple[CaptionedImages, int]] = []
        self.excluded = 0
        for i, key in enumerate(drawings.keys):
            sha = content_sha1(Path(key))
            if is_copy(key, sha, test_hashes, test_stems):
                self.excluded += 1
            elif sha not in seen:
                seen.add(sha)
                self.sources.append((drawings, i))
        self.skipped_files = list(drawings.skipped)  # unreadable, truncated or oversized: counted and named
        if self.skipped_files:
            log(f"[yellow]corpus: skipped {len(self.skipped_files)} unreadable or oversized drawing(s)[/]: "
                + "; ".join(Path(f).name for f in self.skipped_files[:3]) + (" and more" if len(self.skipped_files) > 3 else ""))
        emojis = emoji()
        self.sources += [(emojis, i) for i in range(len(emojis))]
        self.n_drawings = len(self.sources) - len(emojis)
        self.n_emoji = len(emojis)
        self.views = views
        self._decoded: tuple[int, Image.Image | None] = (-1, None)  # the last source decoded, for its other views
        n = len(self.sources) * views
        # spread a limit over sources and views alike (a quick run still sees every kind)
        self.rows = list(range(n)) if limit is None or limit >= n else [i * n // limit for i in range(limit)]
        self.name = f"corpus-v{views}" + (f"-n{limit}" if limit else "")
        self.excludes = ["clipart-test"]  # evaluation splits whose images were removed (recorded in provenance)
        self.classes = [PLACEHOLDER_CLASS]
        self._labels = np.zeros(len(self.rows), dtype=np.int64)

    def __len__(self) -> int:
        return len(self.rows)

    def _where(self, i: int) -> tuple[CaptionedImages, int, int]:
        src, view = divmod(self.rows[i], self.views)
        data, j = self.sources[src]
        return data, j, view

    def image(self, i: int) -> Image.Image:
        src, view = divmod(self.rows[i], self.views)
        data, j = self.sources[src]
        # the views of a drawing are consecutive rows: decode its PNG once for all of them
        # (decoding large drawings, not the image tower, bounds how fast the corpus encodes)
        if self._decoded[0] != src:
            self._decoded = (src, data.load(j))
        return augment(self._decoded[1].copy(), view, zlib.crc32(data.keys[j].encode()))

    def domains(self) -> dict[str, np.ndarray]:
        """Row masks of the corpus's domains, for leave-one-domain-out validation: what a
        codec trained on the rest does on a kind of picture it never saw. Content domains
        follow the sources (``CONTENT_DOMAINS`` groups Open Clip Art's top-level topic
        folders; emoji are one domain), rendering domains follow the augmentation
        families (``view`` 0 the picture, odd views small grey copies, even views crops with
        colour jitter). Masks are over ``len(self)`` rows."""
        out: dict[str, np.ndarray] = {}
        content = np.array([self._content_domain(*self._where(i)[:2]) for i in range(len(self))])
        for name in dict.fromkeys(content.tolist()):
            out[name] = content == name
        view = np.array([self.rows[i] % self.views for i in range(len(self))])
        out["render:small-grey"] = view % 2 == 1
        out["render:crop-jitter"] = (view > 0) & (view % 2 == 0)
        return {name: mask for name, mask in out.items() if mask.any()}

    def _content_domain(self, data: CaptionedImages, j: int) -> str:
        if data.name != "openclipart":
            return f"content:{data.name}"
        top = Path(data.keys[j]).relative_to(self.clipart_root).parts[0]
        return f"content:{CONTENT_DOMAINS.get(top, 'clipart-objects')}"

    def captions(self) -> list[str]:
        return [data.captions[j] for data, j, _ in map(self._where, range(len(self)))]

    def summary(self) -> str:
        return (f"{self.n_drawings} Open Clip Art drawings (whole tree; {self.excluded} copies of clip-art topics test "
                f"images left out, {len(self.skipped_files)} unreadable or oversized skipped) + {self.n_emoji} Noto emoji, "
                f"{self.views} view(s) each: {len(self)} images")

    @cached_property
    def cache_id(self) -> str:
        h = hashlib.sha1(VERSION.encode())
        for data, j in self.sources:
            h.update(f"{data.name}:{data.keys[j]}|".encode())
        h.update(np.asarray(self.rows, dtype=np.int64).tobytes())
        return f"{self.name}-n{len(self)}-{h.hexdigest()[:12]}"


@DATASETS.register("corpus", "the task-agnostic transmitter corpus: Open Clip Art minus the clipart test images, Noto emoji, "
                   f"N augmented views each ({DEFAULT_VIEWS}); no class list", arg="<views>")
def _corpus(arg: str = "", limit: int | None = None) -> TransmitterCorpus:
    try:
        views = int(arg or DEFAULT_VIEWS)
    except ValueError:
        raise SemclipError(f"corpus takes a number of views (corpus:{DEFAULT_VIEWS}), not {arg!r}") from None
    return TransmitterCorpus(views=views, limit=limit)
