"""How the main job's configuration travels through the package: the way a new engineer
follows it when reading the code (issue 27).

    python benchmarks/config_path.py                      # `semclip demo --quick`, this checkout
    python benchmarks/config_path.py --src ../old/src     # the same for another checkout's package

It runs `semclip demo --quick` (output in a temporary folder; warm caches make it quick)
under a profile hook and records every call of a semclip function that receives the
configuration or a part of it: an argument (or ``self``) that is a dataclass of semclip
whose class name ends in ``Config`` (with ``--values``, also a list or dict such a
configuration holds: its SNRs, channels, methods ...). Each such call is linked to the nearest such call above
it, which gives the call tree of the configuration, with every distinct edge once (a loop
counts once, as reading the code does). Walking that tree depth first from the command
(children in the order they were first called) gives the sequence of files a reader visits:

- **files**: distinct files on the way;
- **returns**: steps into a file already visited earlier on the way (not the one just left);
- **climbs**: steps into a layer (``ground``, ``data``, ..., ``job``, ``app``, as in
  ``tests/test_layers.py``) already left earlier on the way.

Prints the counts and writes ``benchmarks/results/config_path[_values].json`` (with the
reading order of the functions).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GROUND = ("errors", "_io", "progress", "stopwatch", "resume", "stats", "results", "provenance", "artefacts", "device",
          "distributed", "digest", "training", "registry", "settings")
ORDER = ["ground", "data", "backbones", "tokens", "channels", "tasks", "jscc", "prompts", "baselines", "eval", "job", "app"]


def layer(module: str) -> str:
    parts = module.split(".")
    if len(parts) < 2:
        return "app"
    return "ground" if parts[1] in GROUND else parts[1]


VALUES: set[int] = set()  # ids of the lists and dicts held by a configuration seen so far (with --values)


def is_config(value) -> bool:
    cls = type(value)
    return dataclasses.is_dataclass(value) and not isinstance(value, type) and cls.__module__.startswith("semclip") \
        and cls.__name__.endswith("Config")


def remember(config) -> None:
    """The containers a configuration holds (its lists of SNRs, channels, methods ...):
    passing one of them on passes the configuration on."""
    for f in dataclasses.fields(config):
        value = getattr(config, f.name, None)
        if isinstance(value, (list, dict)) and value:
            VALUES.add(id(value))
        elif is_config(value):
            remember(value)


def carries_config(frame, values: bool) -> bool:
    code = frame.f_code
    names = code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]
    found = False
    for name in names:
        value = frame.f_locals.get(name)
        if is_config(value):
            found = True
            if values:
                remember(value)
        elif values and id(value) in VALUES:
            found = True
    return found


def trace(src: Path, values: bool) -> tuple[dict, list]:
    """The configuration's call tree: {caller: [callees in first-call order]}, and the roots."""
    prefix = str(src.resolve() / "semclip")
    tree: dict[tuple, list] = {}
    roots: list[tuple] = []
    marked: set = set()  # frames that carry the configuration

    def where(frame) -> tuple:
        return (frame.f_globals.get("__name__", "?"), frame.f_code.co_qualname)

    def hook(frame, event, arg):
        if event != "call" or not frame.f_code.co_filename.startswith(prefix) or not carries_config(frame, values):
            return
        marked.add(frame)
        me, up = where(frame), frame.f_back
        while up is not None and up not in marked:
            up = up.f_back
        parent = where(up) if up is not None else None
        if parent is None:
            if me not in roots:
                roots.append(me)
        else:
            kids = tree.setdefault(parent, [])
            if me not in kids and me != parent:
                kids.append(me)

    sys.path.insert(0, str(src))
    for mod in [m for m in sys.modules if m == "semclip" or m.startswith("semclip.")]:
        del sys.modules[mod]
    from semclip.app.cli import app

    with tempfile.TemporaryDirectory() as tmp:
        sys.setprofile(hook)
        try:
            app(["demo", "--quick", "--out", f"{tmp}/out"], standalone_mode=False)
        finally:
            sys.setprofile(None)
    return tree, roots


def walk(tree: dict, roots: list) -> list[tuple]:
    """Depth first from the roots, each function once: the reading order."""
    seen, out = set(), []

    def visit(node: tuple) -> None:
        if node in seen:
            return
        seen.add(node)
        out.append(node)
        for kid in tree.get(node, []):
            visit(kid)

    for r in roots:
        visit(r)
    return out


def counts(order: list[tuple]) -> dict:
    files = [m for m, _ in order]
    steps = [f for i, f in enumerate(files) if i == 0 or f != files[i - 1]]  # a step is a change of file
    returns = sum(1 for i, f in enumerate(steps) if f in steps[:i])
    layers = [layer(f) for f in steps]
    layer_steps = [x for i, x in enumerate(layers) if i == 0 or x != layers[i - 1]]
    climbs = sum(1 for i, x in enumerate(layer_steps) if x in layer_steps[:i])
    return {"functions": len(order), "files": len(set(files)), "file_steps": len(steps), "returns": returns, "climbs": climbs}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", type=Path, default=ROOT / "src", help="the package's parent folder (another checkout's src)")
    ap.add_argument("--values", action="store_true", help="also count calls that receive a list or dict the configuration holds")
    ap.add_argument("--out", type=Path, default=None, help="default: benchmarks/results/config_path[_values].json")
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    out = args.out or ROOT / "benchmarks" / "results" / f"config_path{'_values' if args.values else ''}.json"
    tree, roots = trace(args.src, args.values)
    order = walk(tree, roots)
    result = counts(order) | {"src": str(args.src), "values": args.values, "order": [f"{m}:{q}" for m, q in order]}
    print(json.dumps({k: v for k, v in result.items() if k != "order"}, indent=2))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
