"""How far the ``both`` mode's receiver update could shrink with an entropy coder.

The update is sent today as fixed-length grid indices (``ReceiverUpdate.bits``: every value
its ``bits`` bits, plus one float32 step per tensor). This adapts the shipped default codec
on the first 1000 unlabelled Fashion-MNIST *training* images in ``both`` mode with each
update kind, and reports per tensor the fixed-length size, the empirical entropy of its
grid indices (what an ideal static entropy coder would need, its table not counted) and
what zlib (deflate: LZ77 and Huffman) makes of the indices as bytes. A report on the sizes
only: no accuracy is measured, nothing is chosen.

    python benchmarks/update_coding.py [--kinds low-rank-4-3bit,low-rank-8-4bit] [--out benchmarks/results/update_coding.json]
"""

from __future__ import annotations

import argparse
import zlib
from pathlib import Path

import torch

from semclip._io import atomic_write_json
from semclip.backbones.registry import create_backbone
from semclip.data.registry import create_dataset
from semclip.jscc.adapt import AdaptConfig, adapt_codec
from semclip.jscc.model import UPDATE_KINDS, grid_step
from semclip.jscc.zoo import CODEC_DATASET, corpus_bank, default_codec
from semclip.results import machine_facts
from semclip.tokens.cache import dataset_tokens


def grid_indices(p: torch.Tensor, bits: int) -> torch.Tensor:
    """The integer grid index of every value of a quantized tensor (on the grid it was sent on)."""
    return torch.round(p.detach() / grid_step(p, bits)).to(torch.int8).flatten()


def entropy_bits(idx: torch.Tensor) -> float:
    _, counts = idx.unique(return_counts=True)
    pr = counts.double() / counts.sum()
    return float(-(pr * pr.log2()).sum()) * idx.numel()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kinds", default="low-rank-4-3bit,low-rank-8-4bit", help="comma-separated subset of: " + ", ".join(UPDATE_KINDS))
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/update_coding.json"))
    args = ap.parse_args()
    bb = create_backbone("pocketclip")
    pool, _ = dataset_tokens(bb, create_dataset("fashion-mnist:train#1000"))
    bank = corpus_bank(bb, create_dataset(CODEC_DATASET))
    out = {"images": 1000, "kinds": {}}
    for kind in args.kinds.split(","):
        if kind not in UPDATE_KINDS:
            raise SystemExit(f"unknown update kind {kind!r}; choose from {list(UPDATE_KINDS)}")
        codec, path = default_codec(bb, "awgn", k=16, log=lambda *a: None)
        adapt_codec(codec, pool, bank, AdaptConfig.chosen("both", update=kind))
        u = codec.decoder.update
        tensors = {}
        for name, p in u.named_parameters():
            idx = grid_indices(p, u.bits_per_value)
            tensors[name] = {"values": idx.numel(), "fixed_length_bits": idx.numel() * u.bits_per_value,
                             "entropy_bits": round(entropy_bits(idx)), "zlib_bits": 8 * len(zlib.compress(idx.numpy().tobytes(), 9))}
        total = {key: sum(t[key] for t in tensors.values()) for key in ("values", "fixed_length_bits", "entropy_bits", "zlib_bits")}
        out["kinds"][kind] = {"codec": path.name, "sent_bits": u.bits, "tensors": tensors, "total": total}
        print(kind, "sent", u.bits, total, flush=True)
    out["machine"] = machine_facts()
    atomic_write_json(args.out, out)


if __name__ == "__main__":
    main()
