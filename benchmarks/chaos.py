"""Crash anywhere, lose nothing: kill `semclip demo`, `semclip eval` and `semclip train` with
SIGKILL at seeded random moments, restart each time, and check the end.

For each command (a small but complete run, every stage): an uninterrupted reference run in
its own empty cache, then a chaos run in another empty cache, killed ``--kills`` times (the
kill moments are drawn uniformly over the reference's duration, in cumulative run time, so
they fall across all stages) and restarted until it finishes. Then:

- the records of ``results.json`` (demo, eval) or the checkpoints' tensors (train) must equal
  the reference's (bit for bit: training resumes with its optimiser, schedule and generator
  state, and CPU scoring is deterministic); the largest difference is reported;
- every file left in the output and cache folders must load (safetensors, JSON), and no
  temporary, partial or shard file may remain;
- the work redone per kill is the chaos run's total time minus the reference's, per kill
  (restart overhead included).

    python benchmarks/chaos.py [--commands demo,eval,train] [--kills 20] [--seed 0]
        [--out benchmarks/results/chaos.json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from safetensors import safe_open

from semclip._io import atomic_write_json

SMALL = {  # small but complete: every stage of each command runs
    "demo": ["demo", "--test-limit", "300", "--train-limit", "1500", "--steps", "300", "--prompt-steps", "60",
             "--shots-limit", "2000", "--baseline-limit", "20", "--image-jscc-steps", "300", "--snrs", "-5,5,15",
             "--ks", "4,16", "--reference-dataset", ""],
    "eval": ["eval", "--protocol", "base2novel", "--dataset", "fashion-mnist", "--seeds", "0,1", "--steps", "80",
             "--test-limit", "500", "--train-limit", "2000", "--snrs", "-5,5,15", "--learners", "handcrafted,coop,tapl"],
    "train": ["train", "--stage", "all", "--jscc-dataset", "corpus#1500", "--jscc-steps", "400", "--steps", "120",
              "--train-limit", "2000", "--ks", "4,16"],
}


def command(name: str, out: Path, codec: Path | None) -> list[str]:
    args = [sys.executable, "-m", "semclip.app.cli", *SMALL[name], "--out", str(out)]
    return args + (["--jscc", str(codec)] if name == "eval" and codec else [])


def run(args: list[str], cache: Path, limit: float | None = None) -> tuple[bool, float]:
    """Run until done (True) or until ``limit`` seconds, then SIGKILL the whole group (False)."""
    env = dict(os.environ, SEMCLIP_CACHE=str(cache), PYTHONUNBUFFERED="1")
    t = time.monotonic()
    p = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        p.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        return False, time.monotonic() - t
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(args[2:5])} failed: {p.stderr.read().decode()[-2000:]}")
    return True, time.monotonic() - t


def leftovers_and_loads(*roots: Path) -> tuple[list[str], int]:
    """Files that should not be there, and how many files were checked by loading them."""
    bad, checked = [], 0
    for root in roots:
        for f in root.rglob("*"):
            if f.is_dir():
                if f.name.endswith(tuple(f".shards{n}" for n in (128, 1024))) or ".shards" in f.name:
                    bad.append(f"shard folder left: {f}")
                continue
            if f.name.endswith(".tmp") or ".partial." in f.name:
                bad.append(f"left behind: {f}")
                continue
            try:
                if f.suffix == ".safetensors":
                    with safe_open(str(f), "pt") as g:
                        for k in g.keys():
                            g.get_tensor(k)
                elif f.suffix == ".json":
                    json.loads(f.read_text())
                else:
                    continue
                checked += 1
            except Exception as exc:  # noqa: BLE001 - any failure to load is what we look for
                bad.append(f"does not load: {f} ({exc.__class__.__name__})")
    return bad, checked


def outcome(name: str, out: Path) -> dict:
    """What must be equal between the runs: records (demo, eval) or checkpoint tensors (train)."""
    if name in ("demo", "eval"):
        recs = json.loads((out / "results.json").read_text())["records"]
        return {json.dumps({k: v for k, v in r.items() if k not in ("value", "detail")}, sort_keys=True): r["value"] for r in recs}
    got = {}
    for f in sorted(out.glob("*.safetensors")):
        with safe_open(str(f), "pt") as g:
            for k in g.keys():
                got[f"{f.name}:{k}"] = g.get_tensor(k).flatten().tolist()
    return got


def largest_difference(a: dict, b: dict) -> float:
    if a.keys() != b.keys():
        return float("inf")
    diff = 0.0
    for k in a:
        x, y = (a[k], b[k]) if isinstance(a[k], list) else ([a[k]], [b[k]])
        diff = max(diff, max((abs(p - q) for p, q in zip(x, y)), default=0.0))
    return diff


def chaos(name: str, kills: int, rng: random.Random, work: Path, codec: Path | None) -> dict:
    ref_out, ref_cache = work / f"{name}-ref", work / f"{name}-ref-cache"
    done, reference = run(command(name, ref_out, codec), ref_cache)
    moments = sorted(rng.uniform(0.02, 0.98) * reference for _ in range(kills))
    out, cache = work / f"{name}-chaos", work / f"{name}-chaos-cache"
    spent, survived, starts, finished_early = 0.0, 0, 0, False
    for moment in moments:
        done, took = run(command(name, out, codec), cache, max(0.5, moment - spent))
        spent += took
        starts += 1
        if done:  # finished before this kill moment: the remaining kills cannot land
            finished_early = True
            break
        survived += 1
    while not finished_early:
        done, took = run(command(name, out, codec), cache)
        spent, starts = spent + took, starts + 1
        finished_early = done
    bad, checked = leftovers_and_loads(out, cache)
    diff = largest_difference(outcome(name, ref_out), outcome(name, out))
    return {
        "kills": survived, "starts": starts, "reference_s": round(reference, 1), "chaos_total_s": round(spent, 1),
        "redone_per_kill_s": round((spent - reference) / max(survived, 1), 1), "largest_difference": diff,
        "equal": diff == 0.0, "files_checked": checked, "problems": bad,
        "kills_survived": survived if diff == 0.0 and not bad else 0,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--commands", default="demo,eval,train")
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/chaos.json"))
    args = ap.parse_args()
    rng = random.Random(args.seed)
    report = {"settings": {"kills": args.kills, "seed": args.seed, "commands": {k: SMALL[k] for k in args.commands.split(",")}}}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        codec = None
        if "eval" in args.commands:  # eval reads a codec: trained once here, outside the kills
            codec_dir = work / "codec"
            run([sys.executable, "-m", "semclip.app.cli", "train", "--stage", "jscc", "--jscc-dataset", "corpus#1500", "--jscc-steps", "300", "--ks", "16",
                 "--out", str(codec_dir)], work / "codec-cache")
            codec = next(codec_dir.glob("jscc-*.safetensors"))
        for name in args.commands.split(","):
            print(f"{name}: reference run, then {args.kills} kills ...", flush=True)
            report[name] = chaos(name, args.kills, rng, work, codec)
            print(json.dumps(report[name]), flush=True)
            atomic_write_json(args.out, report)  # each command's figures as soon as they exist
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
