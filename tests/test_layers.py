"""The library's layer order is true: no library module imports ``semclip.app``, importing
every library module loads none of it, no module imports a layer above its own, and no
import loop exists between files.

The order, bottom up (``ORDER``): the ground modules (errors, I/O, results schema,
intervals, provenance, artefacts, device and process policy), then ``data``,
``backbones``, ``tokens``, ``channels``, ``tasks``, ``jscc``, ``prompts``,
``baselines``, ``eval``; ``semclip.app`` on top. A module may import its own layer and
those below. Imports made only for type checking count too."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import semclip

ROOT = Path(semclip.__file__).parent
GROUND = ("errors", "_io", "progress", "stopwatch", "resume", "stats", "results", "provenance", "artefacts", "device",
          "distributed", "digest", "training", "registry", "settings")
ORDER = ["ground", "data", "backbones", "tokens", "channels", "tasks", "jscc", "prompts", "baselines", "eval", "job", "app"]


def _module(f: Path) -> str:
    parts = list(f.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _library_modules() -> list[str]:
    return [_module(f) for f in sorted(ROOT.rglob("*.py")) if f.relative_to(ROOT).parts[0] != "app"]


def _imports(f: Path) -> set[str]:
    """The semclip modules ``f`` imports, anywhere in it (``from semclip import x`` names
    the module semclip.x when x is one)."""
    out = set()
    for node in ast.walk(ast.parse(f.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == "semclip"}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "semclip":
            subs = {f"{node.module}.{a.name}" for a in node.names}
            known = {m for m in subs if (ROOT.parent / m.replace(".", "/")).with_suffix(".py").exists()
                     or (ROOT.parent / m.replace(".", "/")).is_dir()}
            out |= known or {node.module}
    return out


def _layer(module: str) -> int:
    parts = module.split(".")
    if len(parts) == 1:
        return len(ORDER)  # the package itself: the public API, above everything it re-exports
    return ORDER.index("ground" if parts[1] in GROUND else parts[1])


def test_no_module_imports_a_layer_above_its_own():
    assert set(ORDER[1:-1]) | set(GROUND) >= {_module(f).split(".")[1] for f in ROOT.rglob("*.py") if f.parent == ROOT
                                                and f.stem != "__init__"} | {d.name for d in ROOT.iterdir()
                                                                            if (d / "__init__.py").exists()} - {"app"}
    upward = []
    for f in ROOT.rglob("*.py"):
        me = _module(f)
        if me == "semclip":
            continue
        upward += [f"{me} -> {m}" for m in _imports(f) if m != "semclip" and _layer(m) > _layer(me)]
    assert not upward, "imports of a layer above (see ORDER):\n" + "\n".join(sorted(upward))


def test_no_import_loop_between_files():
    graph = {_module(f): {m for m in _imports(f) if m != "semclip"} for f in ROOT.rglob("*.py")}
    loops, index, low, stack, on, counter = [], {}, {}, [], set(), [0]

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                loops.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert not loops, loops


def test_no_library_file_imports_the_applications():
    offenders = [f"{_module(f)} -> {m}" for f in ROOT.rglob("*.py") if f.relative_to(ROOT).parts[0] != "app"
                 for m in _imports(f) if m == "semclip.app" or m.startswith("semclip.app.")]
    assert not offenders, offenders


def test_importing_the_whole_library_loads_no_application():
    mods = _library_modules()
    assert len(mods) > 40 and "semclip.jscc.zoo" in mods and "semclip.baselines.ldpc" in mods
    code = f"import importlib, sys\nfor m in {mods!r}: importlib.import_module(m)\n" \
           "print(sorted(m for m in sys.modules if m == 'semclip.app' or m.startswith('semclip.app.')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"
