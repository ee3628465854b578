"""Mean and spread over seeds, as rows and as a Markdown table per (dataset, split)."""

from __future__ import annotations

import statistics
from collections import defaultdict

import numpy as np

from semclip.results import Record
from semclip.stats import paired_over_seeds, unpack_outcomes


def summarize(records: list[Record]) -> list[dict]:
    """Mean and spread (sample std) over seeds of every (protocol split, method, channel, SNR).

    The harmonic mean ('hm') is computed as the CoOp / MaPLe literature does, from the mean
    base and the mean novel accuracy; its ``std`` is the spread of the per-seed harmonic
    means."""
    groups: dict[tuple, list[float]] = defaultdict(list)
    for r in records:
        groups[(r.dataset, r.split, r.method, r.channel, r.csi, r.snr_db)].append(r.value)
    rows = []
    for (dataset, split, method, channel, csi, snr), vals in groups.items():
        rows.append(
            dict(dataset=dataset, split=split, method=method, channel=channel, csi=csi, snr_db=snr,
                 mean=statistics.fmean(vals), std=statistics.stdev(vals) if len(vals) > 1 else 0.0, n=len(vals))
        )
    means = {(r["dataset"], r["split"], r["method"], r["channel"], r["csi"], r["snr_db"]): r["mean"] for r in rows}
    for r in rows:
        if r["split"] == "hm":
            key = (r["dataset"], r["method"], r["channel"], r["csi"], r["snr_db"])
            b, n = means.get((key[0], "base", *key[1:])), means.get((key[0], "novel", *key[1:]))
            if b is not None and n is not None:
                r["mean"] = 0.0 if b + n == 0 else 2 * b * n / (b + n)
    return rows


def summary_markdown(rows: list[dict]) -> str:
    snrs = sorted({r["snr_db"] for r in rows if r["snr_db"] is not None})
    out = []
    for dataset, split in sorted({(r["dataset"], r["split"]) for r in rows}):
        here = [r for r in rows if (r["dataset"], r["split"]) == (dataset, split)]
        out.append(f"\n### {dataset + ', ' if dataset else ''}{split}\n")
        out.append("| method | channel | " + " | ".join(f"{s:g} dB" for s in snrs) + " | grid mean |")
        out.append("|---|---|" + "---|" * (len(snrs) + 1))
        for method, channel, csi in sorted({(r["method"], r["channel"], r["csi"]) for r in here}, key=str):
            cells = {r["snr_db"]: r for r in here if (r["method"], r["channel"], r["csi"]) == (method, channel, csi)}
            if channel == "none":
                out.append(f"| {method} | none | {cells[None]['mean']:.3f} (noiseless) |" + " |" * len(snrs))
                continue
            vals = [_cell(cells[s]) if s in cells else "" for s in snrs]
            grid = statistics.fmean(cells[s]["mean"] for s in snrs if s in cells)
            ch = channel + (f" ({csi})" if csi else "")
            out.append(f"| {method} | {ch} | " + " | ".join(vals) + f" | {grid:.3f} |")
    return "\n".join(out) + "\n"


def _cell(row: dict) -> str:
    return f"{row['mean']:.3f} ± {row['std']:.3f}" if row["n"] > 1 else f"{row['mean']:.3f}"


def paired_markdown(records: list[Record], reference: str = "semclip") -> str:
    """Per (dataset, split): every method minus ``reference`` at each SNR, on the same images
    and channel noise, with the 95 % interval of ``paired_over_seeds`` over the seeds both
    ran (each seed's learners against the reference of that seed). A difference whose
    interval excludes zero is marked ``*``."""
    by: dict[tuple, dict[int, Record]] = defaultdict(dict)
    for r in records:
        if r.outcomes and r.n and r.snr_db is not None:
            by[(r.dataset, r.split, r.channel, r.csi, r.snr_db, r.method)][r.seed] = r
    out = []
    for dataset, split in sorted({k[:2] for k in by}, key=str):
        keys = [k for k in by if k[:2] == (dataset, split)]
        snrs = sorted({k[4] for k in keys})
        methods = sorted({(k[5], k[2], k[3]) for k in keys if k[5] != reference}, key=str)
        lines = []
        for method, channel, csi in methods:
            cells = []
            for snr in snrs:
                mine, ref = by.get((dataset, split, channel, csi, snr, method), {}), by.get((dataset, split, channel, csi, snr, reference), {})
                seeds = sorted(set(mine) & set(ref))
                if not seeds:
                    cells.append("")
                    continue
                a, b = (np.stack([unpack_outcomes(x[s].outcomes, x[s].n) for s in seeds]) for x in (mine, ref))
                d, lo, hi = paired_over_seeds(a, b)
                cells.append(f"{d:+.3f} [{lo:+.3f}, {hi:+.3f}]" + ("*" if lo > 0 or hi < 0 else ""))
            if any(cells):
                ch = channel + (f" ({csi})" if csi else "")
                lines.append(f"| {method} | {ch} | " + " | ".join(cells) + " |")
        if lines:
            out.append(f"\n### {dataset + ', ' if dataset else ''}{split}: difference to {reference} (paired, 95 %)\n")
            out.append("| method | channel | " + " | ".join(f"{s:g} dB" for s in snrs) + " |")
            out.append("|---|---|" + "---|" * len(snrs))
            out += lines
    return "\n".join(out) + "\n" if out else ""
