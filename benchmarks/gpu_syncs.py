"""Where do codec and prompt training wait for the GPU? A step that makes the host wait
(``.item()``, a copy to the host, a data-dependent shape) cannot overlap the next one, so a
small model's step costs the host's latency whatever the batch. This runs a few steps of
``train_jscc`` and ``train_prompts`` under ``torch.cuda.set_sync_debug_mode("warn")`` and
counts each synchronising line of semclip's code (the innermost semclip frame of each
warning's stack). GPU only.

    python benchmarks/gpu_syncs.py [--out benchmarks/results/gpu_syncs.json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import traceback
import warnings
from collections import Counter
from pathlib import Path

import torch

from semclip import device as devices
from semclip._io import atomic_write_json
from semclip.backbones.registry import create_backbone
from semclip.data.registry import create_dataset
from semclip.jscc.model import JSCCConfig, TokenJSCC
from semclip.jscc.train import JSCCTrainConfig, train_jscc
from semclip.jscc.zoo import text_embeddings
from semclip.prompts.base import PromptConfig
from semclip.prompts.registry import create_learner
from semclip.prompts.train import PromptTrainConfig, train_prompts
from semclip.tokens.cache import dataset_tokens


def where_syncs(fn, steps: int) -> dict[str, float]:
    """Synchronising semclip lines of ``fn`` and how often each ran per step."""
    counts: Counter = Counter()

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        frames = [f for f in traceback.extract_stack() if "/semclip/" in f.filename]
        if frames:
            f = frames[-1]
            counts[f"{f.filename.split('/semclip/')[-1]}:{f.lineno} {f.line}"] += 1

    torch.cuda.set_sync_debug_mode("warn")
    try:
        with warnings.catch_warnings():  # puts the filters and showwarning back on exit
            warnings.simplefilter("always")
            warnings.showwarning = show
            fn()
    finally:
        torch.cuda.set_sync_debug_mode(0)
    return {k: round(v / steps, 2) for k, v in counts.most_common()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/gpu_syncs.json"))
    args = ap.parse_args()
    devices.select("cuda")
    bb = create_backbone("pocketclip")
    fm = create_dataset("fashion-mnist:test")
    with tempfile.TemporaryDirectory() as tmp:
        tokens, labels = dataset_tokens(bb, fm, root=Path(tmp))
        bank = text_embeddings(bb, [f"a photo of a {c}." for c in fm.classes])
        model = TokenJSCC(JSCCConfig(dim=bb.dim))
        train_jscc(model, tokens, bank, JSCCTrainConfig(steps=5))  # warm-up
        report = {"codec (per step, 20 steps)": where_syncs(
            lambda: train_jscc(TokenJSCC(JSCCConfig(dim=bb.dim)), tokens, bank, JSCCTrainConfig(steps=20)), 20)}
        codec = model.at(16)

        def prompts(n: int) -> None:
            learner = create_learner("tapl", bb, PromptConfig(), k=16)
            train_prompts(learner, codec, tokens, labels, fm.classes, PromptTrainConfig(steps=n, save_every=10**6),
                          Path(tmp) / f"p{n}.safetensors")

        prompts(2)
        report["prompts (per step, 10 steps)"] = where_syncs(lambda: prompts(10), 10)
    atomic_write_json(args.out, report)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
