"""Which loss terms keep what a task-agnostic token codec must keep? Trains the codec on the
transmitter corpus (no evaluation image, no evaluation class list) with each loss variant,
and measures, on data it never saw, zero-shot top-1 on Fashion-MNIST test and clip-art
test and image-to-text R@1 on clip-art test, at k = 16 and 64, 0 and 10 dB AWGN, beside
the linear code (pca) fitted on the same corpus. Also compares the one rate-adaptive codec
with codecs trained for a single k (``--per-k``).

    python benchmarks/codec_ablation.py [--steps 1500] [--per-k] [--out benchmarks/results/codec_ablation.json]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch

from semclip._io import atomic_write_json, atomic_write_text
from semclip.backbones.base import create_backbone
from semclip.data.registry import create_dataset
from semclip.data.token_cache import dataset_tokens
from semclip.demo import DemoConfig, codec_vocabulary, corpus_bank
from semclip.eval.results import machine_facts
from semclip.eval.retrieval import sweep_retrieval
from semclip.eval.sweep import sweep_semclip
from semclip.jscc.linear import LinearCode
from semclip.jscc.model import JSCCConfig, TokenJSCC
from semclip.jscc.train import JSCCTrainConfig, train_jscc
from semclip.tasks.retrieval import CaptionIndex
from semclip.tasks.zeroshot import ZeroShotClassifier, top1_accuracy

VARIANTS = {
    "recon only": dict(semantic_weight=0.0, instance_weight=0.0),
    "recon + text": dict(semantic_weight=1.0, instance_weight=0.0),
    "recon + instance": dict(semantic_weight=0.0, instance_weight=1.0),
    "recon + text + instance (default)": dict(),
    "default, random init": dict(init="random"),
}
SNRS = (0.0, 10.0)
KS = (16, 64)


def evaluate(codec, evalsets, index, rtokens, ks=KS, snrs=SNRS) -> dict:
    out = {}
    for k in ks:
        c = codec.at(k)
        for name, (tokens, labels, clf) in evalsets.items():
            for r in sweep_semclip(c, tokens, labels, clf, ["awgn"], list(snrs)):
                out[f"{name} k={k} {r.snr_db:g}dB"] = round(r.value, 4)
        for r in sweep_retrieval(c, rtokens, index, ["awgn"], list(snrs), "clipart-test"):
            if r.method != "clean" and r.split == "image-to-text" and r.metric == "r@1":
                out[f"R@1 k={k} {r.snr_db:g}dB"] = round(r.value, 4)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=JSCCTrainConfig.steps)
    ap.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated subset of: " + ", ".join(VARIANTS))
    ap.add_argument("--per-k", action="store_true", help="also train one codec per k and compare at every k")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/codec_ablation.json"))
    args = ap.parse_args()
    torch.manual_seed(0)
    bb = create_backbone("pocketclip")
    cfg = DemoConfig()
    corpus = create_dataset(cfg.train_dataset, limit=cfg.train_limit)
    train, _ = dataset_tokens(bb, corpus)
    bank = corpus_bank(bb, corpus)
    evalsets = {}
    for spec in ("fashion-mnist:test", "clipart:test"):
        data = create_dataset(spec)
        t, y = dataset_tokens(bb, data)
        clf = ZeroShotClassifier(bb, data.classes)
        evalsets[data.name] = (t, y, clf)
    rdata = create_dataset("clipart:test")
    rtokens, _ = dataset_tokens(bb, rdata)
    index = CaptionIndex(bb, rdata.captions())
    clean = {name: round(top1_accuracy(clf.predict(t), y), 4) for name, (t, y, clf) in evalsets.items()}
    clean["R@1"] = round(index.recall(rtokens)["image-to-text"]["r@1"], 4)
    rows = {"clean": clean, "pca": evaluate(LinearCode(train), evalsets, index, rtokens)}
    seconds = {}
    for name in args.variants.split(","):
        name = name.strip()
        t0 = time.time()
        model = TokenJSCC(JSCCConfig(dim=train.shape[1]))
        train_jscc(model, train, bank, replace(cfg.jscc, steps=args.steps, **VARIANTS[name]))
        seconds[name] = round(time.time() - t0, 1)
        rows[name] = evaluate(model, evalsets, index, rtokens)
        print(name, rows[name], flush=True)
    per_k = {}
    if args.per_k:
        ks = JSCCConfig().ks
        shared = rows.get("recon + text + instance (default)")
        model = TokenJSCC(JSCCConfig(dim=train.shape[1]))
        train_jscc(model, train, bank, replace(cfg.jscc, steps=args.steps))
        per_k["one codec, all k"] = evaluate(model, evalsets, index, rtokens, ks=ks, snrs=(10.0,)) if shared is None else None
        for k in ks:
            single = TokenJSCC(JSCCConfig(dim=train.shape[1], ks=[k]))
            train_jscc(single, train, bank, replace(cfg.jscc, steps=args.steps))
            per_k[f"codec for k={k} only"] = evaluate(single, evalsets, index, rtokens, ks=(k,), snrs=(10.0,))
        per_k["one codec, all k"] = evaluate(model, evalsets, index, rtokens, ks=ks, snrs=(10.0,))
    result = {"corpus": corpus.describe(), "n_train": len(train), "steps": args.steps, "clean": clean, "rows": rows,
              "per_k": per_k, "train_seconds": seconds, "config": asdict(cfg.jscc), "machine": machine_facts()}
    atomic_write_json(args.out, result)
    cols = [c for c in rows["pca"]]
    md = ["| variant | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
    md.append("| clean | " + " | ".join(str(clean["R@1" if c.startswith("R@1") else c.split(" k=")[0]]) for c in cols) + " |")
    for name, row in rows.items():
        if name != "clean":
            md.append(f"| {name} | " + " | ".join(f"{row[c]:.3f}" for c in cols) + " |")
    atomic_write_text(args.out.with_suffix(".md"), "\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
