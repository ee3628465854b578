"""A generic labelled image folder: ``root/<class name>/<image>``, as torchvision's
ImageFolder. Unreadable files are found when an image is read: token extraction skips,
counts and reports them by name."""

from __future__ import annotations

from pathlib import Path

from semclip.data.listed import ListedImages, spread_limit
from semclip.data.base import DATASETS
from semclip.errors import SemclipError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


def images_in(folder: Path) -> list[Path]:
    """Image files under ``folder`` (recursively), sorted, hidden files left out."""
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))


def class_images(folder: Path, why: str) -> list[Path]:
    """The images of one class folder; an empty one is an error (``why`` says what it means),
    or the class would silently never be seen."""
    files = images_in(folder)
    if not files:
        raise SemclipError(f"class folder {folder} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))}): {why}")
    return files


def class_folders(root: Path) -> list[Path]:
    return sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))


class ImageFolder(ListedImages):
    def __init__(self, root: str | Path) -> None:
        root = Path(root)
        if not root.is_dir():
            raise SemclipError(f"image folder not found: {root}")
        dirs = class_folders(root)
        if not dirs:
            raise SemclipError(f"{root} has no class sub-folders (expected root/<class>/<image>)")
        paths, labels = [], []
        for c, d in enumerate(dirs):
            files = class_images(d, "remove it or add its images")
            paths += files
            labels += [c] * len(files)
        super().__init__(f"folder-{root.resolve().name}", root, paths, labels, [d.name.replace("_", " ") for d in dirs])


@DATASETS.register("folder", "any root/<class>/<image> tree", arg="/path")
def _folder(arg: str = "", limit: int | None = None) -> ListedImages:
    if not arg:
        raise SemclipError("folder datasets need a path: folder:/path/to/root")
    return spread_limit(ImageFolder(arg), limit)
