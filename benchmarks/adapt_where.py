"""Where adapting both sides gains (issue 25, item 4c): a probe, never offered as a mode.

The ``both`` adaptation of ``benchmarks/adapt_curve.py`` (transmitter's residual net plus
the SNR-dependent receiver update) with, in addition, a chosen part of the decoder's
residual net trained as well, unquantised: the whole net (the ceiling of any receiver
update; not sendable at any budget we have), its linear map from the received symbols,
its output layer, or all its biases. Each part is named by a regular expression over the
decoder net's parameter names. Scored like adapt_curve.py: the label-free validation (1000
other Fashion-MNIST *training* images, ImageNet-name agreement with the clean token) and,
for the report only, Fashion-MNIST test top-1, k = 16, AWGN, 0 and 10 dB.

    python benchmarks/adapt_where.py [--out benchmarks/results/adapt_where.json]
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import torch

from adapt_curve import K, SNRS, VALIDATION_ROWS, received
from semclip._io import atomic_write_json
from semclip.backbones.registry import create_backbone
from semclip.data.imagenet_names import imagenet_classes
from semclip.data.registry import create_dataset
from semclip.tokens.cache import dataset_tokens
from semclip.results import machine_facts
from semclip.jscc import adapt
from semclip.jscc.zoo import CODEC_DATASET, corpus_bank, default_codec
from semclip.tasks.zeroshot import ZeroShotClassifier

PARTS = {"whole decoder net": r".*", "its linear map from the received symbols": r"linear\..*",
         "its output layer": r"out\.1\..*", "all its biases": r".*bias"}
IMAGES = 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/adapt_where.json"))
    args = ap.parse_args()
    bb = create_backbone("pocketclip")
    bank = corpus_bank(bb, create_dataset(CODEC_DATASET))
    pool, _ = dataset_tokens(bb, create_dataset(f"fashion-mnist:train#{VALIDATION_ROWS[1]}"))
    val = pool[VALIDATION_ROWS[0]:]
    names = ZeroShotClassifier(bb, list(dict.fromkeys(imagenet_classes())))
    val_clean = names.predict(val)
    test = create_dataset("fashion-mnist:test")
    test_tokens, labels = dataset_tokens(bb, test)
    clf = ZeroShotClassifier(bb, test.classes)
    rows = {}
    adam = torch.optim.Adam
    try:
        for part, pattern in PARTS.items():
            codec, _ = default_codec(bb, "awgn", k=K, log=lambda *a: None)
            extra = [p for n, p in codec.decoder.net.named_parameters() if re.fullmatch(pattern, n)]

            def with_part(params, lr, extra=extra):  # adapt_codec's optimiser, given the part as well
                for p in extra:
                    p.requires_grad_(True)
                return adam([*params, *extra], lr=lr)

            torch.optim.Adam = with_part
            adapt.adapt_codec(codec, pool[:IMAGES], bank, adapt.AdaptConfig(mode="both", lr=1e-3, update="scale-shift-snr"))
            torch.optim.Adam = adam
            row = {"parameters": sum(p.numel() for p in extra)}
            for snr in SNRS:
                agree = float((names.predict(received(codec, val, snr)) == val_clean).float().mean())
                acc = float((clf.predict(received(codec, test_tokens, snr)) == labels).float().mean())
                row[f"{snr:g}dB"] = {"validation": round(agree, 4), "test": round(acc, 4)}
            rows[part] = row
            print(part, row, flush=True)
    finally:
        torch.optim.Adam = adam
    atomic_write_json(args.out, {"images": IMAGES, "k": K, "update": "scale-shift-snr, unquantised parts", "rows": rows,
                                 "machine": machine_facts()})


if __name__ == "__main__":
    main()
