"""Readable tables of results: Markdown for results.md, rich for the terminal."""

from __future__ import annotations

from rich.table import Table

from semclip.results import Results, channel_label, uses_span


def _grid(results: Results) -> tuple[list[str], list[list[str]]]:
    recs = [r for r in results.records if r.metric == "top1" and r.on_grid]
    snrs = sorted({r.snr_db for r in recs if r.snr_db is not None})
    header = ["method", "channel", "ch. uses"] + [f"{s:g} dB" for s in snrs]
    rows = []
    for r in recs:
        if r.channel == "none":
            rows.append([r.method, "none", f"{r.channel_uses_per_image:g}"] + [f"{r.value:.3f}"] * len(snrs))
    keys = sorted({(r.method, channel_label(r)) for r in recs if r.channel != "none"}, key=lambda x: (x[1], x[0]))
    for m, ch in keys:
        by = {r.snr_db: r for r in recs if r.method == m and channel_label(r) == ch}
        rows.append([m, ch, uses_span(list(by.values()))] + [f"{by[s].value:.3f}" if s in by else "" for s in snrs])
    return header, rows


def markdown_table(results: Results) -> str:
    header, rows = _grid(results)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n" + interval_note(results.records)


def interval_note(records) -> str:
    """One line under a table: how wide the 95 % intervals of its cells are at most."""
    recs = [r for r in records if r.metric == "top1" and r.on_grid and r.ci95]
    if not recs:
        return ""
    half = max((r.ci95[1] - r.ci95[0]) / 2 for r in recs)
    ns = sorted({r.n for r in recs})
    on = f"{ns[0]:,}".replace(",", " ") if len(ns) == 1 else f"{ns[0]:,}–{ns[-1]:,}".replace(",", " ")
    return f"\n95 % intervals (Wilson; each cell's is `ci95` in results.json): at most ±{half:.3f} here ({on} images per cell).\n"


def rich_table(results: Results, title: str = "zero-shot top-1 accuracy") -> Table:
    header, rows = _grid(results)
    table = Table(title=title)
    for i, h in enumerate(header):
        table.add_column(h, justify="left" if i < 2 else "right")
    for r in rows:
        table.add_row(*r)
    return table
