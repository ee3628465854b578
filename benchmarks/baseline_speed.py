"""Baseline speed on this machine, per baseline: images (or tokens) per second through
one (MCS, SNR) point of the whole chain, receiver included; LDPC decoding speed per code
length at an SNR where blocks decode (early termination) and one where they fail (all
iterations); and the noiseless accuracy of the quantised token per bit width.

    python benchmarks/baseline_speed.py [--n 200] [--out benchmarks/results/baseline_speed.json]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from semclip._io import atomic_write_json
from semclip.eval.results import machine_facts
from semclip.backbones.base import create_backbone
from semclip.baselines.digital import MCS, BlockPlan, DigitalLink, coherent_channel
from semclip.baselines.image_jscc import ImageJSCC, auto_config
from semclip.baselines.quantize import TokenQuantizer
from semclip.baselines.receiver import ImageReceiver
from semclip.baselines.run import BaselineConfig, Context, JpegSource, jpeg_ldpc_outcome, run_capacity, run_image_jscc
from semclip.data.registry import create_dataset
from semclip.data.token_cache import dataset_tokens
from semclip.tasks.zeroshot import ZeroShotClassifier, top1_accuracy


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200, help="test images per point")
    ap.add_argument("--budget", type=int, default=1024)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/baseline_speed.json"))
    args = ap.parse_args()
    console = Console()

    bb = create_backbone("pocketclip")
    test = create_dataset("fashion-mnist:test")
    tokens, labels = dataset_tokens(bb, test)
    train_tokens, _ = dataset_tokens(bb, create_dataset("fashion-mnist:train+clipart:train", limit=10000))  # as the demo
    clf = ZeroShotClassifier(bb, test.classes)
    n = args.n
    ctx = Context(bb, clf, [test.image(i) for i in range(n)], labels[:n], tokens[:n], train_tokens, None, "bench", 0)
    cfg = BaselineConfig(budget=args.budget)
    receiver = ImageReceiver(bb)

    src, t_jpeg = timed(lambda: JpegSource(ctx, receiver))
    rows = {"jpeg_rate_control_images_per_s": n / t_jpeg}
    link = DigitalLink(BlockPlan.for_budget(args.budget, MCS.parse("16qam:1/2")))
    awgn = coherent_channel("awgn", torch.Generator().manual_seed(0))
    _, t_cold = timed(lambda: jpeg_ldpc_outcome(src, link, awgn, 10.0, cfg.batch_size))  # backbone on new JPEGs
    _, t_warm = timed(lambda: jpeg_ldpc_outcome(src, link, awgn, 10.0, cfg.batch_size))  # tokens cached
    rows["image_jpeg_ldpc_images_per_s_first_point"] = n / t_cold
    rows["image_jpeg_ldpc_images_per_s_cached_receiver"] = n / t_warm
    _, t_cap = timed(lambda: run_capacity(ctx, cfg, "awgn", [10.0], src, lambda: None))
    rows["image_capacity_images_per_s"] = n / t_cap
    model = ImageJSCC(auto_config(ctx.images[0])).eval()  # untrained: the speed is the same
    _, t_jscc = timed(lambda: run_image_jscc(ctx, cfg, "awgn", [10.0], model, receiver, lambda: None))
    rows["image_jscc_images_per_s"] = n / t_jscc
    q = TokenQuantizer(train_tokens, 1)
    tlink = DigitalLink(BlockPlan.for_payload(q.payload_bits, MCS.parse("qpsk:1/2")))
    _, t_tok = timed(lambda: clf.predict(q.decode(tlink.transmit(q.encode(tokens[:n]), awgn, 10.0)[0])))
    rows["token_digital_tokens_per_s"] = n / t_tok

    ldpc = []
    for spec in ("qpsk:1/3", "16qam:1/2", "64qam:2/3"):
        link = DigitalLink(BlockPlan.for_budget(args.budget, MCS.parse(spec)))
        bits = torch.randint(0, 2, (100, link.plan.info_bits), dtype=torch.uint8)
        for snr, label in ((25.0, "decodes"), (-10.0, "fails")):
            (_, ok), dt = timed(lambda: link.transmit(bits, awgn, snr))
            ldpc.append({"mcs": spec, "n": link.plan.n, "snr_db": snr, "regime": label, "bler": 1 - ok.float().mean().item(),
                         "codewords_per_s": round(100 / dt, 1)})

    quant = {}
    for bits in (1, 2, 4, 8):
        tq = TokenQuantizer(train_tokens, bits)
        quant[bits] = top1_accuracy(clf.predict(tq.decode(tq.encode(tokens))), labels)
    quant["float32"] = top1_accuracy(clf.predict(tokens), labels)

    res = {
        "images": n,
        "budget_channel_uses": args.budget,
        **{k: round(v, 1) for k, v in rows.items()},
        "ldpc": ldpc,
        "quantised_token_clean_top1": {str(k): round(v, 4) for k, v in quant.items()},
        **machine_facts(),
    }
    atomic_write_json(args.out, res)
    table = Table(title=f"baseline speed ({n} Fashion-MNIST test images, 10 dB AWGN)")
    table.add_column("what")
    table.add_column("per second", justify="right")
    for k, v in rows.items():
        table.add_row(k, f"{v:.1f}")
    for r in ldpc:
        table.add_row(f"LDPC {r['mcs']} n={r['n']} ({r['regime']}, BLER {r['bler']:.2f})", f"{r['codewords_per_s']:.1f} codewords")
    console.print(table)
    console.print("noiseless top-1 of the quantised token:", {k: round(v, 4) for k, v in quant.items()})
    console.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
