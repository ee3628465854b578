"""What estimated CSI costs each method on a realistic link: TDL-C with LS estimation against
perfect CSI, every method on the same frames and noise (issue 28).

Runs the main job (``semclip demo``) over one OFDM link with both receivers, the LS
estimate and perfect CSI (the same frames, pilots and noise for both, and for every method),
unless ``--run`` already holds its results. The job's own report there (``results.md``)
compares semclip with the best image baseline at the same SNR, at equal energy and at equal
bandwidth, with paired intervals. This script adds, per method, the SNR it loses to the LS
estimate (``semclip.eval.snr_loss``: the extra SNR to reach half-way from chance to its
perfect-CSI accuracy at the highest SNR, with a paired bootstrap interval over the images)
and its accuracy difference at each SNR.

    python benchmarks/ofdm_csi.py [--run semclip-ofdm-csi] [--link ofdm-tdl:C:300ns:3kmh:slots2] \\
        [--baseline-limit 2000] [--view-limit 500] [--snrs -10,-7.5,...,20]

The link has two slots because the digital token at its most robust MCS sends 1572
symbols. Writes ``benchmarks/results/ofdm_csi.json`` and ``.md`` and copies the job's report
to ``docs/results/ofdm_csi_demo.md``. Fashion-MNIST is an evaluation set: this reports and
selects nothing.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from semclip._io import atomic_write_json, atomic_write_text
from semclip.baselines.common import BASELINES
from semclip.data.registry import create_dataset
from semclip.eval.snr_loss import snr_loss
from semclip.results import Record, Results, machine_facts
from semclip.stats import paired_bootstrap, unpack_outcomes

SNRS = "-10,-7.5,-5,-2.5,0,2.5,5,7.5,10,15,20"


def run_job(args: argparse.Namespace) -> float:
    """The main job over the link with both receivers; its wall time in seconds."""
    channels = f"{args.link}:ls,{args.link}:perfect"
    cmd = [str(Path(sys.executable).with_name("semclip")), "demo", "--out", str(args.run), "--dataset", args.dataset,
           "--channels", channels, "--links", "", "--snrs", args.snrs, "--baseline-limit", str(args.baseline_limit),
           "--view-limit", str(args.view_limit), "--transfer-dataset", "", "--learners", "", "--retrieval-dataset", "",
           "--baselines", ",".join(BASELINES.builtin_names())]  # image-ergodic too: the long-delay reference
    print("semclip " + " ".join(repr(c) if c == "" else c for c in cmd[1:]), flush=True)
    start = time.perf_counter()
    subprocess.run(cmd, check=True)
    return time.perf_counter() - start


def curves(results: Results) -> dict[tuple[str, int], dict[str, list[Record]]]:
    """Each method's accuracy-against-SNR records on the link, per CSI mode, keyed by
    (method, images scored): the grid's view on the main dataset, sorted by SNR."""
    out: dict[tuple[str, int], dict[str, list[Record]]] = defaultdict(lambda: defaultdict(list))
    for r in results.records:
        if r.view == "all" and r.split == "all" and r.channel.startswith("ofdm-") and r.outcomes and r.dataset in (None, results.dataset):
            out[(r.method, r.n)][r.csi].append(r)
    return {key: {csi: sorted(rs, key=lambda r: r.snr_db) for csi, rs in modes.items()}
            for key, modes in out.items() if set(modes) == {"ls", "perfect"}}


def outcomes(records: list[Record]) -> np.ndarray:
    """[S, N] right/wrong of each image at each SNR."""
    return np.stack([unpack_outcomes(r.outcomes, r.n) for r in records])


def analyse(results: Results, chance: float) -> list[dict]:
    rows = []
    for (method, n), modes in sorted(curves(results).items()):
        ls, perfect = modes["ls"], modes["perfect"]
        snrs = [r.snr_db for r in perfect]
        if [r.snr_db for r in ls] != snrs:
            raise SystemExit(f"{method}: the two CSI modes were scored at different SNRs")
        a, b = outcomes(ls), outcomes(perfect)
        loss = snr_loss(snrs, b, a, chance)
        rows.append({
            "method": method, "n_images": n, "channel_uses": sorted({r.channel_uses_per_image for r in ls}),
            "pilot_overhead": ls[0].pilot_overhead, "snrs_db": snrs,
            "ls": [r.value for r in ls], "perfect": [r.value for r in perfect],
            "ls_minus_perfect": [[float(x.mean() - y.mean()), *paired_bootstrap(x, y)] for x, y in zip(a, b)],
            "level": loss.level, "perfect_db": loss.reference_db, "ls_db": loss.other_db,
            "snr_loss_db": loss.loss_db, "snr_loss_ci95": list(loss.ci95),
            # the capacity bounds know the channel in both modes: the same outcomes, no loss to measure
            "snr_loss_text": "none: a bound that assumes perfect CSI in both modes" if np.array_equal(a, b) else loss.text()})
    return rows


def markdown(rows: list[dict], link: str, dataset: str, chance: float) -> str:
    out = (f"Link `{link}`, LS estimation against perfect CSI on the same frames, pilots and noise; "
           f"{dataset}, one seed, chance {chance:.3f}. SNR loss: the extra SNR the LS receiver needs "
           "to reach half-way from chance to the method's perfect-CSI accuracy at the highest SNR (linear "
           "between measured points; 95 % paired bootstrap over the images).\n\n"
           "| method | images | channel uses | level | perfect CSI reaches it at (dB) | SNR loss of LS |\n"
           "|---|---|---|---|---|---|\n")
    for r in rows:
        uses = "–".join(f"{u:g}" for u in (r["channel_uses"][0], r["channel_uses"][-1])) if len(r["channel_uses"]) > 1 else f"{r['channel_uses'][0]:g}"
        out += f"| {r['method']} | {r['n_images']} | {uses} | {r['level']:.3f} | {r['perfect_db']:.1f} | {r['snr_loss_text']} |\n"
    snrs = rows[0]["snrs_db"]
    out += ("\nAccuracy with LS minus with perfect CSI (95 % paired bootstrap):\n\n| method | "
            + " | ".join(f"{s:g} dB" for s in snrs) + " |\n|---|" + "---|" * len(snrs) + "\n")
    for r in rows:
        out += f"| {r['method']} | " + " | ".join(f"{d:+.3f} [{lo:+.3f}, {hi:+.3f}]" for d, lo, hi in r["ls_minus_perfect"]) + " |\n"
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, default=Path("semclip-ofdm-csi"), help="the job's output folder (run there unless it has results.json)")
    ap.add_argument("--link", default="ofdm-tdl:C:300ns:3kmh:slots2", help="the link, without its CSI mode")
    ap.add_argument("--dataset", default="fashion-mnist:test")
    ap.add_argument("--snrs", default=SNRS)
    ap.add_argument("--baseline-limit", type=int, default=2000)
    ap.add_argument("--view-limit", type=int, default=500)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/ofdm_csi"))
    ap.add_argument("--report", type=Path, default=Path("docs/results/ofdm_csi_demo.md"), help="where the job's report is copied")
    args = ap.parse_args()
    seconds = None if (args.run / "results.json").exists() else run_job(args)
    results = Results.read(args.run / "results.json")
    chance = 1.0 / len(create_dataset(args.dataset).classes)
    rows = analyse(results, chance)
    if not rows:
        raise SystemExit(f"{args.run}/results.json has no method scored on both CSI modes of an OFDM link")
    atomic_write_json(args.out.with_suffix(".json"), {
        "machine": machine_facts(), "link": args.link, "dataset": args.dataset, "chance": chance,
        "job_seconds": seconds, "job_seconds_note": "None: the job's results were read from --run, not run here",
        "rows": rows})
    atomic_write_text(args.out.with_suffix(".md"), markdown(rows, args.link, args.dataset, chance))
    shutil.copyfile(args.run / "results.md", args.report)
    print(markdown(rows, args.link, args.dataset, chance))
    print(f"wrote {args.out}.json and .md, and {args.report}")


if __name__ == "__main__":
    main()
