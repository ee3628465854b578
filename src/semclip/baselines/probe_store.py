"""Link-adaptation probes kept across runs.

A probe figure (the BLER of one link, channel and SNR on seeded random payloads) is
deterministic, and a transmitter's link adaptation needs hundreds of them: measuring them
is about a third of a cold ``--quick`` run. Real link adaptation reads such figures from
tables made offline by link-level simulation; so do we:

- every figure measured is written to the cache (``links/<digest>.json``, one small file
  each, atomic), so no later run measures it again;
- the figures of the default main job (which include ``--quick``'s) ship inside semclip
  (``shipped/links/bler-probes.json``), made by ``scripts/ship_artefacts.py`` with the same
  code, and used only when this run may take shipped files (not under ``--no-shipped``)
  and its torch, Sionna and numba versions are the table's (else the run measures its own).

A figure is found by its probe id: everything that decides it (``adaptation.probe_id``).
"""

from __future__ import annotations

import hashlib
import json
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from semclip import artefacts
from semclip._io import atomic_write_json, cache_dir
from semclip.progress import say

TABLE = "links/bler-probes.json"
WHAT = "link-adaptation probes (BLER table)"


def versions() -> dict[str, str]:
    """The packages a probe figure depends on beyond semclip's own code: torch draws the
    payloads and noise, Sionna encodes, numba compiles the decoder."""
    out = {}
    for pkg in ("torch", "sionna-no-rt", "numba"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "missing"
    return out


def _path(probe: str) -> Path:
    return cache_dir() / "links" / f"{hashlib.sha1(probe.encode()).hexdigest()[:20]}.json"


def lookup(probe: str) -> float | None:
    """The figure of ``probe`` from the cache, else from the shipped table; None when
    neither has it."""
    path = _path(probe)
    if path.is_file():
        try:
            got = json.loads(path.read_text())
            if got.get("probe") == probe:
                return float(got["bler"])
        except (ValueError, KeyError, TypeError):  # a foreign or damaged file: measured again and rewritten
            pass
    table = shipped_table()
    if probe in table:
        artefacts.note(WHAT, TABLE, "shipped", artefacts.SHIPPED / TABLE)
        return table[probe]
    return None


def keep(probe: str, bler: float) -> None:
    """Write a measured figure to the cache."""
    atomic_write_json(_path(probe), {"probe": probe, "bler": bler})


def cached() -> dict[str, float]:
    """Every figure in this cache: {probe id: BLER} (what ``scripts/ship_artefacts.py`` ships)."""
    out = {}
    for f in sorted((cache_dir() / "links").glob("*.json")):
        try:
            got = json.loads(f.read_text())
            out[got["probe"]] = float(got["bler"])
        except (ValueError, KeyError, TypeError):  # a damaged file: not a figure (a run measures it again)
            continue
    return out


_table: dict[str, float] | None = None


def shipped_table() -> dict[str, float]:
    """The shipped figures, or {} when this run may not take shipped files, or the table was
    made with other versions of torch, Sionna or numba (one line says so)."""
    global _table
    if not artefacts.shipped_enabled():
        return {}
    if _table is None:
        _table = {}
        path = artefacts.SHIPPED / TABLE
        if path.is_file():
            doc = json.loads(path.read_text())
            if doc.get("versions") == versions():
                _table = {k: float(v) for k, v in doc["probes"].items()}
            else:
                say(f"[yellow]note:[/] the shipped link-adaptation probes were measured with {doc.get('versions')}, this run has "
                    f"{versions()}: it measures its own")
    return _table
