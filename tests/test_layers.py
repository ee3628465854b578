"""The library stands without the applications: no library module imports ``semclip.app``,
and importing every library module loads none of it."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import semclip

ROOT = Path(semclip.__file__).parent


def _library_modules() -> list[str]:
    mods = []
    for f in sorted(ROOT.rglob("*.py")):
        rel = f.relative_to(ROOT.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[1:2] == ["app"]:
            continue
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods.append(".".join(parts))
    return mods


def test_no_library_file_imports_the_applications():
    offenders = []
    for f in ROOT.rglob("*.py"):
        if "app" in f.relative_to(ROOT).parts[:1]:
            continue
        for node in ast.walk(ast.parse(f.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            offenders += [f"{f.relative_to(ROOT)}: {n}" for n in names if n == "semclip.app" or n.startswith("semclip.app.")]
    assert not offenders, offenders


def test_importing_the_whole_library_loads_no_application():
    mods = _library_modules()
    assert len(mods) > 40 and "semclip.jscc.zoo" in mods and "semclip.baselines.ldpc" in mods
    code = f"import importlib, sys\nfor m in {mods!r}: importlib.import_module(m)\n" \
           "print(sorted(m for m in sys.modules if m == 'semclip.app' or m.startswith('semclip.app.')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"
