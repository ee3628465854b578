"""What does the backbone know of Fashion-MNIST? PocketCLIP's heads were trained on
Fashion-MNIST *training* images captioned with the official class names, so its
Fashion-MNIST zero-shot accuracy is seen concepts on unseen images. This measures, on the
10 000 test images, noiseless zero-shot top-1 with the official names, with everyday
synonyms of them (the names it was not taught), and, given ``--heads`` (e.g. heads from
``semclip pocketclip train --fashion-per-class 0``), the same for heads that never saw a
Fashion-MNIST image. Each accuracy comes with its 95 % Wilson interval.

    python benchmarks/backbone_knowledge.py [--heads H.safetensors] [--out benchmarks/results/backbone_knowledge.json]
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from semclip._io import atomic_write_json
from semclip.backbones.registry import create_backbone
from semclip.data.fashion_mnist import CLASSES
from semclip.data.registry import create_dataset
from semclip.tokens.cache import dataset_tokens
from semclip.results import machine_facts
from semclip.tasks.zeroshot import ZeroShotClassifier, top1_accuracy

# everyday words for the same garments, none of them the official class name
SYNONYMS = ["tee", "pants", "sweater", "frock", "jacket", "flip-flop", "blouse", "trainers", "handbag", "boot"]


def wilson(p: float, n: int, z: float = 1.96) -> tuple[float, float]:
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return round(centre - half, 4), round(centre + half, 4)


def measure(spec: str) -> dict:
    bb = create_backbone(spec)
    test = create_dataset("fashion-mnist:test")
    tokens, labels = dataset_tokens(bb, test)
    out = {"backbone": bb.fingerprint, "n_images": len(labels)}
    for name, classes in (("official names", CLASSES), ("synonyms", SYNONYMS)):
        acc = top1_accuracy(ZeroShotClassifier(bb, classes).predict(tokens), labels)
        out[name] = {"top1": round(acc, 4), "ci95": wilson(acc, len(labels)), "classes": list(classes)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--heads", type=Path, help="a second PocketCLIP heads file to measure beside the packaged one")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/backbone_knowledge.json"))
    args = ap.parse_args()
    rows = {"pocketclip (packaged heads: Fashion-MNIST train seen)": measure("pocketclip")}
    if args.heads:
        rows[f"pocketclip:{args.heads.name} (no Fashion-MNIST image)"] = measure(f"pocketclip:{args.heads}")
    atomic_write_json(args.out, {"rows": rows, "machine": machine_facts()})
    for name, r in rows.items():
        print(f"{name}: " + "; ".join(f"{k} {v['top1']:.3f} [{v['ci95'][0]:.3f}, {v['ci95'][1]:.3f}]"
                                       for k, v in r.items() if isinstance(v, dict)))


if __name__ == "__main__":
    main()
