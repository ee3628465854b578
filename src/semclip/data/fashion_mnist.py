"""Fashion-MNIST (Zalando product photos, 10 classes) from its IDX files.

Looked for, in order: the folder given, $SEMCLIP_DATA/fashion-mnist, Debian's
``dataset-fashion-mnist`` (/usr/share/datasets/fashion-mnist), the semclip cache folder;
then downloaded into the cache where a network exists; otherwise an error says how to
get it.
"""

from __future__ import annotations

import gzip
import os
import urllib.request
from pathlib import Path

import numpy as np
from PIL import Image

from semclip._io import atomic_write_bytes, cache_dir
from semclip.data.base import LabelledImages
from semclip.data.base import DATASETS
from semclip.errors import SemclipError

CLASSES = ["T-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle boot"]
FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
MIRROR = "https://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"


def read_idx(path: Path) -> np.ndarray:
    """Parse a (gzipped) IDX file into a uint8 array."""
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as f:
            data = f.read()
        if data[:2] != b"\x00\x00" or data[2] != 0x08:
            raise ValueError("not an unsigned-byte IDX file")
        ndim = data[3]
        shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
        return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(shape)
    except (OSError, ValueError, EOFError) as exc:
        raise SemclipError(f"corrupt Fashion-MNIST file {path}: {exc}; delete it and fetch it again") from exc


def candidate_dirs(root: str | Path | None = None) -> list[Path]:
    dirs = [Path(root)] if root else []
    if os.environ.get("SEMCLIP_DATA"):
        dirs.append(Path(os.environ["SEMCLIP_DATA"]) / "fashion-mnist")
    return dirs + [DEBIAN_DIR, cache_dir() / "fashion-mnist"]


def locate(split: str, root: str | Path | None = None, download: bool = True) -> tuple[Path, Path]:
    names = FILES[split]
    for d in candidate_dirs(root):
        if all((d / n).is_file() for n in names):
            return d / names[0], d / names[1]
    target = cache_dir() / "fashion-mnist"
    if download:
        try:
            for n in names:
                with urllib.request.urlopen(MIRROR + n, timeout=20) as r:
                    atomic_write_bytes(target / n, r.read())
            return target / names[0], target / names[1]
        except OSError:
            pass
    looked = ", ".join(str(d) for d in candidate_dirs(root))
    raise SemclipError(
        f"Fashion-MNIST {split} split not found (looked in {looked}). Install it with "
        "`apt-get install dataset-fashion-mnist`, or put the four *-ubyte.gz files in "
        f"{target} or $SEMCLIP_DATA/fashion-mnist"
    )


class FashionMNIST(LabelledImages):
    """28x28 grey product images; ``limit`` keeps the first N (fixed, so caches agree)."""

    classes = CLASSES

    def __init__(self, split: str = "test", root: str | Path | None = None, limit: int | None = None) -> None:
        if split not in FILES:
            raise SemclipError(f"unknown Fashion-MNIST split {split!r}; use 'train' or 'test'")
        img_path, lab_path = locate(split, root)
        self.split = split
        self.name = f"fashion-mnist-{split}"
        self._images = read_idx(img_path)
        self._labels = read_idx(lab_path).astype(np.int64)
        if len(self._images) != len(self._labels) or self._images.shape[1:] != (28, 28):
            raise SemclipError(f"Fashion-MNIST files in {img_path.parent} do not match each other")
        if limit is not None:
            self._images, self._labels = self._images[:limit], self._labels[:limit]

    def __len__(self) -> int:
        return len(self._labels)

    def image(self, i: int) -> Image.Image:
        return Image.fromarray(self._images[i], mode="L")


@DATASETS.register("fashion-mnist", "Fashion-MNIST test split (or fashion-mnist:train), from Debian's dataset-fashion-mnist",
                   arg="train|test")
def _fashion_mnist(arg: str = "", limit: int | None = None) -> FashionMNIST:
    return FashionMNIST(split=arg or "test", limit=limit)
