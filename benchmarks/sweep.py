"""Is a full sweep about one backbone pass? Times, in one run, (a) one pass of the frozen
image tower over N test images and (b) the full sweep of the token-based methods over
the same N images from their cached tokens: 7 SNRs x 2 channels (AWGN, Rayleigh/MMSE) x
semclip with hand-crafted prompts, CoOp and TAPL receivers. Prints sweep / encode.

    python benchmarks/sweep.py [--n 2000] [--out benchmarks/results/sweep.json]

The prompt learners are the demo's (trained on 16 shots of the base classes, cached;
training, if needed, is not timed) and classify all classes here.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

from rich.console import Console
from rich.table import Table

from semclip._io import atomic_write_json
from semclip.results import machine_facts
from semclip.backbones.registry import create_backbone
from semclip.data.registry import create_dataset
from semclip.backbones.stream import encode_images
from semclip.tokens.cache import dataset_tokens
from semclip.job.config import DEFAULT_SNRS, DataConfig, GridConfig, PromptStageConfig
from semclip.jscc.zoo import default_codec
from semclip.eval.protocols import ProtocolConfig, Split, get_learner
from semclip.eval.sweep import sweep
from semclip.prompts.splits import base_novel
from semclip.tasks.zeroshot import ZeroShotClassifier

CHANNELS = ["awgn", "rayleigh"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000, help="test images")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/sweep.json"))
    args = ap.parse_args()
    console = Console()

    data, grid, prompts = DataConfig(), GridConfig(), PromptStageConfig()  # the main job's defaults
    bb = create_backbone(data.backbone)
    test = create_dataset(data.dataset, limit=args.n)
    tokens, labels = dataset_tokens(bb, test)  # the cache a sweep reads
    jscc, path = default_codec(bb, "awgn", log=console.print)
    pool = Split.of(bb, create_dataset(prompts.shots_dataset, limit=prompts.shots_limit))
    pc = ProtocolConfig(learners=prompts.learners, seeds=[grid.seed], channels=CHANNELS, snrs_db=list(DEFAULT_SNRS),
                        train=replace(prompts.train, channels=CHANNELS))
    base, _ = base_novel(test.classes)
    learners = {name: get_learner(name, bb, jscc, path.stem, pool, base, pc, grid.seed, console.print)[0] for name in prompts.learners}
    clf = ZeroShotClassifier(bb, test.classes)
    classes = list(test.classes)

    encode_images(bb, test.image, range(min(64, len(test))))  # warm-up
    t = time.perf_counter()
    encode_images(bb, test.image, range(len(test)))
    t_encode = time.perf_counter() - t

    receivers = {"semclip": lambda tok, snr: clf.predict(tok)}
    receivers |= {f"semclip+{n}": (lambda tok, snr, lr=lr: lr.predict(tok, snr, classes)) for n, lr in learners.items()}
    per_method = {}
    t = time.perf_counter()
    for name, receiver in receivers.items():
        t0 = time.perf_counter()
        sweep(jscc, tokens, labels, receiver, CHANNELS, DEFAULT_SNRS, method=name)
        per_method[name] = time.perf_counter() - t0
    t_sweep = time.perf_counter() - t

    points = len(receivers) * len(CHANNELS) * len(DEFAULT_SNRS)
    res = {
        "images": len(test),
        "encode_s": round(t_encode, 2),
        "sweep_s": round(t_sweep, 2),
        "ratio_sweep_over_encode": round(t_sweep / t_encode, 3),
        "points": points,
        "methods": list(receivers),
        "sweep_s_per_method": {k: round(v, 2) for k, v in per_method.items()},
        **machine_facts(),
    }
    atomic_write_json(args.out, res)
    table = Table(title=f"{len(test)} test images: one backbone pass against the full sweep ({points} points)")
    table.add_column("what")
    table.add_column("seconds", justify="right")
    table.add_row("backbone encoding pass", f"{t_encode:.2f}")
    for k, v in per_method.items():
        table.add_row(f"sweep {k} (14 points)", f"{v:.2f}")
    table.add_row("sweep, all methods", f"{t_sweep:.2f}")
    table.add_row("ratio sweep / encode", f"{t_sweep / t_encode:.3f}")
    console.print(table)
    console.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
