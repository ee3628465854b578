"""The pipeline on a GPU against the same pipeline on the CPU: outputs must agree, and the
script prints the throughputs of both as JSON.

For each backbone (a tiny random CLIP saved to a folder, and PocketCLIP when its weights are
installed) and each device, it runs on synthetic labelled images (no data set needed):
token extraction, codec training, TAPL prompt training, a sweep over two channels and seven
SNRs, the token-digital baseline (Sionna LDPC + QAM) and one ``transmit``; on a GPU also the
image tower under bf16 autocast, with its zero-shot cost against fp32. Then it checks:

- tokens: cosine >= 0.9999 to the CPU's, row by row (fp32);
- the sweep of one codec (trained on the CPU, loaded on each device) over the same tokens:
  accuracies within 4 binomial standard errors of each other (the devices draw different
  noise from equally seeded generators);
- codec and prompt training (different noise, same distribution): the codec's mean cosine at
  10 dB within 0.02, the TAPL receiver's top-1 at 10 dB within 0.05;
- the digital link: block error rates within 4 binomial standard errors;
- transmit: the same top-1 class for the noiseless token.

CPU timings use ``--threads`` threads (2, like our development machines), so the speedups
printed are against a 2-core CPU.

    python benchmarks/gpu_check.py [--devices cpu,cuda] [--threads 2] [--out benchmarks/results/gpu_check.json]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from semclip import device as devices
from semclip._io import atomic_write_json
from semclip.results import machine_facts

SHAPES = ["circle", "square", "triangle", "cross", "ring", "bar"]


def make_images(root: Path, per_class: int = 64, size: int = 96) -> Path:
    """A labelled folder of drawn shapes (folder name = class), varied in colour, size, place."""
    rng = np.random.default_rng(0)
    for c in SHAPES:
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            im = Image.new("RGB", (size, size), tuple(int(v) for v in rng.integers(180, 256, 3)))
            d = ImageDraw.Draw(im)
            r, (x, y) = rng.integers(18, 36), rng.integers(36, 60, 2)
            col = tuple(int(v) for v in rng.integers(0, 140, 3))
            box = (x - r, y - r, x + r, y + r)
            {"circle": lambda: d.ellipse(box, fill=col), "square": lambda: d.rectangle(box, fill=col),
             "triangle": lambda: d.polygon([(x, y - r), (x - r, y + r), (x + r, y + r)], fill=col),
             "cross": lambda: (d.rectangle((x - r, y - 5, x + r, y + 5), fill=col), d.rectangle((x - 5, y - r, x + 5, y + r), fill=col)),
             "ring": lambda: d.ellipse(box, outline=col, width=7),
             "bar": lambda: d.rectangle((x - r, y - 6, x + r, y + 6), fill=col)}[c]()
            im.save(root / c / f"{i}.png")
    return root


def tiny_clip(folder: Path) -> Path:
    """A randomly initialised CLIP (transformers) with a small word-level tokenizer."""
    from transformers import CLIPConfig, CLIPModel, CLIPTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    vocab: dict[str, int] = {}  # byte-level BPE with single characters: any class name tokenises
    for c in "abcdefghijklmnopqrstuvwxyz.,-":
        vocab[c], vocab[c + "</w>"] = len(vocab), len(vocab) + 1
    vocab["<|startoftext|>"], vocab["<|endoftext|>"] = len(vocab), len(vocab) + 1
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    tok = CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"))
    cfg = CLIPConfig(
        text_config=dict(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2,
                         max_position_embeddings=77, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                         pad_token_id=tok.pad_token_id),
        vision_config=dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2, image_size=64, patch_size=8),
        projection_dim=48,
    )
    torch.manual_seed(0)
    CLIPModel(cfg).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def timed(fn):
    if devices.current().type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    out = fn()
    if devices.current().type == "cuda":
        torch.cuda.synchronize()
    return out, time.perf_counter() - t


def run_on(dev: str, spec: str, images: Path, work: Path, codec_path: Path | None, args) -> dict:
    """Everything on one device; returns outputs to compare and throughputs."""
    from semclip.backbones.registry import create_backbone
    from semclip.baselines.digital import MCS, BlockPlan, DigitalLink, coherent_channel
    from semclip.baselines.quantize import TokenQuantizer
    from semclip.channels.registry import create_channel
    from semclip.data.image_folder import ImageFolder
    from semclip.tokens.cache import dataset_tokens
    from semclip.eval.sweep import sweep_semclip
    from semclip.jscc.checkpoint import load_jscc, save_jscc
    from semclip.jscc.model import JSCCConfig, TokenJSCC
    from semclip.jscc.train import JSCCTrainConfig, train_jscc
    from semclip.prompts.base import PromptConfig
    from semclip.prompts.registry import create_learner
    from semclip.prompts.train import PromptTrainConfig, train_prompts
    from semclip.tasks.zeroshot import ZeroShotClassifier, top1_accuracy
    from semclip.app.transmit import Sender

    devices.select(dev)
    bb = create_backbone(spec)
    data = ImageFolder(images)
    (tokens, labels), s = timed(lambda: dataset_tokens(bb, data, root=work / f"tokens-{dev}", batch_size=64))
    out: dict = {"device": dev, "images_per_s": round(len(data) / s, 1), "tokens": tokens}
    clf = ZeroShotClassifier(bb, data.classes)
    out["clean_acc"] = top1_accuracy(clf.predict(tokens), labels)

    torch.manual_seed(0)
    codec = TokenJSCC(JSCCConfig(dim=bb.dim, ks=[4, 8, 16], k=16))
    _, s = timed(lambda: train_jscc(codec, tokens, None, JSCCTrainConfig(steps=args.codec_steps)))
    out["codec_steps_per_s"] = round(args.codec_steps / s, 1)
    if codec_path is None:  # the CPU run: its codec is the one every device sweeps
        codec_path = save_jscc(codec, work / "codec.safetensors", bb.fingerprint)
    shared = load_jscc(codec_path, backbone=bb.fingerprint, k=16)

    torch.manual_seed(0)
    learner = create_learner("tapl", bb, PromptConfig(), k=16)
    _, s = timed(lambda: train_prompts(learner, shared, tokens, labels, data.classes,
                                       PromptTrainConfig(steps=args.prompt_steps, save_every=10**6), work / f"prompts-{dev}.safetensors"))
    out["prompt_steps_per_s"] = round(args.prompt_steps / s, 2)

    many, many_labels = tokens.repeat(args.sweep_repeat, 1), labels.repeat(args.sweep_repeat)
    # what training reached, averaged over many noise draws (a last-batch loss is too noisy to compare)
    with torch.no_grad():
        dev_t = many.to(devices.current())
        snr = torch.full((len(many), 1), 10.0, device=dev_t.device)
        decoded, _ = codec.at(16)(dev_t, snr, create_channel("awgn", devices.generator(1)))
        out["codec_cosine_10db"] = torch.nn.functional.cosine_similarity(decoded, dev_t).mean().item()
        got, rx = shared(dev_t, snr, create_channel("awgn", devices.generator(2)))
        out["prompt_acc_10db"] = top1_accuracy(learner.predict(torch.nn.functional.normalize(got, dim=-1), rx.rx_snr_db, data.classes), many_labels)
    snrs = [-10.0, -5.0, 0.0, 5.0, 10.0, 15.0, 20.0]
    recs, s = timed(lambda: sweep_semclip(shared, many, many_labels, clf, ["awgn", "rayleigh"], snrs))
    out |= {"sweep_tokens_per_s": round(len(many) * len(snrs) * 2 / s), "sweep": {f"{r.channel} {r.snr_db:g}": r.value for r in recs},
            "sweep_n": len(many)}

    quant = TokenQuantizer(tokens, 1)
    payload = quant.encode(tokens).repeat(4, 1)
    link = DigitalLink(BlockPlan.for_payload(quant.payload_bits, MCS.parse("qpsk:1/2")))
    (got, ok), s = timed(lambda: link.transmit(payload, coherent_channel("awgn", devices.generator(0)), args.digital_snr, 512))
    out |= {"codewords_per_s": round(ok.numel() / s, 1), "bler": 1 - ok.float().mean().item(), "codewords": ok.numel()}

    sender = Sender(spec, codec_path, log=lambda *a: None, k=16)
    first = next(p for p in sorted(images.rglob("*.png")))
    t = sender.send(Image.open(first), 10.0, "awgn", data.classes)
    out["transmit_top1"] = t.clean[0][0]

    if dev.startswith("cuda"):  # bf16 autocast for the image tower: speed and zero-shot cost
        bb.precision = "bf16"
        (t16, _), s = timed(lambda: dataset_tokens(bb, data, root=work / "tokens-bf16", batch_size=64))
        bb.precision = "fp32"
        out |= {"bf16_images_per_s": round(len(data) / s, 1), "bf16_clean_acc": top1_accuracy(clf.predict(t16), labels),
                "bf16_min_cosine": float(torch.nn.functional.cosine_similarity(t16, tokens).min())}
    return out | {"_codec_path": codec_path}


def compare(cpu: dict, gpu: dict) -> list[str]:
    """Failures, one line each (empty: the devices agree)."""
    bad = []
    cos = torch.nn.functional.cosine_similarity(cpu["tokens"], gpu["tokens"]).min().item()
    if cos < 0.9999:
        bad.append(f"tokens: min cosine {cos:.6f} < 0.9999")
    n = cpu["sweep_n"]
    for key, a in cpu["sweep"].items():
        b = gpu["sweep"][key]
        se = math.sqrt(max(a * (1 - a), 1e-4) * 2 / n)
        if abs(a - b) > 4 * se:
            bad.append(f"sweep {key}: {a:.4f} vs {b:.4f} (4 s.e. = {4 * se:.4f})")
    for key, tol in (("codec_cosine_10db", 0.02), ("prompt_acc_10db", 0.05)):  # trained with different noise draws
        if abs(cpu[key] - gpu[key]) > tol:
            bad.append(f"{key}: {cpu[key]:.4f} vs {gpu[key]:.4f} (tolerance {tol})")
    p, m = cpu["bler"], cpu["codewords"]
    if abs(p - gpu["bler"]) > 4 * math.sqrt(max(p * (1 - p), 1 / m) * 2 / m):
        bad.append(f"bler: {p:.4f} vs {gpu['bler']:.4f}")
    if cpu["transmit_top1"] != gpu["transmit_top1"]:
        bad.append(f"transmit top-1: {cpu['transmit_top1']} vs {gpu['transmit_top1']}")
    return bad


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--devices", default="cpu,cuda")
    ap.add_argument("--backbones", default="tiny-clip,pocketclip")
    ap.add_argument("--threads", type=int, default=2, help="CPU threads for the CPU run (our machines have 2)")
    ap.add_argument("--codec-steps", type=int, default=300)
    ap.add_argument("--prompt-steps", type=int, default=40)
    ap.add_argument("--sweep-repeat", type=int, default=50, help="the sweep's tokens are the images' tokens repeated")
    ap.add_argument("--digital-snr", type=float, default=1.0, help="dB: near QPSK r=1/2's waterfall, so errors are counted")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/gpu_check.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    devs = [d for d in args.devices.split(",") if d]
    if any(d.startswith("cuda") for d in devs) and not torch.cuda.is_available():
        sys.exit("no CUDA GPU here: run with --devices cpu for the CPU figures alone")
    report: dict = {"machine": machine_facts(), "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
                    "settings": {k: v for k, v in vars(args).items() if k != "out"}, "backbones": {}}
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        images = make_images(tmp / "images")
        for name in args.backbones.split(","):
            if name == "tiny-clip":
                spec = f"hf-clip:{tiny_clip(tmp / 'tiny-clip')}"
            else:
                try:
                    from semclip.backbones.registry import create_backbone

                    create_backbone(name, device="cpu")
                except Exception as exc:  # noqa: BLE001 - PocketCLIP's towers come from installed packages
                    report["backbones"][name] = {"skipped": f"PocketCLIP's weights are not installed here ({exc})"}
                    continue
                spec = name
            runs, codec_path = {}, None
            for dev in devs:
                torch.set_num_threads(args.threads if dev == "cpu" else torch.get_num_threads())
                r = run_on(dev, spec, images, tmp / name, codec_path, args)
                codec_path = r.pop("_codec_path")
                runs[dev] = r
            entry = {dev: {k: v for k, v in r.items() if k not in ("tokens",)} for dev, r in runs.items()}
            if "cpu" in runs:
                for dev in [d for d in runs if d != "cpu"]:
                    bad = compare(runs["cpu"], runs[dev])
                    failures += [f"{name} {dev}: {b}" for b in bad]
                    entry[f"{dev}_vs_cpu"] = {
                        "agree": not bad, "failures": bad,
                        "speedup": {k: round(runs[dev][k] / runs["cpu"][k], 1) for k in
                                    ("images_per_s", "codec_steps_per_s", "prompt_steps_per_s", "sweep_tokens_per_s", "codewords_per_s")},
                    }
            report["backbones"][name] = entry
    report["passed"] = not failures
    print(json.dumps(report, indent=1, default=str))
    atomic_write_json(args.out, json.loads(json.dumps(report, default=str)))
    if failures:
        sys.exit("devices disagree:\n" + "\n".join(failures))


if __name__ == "__main__":
    main()
