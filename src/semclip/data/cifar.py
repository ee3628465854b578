"""CIFAR-10 and CIFAR-100 from the *binary* release (``cifar-10-batches-bin/``,
``cifar-100-binary/``): fixed-size records, read without unpickling anything (the Python
release is pickles, which semclip never loads). Or use ``hf:uoft-cs/cifar10``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from semclip.data.base import DATASETS, LabelledImages
from semclip.data.benchmarks import clean_classname, data_root
from semclip.errors import SemclipError

PIXELS = 32 * 32 * 3
LAYOUT = {
    # name: (folder, {split: files}, label bytes per record, label byte used, class-name file)
    "cifar10": ("cifar-10-batches-bin", {"train": [f"data_batch_{i}.bin" for i in range(1, 6)], "test": ["test_batch.bin"]}, 1, 0, "batches.meta.txt"),
    "cifar100": ("cifar-100-binary", {"train": ["train.bin"], "test": ["test.bin"]}, 2, 1, "fine_label_names.txt"),
}
OBTAIN = {
    "cifar10": "cifar-10-binary.tar.gz from cs.toronto.edu/~kriz/cifar.html, unpacked (or hf:uoft-cs/cifar10)",
    "cifar100": "cifar-100-binary.tar.gz from cs.toronto.edu/~kriz/cifar.html, unpacked (or hf:uoft-cs/cifar100)",
}


class CIFAR(LabelledImages):
    def __init__(self, name: str = "cifar10", split: str = "test", root: str | Path | None = None, limit: int | None = None) -> None:
        folder_name, files, label_bytes, which, names_file = LAYOUT[name]
        if split not in files:
            raise SemclipError(f"{name} has splits {sorted(files)}, not {split!r}")
        folder = data_root(root) / folder_name
        if not folder.is_dir():
            raise SemclipError(f"{name} not found at {folder}; set $SEMCLIP_DATA to the folder holding {folder_name}/. To obtain it: {OBTAIN[name]}")
        record = label_bytes + PIXELS
        chunks = []
        for f in files[split]:
            path = folder / f
            if not path.is_file():
                raise SemclipError(f"{name}: {path} is missing ({OBTAIN[name]})")
            raw = np.fromfile(path, dtype=np.uint8)
            if raw.size == 0 or raw.size % record:
                raise SemclipError(f"{path} is {raw.size} bytes, not a whole number of {record}-byte CIFAR records: corrupt or the Python (pickle) release")
            chunks.append(raw.reshape(-1, record))
        data = np.concatenate(chunks)[:limit]
        classes_path = folder / names_file
        if not classes_path.is_file():
            raise SemclipError(f"{name}: {classes_path} is missing ({OBTAIN[name]})")
        self.classes = [clean_classname(c.strip()) for c in classes_path.read_text().splitlines() if c.strip()]
        self._labels = data[:, which].astype(np.int64)
        if self._labels.max() >= len(self.classes):
            raise SemclipError(f"{name}: label {self._labels.max()} but {classes_path.name} names {len(self.classes)} classes")
        absent = sorted(set(range(len(self.classes))) - set(self._labels.tolist()))
        if absent and limit is None:
            raise SemclipError(f"{name} {split}: classes {', '.join(self.classes[i] for i in absent[:5])} have no images: the files are incomplete")
        self._pixels = data[:, label_bytes:].reshape(-1, 3, 32, 32)
        self.name = f"{name}-{split}"

    def __len__(self) -> int:
        return self._pixels.shape[0]

    def image(self, i: int) -> Image.Image:
        return Image.fromarray(np.ascontiguousarray(self._pixels[i].transpose(1, 2, 0)))


def _register(key: str) -> None:
    def make(arg: str = "", limit: int | None = None) -> CIFAR:
        split, _, root = arg.partition("@")
        return CIFAR(key, split or "test", root or None, limit)

    DATASETS.add(key, make, f"{key.upper()} binary release under $SEMCLIP_DATA", arg="split[@root]")


for _key in LAYOUT:
    _register(_key)
