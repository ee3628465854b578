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

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from semclip import artefacts
from semclip._io import atomic_write_json, cache_dir
from semclip.progress import say
from semclip.results import package_versions
from semclip.digest import text_digest

TABLE = "links/bler-probes.json"
WHAT = "link-adaptation probes (BLER table)"
Source = Literal["cache", "shipped"]


def versions() -> dict[str, str]:
    """The packages a probe figure depends on beyond semclip's own code: torch draws the
    payloads and noise, Sionna encodes, numba compiles the decoder."""
    return package_versions(("torch", "sionna-no-rt", "numba"), missing="missing")


def _path(probe: str) -> Path:
    return cache_dir() / "links" / f"{text_digest(probe, 20)}.json"


def lookup(probe: str) -> tuple[float, Source] | None:
    """The figure of ``probe`` and where it came from: the cache, else the shipped table;
    None when neither has it."""
    path = _path(probe)
    if path.is_file():
        try:
            got = json.loads(path.read_text())
            if got.get("probe") == probe:
                return float(got["bler"]), "cache"
        except (ValueError, KeyError, TypeError):  # a foreign or damaged file: measured again and rewritten
            pass
    table = shipped_table()
    if probe in table:
        return table[probe], "shipped"
    return None


_table_uses = 0


def note_table() -> None:
    """A figure of the shipped table decided something: the run lists the table among its parts."""
    global _table_uses
    _table_uses += 1
    artefacts.note(WHAT, TABLE, "shipped", artefacts.SHIPPED / TABLE)


def _marker(records: Path) -> Path:
    return records.with_name(f"{records.stem}.parts.json")


@contextmanager
def recorded(records: Path) -> Iterator[None]:
    """Around computing the records cached at ``records``: when figures of the shipped table
    decided them, say so beside them (``<name>.parts.json``), so that a run reading them back
    lists the table too, as it lists the trained parts that made them."""
    before = _table_uses
    yield
    if _table_uses > before:
        atomic_write_json(_marker(records), [TABLE])
    else:
        _marker(records).unlink(missing_ok=True)


def replay(records: Path) -> None:
    """Records cached at ``records`` are read back: list the table if it decided them."""
    if _marker(records).is_file():
        note_table()


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
