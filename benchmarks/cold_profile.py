"""Where a cold main job spends its time: a sampling profile (py-spy) of ``semclip demo``
with an empty cache, summed over the functions that matter.

    python benchmarks/cold_profile.py                 # profile a cold `semclip demo` (about 9 min)
    python benchmarks/cold_profile.py --quick         # the same for `semclip demo --quick`
    python benchmarks/cold_profile.py --raw prof.txt  # summarise a py-spy raw file made earlier

py-spy samples every thread's Python stack 25 times a second, with little overhead; a
function's figure is the time some thread spent inside it (its callees included), so the
rows overlap and the background thread that decodes and resizes images counts beside the
main thread. Prints a table and writes ``benchmarks/results/cold_profile[_quick].json``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RATE = 25

def _row(label: str, fn) -> tuple[str, str, str]:
    """(label, the function as py-spy names it, the file it lives in), from the function
    itself: the rows follow the stages when they are renamed or moved."""
    return label, fn.__qualname__, fn.__module__.replace(".", "/") + ".py"


def rows() -> list[tuple[str, str, str]]:
    from semclip.app.demo import run_demo
    from semclip.baselines.adaptation import _measure
    from semclip.baselines.digital import DigitalLink
    from semclip.baselines.jpeg import JpegImage
    from semclip.baselines.ldpc import LayeredMinSum
    from semclip.baselines.methods import image_capacity, image_jpeg_ldpc, image_jscc, image_outage, token_digital
    from semclip.baselines.receiver import ImageReceiver
    from semclip.job import baselines, encode, prompts, retrieval, sweeps, views

    return [
        _row("the whole job (main thread)", run_demo),
        _row("  evaluation sets encoded", encode.EvalSet.of),
        _row("  token codes' sweeps", sweeps.sweep_codes),
        _row("  base-to-novel (prompts)", prompts.base_to_novel),
        _row("  retrieval", retrieval.run_retrieval),
        _row("  baselines", baselines.run_baseline_stage),
        _row("  views", views.run_views),
        _row("    of which the equal-bandwidth view", views.equal_bandwidth),
        ("image tower (OpenVINO), every caller", "InferRequest.infer", "openvino/_ov_api.py"),
        _row("  received pictures of the baselines", ImageReceiver.tokens),
        ("image preprocessing (background thread)", "Backbone.preprocess", "semclip/backbones/base.py"),
        _row("image-jscc and image-jscc-indomain", image_jscc.ImageJSCCBaseline.run),
        _row("image-jpeg-ldpc", image_jpeg_ldpc.ImageJpegLdpc.run),
        _row("image-capacity", image_capacity.ImageCapacity.run),
        _row("image-outage", image_outage.ImageOutage.run),
        _row("token-digital", token_digital.TokenDigital.run),
        _row("JPEG side and quality choice", JpegImage.choose),
        _row("link-adaptation probes measured", _measure),
        _row("digital links of the test images", DigitalLink.transmit),
        _row("LDPC decoding (ours), every caller", LayeredMinSum.__call__),
    ]



def summarise(raw: Path) -> tuple[dict[str, float], float]:
    """{label: seconds} for ``rows()``, and the seconds of all samples."""
    inclusive: Counter = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, n = line.rstrip().rpartition(" ")
        if not stack or not n.isdigit():
            continue
        total += int(n)
        names = {re.sub(r":\d+\)$", ")", f) for f in stack.split(";")}
        for name in names:
            inclusive[name] += int(n)
    out = {}
    for label, fn, where in rows():
        out[label] = sum(v for k, v in inclusive.items() if k.startswith(f"{fn} (") and where in k) / RATE
    return out, total / RATE


def record(quick: bool, raw: Path) -> float:
    """Profile a cold `semclip demo` into ``raw``; returns its wall time."""
    spy = Path(sys.executable).with_name("py-spy")
    if not spy.exists():
        sys.exit("this benchmark samples with py-spy: `pip install py-spy` in this environment, or pass --raw FILE")
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "SEMCLIP_CACHE": f"{tmp}/cache"}
        cmd = [str(spy), "record", "--rate", str(RATE), "--format", "raw", "-o", str(raw), "--",
               str(Path(sys.executable).with_name("semclip")), "demo", "--out", f"{tmp}/out"] + (["--quick"] if quick else [])
        t0 = time.time()
        subprocess.run(cmd, env=env, check=True)
        return time.time() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="profile `semclip demo --quick`")
    ap.add_argument("--raw", type=Path, help="summarise this py-spy raw file instead of profiling a run")
    args = ap.parse_args()
    wall = None
    raw = args.raw
    if raw is None:
        raw = Path(tempfile.mkdtemp()) / "profile.txt"
        wall = record(args.quick, raw)
    rows, sampled = summarise(raw)
    width = max(len(label) for label in rows)
    print(f"{'where':<{width}}  seconds")
    for label, sec in rows.items():
        print(f"{label:<{width}}  {sec:7.1f}")
    if wall is not None:
        print(f"wall time under the profiler: {wall:.0f} s")
    out = ROOT / "benchmarks" / "results" / f"cold_profile{'_quick' if args.quick else ''}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"command": " ".join(sys.argv), "rate_hz": RATE, "wall_s": wall, "sampled_s": sampled,
                               "seconds": rows}, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
