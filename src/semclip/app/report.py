"""One self-contained HTML page over one or more result folders: accuracy against SNR
per channel and against channel uses (runs overlaid), the bandwidth table, each run's
tables (results.md / summary.md, retrieval included), and its exact configuration and
software versions. The PNGs are written beside the page and embedded in it."""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from semclip._io import atomic_write_text
from semclip.errors import SemclipError
from semclip.eval.compare import bandwidth_rows
from semclip.eval.plot import plot_accuracy_vs_channel_uses, plot_accuracy_vs_snr
from semclip.results import Results

TABLE_FILES = ("results.md", "summary.md")
CSS = """body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0;font-size:.85em}th,td{border:1px solid #ccc;padding:.2em .5em;text-align:right}
th:first-child,td:first-child{text-align:left}img{max-width:100%}pre{background:#f6f6f6;padding:1em;overflow:auto;font-size:.8em}
h2{border-bottom:1px solid #ddd}"""


@dataclass
class Run:
    label: str
    folder: Path
    results: Results
    tables_md: str | None


def load_run(path: str | Path) -> Run:
    """A folder written by ``semclip demo`` / ``semclip eval`` (or its results.json)."""
    p = Path(path)
    if not p.exists():
        raise SemclipError(f"{p} does not exist: give folders written by `semclip demo` or `semclip eval`")
    f = p / "results.json" if p.is_dir() else p
    if not f.is_file():
        raise SemclipError(f"{p} has no results.json: give folders written by `semclip demo` or `semclip eval`")
    res = Results.read(f)  # refuses other schemas with a clear message
    md = next(((f.parent / t).read_text() for t in TABLE_FILES if (f.parent / t).is_file()), None)
    return Run(f.parent.name or str(f.parent), f.parent, res, md)


def _png(path: Path) -> str:
    return f'<img src="data:image/png;base64,{base64.b64encode(path.read_bytes()).decode()}" alt="{html.escape(path.stem)}">'


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def write_report(paths: Sequence[str | Path], out: str | Path) -> Path:
    import markdown

    if not paths:
        raise SemclipError("give at least one result folder")
    runs = [load_run(p) for p in paths]
    labels = [r.label for r in runs]
    for i, r in enumerate(runs):  # two folders with the same name stay apart
        if labels.count(r.label) > 1:
            r.label = f"{r.label}#{i + 1}"
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    overlay = [(r.label if len(runs) > 1 else "", r.results) for r in runs]
    figures = [plot_accuracy_vs_snr(overlay, out / "accuracy_vs_snr.png")]
    try:
        figures.append(plot_accuracy_vs_channel_uses(overlay, out / "accuracy_vs_channel_uses.png"))
    except ValueError:
        pass  # protocol runs without channel-use variety have nothing to place
    parts = [f"<h1>semclip report: {html.escape(', '.join(r.label for r in runs))}</h1>"]
    parts += [_table(["run", "folder", "backbone", "dataset", "records"],
                     [[r.label, str(r.folder), r.results.backbone, r.results.dataset, str(len(r.results.records))] for r in runs])]
    parts += ["<h2>Accuracy against SNR and against channel uses</h2>"] + [_png(f) for f in figures]
    for r in runs:
        parts.append(f"<h2>{html.escape(r.label)}</h2>")
        bw = bandwidth_rows(r.results.records)
        if bw and "## Bandwidth" not in (r.tables_md or ""):
            parts += ["<h3>Bandwidth</h3>", _table(["method", "channel uses per image", "ratio to semclip"], bw)]
        if r.tables_md:  # its headings go two levels down, under the run's
            demoted = "\n".join("##" + line if line.startswith("#") else line for line in r.tables_md.splitlines())
            parts.append(markdown.markdown(demoted, extensions=["tables"]))
        extra = r.results.model_extra or {}
        versions = extra.get("versions")
        parts.append("<h3>Software</h3>" + (
            _table(["package", "version"], sorted(versions.items())) if versions else "<p>not recorded in this run</p>"))
        config = {k: v for k, v in extra.items() if k != "versions"}
        parts.append(f"<details><summary>Configuration</summary><pre>{html.escape(json.dumps(config, indent=2, default=str))}</pre></details>")
    page = f"<!doctype html><html><head><meta charset='utf-8'><title>semclip report</title><style>{CSS}</style></head><body>{''.join(parts)}</body></html>"
    return atomic_write_text(out / "report.html", page)
