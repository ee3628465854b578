"""Datasets by name: ``fashion-mnist[:split]``, ``clipart[:split]``, the benchmark suite
``<name>[:split][@root]`` (ImageNet, the ten CoOp cross-dataset targets, CIFAR-10/100),
``hf:<id or folder>[:split]``, ``folder:/path``, and ``a+b`` to join several."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from semclip.data.base import LabelledImages
from semclip.errors import SemclipError

NAMES = {
    "fashion-mnist": "Fashion-MNIST test split (or fashion-mnist:train), from Debian's dataset-fashion-mnist",
    "clipart": "Open Clip Art topics, 18 classes, test split (or clipart:train), from Debian's openclipart-png",
    "corpus": "the task-agnostic transmitter corpus: all Open Clip Art minus the clipart test images, Noto emoji, "
              "3 augmented views each (corpus:N for N views); no class list, no evaluation image",
    "folder": "folder:/path: any root/<class>/<image> tree",
    "hf": "hf:<hub id or save_to_disk folder>[:split]: a Hugging Face `datasets` image-classification set",
    "a+b": "several datasets as one, e.g. corpus+fashion-mnist:train#10000 (#N: that part's image limit)",
}


@dataclass
class CatalogEntry:
    name: str
    title: str
    splits: str
    looks_for: str
    found: bool
    obtain: str


def list_datasets() -> dict[str, str]:
    from semclip.data.benchmarks import BENCHMARKS
    from semclip.data.cifar import LAYOUT

    suite = {k: f"{b.title} ({'/'.join(b.splits)}), CoOp layout under $SEMCLIP_DATA" for k, b in BENCHMARKS.items()}
    suite |= {k: f"{k.upper()} binary release under $SEMCLIP_DATA" for k in LAYOUT}
    return NAMES | suite


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
    family, _, arg = spec.partition(":")
    if family == "fashion-mnist":
        from semclip.data.fashion_mnist import FashionMNIST

        return FashionMNIST(split=arg or "test", limit=limit)
    if family == "clipart":
        from semclip.data.clipart_topics import ClipartTopics

        return ClipartTopics(split=arg or "test", limit=limit)
    if family == "corpus":
        from semclip.data.corpus import TransmitterCorpus

        try:
            views = int(arg or 3)
        except ValueError:
            raise SemclipError(f"corpus takes a number of views (corpus:3), not {arg!r}") from None
        return TransmitterCorpus(views=views, limit=limit)
    if family in ("folder", "hf"):
        if not arg:
            raise SemclipError(f"{family} datasets need a path or id: {family}:/path/to/root")
        if family == "hf":
            from semclip.data.hf import HFImages

            source, _, split = arg.rpartition(":") if ":" in arg else (arg, "", "test")
            return HFImages(source, split or "test", limit)
        from semclip.data.image_folder import ImageFolder

        return _limited(ImageFolder(arg), limit)
    from semclip.data.benchmarks import BENCHMARKS, load_benchmark
    from semclip.data.cifar import CIFAR, LAYOUT

    split, _, root = arg.partition("@")
    if family in LAYOUT:
        return CIFAR(family, split or "test", root or None, limit)
    if family in BENCHMARKS:
        return _limited(load_benchmark(family, split or "test", root or None), limit)
    raise SemclipError(f"unknown dataset {spec!r}; choose one of {sorted(list_datasets())} (see `semclip datasets`)")


def _limited(data: LabelledImages, limit: int | None) -> LabelledImages:
    """``limit`` images spread evenly over the set: on-disk sets are stored class by class,
    so the first N would hold only the first few classes."""
    if limit is None or limit >= len(data):
        return data
    from semclip.data.listed import SubsetImages

    return SubsetImages(data, [i * len(data) // limit for i in range(limit)])
