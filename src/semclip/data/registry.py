"""Datasets by name: ``fashion-mnist[:split]``, ``clipart[:split]``, the benchmark suite
``<name>[:split][@root]`` (ImageNet, the ten CoOp cross-dataset targets, CIFAR-10/100),
``hf:<id or folder>[:split]``, ``folder:/path``, and ``a+b`` to join several."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from semclip.data.base import DATASETS, LabelledImages
from semclip.errors import SemclipError

# what is not one family: written here, listed beside the families
SYNTAX = {"a+b": "several datasets as one, e.g. corpus+fashion-mnist:train#10000 (#N: that part's image limit)"}


@dataclass
class CatalogEntry:
    name: str
    title: str
    splits: str
    looks_for: str
    found: bool
    obtain: str


def list_datasets() -> dict[str, str]:
    """usage -> one-line doc, for every family (``DATASETS``) and the join syntax."""
    return DATASETS.docs() | SYNTAX


def catalog(root: str | Path | None = None) -> list[CatalogEntry]:
    """Every named dataset, where semclip looks for it, whether it is there, how to get it."""
    from semclip.data import fashion_mnist
    from semclip.data.benchmarks import BENCHMARKS, data_root
    from semclip.data.cifar import LAYOUT, OBTAIN
    from semclip.data.captioned import EMOJI_FONT
    from semclip.data.clipart_topics import CLIPART_DIR

    fm = [d for d in fashion_mnist.candidate_dirs() if (d / fashion_mnist.FILES["test"][0]).is_file()]
    rows = [
        CatalogEntry("fashion-mnist", "Fashion-MNIST", "train/test", str(fm[0] if fm else fashion_mnist.DEBIAN_DIR), bool(fm),
                     "apt-get install dataset-fashion-mnist (or downloaded into the cache where a network exists)"),
        CatalogEntry("clipart", "Open Clip Art topics", "train/test", str(CLIPART_DIR), CLIPART_DIR.is_dir(), "apt-get install openclipart-png"),
        CatalogEntry("corpus", "transmitter corpus (Open Clip Art minus clipart test, Noto emoji)", "one",
                     f"{CLIPART_DIR}, {EMOJI_FONT}", CLIPART_DIR.is_dir() and EMOJI_FONT.is_file(),
                     "apt-get install openclipart-png fonts-noto-color-emoji"),
    ]
    for key, b in BENCHMARKS.items():
        where = b.where(root)
        rows.append(CatalogEntry(key, b.title, "/".join(b.splits), f"{data_root(root)}/{b.looks_for()}", where.is_dir(), b.obtain))
    for key, (folder, files, *_rest) in LAYOUT.items():
        where = data_root(root) / folder
        rows.append(CatalogEntry(key, key.upper().replace("CIFAR", "CIFAR-"), "/".join(files), str(where), where.is_dir(), OBTAIN[key]))
    return rows


def has_splits(name: str) -> bool:
    """Whether ``name:train`` / ``name:test`` make sense (the protocols need both)."""
    from semclip.data.benchmarks import BENCHMARKS
    from semclip.data.cifar import LAYOUT

    name = name.partition("@")[0]
    family = name.partition(":")[0]
    return name in ("fashion-mnist", "clipart") or name in BENCHMARKS or name in LAYOUT or (family == "hf" and name.count(":") == 1)


def with_split(name: str, split: str) -> str:
    """``imagenet`` + ``train`` -> ``imagenet:train``; ``imagenet@/data`` -> ``imagenet:train@/data``."""
    base, at, root = name.partition("@")
    return f"{base}:{split}{at}{root}"


def create_dataset(spec: str, limit: int | None = None) -> LabelledImages:
    """One dataset, or several joined by "+" (``limit`` then applies to each part); a
    ``#N`` suffix limits one spec (or part) to N images, overriding ``limit``."""
    if "+" in spec:
        from semclip.data.concat import ConcatImages

        return ConcatImages([create_dataset(part, limit) for part in spec.split("+")])
    if "#" in spec:
        spec, _, n = spec.rpartition("#")
        if not (n.isascii() and n.isdigit()) or int(n) <= 0:  # isdigit alone takes '²', which int() refuses
            raise SemclipError(f"dataset limit after '#' must be a positive integer, not {n!r} (e.g. fashion-mnist:train#10000)")
        limit = int(n)
    return DATASETS.create(spec, limit=limit)
