"""Peak memory of codec training on an ImageNet-scale token store: writes a synthetic token
cache of N x d unit vectors (default 1.28 M x 512, 2.6 GB on disk: ImageNet-1k train at
ViT-B's width) in the token-cache format, then, in a fresh process, fits the linear base
and trains the codec from it as a memory-mapped ``TokenStore`` and reports the peak RSS
beside the size of the matrix (what holding it in memory would cost).

    python benchmarks/token_store_memory.py [--rows 1280000] [--dim 512] [--steps 200]
        [--out benchmarks/results/token_store_memory.json]
"""

from __future__ import annotations

import argparse
import json
import resource
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from semclip._io import atomic_write_json
from semclip.results import machine_facts


def write_store(path: Path, rows: int, dim: int, chunk: int = 65536) -> None:
    """A token cache file (safetensors: ``tokens`` [rows, dim] F32, ``ok`` [rows] U8) written
    a chunk at a time, so making it holds no more than one chunk either. The tokens are
    low-rank plus noise, normalised, like real CLIP tokens (a few strong directions)."""
    header = {"tokens": {"dtype": "F32", "shape": [rows, dim], "data_offsets": [0, rows * dim * 4]},
              "ok": {"dtype": "U8", "shape": [rows], "data_offsets": [rows * dim * 4, rows * dim * 4 + rows]},
              "__metadata__": {"errors": "{}"}}
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    rng = np.random.default_rng(0)
    basis = rng.standard_normal((32, dim)).astype(np.float32)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw)
        for lo in range(0, rows, chunk):
            n = min(chunk, rows - lo)
            x = rng.standard_normal((n, 32)).astype(np.float32) @ basis + 0.5 * rng.standard_normal((n, dim)).astype(np.float32)
            f.write((x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32).tobytes())
        f.write(np.ones(rows, dtype=np.uint8).tobytes())


def child(path: Path, steps: int) -> dict:
    """Runs in a fresh process: open the store, fit the linear base, train, measure."""
    import torch

    from semclip.tokens.store import TokenStore
    from semclip.jscc.model import JSCCConfig, TokenJSCC
    from semclip.jscc.train import JSCCTrainConfig, train_jscc

    def rss_mb() -> float:
        """This process's peak resident set (VmHWM: per address space, so unlike getrusage's
        ru_maxrss it does not inherit the peak of the parent that wrote the store)."""
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    store = TokenStore([path])
    before = rss_mb()
    torch.manual_seed(0)
    model = TokenJSCC(JSCCConfig(dim=store.dim))
    t = time.perf_counter()
    log = train_jscc(model, store, None, JSCCTrainConfig(steps=steps))
    seconds = time.perf_counter() - t
    return {"rows": len(store), "dim": store.dim, "steps": steps, "batch_size": 256, "seconds": round(seconds, 1),
            "rss_after_opening_store_mb": round(before), "peak_rss_mb": round(rss_mb()),
            "matrix_in_memory_mb": round(len(store) * store.dim * 4 / 2**20), "final_loss": round(log[-1]["loss"], 4)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_280_000)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--steps", type=int, default=200, help="codec training steps (batch 256)")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/token_store_memory.json"))
    ap.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.steps)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "store.safetensors"
        t = time.perf_counter()
        write_store(path, args.rows, args.dim)
        made = time.perf_counter() - t
        out = subprocess.run([sys.executable, __file__, "--child", str(path), "--steps", str(args.steps)],
                             capture_output=True, text=True, check=True)
        result = json.loads(out.stdout.strip().splitlines()[-1])
    result |= {"store_gb_on_disk": round(args.rows * args.dim * 4 / 1e9, 2), "seconds_to_write_store": round(made, 1),
               "machine": machine_facts()}
    print(json.dumps(result, indent=1))
    atomic_write_json(args.out, result)


if __name__ == "__main__":
    main()
