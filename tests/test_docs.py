"""The documentation site builds with no warning (MkDocs strict), the README stays short,
and every page the README points to exists."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_docs_site_builds_without_warnings(tmp_path):
    out = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                         cwd=ROOT, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})  # Material's note about MkDocs 2, not about our docs
    assert out.returncode == 0, out.stderr[-3000:]
    assert "WARNING" not in out.stderr, out.stderr[-3000:]
    home = (tmp_path / "site" / "index.html").read_text()
    assert "Two commands on a fresh machine" in home  # the README is the home page
    assert 'href="getting-started/"' in home or 'href="getting-started.md"' in home or "getting-started/" in home


def test_readme_is_short_and_its_links_resolve():
    text = (ROOT / "README.md").read_text()
    assert len(text) <= 8000, f"README has {len(text)} characters; keep it under 8000 and move the rest to docs/"
    for target in re.findall(r"\]\(([^)#]+)\)", text):
        if not target.startswith("http"):
            assert (ROOT / target).exists(), target
