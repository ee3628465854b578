"""Experiment files: one YAML or TOML file whose sections are commands (``[demo]``,
``[train]``, ``[eval]``, ``[extract]`` ...) and whose keys are exactly those commands' flags.

The schema is generated from the command signatures, so every CLI flag is a field and a
new flag needs no second declaration. Files are validated with pydantic on load: an unknown
section or key is an error that names it (with the nearest valid name), never ignored.
Flags given on the command line win over the file; the file wins over the defaults.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Optional, get_args, get_origin

import typer
from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from semclip.errors import SemclipError

COMMANDS: dict[str, Callable[..., Any]] = {}  # command name -> the undecorated function
_SKIP = {"config"}  # parameters that are not experiment settings


def _fields(fn: Callable[..., Any]) -> dict[str, tuple[Any, Any]]:
    out = {}
    for name, p in inspect.signature(fn, eval_str=True).parameters.items():
        if name in _SKIP:
            continue
        ann = p.annotation
        if get_origin(ann) is Annotated:
            ann = get_args(ann)[0]
        out[name] = (ann, p.default)
    return out


@functools.cache
def schema(command: str) -> type[BaseModel]:
    """The pydantic model of one command's settings (unknown keys forbidden)."""
    return create_model(
        f"{command.title()}Config", __config__=ConfigDict(extra="forbid", arbitrary_types_allowed=True), **_fields(COMMANDS[command])
    )


def _suggest(word: str, options: list[str]) -> str:
    near = difflib.get_close_matches(word, options, n=1)
    return f"; did you mean {near[0]!r}?" if near else ""


def read_file(path: Path) -> dict[str, dict[str, Any]]:
    """A config file as {command: {key: value}}, keys with dashes turned into underscores."""
    path = Path(path)
    if not path.is_file():
        raise SemclipError(f"config file not found: {path}")
    text = path.read_text()
    try:
        if path.suffix == ".toml":
            data = tomllib.loads(text)
        elif path.suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text) or {}
        else:
            raise SemclipError(f"{path}: config files are .toml, .yaml or .yml")
    except (tomllib.TOMLDecodeError, ValueError) as exc:
        raise SemclipError(f"{path} is not valid {path.suffix[1:].upper()}: {exc}") from exc
    except Exception as exc:  # yaml.YAMLError without importing yaml up front
        if exc.__class__.__module__.startswith("yaml"):  # one line: the problem and where (PyYAML's own message spans several)
            mark = getattr(exc, "problem_mark", None)
            at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
            raise SemclipError(f"{path} is not valid YAML: {getattr(exc, 'problem', None) or str(exc).splitlines()[0]}{at}") from exc
        raise
    if not isinstance(data, dict):
        raise SemclipError(f"{path}: expected sections named after commands ({', '.join(sorted(COMMANDS))})")
    out = {}
    for section, values in data.items():
        if section not in COMMANDS:
            raise SemclipError(f"{path}: unknown section [{section}]{_suggest(section, list(COMMANDS))} (sections are commands: {', '.join(sorted(COMMANDS))})")
        if not isinstance(values, dict):
            raise SemclipError(f"{path}: [{section}] must hold key = value settings")
        out[section] = {str(k).replace("-", "_"): v for k, v in values.items()}
    return out


def _joined(annotation: Any, value: Any) -> Any:
    """A YAML/TOML list for a comma-separated flag (``snrs``, ``channels``, ``learners``...)
    becomes the string the flag takes: ``[-10, 0, 10]`` -> ``"-10,0,10"``."""
    if (annotation is str or str in get_args(annotation)) and isinstance(value, list):  # str or Optional[str]
        return ",".join(str(v) for v in value)
    return value


def validate(command: str, values: dict[str, Any], where: str) -> dict[str, Any]:
    """Values checked against the command's schema -> every setting, defaults filled in."""
    fields = list(schema(command).model_fields)
    for key in values:
        if key not in fields:
            raise SemclipError(f"{where}: unknown key {key!r} for `semclip {command}`{_suggest(key, fields)} (valid keys: {', '.join(fields)})")
    values = {k: _joined(schema(command).model_fields[k].annotation, v) for k, v in values.items()}
    try:
        model = schema(command)(**values)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise SemclipError(f"{where}: {problems}") from None
    return {name: getattr(model, name) for name in fields}


def resolve(command: str, file: Path | None, given: dict[str, Any], from_cli: set[str]) -> dict[str, Any]:
    """Settings for one run: command-line flags, then the file's [command] section, then defaults."""
    sections = read_file(file) if file else {}
    for name, values in sections.items():  # a typo in any section is caught, not only in this one
        if name != command:
            validate(name, values, f"{file} [{name}]")
    if file and command not in sections:
        raise SemclipError(f"{file} has no {command} section (it has: {', '.join(sections) or 'none'})")
    section = sections.get(command, {})
    merged = dict(section)
    merged |= {k: v for k, v in given.items() if k in from_cli or k not in section}
    return validate(command, merged, f"{file} [{command}]" if file else f"semclip {command}")


def configurable(command: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Give a typer command a ``--config FILE`` option whose [command] section fills in every
    flag not given on the command line."""

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        COMMANDS[command] = fn

        @functools.wraps(fn)
        def run(ctx: typer.Context, config: Optional[Path] = None, **kwargs: Any) -> Any:
            # by name: typer may carry its own copy of click's ParameterSource enum
            sources = {name: ctx.get_parameter_source(name) for name in kwargs}
            from_cli = {name for name, src in sources.items() if src is not None and src.name not in ("DEFAULT", "DEFAULT_MAP")}
            settings = resolve(command, config, kwargs, from_cli)
            if "device" in settings:  # one device for the whole run, chosen before anything is built
                from semclip.device import select

                select(settings["device"], settings.get("precision", "fp32"), settings.get("engine", "auto"), settings.get("workers"))
            return fn(**settings)

        sig = inspect.signature(fn, eval_str=True)  # typer needs the real Annotated types
        extra = [
            inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context),
            inspect.Parameter(
                "config",
                inspect.Parameter.KEYWORD_ONLY,
                default=None,
                annotation=Annotated[
                    Optional[Path],
                    typer.Option(help=f"YAML or TOML experiment file: its {command} section sets every flag not given here."),
                ],
            ),
        ]
        params = [extra[0], *[p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in sig.parameters.values()], extra[1]]
        run.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
        run.__annotations__ = {p.name: p.annotation for p in params}
        return run

    return wrap


def hidden(command: str) -> set[str]:
    """The command's hidden options (the deprecated aliases of renamed flags)."""
    out = set()
    for name, p in inspect.signature(COMMANDS[command], eval_str=True).parameters.items():
        meta = get_args(p.annotation)[1:] if get_origin(p.annotation) is Annotated else ()
        if any(getattr(m, "hidden", False) for m in meta):
            out.add(name)
    return out


def _plain(value: Any) -> Any:
    """Paths (also inside lists) as strings, so the YAML reads back."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def show(file: Path | None, commands: list[str]) -> str:
    """The resolved settings of ``commands`` (default: the file's sections) as YAML, which
    ``--config`` reads back."""
    import yaml

    sections = read_file(file) if file else {}
    names = commands or list(sections) or sorted(COMMANDS)
    out = {}
    for name in names:
        if name not in COMMANDS:
            raise SemclipError(f"unknown command {name!r}{_suggest(name, list(COMMANDS))}; choose from {', '.join(sorted(COMMANDS))}")
        values = validate(name, sections.get(name, {}), f"{file} [{name}]" if file else name)
        old = hidden(name)  # deprecated aliases: an unused one is not a setting
        out[name] = {k: _plain(v) for k, v in values.items() if k not in old or v}
    return yaml.safe_dump(out, sort_keys=False, allow_unicode=True)
