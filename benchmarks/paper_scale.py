"""A paper-scale run, measured end to end: a real-size CLIP (ViT-B/32 image tower, the
12-layer text tower, built from their configs with random weights, since no pretrained
weights can be had here) fed a repeated set of real images (Open Clip Art drawings, decoded
from PNG every time) through the image pipeline, the token store, codec training and a
sweep, with the images/s of each stage, the GPU's utilisation while it runs, the wall time
and the bottleneck.

The paper's scale is 1.28 M images (ImageNet-1k train). ``--minutes`` bounds the run so it
fits one call of a lent GPU: the script measures each stage's rate on a short probe first,
then sizes the image set and the codec's steps to the budget, and extrapolates the full
scale from the measured rates (saying so). Without a GPU it runs the same stages on the CPU
at the reduced scale that fits, and says that too.

    python benchmarks/paper_scale.py [--minutes 8] [--images 1280000] [--device auto] [--workers N]
        [--images-from clipart:train]
        [--out benchmarks/results/paper_scale_<device>.json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from semclip import device as devices
from semclip._io import atomic_write_json
from semclip.backbones.registry import create_backbone
from semclip.backbones.stream import encode_stream
from semclip.data.base import LabelledImages
from semclip.data.registry import create_dataset
from semclip.eval.sweep import sweep_semclip
from semclip.jscc.model import JSCCConfig, TokenJSCC
from semclip.jscc.train import JSCCTrainConfig, train_jscc
from semclip.results import machine_facts
from semclip.tasks.zeroshot import ZeroShotClassifier
from semclip.tokens.cache import dataset_store, extract_tokens

PAPER_IMAGES = 1_280_000
VIT_B32 = dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12, image_size=224, patch_size=32)
TEXT_B = dict(hidden_size=512, intermediate_size=2048, num_hidden_layers=12, num_attention_heads=8, max_position_embeddings=77)
MIN_IMAGES = 1024  # the codec's linear base takes 2 k = 128 principal directions: enough tokens for them
SNRS = [-10.0, -5.0, 0.0, 5.0, 10.0, 15.0, 20.0]


class Repeated(LabelledImages):
    """``n`` images cycling over ``base`` (each decoded afresh every time it is read)."""

    def __init__(self, base: LabelledImages, n: int) -> None:
        self.base, self.n = base, n
        self.name, self.classes = f"repeated-{base.cache_id}", base.classes
        self._labels = base.labels[np.arange(n) % len(base)]

    def __len__(self) -> int:
        return self.n

    def image(self, i: int):
        return self.base.image(i % len(self.base))


def vit_b32(folder: Path) -> Path:
    """A CLIP ViT-B/32 with random weights (seed 0) and a character-level tokenizer, saved
    as a transformers folder: the real architecture and cost, not the real knowledge."""
    from transformers import CLIPConfig, CLIPModel, CLIPTokenizer

    chars = "abcdefghijklmnopqrstuvwxyz.,- "
    vocab = {}
    for c in chars.replace(" ", ""):
        vocab[c] = len(vocab)
        vocab[c + "</w>"] = len(vocab)
    vocab |= {"<|startoftext|>": len(vocab), "<|endoftext|>": len(vocab) + 1}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    tok = CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"))
    cfg = CLIPConfig(text_config=TEXT_B | dict(vocab_size=len(tok), bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                                               pad_token_id=tok.pad_token_id),
                     vision_config=VIT_B32, projection_dim=512)
    torch.manual_seed(0)
    CLIPModel(cfg).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


class GpuSampler:
    """The GPU's utilisation (%) sampled by nvidia-smi every ``every`` s while a stage runs;
    None on a machine without one."""

    def __init__(self, every: float = 0.5) -> None:
        self.every, self.samples, self.stop = every, [], threading.Event()
        self.ok = devices.current().type == "cuda" and shutil.which("nvidia-smi") is not None

    def __enter__(self) -> GpuSampler:
        if self.ok:
            self.thread = threading.Thread(target=self._run, daemon=True)
            self.thread.start()
        return self

    def _run(self) -> None:
        index = devices.current().index or 0
        while not self.stop.wait(self.every):
            out = subprocess.run(["nvidia-smi", f"--id={index}", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"],
                                 capture_output=True, text=True)
            if out.returncode == 0 and out.stdout.strip().isdigit():
                self.samples.append(int(out.stdout.strip()))

    def __exit__(self, *exc) -> None:
        self.stop.set()
        if self.ok:
            self.thread.join(timeout=5)

    @property
    def mean(self) -> float | None:
        return round(float(np.mean(self.samples)), 1) if self.samples else None


def sync() -> None:
    if devices.current().type == "cuda":
        torch.cuda.synchronize()


def stage(name: str, fn, report: dict) -> object:
    """Run ``fn`` timed, with the GPU sampled; its figures go to ``report[name]``."""
    sync()
    with GpuSampler() as gpu:
        t0 = time.perf_counter()
        out = fn()
        sync()
        seconds = time.perf_counter() - t0
    report[name] = {"seconds": round(seconds, 2), "gpu_util_percent": gpu.mean}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=8.0, help="budget for the whole run (one device call)")
    ap.add_argument("--images", type=int, default=PAPER_IMAGES, help="images to feed at most (the paper's 1.28 M)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--workers", type=int, default=None, help="decoding processes (default: the run's policy)")
    ap.add_argument("--images-from", default="clipart:train", help="the data set repeated (a folder: folder:/path)")
    ap.add_argument("--batch-size", type=int, default=256, help="images per forward pass of the tower")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    dev = devices.select(args.device, workers=args.workers)
    workers = devices.image_workers()
    out = args.out or Path(f"benchmarks/results/paper_scale_{dev.type}.json")
    started = time.perf_counter()
    budget = args.minutes * 60
    report: dict = {"device": str(dev), "workers": workers, "engine": devices.engine(), "budget_minutes": args.minutes,
                    "paper_images": PAPER_IMAGES, "backbone": "CLIP ViT-B/32 architecture, random weights (seed 0)",
                    "images_from": f"{args.images_from}, repeated, decoded at every read"}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        folder = stage("build", lambda: vit_b32(tmp / "vit-b32"), report)
        bb = stage("load", lambda: create_backbone(f"hf-clip:{folder}"), report)
        base = create_dataset(args.images_from)
        probe_n = 4 * args.batch_size

        # the pieces apart: decoding alone (the pipeline's side) and the tower alone
        def decode_only() -> None:
            for i in range(probe_n):
                bb.preprocess(base.image(i % len(base)))

        stage("decode_probe", decode_only, report)
        report["decode_probe"]["images_per_s_one_thread"] = round(probe_n / report["decode_probe"]["seconds"], 1)
        pixels = torch.randn(args.batch_size, 3, bb.image_size, bb.image_size)
        encode_stream(bb, base.image, range(args.batch_size), args.batch_size, workers=0)  # warm-up (engine, kernels)
        from semclip.backbones.engine import image_encoder

        tower = image_encoder(bb)

        def tower_only() -> None:
            with torch.no_grad():
                for _ in range(4):
                    tower(pixels.to(dev))

        stage("tower_probe", tower_only, report)
        report["tower_probe"]["images_per_s"] = round(probe_n / report["tower_probe"]["seconds"], 1)

        # end to end, sized to half the budget left: the pipeline into the token store
        left = budget - (time.perf_counter() - started)
        probe_rate = 1 / (1 / report["tower_probe"]["images_per_s"]
                          + 1 / (report["decode_probe"]["images_per_s_one_thread"] * max(1, workers)))
        n = int(min(args.images, max(MIN_IMAGES, probe_rate * 0.5 * left)))
        data = Repeated(base, n)
        path = stage("extract", lambda: extract_tokens(bb, data, root=tmp / "tokens", batch_size=args.batch_size, workers=workers), report)
        report["extract"] |= {"images": n, "images_per_s": round(n / report["extract"]["seconds"], 1),
                              "store_bytes": path.stat().st_size}
        store = dataset_store(bb, data, root=tmp / "tokens")

        # codec training on the store, sized to what is left of two thirds of the rest
        from semclip.jscc.zoo import text_embeddings

        bank = text_embeddings(bb, [f"a photo of a {c}." for c in base.classes])
        cfg = JSCCTrainConfig()
        probe = replace(cfg, steps=20)
        stage("codec_probe", lambda: train_jscc(TokenJSCC(JSCCConfig(dim=bb.dim)), store, bank, probe), report)
        step_s = report["codec_probe"]["seconds"] / 20
        left = budget - (time.perf_counter() - started)
        steps = int(min(cfg.steps, max(20, 0.66 * left / step_s)))
        model = TokenJSCC(JSCCConfig(dim=bb.dim))
        stage("codec", lambda: train_jscc(model, store, bank, replace(cfg, steps=steps)), report)
        report["codec"] |= {"steps": steps, "batch_size": cfg.batch_size, "steps_per_s": round(steps / report["codec"]["seconds"], 2)}

        # a sweep of every token in the store over AWGN and Rayleigh at 7 SNRs
        tokens = store[slice(0, store.shape[0])]
        labels = torch.from_numpy(data.labels)[: tokens.shape[0]]
        clf = ZeroShotClassifier(bb, base.classes)
        stage("sweep", lambda: sweep_semclip(model.to(dev).eval().at(16), tokens, labels, clf, ["awgn", "rayleigh"], SNRS), report)
        report["sweep"] |= {"tokens_per_s": round(tokens.shape[0] * len(SNRS) * 2 / report["sweep"]["seconds"])}

    wall = time.perf_counter() - started
    rates = {"extract": report["extract"]["images_per_s"], "decode (per thread)": report["decode_probe"]["images_per_s_one_thread"],
             "tower": report["tower_probe"]["images_per_s"]}
    full = {"extract_hours": round(PAPER_IMAGES / rates["extract"] / 3600, 2),
            "codec_default_steps_minutes": round(cfg.steps / report["codec"]["steps_per_s"] / 60, 2),
            "sweep_hours": round(PAPER_IMAGES * len(SNRS) * 2 / report["sweep"]["tokens_per_s"] / 3600, 2)}
    decode_total = rates["decode (per thread)"] * max(1, workers)
    bottleneck = ("image decoding and preprocessing" if decode_total < rates["tower"] else "the image tower")
    report |= {"wall_s": round(wall, 1), "full_scale_from_measured_rates": full, "bottleneck": bottleneck,
               "scale": "full" if report["extract"]["images"] >= PAPER_IMAGES else
               f"reduced: {report['extract']['images']} of {PAPER_IMAGES} images in the budget; full-scale times extrapolated",
               "machine": machine_facts()}
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out, report)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
