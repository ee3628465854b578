"""Peak memory of streaming token extraction: encodes N Fashion-MNIST training images with a
backbone into an empty token cache, each N in a fresh process, and reports the peak RSS,
the RSS once the backbone is loaded, and what the token matrix itself takes (N x d x 4 bytes).
Bounded extraction means the peak minus the loaded backbone stays flat as N grows, apart
from the tokens returned.

    python benchmarks/extract_memory.py [--n 2000,10000] [--out benchmarks/results/extract_memory.json]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from semclip._io import atomic_write_json
from semclip.results import machine_facts


def one(n: int, backbone: str, workers: int) -> dict:
    """Runs in the child: load, extract into an empty cache, measure."""
    from semclip.backbones.registry import create_backbone
    from semclip.data.fashion_mnist import FashionMNIST
    from semclip.tokens.cache import dataset_tokens

    def rss_mb() -> float:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    bb = create_backbone(backbone)
    data = FashionMNIST("train", limit=n)
    loaded = rss_mb()
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        tokens, _ = dataset_tokens(bb, data, root=Path(tmp), workers=workers)
        seconds = time.perf_counter() - t
    return {
        "images": n, "backbone": bb.fingerprint, "workers": workers, "seconds": round(seconds, 1),
        "images_per_s": round(n / seconds, 1), "rss_after_load_mb": round(loaded), "peak_rss_mb": round(rss_mb()),
        "tokens_mb": round(tokens.numel() * 4 / 2**20, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", default="2000,10000", help="comma-separated image counts")
    ap.add_argument("--backbone", default="pocketclip")
    ap.add_argument("--workers", type=int, default=0, help="DataLoader decoding workers")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/extract_memory.json"))
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(one(args.child, args.backbone, args.workers)))
        return
    runs = []
    for n in [int(x) for x in args.n.split(",")]:
        cmd = [sys.executable, __file__, "--child", str(n), "--backbone", args.backbone, "--workers", str(args.workers)]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        runs.append(json.loads(out.strip().splitlines()[-1]))
        print(runs[-1], flush=True)
    res = {"runs": runs, **machine_facts()}
    atomic_write_json(args.out, res)
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
