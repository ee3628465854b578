"""Atomic file writes and the cache folder: an interrupted run never leaves a
half-written file behind, so the next run can trust whatever it finds."""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from semclip.errors import SemclipError


def cache_dir() -> Path:
    """$SEMCLIP_CACHE, else $XDG_CACHE_HOME/semclip, else ~/.cache/semclip; the first call of
    a process for a folder removes the temporary files that killed writers left in it."""
    if os.environ.get("SEMCLIP_CACHE"):
        root = Path(os.environ["SEMCLIP_CACHE"])
    else:
        root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "semclip"
    if root not in _cleaned:
        _cleaned.add(root)
        clean_stale_tmp(root)
    return root


_cleaned: set[Path] = set()
_TMP = re.compile(r"^\..+\.(\d+)\.[^.]+\.tmp$")  # .<name>.<writer pid>.<random>.tmp


def clean_stale_tmp(root: str | Path) -> list[Path]:
    """Remove temporary files of ``atomic_write`` under ``root`` whose writer is no longer
    running (killed mid-write); files of a live writer (another run) are left alone."""
    removed = []
    root = Path(root)
    if not root.is_dir():
        return removed
    for f in root.rglob(".*.tmp"):
        m = _TMP.match(f.name)
        if m and not _alive(int(m.group(1))):
            f.unlink(missing_ok=True)
            removed.append(f)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temporary file in the same folder, then rename it over
    ``path`` (atomic on POSIX)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file normal permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    return atomic_write(path, lambda p: p.write_bytes(data))


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda p: p.write_text(text))


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2) + "\n")


def hash_tensor(h, t: "torch.Tensor", label: str) -> None:  # noqa: F821
    """Feed ``label|dtype|shape|`` and the tensor's bytes to the hashlib object ``h``: the one
    way semclip digests tensors (backbone fingerprints, record keys)."""
    import torch

    t = t.detach().cpu().contiguous()
    h.update(f"{label}|{t.dtype}|{tuple(t.shape)}|".encode())
    h.update(t.reshape(-1).view(torch.uint8).numpy())


def load_weights(model: "torch.nn.Module", path: str | Path, what: str, state: dict | None = None) -> None:  # noqa: F821
    """Load the safetensors weights at ``path`` (or ``state`` read from it) into ``model``; a
    file whose tensors do not fit is one sentence: "<path> does not match <what>: ..."."""
    from safetensors.torch import load_file

    try:
        model.load_state_dict(load_file(str(path)) if state is None else state)
    except RuntimeError as exc:
        raise SemclipError(f"{path} does not match {what}: {str(exc).splitlines()[0]}") from exc


def safetensors_meta(path: str | Path, what: str, kind: str | None = None, hint: str = "") -> dict[str, str]:
    """The metadata of the safetensors file at ``path``, read without its tensors; one sentence
    naming the file when it is missing (with ``hint``), unreadable, or not of ``kind``."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise SemclipError(f"no {what} at {path}" + (f": {hint}" if hint else ""))
    try:
        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError) as exc:
        raise SemclipError(f"cannot read {what} {path}: not a safetensors file ({str(exc).splitlines()[0][:200]})") from exc
    if kind is not None and meta.get("kind") != kind:
        raise SemclipError(f"{path} is not a semclip {what} (kind={meta.get('kind')!r})")
    return meta


@contextmanager
def checkpoint_errors(path: str | Path, what: str) -> Iterator[None]:
    """Turn what a damaged or foreign checkpoint raises while it is read (bad metadata JSON,
    a missing key, truncated tensors) into one sentence naming the file."""
    from safetensors import SafetensorError

    try:
        yield
    except (SafetensorError, json.JSONDecodeError, KeyError, TypeError, ValueError, OSError) as exc:
        reason = f"missing {exc}" if isinstance(exc, KeyError) else str(exc).splitlines()[0][:200]
        raise SemclipError(f"{path} is not a readable {what} (damaged, or written by another program): {reason}") from exc
