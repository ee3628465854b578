"""How the codec's training defaults are chosen, without any evaluation set: train on 90 %
of the transmitter corpus (split by source image, all views of one image on the same side)
and score on the held-out 10 % (first view): mean cosine between sent and received token,
image-to-caption R@1 among the held-out captions, and the agreement of the received
token's zero-shot label over the 1000 ImageNet names with the clean token's, at k = 4, 16,
64 and 0, 10 dB AWGN (and any other ``--channels``), beside the linear code fitted on the same
90 %. Pass codec training settings as JSON.

    python benchmarks/codec_validation.py '{"semantic_weight": 0, "instance_weight": 0}' '{}' \
        [--out benchmarks/results/codec_validation.json] [--channels awgn,ofdm-tdl:B:ls]
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch

from semclip._io import atomic_write_json
from semclip.backbones.registry import create_backbone
from semclip.channels.registry import create_channel
from semclip.data.registry import create_dataset
from semclip.tokens.cache import dataset_tokens
from semclip.job.config import CodecsConfig, DataConfig, GridConfig
from semclip.jscc.zoo import corpus_bank
from semclip.results import machine_facts
from semclip.jscc.linear import LinearCode
from semclip.jscc.model import JSCCConfig, TokenJSCC
from semclip.jscc.train import train_jscc
from semclip.data.imagenet_names import imagenet_classes
from semclip.tasks.retrieval import CaptionIndex
from semclip.tasks.zeroshot import ZeroShotClassifier

POINTS = [(k, snr) for k in (4, 16, 64) for snr in (0.0, 10.0)]


def score(code, tokens: torch.Tensor, index: CaptionIndex, names: ZeroShotClassifier, channels: list[str]) -> dict[str, list[float]]:
    out = {}
    clean = names.predict(tokens)
    for channel in channels:
        for k, snr in POINTS:
            ch = create_channel(channel, generator=torch.Generator().manual_seed(0))
            rx = code.at(k).transmit(tokens, torch.full((tokens.shape[0], 1), snr), ch)
            where = f"k={k} {snr:g}dB" + ("" if channel == "awgn" else f" {channel}")  # AWGN keeps its earlier keys
            out[where] = [round(float((rx * tokens).sum(1).mean()), 4), round(index.recall(rx)["image-to-text"]["r@1"], 4),
                          round(float((names.predict(rx) == clean).float().mean()), 4)]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("settings", nargs="*", help="JSON overrides of JSCCTrainConfig, one codec each ('{}': the defaults)")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/codec_validation.json"))
    ap.add_argument("--channels", default="awgn", help="channels scored (comma-separated; e.g. an OFDM link no recipe trains on)")
    args = ap.parse_args()
    channels = [c for c in args.channels.split(",") if c]
    job, grid, codecs = DataConfig(), GridConfig(), CodecsConfig()  # the main job's defaults
    bb = create_backbone(job.backbone)
    corpus = create_dataset(job.train_dataset, limit=job.train_limit)
    tokens, _ = dataset_tokens(bb, corpus)
    views = corpus.views
    n_src = tokens.shape[0] // views
    perm = torch.randperm(n_src, generator=torch.Generator().manual_seed(0))
    held, kept = perm[: n_src // 10], perm[n_src // 10 :]
    train = tokens[(kept[:, None] * views + torch.arange(views)).flatten()]
    val = tokens[held * views]
    captions = corpus.captions()
    index = CaptionIndex(bb, [captions[i * views] for i in held.tolist()])
    bank = corpus_bank(bb, corpus)
    names = ZeroShotClassifier(bb, list(dict.fromkeys(imagenet_classes())))  # CLIP's list names two classes twice
    rows = {"clean": {"r@1": round(index.recall(val)["image-to-text"]["r@1"], 4)},
            "pca-flat": score(LinearCode.fitted(train, grid.ks), val, index, names, channels)}
    for spec in args.settings or ["{}"]:
        over = json.loads(spec)
        t0 = time.time()
        model = TokenJSCC(JSCCConfig(dim=train.shape[1], ks=grid.ks))
        train_jscc(model, train, bank, replace(codecs.jscc, **over))
        rows[spec] = score(model, val, index, names, channels) | {"seconds": round(time.time() - t0, 1)}
        print(spec, rows[spec], flush=True)
    atomic_write_json(args.out, {"metric": "[mean cosine, image-to-caption R@1, ImageNet-name zero-shot agreement with the clean token] "
                                           "on held-out corpus images", "n_train": len(train),
                                 "n_val": len(val), "rows": rows, "defaults": asdict(codecs.jscc), "machine": machine_facts()})


if __name__ == "__main__":
    main()
