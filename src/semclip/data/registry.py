"""Datasets by name: ``fashion-mnist[:split]`` or ``folder:/path/to/root``."""

from __future__ import annotations

from semclip.data.base import LabelledImages
from semclip.errors import SemclipError

NAMES = {
    "fashion-mnist": "Fashion-MNIST test split (or fashion-mnist:train), from Debian's dataset-fashion-mnist",
    "clipart": "Open Clip Art topics, 18 classes, test split (or clipart:train), from Debian's openclipart-png",
    "folder": "folder:/path: any root/<class>/<image> tree",
    "a+b": "several datasets as one, e.g. fashion-mnist:train+clipart:train",
}


def list_datasets() -> dict[str, str]:
    return dict(NAMES)


def create_dataset(spec: str, limit: int | None = None) -> LabelledImages:
    """One dataset, or several joined by "+" (``limit`` then applies to each part)."""
    if "+" in spec:
        from semclip.data.concat import ConcatImages

        return ConcatImages([create_dataset(part, limit) for part in spec.split("+")])
    family, _, arg = spec.partition(":")
    if family == "fashion-mnist":
        from semclip.data.fashion_mnist import FashionMNIST

        return FashionMNIST(split=arg or "test", limit=limit)
    if family == "clipart":
        from semclip.data.clipart_topics import ClipartTopics

        return ClipartTopics(split=arg or "test", limit=limit)
    if family == "folder":
        from semclip.data.image_folder import ImageFolder

        if not arg:
            raise SemclipError("folder datasets need a path: folder:/path/to/root")
        return ImageFolder(arg)
    raise SemclipError(f"unknown dataset {spec!r}; choose one of {sorted(NAMES)}")
