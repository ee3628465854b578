"""Why retrieval at k = 64 stays below 0.95x clean: how much of clip-art image-to-text R@1
a k-symbol code could keep at all. Three rows per k, on the 573 clip-art test images
against their 511 captions:

- *subspace, no noise*: the token projected on the corpus's top 2k principal directions
  (the 2k real numbers k complex symbols carry; those of the shipped ``pca`` code) and
  back, no channel: what the linear codes (``pca``, ``pca-flat``) would keep without noise;
- the shipped codec (``semclip``) and the shipped power-allocated linear code (``pca``)
  through AWGN from 10 to 40 dB, one noise draw (seed 0).

A report, never a choice: nothing here picks a setting.

    python benchmarks/retrieval_ceiling.py [--out benchmarks/results/retrieval_ceiling.json]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from semclip._io import atomic_write_json, atomic_write_text
from semclip.backbones.registry import create_backbone
from semclip.channels.registry import create_channel
from semclip.data.registry import create_dataset
from semclip.jscc.zoo import CODEC_DATASET, default_codec, linear_code
from semclip.results import machine_facts
from semclip.tasks.retrieval import CaptionIndex
from semclip.tokens.cache import dataset_tokens, lazy_tokens

KS = (16, 32, 64)
SNRS = (10.0, 20.0, 30.0, 40.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/retrieval_ceiling.json"))
    args = ap.parse_args()
    bb = create_backbone("pocketclip")
    corpus = create_dataset(CODEC_DATASET)
    test = create_dataset("clipart:test")
    tokens, _ = dataset_tokens(bb, test)
    index = CaptionIndex(bb, test.captions())

    def r1(t: torch.Tensor) -> float:
        return round(index.recall(t)["image-to-text"]["r@1"], 4)

    clean = r1(tokens)
    codecs = {"semclip": default_codec(bb)[0], "pca": linear_code(bb, corpus, lazy_tokens(bb, corpus))[0]}
    mean, dirs = codecs["pca"].mean, codecs["pca"].directions  # the corpus's principal directions, k_max = 64
    rows: dict[str, dict[str, float]] = {}
    for k in KS:
        d = dirs[: 2 * k]
        rows[f"subspace k={k}, no noise"] = {"r@1": r1(mean + ((tokens - mean) @ d.t()) @ d)}
        for name, codec in codecs.items():
            row = {}
            for snr in SNRS:
                ch = create_channel("awgn", generator=torch.Generator().manual_seed(0))
                with torch.no_grad():
                    row[f"{snr:g} dB"] = r1(codec.at(k).transmit(tokens, torch.full((len(tokens), 1), snr), ch))
            rows[f"{name} k={k}"] = row
        print(k, {n: r for n, r in rows.items() if f"k={k}" in n}, flush=True)
    cols = ["r@1"] + [f"{s:g} dB" for s in SNRS]
    md = ["| code | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
    md += [f"| {n} | " + " | ".join(f"{r[c]:.3f} ({r[c] / clean:.3f}x)" if c in r else "" for c in cols) + " |" for n, r in rows.items()]
    atomic_write_json(args.out, {"clean_r@1": clean, "images": len(tokens), "captions": len(index.texts),
                                 "codec_corpus": corpus.name, "rows": rows, "machine": machine_facts()})
    atomic_write_text(args.out.with_suffix(".md"), f"clean image-to-text R@1 {clean:.3f}\n\n" + "\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
