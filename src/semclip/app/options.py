"""Command-line options generated from config dataclasses: every field made with
``semclip.settings.setting`` (in the config or, recursively, in a sub-config that is itself
such a field) is one option, named by its ``flag`` or its field name, with its help and its
default taken from the field. ``build`` turns the options' values back into the config.

Lists are written comma-separated on the command line (``--snrs -10,0,10``) and as lists
or the same strings in experiment files; ``''`` means None for an optional value. A field's
``old`` switches become hidden, deprecated options that say the new name when used."""

from __future__ import annotations

import inspect
import types
from dataclasses import MISSING, dataclass, fields, is_dataclass, replace
from typing import Annotated, Any, Optional, Union, get_args, get_origin, get_type_hints

import typer

from semclip.errors import SemclipError
from semclip.progress import say


@dataclass(frozen=True)
class Option:
    """One command-line option: ``name`` (underscored; ``--name`` dashed), the config fields
    it sets (``paths``, several for a shared one such as ``seed``), their type and default."""

    name: str
    paths: tuple[tuple[str, ...], ...]
    kind: Any
    default: Any
    help: str
    old: tuple[tuple[str, Any], ...] = ()


def _default(f) -> Any:
    return f.default_factory() if f.default_factory is not MISSING else f.default


def _inner(kind: Any) -> tuple[Any, bool]:
    """``X | None`` -> (X, True); X -> (X, False)."""
    if get_origin(kind) in (Union, types.UnionType):
        args = [a for a in get_args(kind) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return kind, False


def options(cls: type, prefix: tuple[str, ...] = ()) -> list[Option]:
    """The options of config class ``cls``, in field order (sub-configs in place)."""
    out: dict[str, Option] = {}
    hints = get_type_hints(cls)
    for f in fields(cls):
        meta = f.metadata
        if "help" not in meta:
            continue  # not a user setting
        kind = hints[f.name]
        if is_dataclass(kind):
            rename = meta["rename"]
            subs = [replace(o, name=rename.get(o.name, o.name)) for o in options(kind, prefix + (f.name,))
                    if rename.get(o.name, o.name) is not None]
        else:
            subs = [Option(meta["flag"] or f.name, (prefix + (f.name,),), kind, _default(f), meta["help"], tuple(meta["old"].items()))]
        for opt in subs:
            if opt.name in out:
                have = out[opt.name]
                if have.default != opt.default:
                    raise TypeError(f"option --{opt.name} is declared twice with different defaults ({have.paths}, {opt.paths})")
                opt = Option(opt.name, have.paths + opt.paths, have.kind, have.default, have.help, have.old + opt.old)
            out[opt.name] = opt
    return list(out.values())


def _shown(opt: Option) -> Any:
    """The default as the command line writes it."""
    kind, _ = _inner(opt.kind)
    if get_origin(kind) is list:
        return "" if opt.default is None else ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in opt.default)
    if kind is str and opt.default is None:
        return ""
    return opt.default


def _cli_type(opt: Option) -> Any:
    kind, optional = _inner(opt.kind)
    if get_origin(kind) is list or kind is str:
        return str  # comma-separated, or '' for None
    return Optional[kind] if optional else kind


def parameters(opts: list[Option]) -> list[inspect.Parameter]:
    """Keyword parameters for a typer command, one per option and one hidden per old switch."""
    out = []
    for opt in opts:
        ann = Annotated[_cli_type(opt), typer.Option(help=opt.help)]
        out.append(inspect.Parameter(opt.name, inspect.Parameter.KEYWORD_ONLY, default=_shown(opt), annotation=ann))
        for old, _ in opt.old:
            ann = Annotated[bool, typer.Option(hidden=True, help=f"Deprecated: use --{opt.name.replace('_', '-')}.")]
            out.append(inspect.Parameter(old, inspect.Parameter.KEYWORD_ONLY, default=False, annotation=ann))
    return out


def _parse(opt: Option, value: Any) -> Any:
    """A command-line (or experiment-file) value -> the field's type."""
    kind, optional = _inner(opt.kind)
    flag = "--" + opt.name.replace("_", "-")
    if isinstance(value, str) and (get_origin(kind) is list or kind is str):
        if value.strip() == "" and optional:
            return None
        if get_origin(kind) is list:
            return parse_list(value, get_args(kind)[0], flag, _shown(opt) or "1,2")
    return value


def parse_list(text: str, item: type, flag: str, like: str = "1,2") -> list:
    """"-10,0,10" -> [-10.0, 0.0, 10.0] (``item`` each), with a one-line error naming the bad
    item and showing ``like``, a valid value."""
    out = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        try:
            out.append(item(part))
        except ValueError:
            if item is int:
                raise SemclipError(f"{flag}: give comma-separated integers like {like}, not {text!r}") from None
            raise SemclipError(f"{flag}: {part!r} is not a number (give a comma-separated list like {like})") from None
    return out


def build(cls: type, opts: list[Option], values: dict[str, Any]) -> Any:
    """The config ``cls`` with every option's value set (old switches mapped, with a note)."""
    given: dict[tuple[str, ...], Any] = {}
    for opt in opts:
        value = _parse(opt, values[opt.name])
        for old, new_value in opt.old:
            if values.get(old):
                say(f"[yellow]--{old.replace('_', '-')} is deprecated: use --{opt.name.replace('_', '-')} {new_value}[/]")
                value = new_value
        for path in opt.paths:
            given[path] = value
    return _make(cls, (), given)


def _make(cls: type, prefix: tuple[str, ...], given: dict[tuple[str, ...], Any]) -> Any:
    kwargs = {}
    hints = get_type_hints(cls)
    for f in fields(cls):
        path = prefix + (f.name,)
        if path in given:
            kwargs[f.name] = given[path]
        elif is_dataclass(hints[f.name]) and any(p[: len(path)] == path for p in given):
            kwargs[f.name] = _make(hints[f.name], path, given)
    return cls(**kwargs)
