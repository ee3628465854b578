"""How long `configs/paper_vitb16_imagenet.yaml` takes on one H100-class GPU and on 8, and
what memory it needs: an estimate from FLOP counts, until a GPU run measures it
(`benchmarks/gpu_check.py` measures the pieces on tiny models).

Counted: the ViT-B/16 image tower over every image extracted (the codec's 128 000 ImageNet
training images, the few-shot pools, the eleven test splits), the codec's training, and
per learner and seed the prompt training (forward and backward through the text tower for
every prompt a step encodes) and its evaluation (a forward per prompt, per SNR). FLOPs are
2 per multiply-add; backward costs twice the forward. The assumed sustained rates are a
stated fraction of the H100 SXM's dense peak (``--mfu``), and image decoding is taken as
the floor of extraction (``--decode-per-s`` images per second per GPU host). Activation
memory follows Korthikanti et al. (2022): 34 s b h + 5 a s^2 b bytes per layer in 16-bit.

    python benchmarks/paper_scale_estimate.py [--mfu 0.35] [--out benchmarks/results/paper_scale_estimate.json]
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from semclip._io import atomic_write_json

H100_DENSE = {"bf16": 989e12, "tf32": 494e12}  # FLOP/s, SXM, without sparsity
# CLIP ViT-B/16: image tower 12 layers x 768 wide at 197 tokens; text tower 12 layers x 512 wide
IMAGE = {"layers": 12, "width": 768, "tokens": 197}
TEXT = {"layers": 12, "width": 512, "heads": 8}
TEST_IMAGES = {"imagenet": 50000, "caltech101": 2465, "oxford_pets": 3669, "stanford_cars": 8041, "oxford_flowers": 2463,
               "food101": 30300, "fgvc_aircraft": 3333, "sun397": 19850, "dtd": 1692, "eurosat": 8100, "ucf101": 3783}
CLASSES = {"imagenet": 1000, "caltech101": 100, "oxford_pets": 37, "stanford_cars": 196, "oxford_flowers": 102, "food101": 101,
           "fgvc_aircraft": 100, "sun397": 397, "dtd": 47, "eurosat": 10, "ucf101": 101}


def transformer_flops(layers: int, width: int, tokens: int) -> float:
    """Forward FLOPs of a pre-norm transformer stack: 24 s h^2 + 4 s^2 h per layer."""
    return layers * (24 * tokens * width**2 + 4 * tokens**2 * width)


def activation_bytes(layers: int, width: int, heads: int, tokens: int, batch: int) -> float:
    return layers * (34 * tokens * batch * width + 5 * heads * tokens**2 * batch)


def estimate(mfu: float, decode_per_s: float, prompt_tokens: int, gpus: int) -> dict:
    one = mfu * H100_DENSE["tf32"]  # one GPU: fp32 weights, TF32 matmuls (the default precision)
    rate = one * gpus  # work our code splits over the GPUs: extraction shards, sweep rows, CoCoOp's per-image prompts
    img = transformer_flops(IMAGE["layers"], IMAGE["width"], IMAGE["tokens"])  # ~35 GFLOP an image
    txt = transformer_flops(TEXT["layers"], TEXT["width"], prompt_tokens)  # one prompt through the text tower
    pools = 64000 + 60000  # few-shot pools: 64 ImageNet images a class, the ten other training sets (~60k)
    n_images = 128000 + pools + sum(TEST_IMAGES.values())  # + the codec's images + every test split
    extract_s = max(n_images * img / rate, n_images / (decode_per_s * gpus))  # compute, or JPEG decoding
    # codec: 3000 steps of 256 rows; ~2 x (512x1024 + 2 FiLM blocks of 2 x 1024^2 + 1024x512) weights
    codec_params = 2 * (512 * 1024 + 2 * 2 * 1024**2 + 1024 * 512 + 512 * 128)
    codec_s = max(3000 * 256 * 6 * codec_params / rate, 3000 * 3e-3)  # small kernels: ~3 ms a step at least, any GPU count
    steps, batch, seeds, snrs = 300, 32, 3, 7
    # classes a learner's prompts are trained on: base halves of the eleven sets, then all 1000 ImageNet classes
    trained_classes = sum(c // 2 for c in CLASSES.values()) + CLASSES["imagenet"]
    per_step = {"coop": 1, "tapl": 4, "cocoop": batch}  # prompt sets a step encodes (TAPL: 4 SNR draws; CoCoOp: one per image)
    # fwd + bwd = 3 forwards. CoOp's and TAPL's class prompts are the same on every process (the
    # batch of images splits, the prompts do not), so more GPUs do not shorten them; CoCoOp's do
    train = {n: seeds * steps * 3 * m * trained_classes * txt / (rate if n == "cocoop" else one) for n, m in per_step.items()}
    # evaluation (sweeps of 1024 tokens a batch): CoOp and TAPL encode every class once per batch and
    # SNR; CoCoOp once per (test image, class). Base-to-novel tests halves (images and classes) of each
    # set, cross-dataset every image of the ten targets and ImageNet against all their classes
    image_class = sum(TEST_IMAGES[d] * CLASSES[d] for d in TEST_IMAGES)
    per_batch = sum(2 * math.ceil(TEST_IMAGES[d] / 2 / 1024) * CLASSES[d] // 2 + math.ceil(TEST_IMAGES[d] / 1024) * CLASSES[d]
                    for d in TEST_IMAGES)
    tested = {"coop": per_batch, "tapl": per_batch, "cocoop": image_class // 2 + image_class}
    evaluate = {n: seeds * snrs * p * txt / (rate if n == "cocoop" else one) for n, p in tested.items()}
    # activation memory of one training step (fp32: twice the 16-bit bytes), ImageNet's 1000 classes;
    # CoCoOp's batch (so its prompt sets) splits over the GPUs
    mem = {n: round(2 * activation_bytes(TEXT["layers"], TEXT["width"], TEXT["heads"], prompt_tokens,
                                         1000 * (max(1, m // gpus) if n == "cocoop" else m)) / 2**30, 1)
           for n, m in per_step.items()}
    total = extract_s + codec_s + sum(train.values()) + sum(evaluate.values())
    return {
        "gpus": gpus, "images_extracted": n_images, "extract_min": round(extract_s / 60, 1), "codec_min": round(codec_s / 60, 2),
        "prompt_training_min": {n: round(t / 60, 1) for n, t in train.items()},
        "evaluation_min": {n: round(t / 60, 1) for n, t in evaluate.items()},
        "total_hours": round(total / 3600, 2),
        "prompt_training_activation_gib_per_gpu": mem,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mfu", type=float, default=0.35, help="sustained fraction of the H100's dense TF32 peak")
    ap.add_argument("--decode-per-s", type=float, default=1500.0, help="JPEG decode + resize, images/s per GPU's CPU share")
    ap.add_argument("--prompt-tokens", type=int, default=24, help="tokens per prompt: ~20 of 'a photo of a <class>.' + 4 context")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/paper_scale_estimate.json"))
    args = ap.parse_args()
    result = {"assumptions": {k: v for k, v in vars(args).items() if k != "out"} | {"peak_tf32_flops": H100_DENSE["tf32"]},
              "one_gpu": estimate(args.mfu, args.decode_per_s, args.prompt_tokens, 1),
              "eight_gpus": estimate(args.mfu, args.decode_per_s, args.prompt_tokens, 8)}
    print(json.dumps(result, indent=1))
    atomic_write_json(args.out, result)


if __name__ == "__main__":
    main()
