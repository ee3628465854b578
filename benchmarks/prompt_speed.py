"""Receiver prompt learners on this machine: seconds per training step (batch 32, 4 SNRs
per step, 5 classes) and received tokens/s scored at test time (one SNR, 5 classes), for
every learner on the PocketCLIP text tower.

    python benchmarks/prompt_speed.py [--steps 20] [--out benchmarks/results/prompt_speed.json]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from semclip._io import atomic_write_json
from semclip.backbones.registry import create_backbone
from semclip.data.fashion_mnist import CLASSES
from semclip.prompts import create_learner, list_learners


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--backbone", default="pocketclip")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/prompt_speed.json"))
    args = ap.parse_args()

    bb = create_backbone(args.backbone)
    classes = CLASSES[:5]
    g = torch.Generator().manual_seed(0)
    tokens = F.normalize(torch.randn(32, bb.dim, generator=g), dim=-1)
    labels = torch.randint(5, (32,), generator=g)
    snr = torch.tensor([-10.0, 0.0, 10.0, 20.0]).repeat(8).unsqueeze(1)
    test = F.normalize(torch.randn(4096, bb.dim, generator=g), dim=-1)
    rows = {}
    for name in list_learners():
        torch.manual_seed(0)
        learner = create_learner(name, bb, k=16)
        params = [p for p in learner.parameters() if p.requires_grad]
        step_s = None
        if params:
            opt = torch.optim.AdamW(params, lr=1e-3)
            t = time.perf_counter()
            for _ in range(args.steps):
                loss = F.cross_entropy(learner(tokens, snr, classes), labels)
                opt.zero_grad()
                loss.backward()
                opt.step()
            step_s = (time.perf_counter() - t) / args.steps
        learner.eval()
        n = 512 if name == "cocoop" else 4096  # CoCoOp encodes B x C prompts: fewer tokens suffice
        t = time.perf_counter()
        learner.predict(test[:n], torch.zeros(n, 1), classes)
        rate = n / (time.perf_counter() - t)
        rows[name] = {"train_step_s": step_s, "test_tokens_per_s": rate}
        print(f"{name:18s} train step {step_s if step_s is None else round(step_s, 4)} s   test {rate:,.0f} tokens/s")
    result = {
        "backbone": bb.fingerprint,
        "learners": rows,
        "batch": 32,
        "snr_draws": 4,
        "classes": len(classes),
        "threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "machine": platform.processor() or platform.machine(),
        "torch": torch.__version__,
    }
    atomic_write_json(args.out, result)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
