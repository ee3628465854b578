"""Validation of the receiver's prompt designs, from Fashion-MNIST *training* images only:
what chooses TAPL's regularisers and the centering, never a test split.

The protocol mirrors base-to-novel inside the base classes. Fashion-MNIST's base classes
(the first five) are split again, three ways (folds): in fold f the classes
{3 + 2f, 4 + 2f} (mod 5) are the *inner novel* classes, which no learner of that fold
sees, the other three the *inner base* classes it trains on (16 shots each, from the first
10 000 training images, as the protocols draw them); fold f trains with seed f. One fixed
pair of novel classes (a two-way task) says more about that pair than about novel classes.
Scores are taken on training images PocketCLIP never saw either (each class's images after
its first 1200, which the heads trained on; ``--pool`` training images are read), sent
through the default codec at k over AWGN (and Rayleigh with ``--channels awgn,rayleigh``)
at every SNR of the grid, with the same noise for every variant of a fold. The novel classes of the protocols
(Fashion-MNIST's last five) are never read.

Per variant: inner-base and inner-novel top-1 over the three folds' images (grid means),
their harmonic mean per SNR averaged over the grid, and the paired difference to the
hand-crafted receiver on the inner-novel images at each SNR (95 % normal interval over
images, ``semclip.stats.paired_over_seeds``; each image is novel in one fold). The
score that picks a variant is the grid-mean harmonic mean, among the variants whose
inner-novel difference to hand-crafted has no interval wholly below zero. Results are
written after every (variant, fold), so an interrupted run goes on where it stopped.

Variants ending in "+ tta" add label-free test-time prompt tuning (``semclip.prompts.tta``)
to a learner; they cost a text-tower step per chunk of tokens, so their table is made on
the first ``--held-limit`` held-out images (the file name says so), the other rows on the
same images for the paired differences.

    python benchmarks/prompt_validation.py [--variants a,b] [--k 16] [--channels awgn,rayleigh] [--held-limit N]
"""

from __future__ import annotations

import argparse
import functools
import json
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from semclip._io import atomic_write_json, atomic_write_text
from semclip.backbones.registry import create_backbone
from semclip.data.registry import create_dataset
from semclip.eval.protocols import ProtocolConfig, Split, get_learner, prompt_recipe, sweep_learner
from semclip.results import machine_facts
from semclip.stats import paired_over_seeds, unpack_outcomes
from semclip.jscc.zoo import default_codec
from semclip.prompts.base import DEFAULTED, PromptConfig
from semclip.prompts.registry import resolved_config
from semclip.prompts.train import PromptTrainConfig
from semclip.prompts.tta import TTAConfig

SEEN_PER_CLASS = 1200  # PocketCLIP's heads trained on each class's first 1200 training images
POOL = 10000  # the protocols' few-shot pool: the first 10 000 training images
BASE = 5  # Fashion-MNIST's base classes are 0-4
FOLDS = 3


def fold_classes(fold: int) -> tuple[list[int], list[int]]:
    """(inner base, inner novel) classes of ``fold``: novel {3 + 2f, 4 + 2f} mod 5."""
    novel = sorted({(3 + 2 * fold) % BASE, (4 + 2 * fold) % BASE})
    return [c for c in range(BASE) if c not in novel], novel


SNRS = [-10.0, -5.0, 0.0, 5.0, 10.0, 20.0]

OFF = {f: 0.0 for f in DEFAULTED}  # every variant spells out its regularisers: learners' defaults may change
C = OFF | {"centering": 1.0}
REG = {"agreement": 1.0, "image_anchor": 10.0, "ensemble": 0.15}
# learner name, PromptConfig overrides[, test-time adaptation]
VARIANTS: dict[str, tuple] = {
    "hand-crafted": ("handcrafted", OFF),
    "hand-crafted + centering": ("handcrafted", C),
    "hand-crafted + half centering": ("handcrafted", OFF | {"centering": 0.5}),
    "coop": ("coop", OFF),
    "coop + centering": ("coop", C),
    "tapl (before issue 26)": ("tapl", OFF),
    "tapl + centering": ("tapl", C),
    "tapl + centering + agreement": ("tapl", C | {"agreement": 1.0}),
    "tapl + centering + image anchor": ("tapl", C | {"image_anchor": 10.0}),
    "tapl + centering + ensemble": ("tapl", C | {"ensemble": 0.15}),
    "tapl + centering + all three": ("tapl", C | REG),
    "tapl text-only + centering + agreement + ensemble": ("tapl:text-only", C | {"agreement": 1.0, "ensemble": 0.15}),
    "tapl + centering + all three + anchor 8": ("tapl", C | REG | {"anchor": 8.0}),
    "tapl + learned centering": ("tapl", C | {"centering_learned": True}),
    "tapl + learned centering + ensemble": ("tapl", C | {"centering_learned": True, "ensemble": 0.15}),
    "tapl text-only + learned centering + ensemble": ("tapl:text-only", C | {"centering_learned": True, "ensemble": 0.15}),
    "coop + ensemble": ("coop", OFF | {"ensemble": 0.15}),
    "tapl + learned half centering": ("tapl", OFF | {"centering": 0.5, "centering_learned": True}),
    "tapl text-only": ("tapl:text-only", OFF),
    "tapl without SNR": ("tapl:no-snr", OFF),
    "tapl without anchor": ("tapl", OFF | {"anchor": 0.0}),
    "tapl + anchor 1": ("tapl", OFF | {"anchor": 1.0}),
    "tapl + anchor 16": ("tapl", OFF | {"anchor": 16.0}),
    # output ensembles with the frozen receiver, trained as residuals on its scores
    "tapl + blend 0.5": ("tapl", OFF | {"blend": 0.5}),
    "tapl + blend 0.3": ("tapl", OFF | {"blend": 0.3}),
    "tapl + centering + blend 0.5": ("tapl", C | {"blend": 0.5}),
    "tapl + learned half centering + blend 0.5": ("tapl", OFF | {"centering": 0.5, "centering_learned": True, "blend": 0.5}),
    "coop + blend 0.5": ("coop", OFF | {"blend": 0.5}),
    "tapl + test blend 0.5": ("tapl", OFF | {"blend": 0.5, "blend_train": False}),
    "tapl + test blend 0.3": ("tapl", OFF | {"blend": 0.3, "blend_train": False}),
    "tapl + learned half centering + test blend 0.5": ("tapl", OFF | {"centering": 0.5, "centering_learned": True,
                                                                      "blend": 0.5, "blend_train": False}),
    "coop + test blend 0.5": ("coop", OFF | {"blend": 0.5, "blend_train": False}),
    # test-time prompt tuning (TPT): on the hand-crafted receiver (CoOp's context from "a photo of a"), on learners
    "hand-crafted + tta": ("handcrafted", OFF, TTAConfig()),
    "hand-crafted + tta (keep 0.1 of 32 views)": ("handcrafted", OFF, TTAConfig(views=32, keep=0.1)),
    "hand-crafted + tta (lr 2e-2)": ("handcrafted", OFF, TTAConfig(lr=2e-2)),
    "hand-crafted + tta (3 steps)": ("handcrafted", OFF, TTAConfig(steps=3)),
    "hand-crafted + tta (chunks of 16)": ("handcrafted", OFF, TTAConfig(chunk=16)),
    "hand-crafted + centering + tta": ("handcrafted", C, TTAConfig()),
    "coop + tta": ("coop", OFF, TTAConfig()),
    "tapl + tta": ("tapl", OFF, TTAConfig()),
    "tapl + centering + all three + tta": ("tapl", C | REG, TTAConfig()),
}
REFERENCE = "hand-crafted"


def validation_split(backbone, pool: int) -> tuple[Split, Split]:
    """(the few-shot pool: first POOL training images; the held-out images: every class's
    images after its first SEEN_PER_CLASS, among the first ``pool``)."""
    data = create_dataset("fashion-mnist:train", limit=pool)
    whole = Split.of(backbone, data)
    labels = whole.labels.numpy()
    rank = np.zeros_like(labels)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rank[idx] = np.arange(idx.size)
    held = torch.from_numpy(np.flatnonzero((rank >= SEEN_PER_CLASS) & (np.arange(labels.size) >= POOL)))
    shots = whole.take(torch.arange(POOL))
    return shots, whole.take(held)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--variants", default=None,
                    help="comma-separated variant names (default: every one; those with tta only with --held-limit)")
    ap.add_argument("--k", type=int, default=16)
    ap.add_argument("--channels", default="awgn")
    ap.add_argument("--pool", type=int, default=30000, help="training images read (held-out ones come after the pool)")
    ap.add_argument("--held-limit", type=int, default=None, help="score on the first N held-out images only")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/prompt_validation.json"))
    args = ap.parse_args()
    names = ([v for v in args.variants.split(",") if v] if args.variants is not None
             else [v for v, spec in VARIANTS.items() if args.held_limit or len(spec) == 2])
    unknown = [v for v in names if v not in VARIANTS]
    if unknown:
        raise SystemExit(f"unknown variant(s) {unknown}; choose from {list(VARIANTS)}")
    channels = args.channels.split(",")
    backbone = create_backbone("pocketclip")
    jscc, path = default_codec(backbone, "awgn", k=args.k)
    shots, held = validation_split(backbone, args.pool)
    tag = f"_k{args.k}" + ("_" + "_".join(channels) if channels != ["awgn"] else "")
    if args.held_limit:
        held = held.take(torch.arange(min(args.held_limit, held.tokens.shape[0])))
        tag += f"_held{args.held_limit}"
    out = args.out.with_name(f"{args.out.stem}{tag}{args.out.suffix}")
    done = json.loads(out.read_text()) if out.exists() else {"runs": {}}
    for name in names:
        learner_name, overrides, *tta = VARIANTS[name]
        prompt = PromptConfig(**overrides)
        for fold in range(FOLDS):
            key = f"{name} | fold {fold}"
            recipe = prompt_recipe(resolved_config(learner_name, prompt)) | ({"tta": asdict(tta[0])} if tta else {})
            if key in done["runs"] and done["runs"][key]["recipe"] == recipe:
                continue
            t0 = time.time()
            base, novel = fold_classes(fold)
            cfg = ProtocolConfig(learners=[learner_name], seeds=[fold], channels=channels, snrs_db=SNRS, prompt=prompt,
                                 train=PromptTrainConfig(channels=channels))
            learner, _ = get_learner(learner_name, backbone, jscc, path.stem, shots, base, cfg, fold)
            run = {"recipe": recipe, "seconds": 0.0, "outcomes": {}}
            for split, (tokens, labels, classes) in (("base", held.subset(base)), ("novel", held.subset(novel))):
                recs = sweep_learner(learner, jscc, tokens, labels, classes, channels, SNRS, fold, tta[0] if tta else None)
                for r in recs:
                    run["outcomes"][f"{split} {r.channel} {r.snr_db:g}"] = [r.value, r.outcomes, r.n]
            run["seconds"] = round(time.time() - t0, 1)
            done["runs"][key] = run
            done["machine"] = machine_facts()
            atomic_write_json(out, done)
            print(f"{key}: {run['seconds']} s", flush=True)
    table = summarise(done, names, channels, args.k)
    atomic_write_text(out.with_suffix(".md"), table)
    print(table)


def summarise(done: dict, names: list[str], channels: list[str], k: int) -> str:
    """The validation table (markdown) of ``names``, every fold's images pooled."""

    @functools.cache  # the reference's outcomes are compared with every variant's
    def outcomes(name: str, split: str, ch: str, snr: float) -> np.ndarray:
        rows = [done["runs"][f"{name} | fold {f}"]["outcomes"][f"{split} {ch} {snr:g}"] for f in range(FOLDS)]
        return np.concatenate([unpack_outcomes(o, n) for _, o, n in rows])[None]  # [1, images of every fold]

    have = [n for n in names if all(f"{n} | fold {f}" in done["runs"] for f in range(FOLDS))]
    head = (f"Prompt validation at k = {k}: Fashion-MNIST training images only, inside the base classes 0-4 "
            f"({FOLDS} folds, inner novel classes {[fold_classes(f)[1] for f in range(FOLDS)]}, seed = fold; scored on "
            f"held-out images PocketCLIP never saw), channels {channels}, SNRs {SNRS}. Differences to {REFERENCE} are "
            "paired on the same images and noise, 95 % intervals over images.\n\n"
            "| variant | base | novel | harmonic mean | novel - hand-crafted at -5 dB | at 0 dB | lowest upper bound over the grid | verdict |\n"
            "|---|---|---|---|---|---|---|---|\n")
    lines = []
    for name in have:
        base = {(ch, s): outcomes(name, "base", ch, s).mean() for ch in channels for s in SNRS}
        novel = {(ch, s): outcomes(name, "novel", ch, s).mean() for ch in channels for s in SNRS}
        hm = np.mean([2 * base[p] * novel[p] / max(base[p] + novel[p], 1e-9) for p in base])
        diffs = {(ch, s): paired_over_seeds(outcomes(name, "novel", ch, s), outcomes(REFERENCE, "novel", ch, s))
                 for ch in channels for s in SNRS} if REFERENCE in have and name != REFERENCE else {}
        fmt = lambda p: "" if p not in diffs else f"{diffs[p][0]:+.3f} [{diffs[p][1]:+.3f}, {diffs[p][2]:+.3f}]"  # noqa: E731
        worst = min((d[2] for d in diffs.values()), default=float("nan"))
        verdict = "reference" if name == REFERENCE else ("eligible" if worst >= 0 else "novel below hand-crafted somewhere")
        lines.append(f"| {name} | {np.mean(list(base.values())):.3f} | {np.mean(list(novel.values())):.3f} | {hm:.3f} | "
                     f"{fmt((channels[0], -5.0))} | {fmt((channels[0], 0.0))} | {worst:+.3f} | {verdict} |")
    return head + "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
