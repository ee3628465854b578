"""The default codec's spread over training seeds, and whether the thread count changes results.

Seeds: the default recipe (transmitter corpus, default settings) trained with seeds 0 (the
shipped codec), 1 and 2, each scored on Fashion-MNIST test and clip-art test (zero-shot
top-1 with the hand-crafted receiver, AWGN, one noise draw, seed 0) at k = 16, 0 and
10 dB, and k = 32, 10 dB. Reports each figure per seed, their mean and their range.

Threads (``--threads``): the same short codec training (100 steps of the default recipe)
and the same evaluation, each run in a fresh process with 1 and with 2 torch threads;
reports the largest difference of any weight and of any received token, and whether
the two runs are equal bit for bit.

Batch scaling (``--batch-scaling 1024,4096``): the default recipe with a larger batch, as a
GPU would run it (issue 29): the same number of training samples (batch / B times fewer
steps, B the default's batch: 256 when this was measured, 1024 since) and the learning rate
scaled by sqrt(batch / B) (the square-root rule for Adam), scored at the same points. A
larger batch costs no accuracy when its figures stay inside the seeds' range. With
``--same-steps`` it keeps the default's steps instead (batch / B times the samples: what a
GPU does in the same time, its step taking about as long at any batch). A check that
reports, never one that chooses (it scores the evaluation sets); the leave-one-domain-out
validation (``codec_lodo.py``) is what made batch 1024 the default.

    python benchmarks/codec_seeds.py [--seeds 0,1,2] [--threads] [--batch-scaling 1024,4096 [--same-steps]]
        [--out benchmarks/results/codec_seeds.json]

``codec_seeds.json`` holds the batch-256 recipe's seeds and its batch-scaling checks;
``codec_seeds_b1024.json`` the seeds of batch 1024 at lr 2e-3 on the 3-view corpus;
``codec_seeds_v5.json`` those of today's default (the same on the 5-view corpus).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import torch

from semclip._io import atomic_write_json
from semclip.backbones.registry import create_backbone
from semclip.channels.registry import create_channel
from semclip.data.registry import create_dataset
from semclip.tokens.cache import dataset_tokens, lazy_tokens
from semclip.results import machine_facts
from semclip.jscc.train import JSCCTrainConfig
from semclip.jscc.zoo import CODEC_DATASET, codec_recipe, get_jscc
from semclip.tasks.zeroshot import ZeroShotClassifier, top1_accuracy

POINTS = [(16, 0.0), (16, 10.0), (32, 10.0)]


def score(codec, evalsets: dict) -> dict[str, float]:
    out = {}
    for name, (tokens, labels, clf) in evalsets.items():
        for k, snr in POINTS:
            ch = create_channel("awgn", generator=torch.Generator().manual_seed(0))
            with torch.no_grad():
                rx = codec.at(k).transmit(tokens, torch.full((len(tokens), 1), snr), ch)
            out[f"{name} k={k} {snr:g}dB"] = round(top1_accuracy(clf.predict(rx), labels), 4)
    return out


def evaluation_sets(bb) -> dict:
    sets = {}
    for spec in ("fashion-mnist:test", "clipart:test"):
        data = create_dataset(spec)
        t, y = dataset_tokens(bb, data)
        sets[data.name] = (t, y, ZeroShotClassifier(bb, data.classes))
    return sets


def one_thread_run(threads: int, out: Path) -> None:
    """In this process: ``threads`` torch threads, 100 steps of the default recipe, then the
    received tokens of 2000 Fashion-MNIST test images; saved to ``out``."""
    from safetensors.torch import save_file

    from semclip.jscc.model import TokenJSCC
    from semclip.jscc.train import train_jscc
    from semclip.jscc.zoo import codec_configs, corpus_bank

    torch.set_num_threads(threads)
    bb = create_backbone("pocketclip")
    train = create_dataset(CODEC_DATASET)
    tokens, _ = dataset_tokens(bb, train)
    mcfg, tcfg = codec_configs(bb, *codec_recipe("awgn"), tcfg=JSCCTrainConfig(steps=100))
    torch.manual_seed(tcfg.seed)
    codec = TokenJSCC(mcfg)
    train_jscc(codec, tokens, corpus_bank(bb, train), tcfg)
    test, _ = dataset_tokens(bb, create_dataset("fashion-mnist:test#2000"))
    ch = create_channel("awgn", generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        rx = codec.at(16).transmit(test, torch.full((len(test), 1), 5.0), ch)
    save_file({**{f"w.{k}": v.contiguous() for k, v in codec.state_dict().items()}, "received": rx.contiguous()}, str(out))


def thread_check() -> dict:
    from safetensors.torch import load_file

    with tempfile.TemporaryDirectory() as tmp:
        got = {}
        for n in (1, 2):
            path = Path(tmp) / f"t{n}.safetensors"
            subprocess.run([sys.executable, __file__, "--one-thread-run", str(n), str(path)], check=True)
            got[n] = load_file(str(path))
    a, b = got[1], got[2]
    weights = max(float((a[k] - b[k]).abs().max()) for k in a if k.startswith("w.") and a[k].is_floating_point())
    return {"steps": 100, "max_abs_weight_difference": weights,
            "max_abs_received_difference": float((a["received"] - b["received"]).abs().max()),
            "bit_for_bit": all(torch.equal(a[k], b[k]) for k in a)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--threads", action="store_true", help="also compare 1 and 2 torch threads")
    ap.add_argument("--batch-scaling", default="", help="comma-separated larger batch sizes to train the default recipe with")
    ap.add_argument("--same-steps", action="store_true", help="batch scaling keeps the default's steps (more samples)")
    ap.add_argument("--one-thread-run", nargs=2, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/codec_seeds.json"))
    args = ap.parse_args()
    if args.one_thread_run:
        one_thread_run(int(args.one_thread_run[0]), Path(args.one_thread_run[1]))
        return
    state = json.loads(args.out.read_text()) if args.out.exists() else {"seeds": {}}
    bb = create_backbone("pocketclip")
    evalsets = evaluation_sets(bb)
    train = create_dataset(CODEC_DATASET)
    for seed in map(int, args.seeds.split(",")):
        if str(seed) in state["seeds"]:
            continue
        codec, path = get_jscc(bb, train, lazy_tokens(bb, train), *codec_recipe("awgn"), tcfg=replace(JSCCTrainConfig(), seed=seed))
        state["seeds"][str(seed)] = {"codec": path.name, **score(codec, evalsets)}
        print(seed, state["seeds"][str(seed)], flush=True)
        atomic_write_json(args.out, state)
    points = [p for p in next(iter(state["seeds"].values())) if p != "codec"]
    state["spread"] = {p: {"mean": round(sum(v[p] for v in state["seeds"].values()) / len(state["seeds"]), 4),
                           "min": min(v[p] for v in state["seeds"].values()), "max": max(v[p] for v in state["seeds"].values())}
                       for p in points}
    base = JSCCTrainConfig()
    for batch in [int(b) for b in args.batch_scaling.split(",") if b]:
        key = f"{batch} same steps" if args.same_steps else str(batch)
        if key in state.setdefault("batch_scaling", {}):
            continue
        ratio = batch / base.batch_size
        steps = base.steps if args.same_steps else max(1, round(base.steps / ratio))
        tcfg = replace(base, batch_size=batch, steps=steps, lr=base.lr * ratio**0.5)
        codec, path = get_jscc(bb, train, lazy_tokens(bb, train), *codec_recipe("awgn"), tcfg=tcfg)
        state["batch_scaling"][key] = {"codec": path.name, "steps": tcfg.steps, "lr": tcfg.lr, **score(codec, evalsets)}
        print(key, state["batch_scaling"][key], flush=True)
        atomic_write_json(args.out, state)
    if args.threads:
        state["threads"] = thread_check()
        print(state["threads"])
    state["machine"] = machine_facts()
    atomic_write_json(args.out, state)
    print(json.dumps(state["spread"], indent=1))


if __name__ == "__main__":
    main()
