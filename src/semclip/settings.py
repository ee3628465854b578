"""Settings declared once: a dataclass field made with ``setting`` carries its help text
(and, where the command line spells it otherwise, its flag name and the flags it replaced),
so the command line and the experiment-file schema are generated from the config classes
themselves (``semclip.app.options``) and no default or help is written twice."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import MISSING, field
from typing import Any


def setting(default: Any = MISSING, *, help: str, factory: Callable[[], Any] | None = None, flag: str | None = None,
            old: dict[str, Any] | None = None, shared: bool = False, rename: dict[str, str | None] | None = None) -> Any:
    """A dataclass field that is a user setting: ``help`` is its one-line doc; ``flag`` its
    command-line name when not the field's own (``snrs_db`` -> ``--snrs``); ``old``: the
    switches it replaced, each a deprecated alias that sets the value given
    (``{"mcs_oracle": "oracle"}``: ``--mcs-oracle`` sets ``oracle``); ``shared``: several fields take one flag's value
    (``--seed`` seeds the codec, the prompts and the noise alike); ``rename`` (on a field that
    holds a sub-config): its flags as this command names them, None to leave one out
    (``semclip eval`` calls the prompts' ``prompt_steps`` plain ``steps``)."""
    meta = {"help": help, "flag": flag, "old": old or {}, "shared": shared, "rename": rename or {}}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)
