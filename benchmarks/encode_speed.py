"""Backbone and codec speed on this machine: images/s through the frozen backbone (eager
PyTorch and OpenVINO, same images, same run; decoding and preprocessing included), their
agreement, and tokens/s through the token codec + channel + zero-shot classifier.

    python benchmarks/encode_speed.py [--n 1024] [--out benchmarks/results/encode_speed.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from semclip._io import atomic_write_json
from semclip.results import machine_facts
from semclip.backbones.registry import create_backbone
from semclip.backbones.engine import image_encoder
from semclip.channels import create_channel
from semclip.data.fashion_mnist import FashionMNIST
from semclip.backbones.stream import encode_images
from semclip.jscc import JSCCConfig, TokenJSCC
from semclip.tasks import ZeroShotClassifier


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1024, help="images to encode")
    ap.add_argument("--backbone", default="pocketclip")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/encode_speed.json"))
    args = ap.parse_args()

    bb = create_backbone(args.backbone)
    ds = FashionMNIST("test", limit=args.n)
    rates, out = {}, {}
    for engine in ("eager", "openvino"):
        t = time.perf_counter()
        fn = image_encoder(bb, engine)  # OpenVINO: converted at first use (cached), checked against eager
        ready = time.perf_counter() - t
        encode_images(bb, ds.image, range(64), fn=fn)  # warm-up
        t = time.perf_counter()
        out[engine] = encode_images(bb, ds.image, range(len(ds)), fn=fn)
        rates[engine] = {"engine": fn.engine, "images_per_s": round(len(ds) / (time.perf_counter() - t), 1), "load_s": round(ready, 2)}
    tokens = out["eager"]
    cos = torch.nn.functional.cosine_similarity(out["openvino"], tokens)

    jscc = TokenJSCC(JSCCConfig(dim=tokens.shape[1], k=16)).eval()  # untrained weights: the cost is the same
    jscc.fit_base(tokens.repeat(max(1, 256 // len(tokens)), 1) + 0.01 * torch.randn(max(256, len(tokens)), tokens.shape[1]))
    clf = ZeroShotClassifier(bb, ds.classes)
    big = tokens.repeat(max(1, 20000 // len(tokens)), 1)
    snr = torch.zeros(len(big), 1)
    t = time.perf_counter()
    clf.predict(jscc.transmit(big, snr, create_channel("rayleigh")))
    point = len(big) / (time.perf_counter() - t)

    res = {
        "backbone": bb.fingerprint,
        "image_size": bb.image_size,
        "images": len(ds),
        "encode": rates,
        "openvino_vs_eager_cosine": {"min": round(float(cos.min()), 7), "mean": round(float(cos.mean()), 7)},
        "openvino_speedup": round(rates["openvino"]["images_per_s"] / rates["eager"]["images_per_s"], 2),
        "codec_channel_classify_tokens_per_s": round(point, 1),
        **machine_facts(),
    }
    atomic_write_json(args.out, res)
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
