"""Decoding in one prefetch thread (``--workers 0``) against worker processes, for
``semclip extract`` on this machine: wall time of the whole command on an empty cache, each
setting in a fresh process, and whether the tokens come out bit-identical.

    python benchmarks/extract_workers.py [--dataset fashion-mnist:test] [--limit 3000] [--workers 0,1,2]

Writes ``benchmarks/results/extract_workers.json``. The command's own start (imports, the
backbone, the engine's check) is in every figure alike.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from safetensors.torch import load_file

from semclip._io import atomic_write_json
from semclip.results import machine_facts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="fashion-mnist:test")
    ap.add_argument("--limit", type=int, default=3000)
    ap.add_argument("--workers", default="0,1,2")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/extract_workers.json"))
    args = ap.parse_args()
    semclip = str(Path(sys.executable).with_name("semclip"))
    rows, first = [], None
    for w in (int(x) for x in args.workers.split(",")):
        with tempfile.TemporaryDirectory() as cache:
            t0 = time.perf_counter()
            subprocess.run([semclip, "extract", "--dataset", args.dataset, "--limit", str(args.limit), "--workers", str(w)],
                           check=True, env={**os.environ, "SEMCLIP_CACHE": cache}, capture_output=True)
            wall = time.perf_counter() - t0
            [store] = list(Path(cache, "tokens").glob("*.safetensors"))
            tokens = load_file(store)
        same = None if first is None else all(tokens[k].equal(first[k]) for k in first)
        first = first or tokens
        rows.append({"workers": w, "wall_s": round(wall, 1), "images_per_s": round(args.limit / wall, 1), "identical_to_first": same})
        print(rows[-1], flush=True)
    atomic_write_json(args.out, {"dataset": args.dataset, "limit": args.limit, "rows": rows, "machine": machine_facts()})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
