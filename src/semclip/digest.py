"""Content digests: the one way semclip names a thing by what it is made of (cache files,
partial checkpoints, record keys, shipped artefacts). Two helpers, because two kinds of
content occur: settings that are plain JSON (``json_digest``, SHA-1, short) and content that
holds tensors or modules (``content_digest``, SHA-256 over their bytes)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, is_dataclass

import torch

from semclip._io import hash_tensor


def json_digest(obj: object, length: int = 16, sort_keys: bool = False) -> str:
    """The first ``length`` hex digits of SHA-1 over ``obj`` as JSON (non-JSON values by
    ``str``). Keys named this way before the helper existed are unchanged: they were made by
    exactly this expression (``sort_keys`` as they had it)."""
    return hashlib.sha1(json.dumps(obj, sort_keys=sort_keys, default=str).encode()).hexdigest()[:length]


def text_digest(data: str | bytes, length: int | None = None) -> str:
    """SHA-1 hex digest of a string (UTF-8) or bytes, its first ``length`` digits: file
    contents, key strings and the other non-JSON things a cache is named by."""
    return hashlib.sha1(data.encode() if isinstance(data, str) else data).hexdigest()[:length]


def content_digest(*parts: object, salt: str = "") -> str:
    """SHA-256 over ``salt`` and then tensors (dtype, shape, bytes), modules (their state:
    names and tensors; a prompt learner's frozen backbone by its fingerprint), dataclasses and
    JSON-able values."""
    h = hashlib.sha256(salt.encode())
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
