"""One registry mechanism for everything semclip makes by name: backbones, channels,
datasets, prompt learners and baselines. A name is a spec ``family[:arg]``: the family picks
an entry, the argument (``""`` when absent) goes to the entry's factory, which checks it.

An entry registers itself in its own file, with a one-line doc that ``semclip list`` prints::

    from semclip.channels import CHANNELS

    @CHANNELS.register("erasure", "erasure:<p>: each symbol lost with probability p", arg="<p>")
    def make_erasure(arg, generator=None):
        return Erasure(float(arg or 0.1), generator)

Each registry names the modules that register the built-in entries (``builtins``): they are
imported on first use, so an entry's file never imports the registry's lookup module. A
module outside semclip adds entries the same way; it is imported by the user's own code, or
for the command line named in ``$SEMCLIP_PLUGINS`` or declared as an entry point of the
``semclip.plugins`` group (``load_plugins``).
"""

from __future__ import annotations

import difflib
import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from semclip.errors import SemclipError

T = TypeVar("T")
PLUGINS_ENV = "SEMCLIP_PLUGINS"  # comma-separated modules that register entries, imported on first use
ENTRY_POINTS = "semclip.plugins"  # the same, declared by an installed package (pyproject [project.entry-points])
_plugins_loaded = False


def load_plugins() -> None:
    """Import the modules named by ``$SEMCLIP_PLUGINS`` and by installed packages' entry points
    in the ``semclip.plugins`` group, once: how entries from outside semclip reach the
    command line."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    from importlib.metadata import entry_points

    names = [m.strip() for m in os.environ.get(PLUGINS_ENV, "").split(",") if m.strip()]
    names += [ep.value.split(":")[0] for ep in entry_points(group=ENTRY_POINTS)]
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise SemclipError(f"semclip plugin {name!r} (from ${PLUGINS_ENV} or an entry point) cannot be imported: {exc}") from exc


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered family: ``factory(arg, **kwargs)`` makes it; ``doc`` is its line in
    ``semclip list``; ``arg`` says what may follow ``family:`` ("" for nothing)."""

    name: str
    factory: Callable[..., T]
    doc: str
    arg: str = ""
    module: str = ""  # where it is registered: built-in entries are listed in ``builtins`` order

    @property
    def usage(self) -> str:
        return f"{self.name}[:{self.arg}]" if self.arg else self.name


class Registry(Generic[T]):
    """Families of one kind (``kind`` names it in errors), by name."""

    def __init__(self, kind: str, builtins: tuple[str, ...] = (), hint: str = "") -> None:
        self.kind, self.builtins, self.hint = kind, builtins, hint
        self._entries: dict[str, Entry[T]] = {}
        self._loaded = False

    def _load(self, plugins: bool = True) -> None:
        if not self._loaded:
            self._loaded = True
            for module in self.builtins:
                importlib.import_module(module)
        if plugins:
            load_plugins()

    def add(self, name: str, factory: Callable[..., T], doc: str, arg: str = "", module: str | None = None) -> None:
        """Register ``factory`` as family ``name`` (``module``: where, by default the
        factory's); a name taken by another factory is refused."""
        if ":" in name or not name:
            raise SemclipError(f"a {self.kind} name is one word without ':', not {name!r}")
        old = self._entries.get(name)
        if old is not None and old.factory is not factory:
            raise SemclipError(f"{self.kind} {name!r} is registered already (by {getattr(old.factory, '__module__', '?')})")
        self._entries[name] = Entry(name, factory, doc, arg, module or getattr(factory, "__module__", ""))

    def register(self, name: str, doc: str, arg: str = "") -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator form of ``add``: returns the factory (or class) unchanged."""

        def wrap(factory: Callable[..., T]) -> Callable[..., T]:
            self.add(name, factory, doc, arg)
            return factory

        return wrap

    def entry(self, spec: str) -> tuple[Entry[T], str]:
        """``"family:arg"`` -> (its entry, ``arg``); an unknown family is one line naming the
        nearest known one and all of them."""
        self._load()
        family, _, arg = spec.partition(":")
        if family not in self._entries:
            near = difflib.get_close_matches(family, list(self._entries), n=1)
            guess = f"; did you mean {near[0]!r}?" if near else ""
            raise SemclipError(f"unknown {self.kind} {spec!r}{guess} (choose one of {', '.join(self.usages())}{self.hint})")
        return self._entries[family], arg

    def create(self, spec: str, **kwargs: Any) -> T:
        entry, arg = self.entry(spec)
        return entry.factory(arg, **kwargs)

    def __contains__(self, family: str) -> bool:
        self._load()
        return family in self._entries

    def entries(self, plugins: bool = True) -> list[Entry[T]]:
        """The built-in entries in ``builtins`` order (whatever order their modules were
        imported in), then the others as they were registered (``plugins``: load them first)."""
        self._load(plugins)
        rank = {m: i for i, m in enumerate(self.builtins)}
        return sorted(self._entries.values(), key=lambda e: rank.get(e.module, len(rank)))

    def names(self) -> list[str]:
        return [e.name for e in self.entries()]

    def builtin_names(self) -> list[str]:
        """The built-in families only (plugins not loaded): what a default may list, so that
        installing a plugin never changes a default run."""
        return [e.name for e in self.entries(plugins=False) if e.module in self.builtins]

    def usages(self) -> list[str]:
        """Each family as it is written: ``rayleigh[:mmse|zf|decoder|none]``."""
        return [e.usage for e in self.entries()]

    def docs(self) -> dict[str, str]:
        """usage -> one-line doc: what ``semclip list`` prints."""
        return {e.usage: e.doc for e in self.entries()}
