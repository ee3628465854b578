"""Regenerate the trained parts shipped inside semclip (``src/semclip/shipped``), or check them.

    python scripts/ship_artefacts.py            # train every part of the default demo anew, ship it
    python scripts/ship_artefacts.py --check    # train them anew and compare with what is shipped

Both run the default main job (``semclip demo`` with ``--no-shipped``) in a cache of their
own (``--work``/cache; kept, so a rerun reuses the tokens and parts an earlier one made:
delete it to start from nothing; its cached results are dropped first, so that every
trained part is asked for). Regenerating copies every trained part the job used into the package
(the token codecs' weight matrices as float16, everything else as trained), the job's
link-adaptation probe figures as ``links/bler-probes.json`` (``semclip.baselines.probe_store``)
and writes ``MANIFEST.json`` (what each part is, its digest, how it was made and on what machine).

``--check`` compares instead: each part's tensors against the shipped ones (bit for bit
after the same float16 rounding, else the largest difference), then runs the job again
with the shipped parts only and compares every record of the two runs (the difference in
top-1 / recall that regeneration makes). Exits 1 if a record moves by more than
``--tolerance`` or a shipped probe figure differs from its new measurement. Figures go to ``benchmarks/results/ship_check.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "src" / "semclip" / "shipped"
HALF = "semclip-token-jscc"  # files of this kind keep their weight matrices in float16


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def shippable(path: Path) -> tuple[dict, dict[str, str]]:
    """The tensors and metadata of a trained file as shipped: a token codec's 2-D weights
    rounded to float16 (loading casts them back), the rest unchanged."""
    import torch
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        meta = dict(f.metadata() or {})
        state = {k: f.get_tensor(k) for k in f.keys()}
    if meta.get("kind") == HALF:
        state = {k: v.half() if v.dtype == torch.float32 and v.dim() == 2 and k.endswith(".weight") else v for k, v in state.items()}
        meta["shipped_as"] = "2-D weights float16 (cast back to float32 on load)"
    return state, meta


def same_content(path: Path, state: dict, meta: dict) -> bool:
    """Whether the safetensors file holds these tensors and metadata (aside from its header's
    key order, which the writer does not keep stable, and the training time)."""
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        return (_stable(f.metadata() or {}) == _stable(meta) and set(f.keys()) == set(state)
                and all(f.get_tensor(k).equal(state[k]) for k in state))


def _stable(meta: dict) -> dict:
    """Metadata without what changes from run to run with the same result (training time)."""
    extra = json.loads(meta.get("extra", "{}"))
    extra.pop("seconds", None)
    return {**meta, "extra": extra}


def run_job(cache: Path, shipped: bool, out: Path) -> dict:
    """The default main job in ``cache``; returns its results.json."""
    os.environ["SEMCLIP_CACHE"] = str(cache)
    from semclip import device
    from semclip.app.demo import DemoConfig, run_demo

    device.select("auto", "fp32", "auto")
    t0 = time.time()
    run_demo(DemoConfig(shipped=shipped), out, log=print)
    print(f"main job ({'shipped parts' if shipped else 'shipped parts off'}) in {time.time() - t0:.0f} s")
    return json.loads((out / "results.json").read_text())


def ship(results: dict) -> None:
    """Copy every trained part of a run into the package and write the manifest."""
    from safetensors.torch import save_file

    from semclip.results import machine_facts, software_versions

    parts = []
    for used in results["artefacts"]:
        src, dst = Path(used["path"]), SHIPPED / used["name"]
        dst.parent.mkdir(parents=True, exist_ok=True)
        state, meta = shippable(src)
        if not (dst.is_file() and same_content(dst, state, meta)):  # an unchanged part keeps its file (and git its history)
            save_file({k: v.contiguous() for k, v in state.items()}, str(dst), metadata=meta)
            dst.chmod(0o644)
        parts.append({"what": used["what"], "name": used["name"], "sha256": sha256(dst), "bytes": dst.stat().st_size,
                      "trained_sha256": sha256(src)})
    probes = ship_probes()
    names = {p["name"] for p in parts}
    for stale in SHIPPED.rglob("*.safetensors"):
        if str(stale.relative_to(SHIPPED)) not in names:
            stale.unlink()
    manifest = {"command": "python scripts/ship_artefacts.py", "made": time.strftime("%Y-%m-%d"),
                "versions": software_versions(), "machine": machine_facts(), "backbone": results["backbone"], "parts": parts,
                "probes": probes}
    (SHIPPED / "MANIFEST.json").write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"shipped {len(parts)} parts, {sum(p['bytes'] for p in parts) / 1e6:.1f} MB, in {SHIPPED}")


def ship_probes() -> dict:
    """The job's link-adaptation probe figures (all measured: it ran with shipped files off)
    as the shipped table; an unchanged table keeps its file."""
    from semclip.baselines import probe_store

    dst = SHIPPED / probe_store.TABLE
    doc = {"command": "python scripts/ship_artefacts.py", "versions": probe_store.versions(),
           "probes": dict(sorted(probe_store.cached().items()))}
    old = json.loads(dst.read_text()) if dst.is_file() else None
    if old is None or {k: old.get(k) for k in ("versions", "probes")} != {k: doc[k] for k in ("versions", "probes")}:
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_text(json.dumps(doc, indent=0) + "\n")
    print(f"shipped {len(doc['probes'])} link-adaptation probe figures in {dst}")
    return {"name": probe_store.TABLE, "figures": len(doc["probes"]), "sha256": sha256(dst), "bytes": dst.stat().st_size}


def compare_probes() -> dict:
    """The shipped probe figures against the ones this regeneration measured."""
    from semclip.baselines import probe_store

    path = SHIPPED / probe_store.TABLE
    theirs = json.loads(path.read_text())["probes"] if path.is_file() else {}
    mine = probe_store.cached()
    differ = [k for k in theirs.keys() & mine.keys() if theirs[k] != mine[k]]
    return {"shipped": len(theirs), "measured": len(mine), "equal": len(theirs.keys() & mine.keys()) - len(differ),
            "differ": differ[:5], "n_differ": len(differ), "not_measured": len(theirs.keys() - mine.keys()),
            "not_shipped": len(mine.keys() - theirs.keys())}


def compare_parts(results: dict) -> list[dict]:
    """Each regenerated part against the shipped one, after the same rounding."""
    rows = []
    for used in results["artefacts"]:
        mine, _ = shippable(Path(used["path"]))
        theirs_path = SHIPPED / used["name"]
        if not theirs_path.is_file():
            rows.append({"name": used["name"], "shipped": False})
            continue
        theirs, _ = shippable(theirs_path)
        same = mine.keys() == theirs.keys() and all(mine[k].equal(theirs[k]) for k in mine)
        worst = max(((mine[k].float() - theirs[k].float()).abs().max() / theirs[k].float().abs().max().clamp_min(1e-12)).item()
                    for k in mine if k in theirs and theirs[k].is_floating_point() and theirs[k].numel())
        rows.append({"name": used["name"], "what": used["what"], "shipped": True, "bit_for_bit": same, "max_relative_difference": worst})
    return rows


def compare_records(a: dict, b: dict) -> dict:
    """Per record (method, task, split, view, channel, receiver, SNR, k, metric, dataset, seed), the
    difference between two runs of the same job."""
    from semclip.results import Record

    def key(r: dict) -> tuple:
        r = Record.model_validate(r).model_dump()  # an older file's records in today's schema
        return tuple(str(r.get(f)) for f in ("method", "task", "split", "view", "channel", "csi", "snr_db", "k", "metric", "dataset", "seed"))

    va, vb = {key(r): r["value"] for r in a["records"]}, {key(r): r["value"] for r in b["records"]}
    common = va.keys() & vb.keys()
    diffs = sorted(((abs(va[k] - vb[k]), k) for k in common), reverse=True)
    return {"records": len(common), "only_in_one": len(va.keys() ^ vb.keys()),
            "max_abs_difference": diffs[0][0] if diffs else 0.0,
            "mean_abs_difference": sum(d for d, _ in diffs) / max(len(diffs), 1),
            "largest": [{"record": " ".join(k), "regenerated": va[k], "shipped": vb[k]} for _, k in diffs[:5]]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="compare a regeneration with the shipped parts instead of shipping it")
    ap.add_argument("--work", type=Path, default=ROOT / ".ship", help="caches and job outputs (kept between runs)")
    ap.add_argument("--tolerance", type=float, default=0.02, help="--check: largest allowed change of any record")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "ship_check.json")
    args = ap.parse_args()
    for results_cache in ("baselines", "records", "links"):  # results read back would hide the parts (and probes) that made them
        shutil.rmtree(args.work / "cache" / results_cache, ignore_errors=True)
    regen = run_job(args.work / "cache", shipped=False, out=args.work / "regenerated")
    if not args.check:
        ship(regen)
        return
    parts = compare_parts(regen)
    probes = compare_probes()
    cache = args.work / "cache-shipped"  # no trained part in it: every one must come from the package
    shutil.rmtree(cache, ignore_errors=True)
    cache.mkdir(parents=True)
    for shared in ("tokens", "text", "engines"):  # what the frozen backbone computes is not a trained part
        if (args.work / "cache" / shared).is_dir():
            (cache / shared).symlink_to((args.work / "cache" / shared).resolve(), target_is_directory=True)
    shipped = run_job(cache, shipped=True, out=args.work / "shipped")
    origins = {u["name"]: u["origin"] for u in shipped["artefacts"]}
    records = compare_records(regen, shipped)
    report = {"parts": parts, "probes": probes, "shipped_run_origins": origins, "records": records, "tolerance": args.tolerance}
    from semclip._io import atomic_write_json

    atomic_write_json(args.out, report)
    print(json.dumps(report, indent=1))
    bad = [n for n, o in origins.items() if o != "shipped"]
    if bad or records["max_abs_difference"] > args.tolerance or probes["n_differ"]:
        sys.exit(f"shipped parts differ: not shipped {bad}; largest record change {records['max_abs_difference']:.4f} "
                 f"(tolerance {args.tolerance}); probe figures that differ {probes['n_differ']}")


if __name__ == "__main__":
    main()
