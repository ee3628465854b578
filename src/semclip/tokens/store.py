"""Token caches read on demand: ImageNet-scale token sets without holding them in memory.

A token cache is a safetensors file (``tokens`` [N, d] float32, ``ok`` [N] uint8). A
``TokenStore`` maps the ``tokens`` bytes of one or more such files with numpy's memmap and
copies out only the rows asked for: ``store[idx]`` (an index tensor or a slice) returns
those rows as a float32 tensor, so a training loop or a sweep holds one batch, whatever N.
Each read maps the file afresh and unmaps it after the copy, so pages it touched do not
stay resident in this process (a long-lived mapping would grow the resident set towards
the file's size as random batches touch it).
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from semclip.errors import SemclipError


def _tensor_region(path: Path, name: str) -> tuple[int, tuple[int, ...], str]:
    """(byte offset, shape, dtype) of tensor ``name`` inside a safetensors file."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
    if name not in header:
        raise SemclipError(f"{path} holds no tensor {name!r}: not a token cache")
    info = header[name]
    return 8 + n + info["data_offsets"][0], tuple(info["shape"]), info["dtype"]


class _Part:
    """One cache file: its readable rows and a way to read them."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.offset, shape, dtype = _tensor_region(self.path, "tokens")
        if dtype != "F32" or len(shape) != 2:
            raise SemclipError(f"{path}: tokens must be float32 [N, d], found {dtype} {list(shape)}")
        self.n, self.dim = shape
        try:
            ok_at, ok_shape, _ = _tensor_region(self.path, "ok")
            ok = np.fromfile(self.path, dtype=np.uint8, count=ok_shape[0], offset=ok_at).astype(bool)
        except SemclipError:  # caches of older versions: every row readable
            ok = np.ones(self.n, dtype=bool)
        self.rows = np.flatnonzero(ok)  # the readable rows, in order

    def read(self, rows: np.ndarray) -> np.ndarray:
        """File rows (sorted, any count) -> [len(rows), d] float32, copied."""
        mm = np.memmap(self.path, dtype=np.float32, mode="r", offset=self.offset, shape=(self.n, self.dim))
        try:
            if rows.size and (np.diff(rows) == 1).all():  # a run of rows: one sequential copy
                return np.array(mm[rows[0] : rows[-1] + 1])
            return np.asarray(mm[rows])  # fancy indexing copies already
        finally:
            del mm  # unmapped here: its pages leave this process's resident set


class TokenStore:
    """The readable rows of one or more token caches, end to end, read on demand.

    ``shape`` is (M, d), M the readable rows; ``store[i]`` takes a 1-D index tensor or a
    slice and returns float32 rows [n, d] on the CPU; ``chunks(n)`` walks it in order."""

    def __init__(self, paths: list[Path]) -> None:
        if not paths:
            raise SemclipError("a token store needs at least one cache file")
        self.parts = [_Part(p) for p in paths]
        dims = {p.dim for p in self.parts}
        if len(dims) != 1:
            raise SemclipError(f"token caches of different sizes {sorted(dims)} cannot form one store")
        self.dim = dims.pop()
        self.starts = np.cumsum([0] + [len(p.rows) for p in self.parts])

    @property
    def shape(self) -> torch.Size:
        return torch.Size((int(self.starts[-1]), self.dim))

    def __len__(self) -> int:
        return int(self.starts[-1])

    def __getitem__(self, index: torch.Tensor | slice) -> torch.Tensor:
        if isinstance(index, slice):
            idx = np.arange(len(self))[index]
        else:
            idx = np.asarray(torch.as_tensor(index).cpu(), dtype=np.int64).reshape(-1)
            if idx.size and (idx.min() < -len(self) or idx.max() >= len(self)):
                raise SemclipError(f"row index out of range for a store of {len(self)} rows")
            idx = np.where(idx < 0, idx + len(self), idx)
        out = np.empty((idx.size, self.dim), dtype=np.float32)
        which = np.searchsorted(self.starts, idx, side="right") - 1
        for p in np.unique(which):
            sel = np.flatnonzero(which == p)
            file_rows = self.parts[p].rows[idx[sel] - self.starts[p]]
            order = np.argsort(file_rows, kind="stable")  # sorted reads: sequential pages
            out[sel[order]] = self.parts[p].read(file_rows[order])
        return torch.from_numpy(out)

    def chunks(self, size: int = 16384) -> Iterator[torch.Tensor]:
        """The rows in order, ``size`` at a time."""
        for lo in range(0, len(self), size):
            yield self[lo : lo + size]

    def materialize(self) -> torch.Tensor:
        """All rows in memory [M, d] (for small sets)."""
        return self[:]
