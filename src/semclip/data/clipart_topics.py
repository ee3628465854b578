"""Clip-art topics: a labelled image set built from Debian's ``openclipart-png``.

The second offline dataset, for the cross-dataset and base-to-novel protocols on a domain
other than product photos. Construction (deterministic, no randomness):

1. each class is one topic folder of the Open Clip Art tree (``CLASSES``; subfolders
   included), chosen because its drawings show one visual concept;
2. files are identified by the SHA-1 of their bytes; a drawing whose bytes appear in two
   classes is dropped, as are unreadable files and decompression bombs;
3. within a class, files are sorted by that hash and the first ``PER_CLASS`` kept;
4. the first half of each class (by hash) is ``train``, the rest ``test``.

PocketCLIP's heads are trained on Open Clip Art *without* this dataset's test images
(``semclip.backbones.pocketclip_train`` excludes them by content hash), so the test split is unseen.
Classes are in alphabetical order; base-to-novel takes the first half as base.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image

from semclip.data.base import LabelledImages, load_image
from semclip.data.base import DATASETS
from semclip.data.captioned import CLIPART_DIR, clipart_caption, readable
from semclip.errors import SemclipError
from semclip.digest import text_digest

# class name -> topic folder (relative to the png root)
CLASSES: dict[str, str] = {
    "arrow": "shapes/arrows",
    "bird": "animals/birds",
    "boat": "transportation/boating",
    "dessert": "food/desserts",
    "drink": "food/beverages",
    "flag": "signs_and_symbols/flags",
    "flower": "plants/flowers",
    "fruit": "food/fruit",
    "garment": "people/clothing",
    "house": "buildings/homes",
    "insect": "animals/bugs",
    "mammal": "animals/mammals",
    "playing card": "recreation/games/cards",
    "road sign": "transportation/roadsigns",
    "smiley face": "people/smilies",
    "star": "shapes/stars",
    "vehicle": "transportation/vehicles",
    "weapon": "tools/weapons",
}
PER_CLASS = 100
SPLITS = ("train", "test")


def content_sha1(path: Path) -> str:
    """Files are identified by the SHA-1 of their bytes (here and in the transmitter corpus)."""
    return text_digest(path.read_bytes())


@cache
def build(root: str = str(CLIPART_DIR)) -> dict[str, list[tuple[str, int, str]]]:
    """Split name -> [(file, label, content sha1)], following the construction above."""
    base = Path(root)
    if not base.is_dir():
        raise SemclipError(f"Open Clip Art not found in {base}: `apt-get install openclipart-png`")
    per_class: list[dict[str, str]] = []  # sha -> file
    owners: dict[str, set[int]] = {}
    for label, folder in enumerate(CLASSES.values()):
        files = sorted((base / folder).rglob("*.png"))
        if not files:
            raise SemclipError(f"Open Clip Art topic {folder!r} is missing under {base}")
        found = {}
        for f in files:
            if readable(f):
                sha = content_sha1(f)
                found.setdefault(sha, str(f))
                owners.setdefault(sha, set()).add(label)
        per_class.append(found)
    splits: dict[str, list[tuple[str, int, str]]] = {s: [] for s in SPLITS}
    for label, found in enumerate(per_class):
        shas = sorted(s for s in found if len(owners[s]) == 1)[:PER_CLASS]
        half = (len(shas) + 1) // 2
        for split, part in (("train", shas[:half]), ("test", shas[half:])):
            splits[split] += [(found[s], label, s) for s in part]
    return splits


class ClipartTopics(LabelledImages):
    def __init__(self, split: str = "test", limit: int | None = None, root: str | Path = CLIPART_DIR) -> None:
        if split not in SPLITS:
            raise SemclipError(f"clipart has splits {SPLITS}, not {split!r}")
        items = build(str(root))[split]
        self.items = items[:limit] if limit else items
        self.split = split
        self.root = Path(root)
        self.name = f"clipart-{split}"
        self.classes = list(CLASSES)
        self._labels = np.array([label for _, label, _ in self.items], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.items)

    def image(self, i: int) -> Image.Image:
        return load_image(self.items[i][0])

    def captions(self) -> list[str]:
        """Each image's caption (title and topic), for retrieval."""
        return [clipart_caption(Path(f), self.root) for f, _, _ in self.items]

    @property
    def cache_id(self) -> str:
        digest = text_digest("".join(s for _, _, s in self.items), 10)
        return f"{self.name}-n{len(self)}-{digest}"


def test_hashes(root: str | Path = CLIPART_DIR) -> set[str]:
    """Content hashes of the test images: what PocketCLIP's head training must not see."""
    return {sha for _, _, sha in build(str(root))["test"]}


@DATASETS.register("clipart", "Open Clip Art topics, 18 classes, test split (or clipart:train), from Debian's openclipart-png",
                   arg="train|test")
def _clipart(arg: str = "", limit: int | None = None) -> ClipartTopics:
    return ClipartTopics(split=arg or "test", limit=limit)
