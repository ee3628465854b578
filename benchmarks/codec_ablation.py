"""Which loss terms keep what a task-agnostic token codec must keep? Trains the codec on the
transmitter corpus (no evaluation image, no evaluation class list) with each loss variant,
and measures, on data it never saw, zero-shot top-1 on Fashion-MNIST test and clip-art
test and image-to-text R@1 on clip-art test, at k = 4, 16 and 64, 0 and 10 dB AWGN, beside
the linear code (pca) fitted on the same corpus. Also compares the one rate-adaptive codec
with codecs trained for a single k (``--per-k``). The default was chosen before this ran,
on held-out corpus images (``benchmarks/codec_validation.py``); this table reports it.

    python benchmarks/codec_ablation.py [--steps 1500] [--per-k] [--out benchmarks/results/codec_ablation.json]
    python benchmarks/codec_ablation.py --per-k-only --out benchmarks/results/codec_per_k.json
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch

from semclip._io import atomic_write_json, atomic_write_text
from semclip.backbones.registry import create_backbone
from semclip.data.registry import create_dataset
from semclip.tokens.cache import dataset_tokens
from semclip.job.config import CodecsConfig, DataConfig, GridConfig
from semclip.jscc.zoo import corpus_bank, default_codec
from semclip.results import machine_facts
from semclip.eval.retrieval import sweep_retrieval
from semclip.eval.sweep import sweep_semclip
from semclip.jscc.allocated import AllocatedLinearCode
from semclip.jscc.linear import LinearCode
from semclip.jscc.model import JSCCConfig, TokenJSCC
from semclip.jscc.train import JSCCTrainConfig, train_jscc
from semclip.tasks.retrieval import CaptionIndex
from semclip.tasks.zeroshot import ZeroShotClassifier, top1_accuracy

# (training overrides, model overrides) of each variant; "+ text + instance (1.0 each)" is the main job's codec (CodecsConfig)
VARIANTS = {
    "reconstruction only": ({"semantic_weight": 0.0, "instance_weight": 0.0}, {}),
    "+ text (1.0)": ({"semantic_weight": 1.0, "instance_weight": 0.0}, {}),
    "+ instance (1.0)": ({"semantic_weight": 0.0, "instance_weight": 1.0}, {}),
    "+ text + instance (1.0 each)": ({"semantic_weight": 1.0, "instance_weight": 1.0}, {}),
    "+ text + instance (0.1 each)": ({"semantic_weight": 0.1, "instance_weight": 0.1}, {}),
    "reconstruction only / no linear base": ({"semantic_weight": 0.0, "instance_weight": 0.0}, {"linear_base": False}),
}
SNRS = (0.0, 10.0)
BANDWIDTHS = (4, 16, 64)


def evaluate(codec, evalsets, index, rtokens, ks=BANDWIDTHS, snrs=SNRS) -> dict:
    out = {}
    for k in ks:
        c = codec.at(k)
        for name, (tokens, labels, clf) in evalsets.items():
            for r in sweep_semclip(c, tokens, labels, clf, ["awgn"], list(snrs)):
                out[f"{name} k={k} {r.snr_db:g}dB"] = round(r.value, 4)
        for r in sweep_retrieval(c, rtokens, index, ["awgn"], list(snrs), "clipart-test"):
            if r.method != "clean" and r.view == "image-to-text" and r.metric == "r@1":
                out[f"R@1 k={k} {r.snr_db:g}dB"] = round(r.value, 4)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=JSCCTrainConfig.steps)
    ap.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated subset of: " + ", ".join(VARIANTS))
    ap.add_argument("--per-k", action="store_true", help="also train one codec per k and compare at every k")
    ap.add_argument("--per-k-only", action="store_true", help="only the per-k comparison, against the shipped default codec; "
                    "resumes from --out (each codec's row is written as soon as it is measured)")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/codec_ablation.json"))
    args = ap.parse_args()
    torch.manual_seed(0)
    bb = create_backbone("pocketclip")
    job, grid, codecs = DataConfig(), GridConfig(), CodecsConfig()  # the main job's defaults
    corpus = create_dataset(job.train_dataset, limit=job.train_limit)
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
    if args.per_k_only:
        return per_k_only(args, bb, grid, codecs, corpus, train, bank, evalsets, index, rtokens, clean)
    rows = {"clean": clean, "pca": evaluate(AllocatedLinearCode.fitted(train), evalsets, index, rtokens),
            "pca-flat": evaluate(LinearCode.fitted(train), evalsets, index, rtokens)}
    seconds = {}
    models = {}
    for name in args.variants.split(","):
        name = name.strip()
        if name not in VARIANTS:
            raise SystemExit(f"unknown variant {name!r}; choose from {list(VARIANTS)}")
        train_over, model_over = VARIANTS[name]
        t0 = time.time()
        model = TokenJSCC(JSCCConfig(dim=train.shape[1], ks=grid.ks, **model_over))
        train_jscc(model, train, bank, replace(codecs.jscc, steps=args.steps, **train_over))
        seconds[name] = round(time.time() - t0, 1)
        models[name] = model
        rows[name] = evaluate(model, evalsets, index, rtokens)
        print(name, rows[name], flush=True)
    per_k = {}
    if args.per_k:  # the one rate-adaptive codec against a codec trained for each k alone, at 0 and 10 dB
        shared = models.get("+ text + instance (1.0 each)")
        if shared is None:
            shared = TokenJSCC(JSCCConfig(dim=train.shape[1], ks=grid.ks))
            train_jscc(shared, train, bank, replace(codecs.jscc, steps=args.steps))
        per_k["one codec, all k"] = evaluate(shared, evalsets, index, rtokens, ks=grid.ks)
        for k in grid.ks:
            per_k[f"codec for k={k} only"], _ = single_k_row(k, train, bank, replace(codecs.jscc, steps=args.steps), evalsets, index, rtokens)
            print(k, per_k[f"codec for k={k} only"], flush=True)
    result = {"corpus": corpus.summary(), "n_train": len(train), "steps": args.steps, "clean": clean, "rows": rows,
              "per_k": per_k, "train_seconds": seconds, "config": asdict(codecs.jscc), "machine": machine_facts()}
    atomic_write_json(args.out, result)
    md = markdown(rows, clean)
    if per_k:
        md += "\n" + markdown({name: row for name, row in per_k.items()}, clean)
    atomic_write_text(args.out.with_suffix(".md"), md)
    print(md)


def single_k_row(k: int, train, bank, tcfg: JSCCTrainConfig, evalsets, index, rtokens) -> tuple[dict, float]:
    """A codec trained for k alone with ``tcfg``, scored at that k -> (scores, training seconds)."""
    t0 = time.time()
    single = TokenJSCC(JSCCConfig(dim=train.shape[1], ks=[k]))
    train_jscc(single, train, bank, tcfg)
    seconds = round(time.time() - t0, 1)
    return evaluate(single, evalsets, index, rtokens, ks=(k,)), seconds


def per_k_only(args, bb, grid, codecs, corpus, train, bank, evalsets, index, rtokens, clean) -> None:
    """The shipped default codec (one checkpoint, every k) against a codec trained for each k
    alone with the same recipe; every row is saved as soon as it is measured, and a rerun
    skips the rows it finds in ``--out``."""
    state = json.loads(args.out.read_text()) if args.out.exists() else {}
    per_k, seconds = state.get("per_k", {}), state.get("train_seconds", {})

    def save() -> None:
        atomic_write_json(args.out, {"corpus": corpus.summary(), "n_train": len(train), "steps": args.steps, "clean": clean,
                                     "per_k": per_k, "train_seconds": seconds, "config": asdict(codecs.jscc),
                                     "shared": "the shipped default codec (semclip.jscc.zoo.default_codec, awgn)",
                                     "machine": machine_facts()})
        atomic_write_text(args.out.with_suffix(".md"), per_k_table(per_k, grid.ks) + "\n" + markdown(per_k, clean))

    if "one codec, all k" not in per_k:
        shared, _ = default_codec(bb, "awgn", log=lambda *a: None)
        per_k["one codec, all k"] = evaluate(shared, evalsets, index, rtokens, ks=grid.ks)
        save()
    for k in grid.ks:
        name = f"codec for k={k} only"
        if name in per_k:
            continue
        per_k[name], seconds[name] = single_k_row(k, train, bank, replace(codecs.jscc, steps=args.steps), evalsets, index, rtokens)
        print(name, per_k[name], flush=True)
        save()
    save()
    print(per_k_table(per_k, grid.ks))


def per_k_table(per_k: dict, ks) -> str:
    """One row per k: the one codec / the codec for that k alone, and their difference."""
    one = per_k.get("one codec, all k", {})
    cols = [(f"{d} k={{k}} {snr}dB", f"{label} {snr} dB") for d, label in (("fashion-mnist-test", "FM"), ("clipart-test", "clip art"),
                                                                             ("R@1", "R@1")) for snr in ("0", "10")]
    out = ["| k | " + " | ".join(label for _, label in cols) + " |", "|---|" + "---|" * len(cols)]
    for k in ks:
        single = per_k.get(f"codec for k={k} only")
        if single is None:
            continue
        cells = []
        for key, _ in cols:
            a, b = one[key.format(k=k)], single[key.format(k=k)]
            cells.append(f"{a:.3f} / {b:.3f} ({a - b:+.3f})")
        out.append(f"| {k} | " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def markdown(rows: dict, clean: dict) -> str:
    cols = list(dict.fromkeys(c for name, row in rows.items() if name != "clean" for c in row))
    md = ["| variant | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
    md.append("| clean | " + " | ".join(f"{clean['R@1' if c.startswith('R@1') else c.split(' k=')[0]]:.3f}" for c in cols) + " |")
    for name, row in rows.items():
        if name != "clean":
            md.append(f"| {name} | " + " | ".join(f"{row[c]:.3f}" if c in row else "" for c in cols) + " |")
    return "\n".join(md) + "\n"


if __name__ == "__main__":
    main()
