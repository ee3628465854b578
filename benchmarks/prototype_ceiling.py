"""How much can any prototype receiver gain on Fashion-MNIST? Compares, on the received
test tokens at each SNR, the hand-crafted class embeddings with *oracle* prototypes: the
mean received token of each class over all 10 000 training tokens sent at the same SNR
(labels a few-shot learner never has). If the oracle does not beat the templates, no prompt
learner that scores by cosine against one embedding per class can.

    python benchmarks/prototype_ceiling.py [--out benchmarks/results/prototype_ceiling.json]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torch.nn.functional as F

from semclip._io import atomic_write_json
from semclip.backbones.registry import create_backbone
from semclip.channels import create_channel
from semclip.data.registry import create_dataset
from semclip.tokens.cache import dataset_tokens
from semclip.jscc.zoo import default_codec
from semclip.prompts import base_novel
from semclip.tasks import ZeroShotClassifier


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/prototype_ceiling.json"))
    args = ap.parse_args()
    bb = create_backbone("pocketclip")
    jscc, _ = default_codec(bb, "awgn")
    train, test = create_dataset("fashion-mnist:train", limit=10000), create_dataset("fashion-mnist:test")
    (trt, trl), (tet, tel) = dataset_tokens(bb, train), dataset_tokens(bb, test)
    rows = []
    for split, ids in zip(("base", "novel"), base_novel(test.classes)):
        pick = lambda t, y: (t[(y[:, None] == torch.tensor(ids)).any(1)], torch.tensor([ids.index(int(v)) for v in y if int(v) in ids]))
        (xs, ys), (xt, yt) = pick(tet, tel), pick(trt, trl)
        templates = ZeroShotClassifier(bb, [test.classes[i] for i in ids]).weights
        for snr in (-10.0, -5.0, 0.0, 20.0):
            gen = torch.Generator().manual_seed(0)
            ch = create_channel("awgn", generator=gen)
            with torch.no_grad():
                rx = jscc.transmit(xs, torch.full((len(xs), 1), snr), ch)
                rx_train = jscc.transmit(xt, torch.full((len(xt), 1), snr), ch)
            oracle = F.normalize(torch.stack([rx_train[yt == c].mean(0) for c in range(len(ids))]), dim=-1)
            acc = lambda w: float(((rx @ w.t()).argmax(1) == ys).float().mean())
            rows.append({"split": split, "snr_db": snr, "templates": acc(templates), "oracle_prototypes": acc(oracle)})
            print(f"{split:6s} {snr:6.1f} dB  templates {rows[-1]['templates']:.3f}  oracle prototypes {rows[-1]['oracle_prototypes']:.3f}")
    atomic_write_json(args.out, {"backbone": bb.fingerprint, "rows": rows})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
