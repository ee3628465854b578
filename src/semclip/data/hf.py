"""Any Hugging Face ``datasets`` image-classification set: ``hf:<hub id or saved folder>[:split]``.

The image column is the one of type ``Image``; the label column is ``fine_label``, ``label``
or the only ``ClassLabel``, whose names (cleaned: underscores to spaces) become the classes.
A folder written by ``Dataset.save_to_disk`` is read with ``load_from_disk``; a hub id with
``load_dataset`` (cached by ``datasets``; offline machines need it in that cache)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from semclip.data.base import LabelledImages
from semclip.data.base import DATASETS
from semclip.data.benchmarks import clean_classname
from semclip.errors import SemclipError

LABEL_PREFERENCE = ("fine_label", "label", "labels")


def _load(source: str, split: str):
    try:
        import datasets
    except ImportError as exc:
        raise SemclipError("hf: datasets need the `datasets` package: pip install 'semclip[hf]'") from exc
    try:
        if Path(source).is_dir():
            ds = datasets.load_from_disk(source)
            if isinstance(ds, datasets.DatasetDict):
                if split not in ds:
                    raise SemclipError(f"{source} has splits {sorted(ds)}, not {split!r}")
                ds = ds[split]
            return ds
        return datasets.load_dataset(source, split=split)
    except SemclipError:
        raise
    except Exception as exc:  # datasets raises many types for a missing/unreachable set
        raise SemclipError(f"could not load Hugging Face dataset {source!r} split {split!r}: {exc}") from exc


class HFImages(LabelledImages):
    def __init__(self, source: str, split: str = "test", limit: int | None = None) -> None:
        import datasets

        ds = _load(source, split)
        if limit is not None and limit < len(ds):  # spread over the set: some are stored class by class
            ds = ds.select([i * len(ds) // limit for i in range(limit)])
        image_cols = [c for c, f in ds.features.items() if isinstance(f, datasets.Image)]
        label_cols = [c for c, f in ds.features.items() if isinstance(f, datasets.ClassLabel)]
        if len(image_cols) != 1:
            raise SemclipError(f"{source}: expected one Image column, found {image_cols or 'none'} in {list(ds.features)}")
        label = next((c for c in LABEL_PREFERENCE if c in label_cols), label_cols[0] if len(label_cols) == 1 else None)
        if label is None:
            raise SemclipError(f"{source}: no ClassLabel column to use as label (columns {list(ds.features)})")
        self._ds = ds
        self._image_col = image_cols[0]
        self.classes = [clean_classname(n) for n in ds.features[label].names]
        self._labels = np.asarray(ds[label], dtype=np.int64)
        self.name = f"hf-{Path(source).name if Path(source).is_dir() else source.replace('/', '_')}-{split}"
        self._fingerprint = getattr(ds, "_fingerprint", "")

    def __len__(self) -> int:
        return len(self._ds)

    def image(self, i: int) -> Image.Image:
        try:
            return self._ds[int(i)][self._image_col]
        except (OSError, ValueError, SyntaxError) as exc:
            raise SemclipError(f"cannot read image {i} of {self.name}: {exc}") from exc

    @property
    def cache_id(self) -> str:
        return f"{self.name}-n{len(self)}-{self._fingerprint[:12]}"


@DATASETS.register("hf", "a Hugging Face `datasets` image-classification set, by hub id or save_to_disk folder",
                   arg="<hub id or folder>[:split]")
def _hf(arg: str = "", limit: int | None = None) -> HFImages:
    if not arg:
        raise SemclipError("hf datasets need a path or id: hf:/path/to/root")
    source, _, split = arg.rpartition(":") if ":" in arg else (arg, "", "test")
    return HFImages(source, split or "test", limit)
