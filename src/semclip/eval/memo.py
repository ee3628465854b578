"""Records computed once: a sweep's records are a function of what went in (codec weights,
tokens, labels, the receiver's weights and classes, channels, SNRs, seed), so they are kept
on disk under a digest of exactly that content and read back on a rerun instead of being
recomputed. Keyed by content, not by names: a retrained codec, other tokens or another
receiver is another key. ``VERSION`` is part of every key: bump it when the sweep's
arithmetic changes."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, is_dataclass

import torch
from pydantic import ValidationError

from semclip._io import atomic_write_json, cache_dir, hash_tensor
from semclip.distributed import dist
from semclip.results import Record

VERSION = "records-v3"  # v2: records carry n and ci95; v3: fades shared by every method (common_gains)


def content_digest(*parts: object) -> str:
    """SHA-256 over tensors (dtype, shape, bytes), modules (their state: names and tensors;
    a prompt learner's frozen backbone by its fingerprint), dataclasses and JSON-able values."""
    h = hashlib.sha256(VERSION.encode())
    for p in parts:
        _feed(h, p)
    return h.hexdigest()


def _feed(h, p: object) -> None:
    if isinstance(p, torch.Tensor):
        hash_tensor(h, p, "T")
    elif isinstance(p, torch.nn.Module):
        h.update(f"M|{type(p).__module__}.{type(p).__qualname__}|".encode())
        backbone = p.__dict__.get("backbone")
        if backbone is not None and hasattr(backbone, "fingerprint"):
            h.update(backbone.fingerprint.encode())
        for name, t in p.state_dict().items():
            h.update(name.encode())
            _feed(h, t)
    elif is_dataclass(p) and not isinstance(p, type):
        _feed(h, asdict(p))
    elif isinstance(p, (list, tuple)):
        h.update(b"[")
        for q in p:
            _feed(h, q)
        h.update(b"]")
    else:
        h.update(json.dumps(p, sort_keys=True, default=str).encode())


def memo_records(kind: str, key: Sequence[object], compute: Callable[[], list[Record]]) -> list[Record]:
    """``compute()``'s records, from ``$SEMCLIP_CACHE/records`` when the same ``key`` content
    was computed before. Under several processes every process computes (the sweep's
    collectives need them all), so nothing is read or written there."""
    if dist().world > 1:
        return compute()
    path = cache_dir() / "records" / f"{kind}-{content_digest(*key)[:20]}.json"
    if path.exists():
        try:
            return [Record(**r) for r in json.loads(path.read_text())]
        except (OSError, ValueError, TypeError, ValidationError):
            pass  # a damaged file: compute again and overwrite it
    records = compute()
    atomic_write_json(path, [r.model_dump() for r in records])
    return records
