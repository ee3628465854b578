"""What an int8 image tower would buy and cost: NNCF post-training quantisation of
PocketCLIP's converted tower, against the fp32 tower semclip runs.

    pip install nncf   # not a semclip dependency: this benchmark alone uses it
    python benchmarks/int8_tower.py [--calibration 300] [--n 3000]

The tower is quantised with OpenVINO's NNCF (``nncf.quantize``), calibrated on images of
the transmitter corpus (``corpus``, the default codec's training images: no evaluation
image or class list reaches it), three ways: every layer; every layer with the slow (full)
bias correction; and with the first convolution and PocketCLIP's trained projection head
(the MatMuls) kept in fp32. For each it reports the engine's rate on one 64-image batch,
the rate in the real pipeline (decoding and resizing in the background thread), the
tokens' cosine to fp32, and zero-shot top-1 on the first ``--n`` images of Fashion-MNIST
and clip-art test with Wilson intervals, and its paired difference to fp32 (bootstrap).
Writes ``benchmarks/results/int8_tower.json``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from semclip._io import atomic_write_json
from semclip.results import machine_facts
from semclip.stats import paired_bootstrap, wilson

EVAL_SETS = ("fashion-mnist:test", "clipart:test")
CALIBRATION_SET = "corpus"


def compiled(core, model) -> callable:
    """Compiled as semclip's engine compiles the tower (``engine.compile_options``: latency
    hint, f32 where not int8, the run's threads)."""
    from semclip.backbones.engine import compile_options

    cm = core.compile_model(model, "CPU", compile_options())
    return lambda px: torch.from_numpy(cm(px.contiguous().numpy())[0].copy())


def engine_rate(fn, size: int, reps: int = 10) -> float:
    """Images/s of the engine alone on one 64-image batch (after a warm-up call)."""
    x = torch.randn(64, 3, size, size, generator=torch.Generator().manual_seed(0))
    fn(x)
    t = time.perf_counter()
    for _ in range(reps):
        fn(x)
    return 64 * reps / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calibration", type=int, default=300, help="corpus images NNCF calibrates on")
    ap.add_argument("--n", type=int, default=3000, help="images of each evaluation set")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/int8_tower.json"))
    args = ap.parse_args()
    try:
        import nncf
        import openvino as ov
    except ImportError as exc:
        raise SystemExit(f"this benchmark needs OpenVINO and NNCF ({exc}): `pip install nncf`")

    from semclip.backbones import engine
    from semclip.backbones.registry import create_backbone
    from semclip.data.registry import create_dataset
    from semclip.backbones.stream import encode_images
    from semclip.tasks import ZeroShotClassifier

    torch.set_num_threads(2)
    bb = create_backbone("pocketclip")
    engine.image_encoder(bb, "openvino")  # converted (and checked against eager) at first use
    xml = str(engine.model_path(bb))
    core = ov.Core()
    corpus = create_dataset(CALIBRATION_SET)
    pick = np.random.default_rng(0).choice(len(corpus), args.calibration, replace=False)
    calibration = nncf.Dataset([bb.preprocess(corpus.image(int(i)))[None].numpy() for i in pick])
    model = core.read_model(xml)
    head = [op.get_friendly_name() for op in model.get_ordered_ops() if op.get_type_name() == "MatMul"]
    stem = next(op.get_friendly_name() for op in model.get_ordered_ops() if op.get_type_name() == "Convolution")
    variants = {
        "int8, every layer": {},
        "int8, full bias correction": {"fast_bias_correction": False},
        "int8, stem and head in fp32": {"ignored_scope": nncf.IgnoredScope(names=[stem, *head])},
    }
    towers = {"fp32": (compiled(core, xml), 0.0)}
    for name, options in variants.items():
        t = time.perf_counter()
        q = nncf.quantize(core.read_model(xml), calibration, subset_size=args.calibration, **options)
        towers[name] = (compiled(core, q), time.perf_counter() - t)

    sets = {}
    for ds_name in EVAL_SETS:
        ds = create_dataset(ds_name)
        n = min(args.n, len(ds))
        images = [ds.image(i) for i in range(n)]
        sets[ds_name] = (images, torch.as_tensor(np.asarray(ds.labels)[:n]), ZeroShotClassifier(bb, ds.classes))

    rows, ref = [], {}
    for name, (fn, quantise_s) in towers.items():
        row = {"tower": name, "quantise_s": round(quantise_s, 1), "engine_images_per_s": round(engine_rate(fn, bb.image_size), 1)}
        for ds_name, (images, labels, clf) in sets.items():
            t = time.perf_counter()
            tokens = encode_images(bb, lambda i: images[i], range(len(images)), 64, fn=fn)
            rate = len(images) / (time.perf_counter() - t)
            right = (clf.predict(tokens).cpu() == labels).numpy()
            ref.setdefault(ds_name, (tokens, right))
            cos = F.cosine_similarity(tokens, ref[ds_name][0], dim=-1)
            top1 = float(right.mean())
            lo, hi = paired_bootstrap(right, ref[ds_name][1])
            row[ds_name] = {"images": len(images), "pipeline_images_per_s": round(rate, 1),
                            "cosine_to_fp32_min": round(float(cos.min()), 4), "cosine_to_fp32_mean": round(float(cos.mean()), 4),
                            "top1": round(top1, 4), "top1_interval": [round(v, 4) for v in wilson(top1, len(images))],
                            "top1_minus_fp32": round(top1 - float(ref[ds_name][1].mean()), 4),
                            "top1_minus_fp32_interval": [round(lo, 4), round(hi, 4)]}
        rows.append(row)
        fm = row[EVAL_SETS[0]]
        print(f"{name:>28}: engine {row['engine_images_per_s']:6.0f} img/s, pipeline {fm['pipeline_images_per_s']:5.0f}, "
              f"cosine to fp32 mean {fm['cosine_to_fp32_mean']:.4f} (min {fm['cosine_to_fp32_min']:.3f}), "
              + ", ".join(f"{d} top-1 {row[d]['top1']:.3f} ({row[d]['top1_minus_fp32']:+.3f}, "
                          f"[{row[d]['top1_minus_fp32_interval'][0]:+.3f}, {row[d]['top1_minus_fp32_interval'][1]:+.3f}])"
                          for d in EVAL_SETS), flush=True)
    atomic_write_json(args.out, {"backbone": bb.fingerprint, "calibration": {"dataset": CALIBRATION_SET, "images": args.calibration, "seed": 0},
                                 "nncf": nncf.__version__, "openvino": ov.__version__, "rows": rows, "machine": machine_facts()})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
