"""What bf16 costs each backbone's frozen towers: the token's cosine to fp32 (mean, 1st
percentile, minimum), the class embeddings' likewise, and the zero-shot top-1 with bf16
against fp32 on the same images, with its paired 95 % interval. bf16 is safe where that
interval holds zero; elsewhere fp32 stays (the default; ``--precision bf16`` is opt-in).

On a GPU the towers run under CUDA autocast, which is what ``--precision bf16`` does. Without
one they run under CPU autocast, on a CPU with native bf16 (AVX-512 BF16 or AMX) or emulated:
the run says which. CPU autocast casts a different list of operations from CUDA's, so a CPU
figure indicates and a GPU figure decides. Both sides run the eager PyTorch towers (not
OpenVINO), so that the precision is the only difference.

    python benchmarks/bf16_cost.py [--device auto] [--backbones pocketclip] [--datasets a,b] [--limit N]
        [--out benchmarks/results/bf16_cost_<device>.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from semclip import device as devices
from semclip._io import atomic_write_json
from semclip.backbones.registry import create_backbone
from semclip.backbones.stream import encode_stream
from semclip.data.registry import create_dataset
from semclip.results import machine_facts
from semclip.stats import paired_bootstrap
from semclip.tasks.zeroshot import ZeroShotClassifier

DATASETS = ("fashion-mnist:test", "clipart:test")


def cosines(a: torch.Tensor, b: torch.Tensor) -> dict[str, float]:
    c = F.cosine_similarity(a.float(), b.float(), dim=-1).cpu().numpy()
    return {"mean": round(float(c.mean()), 6), "p1": round(float(np.quantile(c, 0.01)), 6), "min": round(float(c.min()), 6)}


def cpu_bf16() -> str:
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    return "native (AMX)" if "amx_bf16" in flags else "native (AVX-512 BF16)" if "avx512_bf16" in flags else "emulated"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--backbones", default="pocketclip", help="comma-separated backbone specs")
    ap.add_argument("--datasets", default=",".join(DATASETS), help="comma-separated test sets")
    ap.add_argument("--limit", type=int, default=None, help="first N images of each set (default: all)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    dev = devices.select(args.device, engine="eager")
    out = args.out or Path(f"benchmarks/results/bf16_cost_{dev.type}.json")
    report = {"device": str(dev), "autocast": "CUDA autocast (what --precision bf16 does)" if dev.type == "cuda"
              else f"CPU autocast, bf16 {cpu_bf16()}", "towers": "eager PyTorch on both sides", "backbones": {}}

    def bf16(fn):
        def run(*a, **kw):
            with torch.autocast(dev.type, dtype=torch.bfloat16):
                return fn(*a, **kw)
        return run

    for spec in args.backbones.split(","):
        bb = create_backbone(spec)
        rows = {}
        for name in args.datasets.split(","):
            data = create_dataset(name, limit=args.limit)
            idx = range(len(data))
            t32, ok, _ = encode_stream(bb, data.image, idx, 64, fn=bb.encode_pixels)
            t16, _, _ = encode_stream(bb, data.image, idx, 64, fn=bf16(bb.encode_pixels))
            t32, t16 = t32[ok], t16[ok].float()
            labels = torch.from_numpy(data.labels)[ok]
            clf32 = ZeroShotClassifier(bb, data.classes)
            w32 = clf32.weights
            clf16 = bf16(lambda: ZeroShotClassifier(bb, data.classes))()
            w16 = clf16.weights.float()
            clf16.weights = w16
            right32 = (clf32.predict(t32).cpu() == labels).numpy()
            right16 = (clf16.predict(t16).cpu() == labels).numpy()  # both towers in bf16, as a bf16 run would have them
            lo, hi = paired_bootstrap(right16, right32)
            rows[data.name] = {"images": int(ok.sum()), "token_cosine": cosines(t16, t32), "class_cosine": cosines(w16, w32),
                               "top1_fp32": round(float(right32.mean()), 4), "top1_bf16": round(float(right16.mean()), 4),
                               "difference": round(float(right16.mean() - right32.mean()), 4), "ci95": [round(lo, 4), round(hi, 4)],
                               "safe": lo <= 0 <= hi}
            print(spec, data.name, json.dumps(rows[data.name]), flush=True)
        report["backbones"][spec] = {"fingerprint": bb.fingerprint, "sets": rows, "safe": all(r["safe"] for r in rows.values())}
    report["machine"] = machine_facts()
    atomic_write_json(out, report)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
