"""Records computed once: a sweep's records are a function of what went in (codec weights,
tokens, labels, the receiver's weights and classes, channels, SNRs, seed), so they are kept
on disk under a digest of exactly that content and read back on a rerun instead of being
recomputed. Keyed by content, not by names: a retrained codec, other tokens or another
receiver is another key. ``VERSION`` is part of every key: bump it when the sweep's
arithmetic changes."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

from pydantic import ValidationError

from semclip import digest
from semclip._io import atomic_write_json, cache_dir
from semclip.distributed import dist
from semclip.results import Record

VERSION = "records-v3"  # v2: records carry n and ci95; v3: fades shared by every method (common_gains)


def content_digest(*parts: object) -> str:
    """The digest a sweep's records are kept under (``semclip.digest.content_digest`` salted
    with ``VERSION``)."""
    return digest.content_digest(*parts, salt=VERSION)


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
