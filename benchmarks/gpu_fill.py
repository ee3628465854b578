"""Does the work fill the device? The three jobs a GPU should speed up, each at settings that
might fill it, measured on one device (run it once on the CPU with ``--threads 2`` for our
machines' baseline, once on a GPU with ``--against`` that baseline for the speedups):

- **extraction**: PocketCLIP tokens through the whole pipeline (``extract_tokens``: decoding
  processes, pinned memory, the tower, the token store) with 0 decoding processes (a thread),
  a few, and the run's default, on two image sets: ImageNet-size JPEGs drawn here (500 x 375,
  quality 90, decoded at every read: what a real data set costs) and Fashion-MNIST test
  (28 x 28, in memory: the tower alone);
- **codec training**: ``train_jscc`` steps/s and tokens/s at batch 256 (the default), 1024
  and 4096, with AdamW fused or per-tensor (the default), and compiled
  (``torch.compile``);
- **prompt training**: TAPL ``train_prompts`` steps/s at batch 32 (the default) and 128,
  fused or per-tensor.

Speed only: the tokens are Fashion-MNIST test's and every trained model is thrown away, so
nothing here is an accuracy or may choose one. The first run of each kind warms up first
(model load, kernels, the engine) and is not timed.

    python benchmarks/gpu_fill.py [--device auto] [--threads 2] [--against benchmarks/results/gpu_fill_cpu.json]
        [--out benchmarks/results/gpu_fill_<device>.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import traceback
import zlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFilter

from semclip import device as devices
from semclip import training
from semclip._io import atomic_write_json
from semclip.backbones.registry import create_backbone
from semclip.data.image_folder import ImageFolder
from semclip.data.registry import create_dataset
from semclip.jscc.model import JSCCConfig, TokenJSCC
from semclip.jscc.train import JSCCTrainConfig, train_jscc
from semclip.jscc.zoo import text_embeddings
from semclip.prompts.base import PromptConfig
from semclip.prompts.registry import create_learner
from semclip.prompts.train import PromptTrainConfig, train_prompts
from semclip.results import machine_facts
from semclip.tokens.cache import dataset_tokens, extract_tokens

sys.path.insert(0, str(Path(__file__).parent))
from paper_scale import Repeated, sync  # noqa: E402  (the benchmarks folder is not a package)

JPEG_SIZE = (500, 375)  # about ImageNet's mean picture
JPEG_CLASSES = ("sky", "sea", "sun", "sand")  # letters only: paper_scale's character tokenizer has no digits


def draw_jpeg(path: Path) -> None:
    """One photo-like JPEG: a smooth colour field, shapes, fine noise (so it compresses like a photo)."""
    rng = np.random.default_rng(zlib.crc32(path.name.encode()))
    w, h = JPEG_SIZE
    yy, xx = np.mgrid[0:h, 0:w] / max(w, h)
    field = np.stack([np.sin(6 * xx * rng.uniform(0.5, 2) + rng.uniform(0, 6)) * np.cos(5 * yy * rng.uniform(0.5, 2))
                      for _ in range(3)], -1)
    px = (127 + 80 * field + rng.normal(0, 12, (h, w, 3))).clip(0, 255).astype(np.uint8)
    im = Image.fromarray(px)
    d = ImageDraw.Draw(im)
    for _ in range(6):
        x, y, r = int(rng.integers(0, w)), int(rng.integers(0, h)), int(rng.integers(20, 90))
        d.ellipse((x - r, y - r, x + r, y + r), fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
    im.filter(ImageFilter.GaussianBlur(0.7)).save(path, quality=90)


def jpeg_folder(root: Path, n: int, procs: int) -> Path:
    """``n`` drawn JPEGs under root/<class>/ (four classes), drawn in ``procs`` processes."""
    paths = [root / JPEG_CLASSES[i % 4] / f"{i:05d}.jpg" for i in range(n)]
    for p in {p.parent for p in paths}:
        p.mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(max(1, procs)) as pool:
        list(pool.map(draw_jpeg, paths, chunksize=16))
    return root


def timed(fn) -> float:
    sync()
    t = time.perf_counter()
    fn()
    sync()
    return time.perf_counter() - t


def attempt(rows: list, row: dict, fn) -> None:
    """Run one measurement; a failure (a compile that breaks, memory) is recorded, not fatal."""
    try:
        row |= fn()
    except Exception as e:  # noqa: BLE001 - the benchmark reports what broke and goes on
        row["error"] = f"{type(e).__name__}: {e}"[:400]
        traceback.print_exc()
    rows.append(row)
    print(json.dumps(row), flush=True)


def extraction(bb, work: Path, args) -> list[dict]:
    """Images/s end to end (worker start included) and after the start: a run of one batch
    with the same settings is timed too, and its time taken off (what a long run sees)."""
    dev = devices.current()
    policy = devices.image_workers()
    scale = 1 if dev.type == "cuda" else 10
    folder = args.jpeg_dir or work / "jpeg"
    if not any(folder.rglob("*.jpg")):
        jpeg_folder(folder, args.jpeg_files // scale, devices.cores())
    base = ImageFolder(folder)
    fm = create_dataset("fashion-mnist:test")
    extract_tokens(bb, Repeated(base, 256), root=work / "warm", batch_size=256, workers=0)  # warm-up: load, kernels
    rows: list[dict] = []
    grid = sorted({(0, 256), (min(4, policy), 256), (policy, 64), (policy, 256)})
    for name, data in (("jpeg 500x375", base), ("fashion-mnist test", fm)):
        for workers, batch in grid:
            n = args.jpeg_images // scale if data is base else len(fm)
            if workers == 0 and dev.type == "cuda":
                n //= 5  # one decoding thread is slow: a fifth is enough to time it
            full, first = (fm if n == len(fm) and data is fm else Repeated(data, n)), Repeated(data, batch)
            row = {"images": name, "n": n, "workers": workers, "batch": batch}

            def run() -> dict:
                start = timed(lambda: extract_tokens(bb, first, root=work / f"tok-{len(rows)}-first", batch_size=batch, workers=workers))
                s = timed(lambda: extract_tokens(bb, full, root=work / f"tok-{len(rows)}", batch_size=batch, workers=workers))
                return {"images_per_s": round(n / s, 1), "images_per_s_after_start": round((n - batch) / max(1e-9, s - start), 1),
                        "one_batch_s": round(start, 2)}

            attempt(rows, row, run)
    return rows


def codec_training(tokens: torch.Tensor, bank: torch.Tensor, dim: int, args) -> list[dict]:
    dev = devices.current()
    steps = args.codec_steps if dev.type == "cuda" else args.codec_steps // 5
    base = JSCCTrainConfig(steps=steps)
    train_jscc(TokenJSCC(JSCCConfig(dim=dim)), tokens, bank, replace(base, steps=20))  # warm-up
    rows: list[dict] = []
    grid = [(256, True, False), (256, False, False), (1024, True, False), (4096, True, False), (256, True, True)]
    for batch, fused, compiled in grid:
        if dev.type == "cpu" and (compiled or batch != 256):
            continue  # on the CPU: the default only (fused is not used there; compiling took 51 s and ran slower)
        row = {"batch": batch, "fused": fused and dev.type == "cuda", "compiled": compiled, "steps": steps}

        def run() -> dict:
            training.FUSED_ON_GPU = fused
            torch.manual_seed(0)
            model = TokenJSCC(JSCCConfig(dim=dim)).to(dev)
            out = {}
            if compiled:
                model.compile()
                out["compile_and_20_steps_s"] = round(timed(lambda: train_jscc(model, tokens, bank, replace(base, steps=20, batch_size=batch))), 1)
            s = timed(lambda: train_jscc(model, tokens, bank, replace(base, batch_size=batch)))
            return out | {"steps_per_s": round(steps / s, 2), "tokens_per_s": round(steps * batch / s)}

        attempt(rows, row, run)
    training.FUSED_ON_GPU = False  # the default
    return rows


def prompt_training(bb, tokens: torch.Tensor, labels: torch.Tensor, classes: list[str], work: Path, args) -> list[dict]:
    dev = devices.current()
    steps = args.prompt_steps if dev.type == "cuda" else args.prompt_steps // 5
    torch.manual_seed(0)
    codec = TokenJSCC(JSCCConfig(dim=bb.dim, ks=[16], k=16))  # untrained: the step's cost does not depend on it
    codec.fit_base(tokens)

    def train(batch: int, n: int) -> None:
        learner = create_learner("tapl", bb, PromptConfig(), k=16)
        cfg = PromptTrainConfig(steps=n, batch_size=batch, save_every=10**6)
        train_prompts(learner, codec, tokens, labels, classes, cfg, work / f"prompts-{batch}-{n}.safetensors")

    train(32, 5)  # warm-up
    rows: list[dict] = []
    for batch, fused in ((32, True), (32, False), (128, True)):
        if dev.type == "cpu" and fused and batch != 32:
            continue
        row = {"batch": batch, "fused": fused and dev.type == "cuda", "steps": steps}

        def run() -> dict:
            training.FUSED_ON_GPU = fused
            s = timed(lambda: train(batch, steps))
            return {"steps_per_s": round(steps / s, 2), "samples_per_s": round(steps * batch / s)}

        attempt(rows, row, run)
    training.FUSED_ON_GPU = False  # the default
    return rows


def speedups(report: dict, against: dict) -> dict:
    """This run's rates over the baseline's default-setting rates (the baseline's best
    extraction; codec batch 256 and prompts batch 32, per-tensor AdamW)."""
    def best(rows, key, **match):
        got = [r[key] for r in rows if key in r and all(r.get(k) == v for k, v in match.items())]
        return max(got) if got else None

    out = {}
    report, against = {"extraction": [], "codec": [], "prompts": []} | report, {"extraction": [], "codec": [], "prompts": []} | against
    for images in ("jpeg 500x375", "fashion-mnist test"):
        a, b = best(report["extraction"], "images_per_s", images=images), best(against["extraction"], "images_per_s", images=images)
        if a and b:
            out[f"extraction, {images} (best settings each)"] = round(a / b, 1)
    cpu_codec = best(against["codec"], "tokens_per_s", batch=256, compiled=False)
    cpu_codec_steps = best(against["codec"], "steps_per_s", batch=256, compiled=False)
    for r in report["codec"]:
        if "tokens_per_s" in r and cpu_codec:
            label = f"codec batch {r['batch']}{' fused' if r['fused'] else ''}{' compiled' if r['compiled'] else ''}"
            out[label + " (tokens/s)"] = round(r["tokens_per_s"] / cpu_codec, 1)
            out[label + " (steps/s)"] = round(r["steps_per_s"] / cpu_codec_steps, 1)
    cpu_prompt = best(against["prompts"], "steps_per_s", batch=32)
    cpu_prompt_samples = best(against["prompts"], "samples_per_s", batch=32)
    for r in report["prompts"]:
        if "steps_per_s" in r and cpu_prompt:
            label = f"prompts batch {r['batch']}{' fused' if r['fused'] else ''}"
            out[label + " (steps/s)"] = round(r["steps_per_s"] / cpu_prompt, 1)
            out[label + " (samples/s)"] = round(r["samples_per_s"] / cpu_prompt_samples, 1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=None, help="torch threads on the CPU (2: our machines)")
    ap.add_argument("--jpeg-files", type=int, default=2000, help="distinct JPEGs drawn (a tenth on the CPU)")
    ap.add_argument("--jpeg-images", type=int, default=20000, help="JPEG reads per extraction, cycling (a tenth on the CPU)")
    ap.add_argument("--jpeg-dir", type=Path, default=None, help="where the JPEGs are drawn (or found); default: a temporary folder")
    ap.add_argument("--codec-steps", type=int, default=300, help="timed codec steps per setting (a fifth on the CPU)")
    ap.add_argument("--prompt-steps", type=int, default=100, help="timed prompt steps per setting (a fifth on the CPU)")
    ap.add_argument("--parts", default="extraction,codec,prompts", help="any of extraction,codec,prompts; or draw: only draw the JPEGs")
    ap.add_argument("--against", type=Path, default=None, help="a baseline run's JSON (the 2-thread CPU's) for speedups")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = devices.select(args.device)
    if args.parts == "draw":  # for paper_scale.py, which reads them as folder:<jpeg-dir>
        jpeg_folder(args.jpeg_dir, args.jpeg_files, devices.cores())
        return
    out = args.out or Path(f"benchmarks/results/gpu_fill_{dev.type}.json")
    report: dict = {"device": str(dev), "gpu": torch.cuda.get_device_name(dev) if dev.type == "cuda" else None,
                    "torch_threads": torch.get_num_threads(), "cores": devices.cores(), "engine": devices.engine(),
                    "default_workers": devices.image_workers(), "backbone": "pocketclip",
                    "note": "speed only: Fashion-MNIST test tokens, models thrown away"}
    parts = args.parts.split(",")

    def save() -> None:
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(out, report | {"machine": machine_facts()})

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        bb = create_backbone("pocketclip")
        if "extraction" in parts:
            report["extraction"] = extraction(bb, work, args)
            save()
        fm = create_dataset("fashion-mnist:test")
        tokens, labels = dataset_tokens(bb, fm, root=work / "fm")
        if "codec" in parts:
            bank = text_embeddings(bb, [f"a photo of a {c}." for c in fm.classes])
            report["codec"] = codec_training(tokens, bank, bb.dim, args)
            save()
        if "prompts" in parts:
            report["prompts"] = prompt_training(bb, tokens, labels, fm.classes, work, args)
            save()
    if args.against:
        report["speedup_over_baseline"] = speedups(report, json.loads(args.against.read_text()))
    save()
    print(json.dumps({k: v for k, v in report.items() if k != "machine"}, indent=1))


if __name__ == "__main__":
    main()
