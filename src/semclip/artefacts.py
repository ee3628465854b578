"""Where a trained artefact comes from: the user's cache, the package, or training now.

Every trained part of the main job (token codecs, the PCA code, token-digital's
quantisers, the image DeepJSCC, receiver prompts) is named by what made it: a key over
the backbone's fingerprint, the training data's content id and the training settings. It
is looked up under that name first in ``$SEMCLIP_CACHE`` ("cached"), then among the files
shipped inside the package (``semclip/shipped``, "shipped"), and only then trained
("trained") and written to the cache. A shipped file therefore serves exactly the recipe
that made it: another backbone, data version or setting has another name and is trained.
``scripts/ship_artefacts.py`` regenerates the shipped files and checks them.

Each lookup is noted, so a run can say where every part it used came from.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from semclip.digest import json_digest
from semclip._io import cache_dir

SHIPPED = Path(__file__).parent / "shipped"
Origin = Literal["cached", "shipped", "trained"]
T = TypeVar("T")
_use_shipped = True
_noted: dict[str, "Used"] = {}


@dataclass(frozen=True)
class Used:
    """One artefact a run used: what it is, its name under the cache, where it came from."""

    what: str
    name: str
    origin: Origin
    path: str


def use_shipped(flag: bool) -> None:
    """Whether lookups may take the package's shipped files (off: everything is cached or
    trained, which is how the shipped files are regenerated)."""
    global _use_shipped
    _use_shipped = bool(flag)


def shipped_enabled() -> bool:
    """Whether this run may take what the package ships (``use_shipped``)."""
    return _use_shipped


def find(name: str, what: str) -> Path | None:
    """The artefact called ``name`` (a path relative to the cache, e.g. ``jscc/x.safetensors``):
    the cached file, else the shipped one (noted under ``what`` with where it was found),
    else None (``obtain`` then trains it)."""
    for origin, root in (("cached", cache_dir()), ("shipped", SHIPPED if _use_shipped else None)):
        if root is not None and (root / name).is_file():
            note(what, name, origin, root / name)
            return root / name
    return None


def name(folder: str, stem: str, recipe: Any) -> str:
    """An artefact's name: ``folder/stem-<digest of recipe>.safetensors``, the recipe being
    everything that made it (JSON-able: fingerprints, content ids, settings)."""
    key = json_digest(recipe, 12, sort_keys=True)
    return f"{folder}/{stem}-{key}.safetensors"


def obtain(name: str, what: str, load: Callable[[Path], T], make: Callable[[Path], T], log=print) -> tuple[T, Path]:
    """The artefact ``name``: ``load``-ed from the cache or the package when there, else
    ``make``-d now (which trains it and writes it to the path it is given, in the cache).
    Says where it came from through ``log``; returns it with its file."""
    first = name not in _noted
    path = find(name, what)
    if path is not None:
        if first:
            log(f"{what}: {origin_of(name)} ({path})")
        return load(path), path
    path = cache_path(name)
    got = make(path)
    note(what, name, "trained", path)
    return got, path


def cache_path(name: str) -> Path:
    """Where a newly trained artefact called ``name`` is written."""
    return cache_dir() / name


def note(what: str, name: str, origin: Origin, path: Path) -> None:
    """Record that this run used ``name`` from ``origin`` (the first use of a name counts)."""
    _noted.setdefault(name, Used(what, name, origin, str(path)))  # the first use says where it came from


def used() -> list[dict]:
    """Every artefact noted since ``reset()``, in the order first seen."""
    return [asdict(u) for u in _noted.values()]


def reset() -> None:
    _noted.clear()


def origin_of(name: str) -> Origin | None:
    """Where the artefact ``name`` came from in this run (None: not looked up yet)."""
    return _noted[name].origin if name in _noted else None
