"""Baseline speed on this machine, per baseline: images (or tokens) per second through
one (MCS, SNR) point of the whole chain, receiver included; LDPC decoding speed of both
decoders (ours: layered offset min-sum with our exact separable demapper; Sionna's demapper
and flooding sum-product BP) per code at an SNR where blocks decode (early termination) and
one where they fail (all iterations), decoding alone and the whole link; the block
error rate of both (and of Sionna's own layered offset min-sum) across the waterfall of
QPSK r=1/3, n=2048, same LLRs, with the SNR each needs for BLER 10 %; and the noiseless
accuracy of the quantised token per bit width.

    python benchmarks/baseline_speed.py [--n 200] [--out benchmarks/results/baseline_speed.json]
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from semclip._io import atomic_write_json
from semclip.results import machine_facts
from semclip.backbones.registry import create_backbone
from semclip.baselines.digital import MCS, BlockPlan, DigitalLink, coherent_channel
from semclip.baselines.image_jscc import ImageJSCC, auto_config
from semclip.baselines.quantize import TokenQuantizer
from semclip.baselines.receiver import ImageReceiver
from semclip.baselines.common import BASELINES, BaselineConfig, Context
from semclip.baselines.jpeg_source import JpegSource
from semclip.baselines.methods.image_jpeg_ldpc import jpeg_ldpc_outcome
from semclip.data.registry import create_dataset
from semclip.tokens.cache import dataset_tokens
from semclip.tasks.zeroshot import ZeroShotClassifier, top1_accuracy


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def bler_curves(count: int, snrs=(-2.0, -1.75, -1.5, -1.25, -1.0, -0.75, -0.5, -0.25, 0.0),
                oms_snrs=(-1.5, -1.0, -0.5), oms_count: int = 300) -> dict:
    """BLER of ours and Sionna's BP on the same LLRs (QPSK r=1/3, n=2048, 20 iterations, no
    early termination for Sionna), the SNR each needs for BLER 10 % (linear interpolation of
    log BLER), and at three SNRs Sionna's own layered offset min-sum on the first
    ``oms_count`` codewords (the algorithm ours implements)."""
    from sionna.phy.fec.ldpc import LDPC5GDecoder

    from semclip.channels.registry import create_channel

    plan = BlockPlan.for_budget(1024, MCS.parse("qpsk:1/3"))
    ours, bp = DigitalLink(plan, decoder="layered"), DigitalLink(plan, decoder="sionna")
    oms = LDPC5GDecoder(bp.enc, cn_schedule="layered", cn_update="offset-minsum", num_iter=20, hard_out=True, device="cpu")
    g = torch.Generator(device="cpu").manual_seed(0)
    bits = torch.randint(0, 2, (count, plan.payload_bits), generator=g, device="cpu").float()
    truth = bp.crc_enc(bits)
    curves = {"ours (layered offset min-sum)": [], "sionna BP (flooding sum-product)": []}
    reference = {"snr_db": [], "codewords": oms_count, "ours": [], "sionna layered offset min-sum": []}  # Sionna's is ~7/s
    for snr in snrs:
        out = create_channel("awgn", g)(bp.modulate(bits), snr)
        llr = bp.demapper(out.y, out.noise_var.expand(count, plan.channel_uses))
        mine = ours.dec(llr, 20)[0]
        for name, hard in zip(curves, (mine, bp.dec(llr, num_iter=20)[0])):
            curves[name].append(round((hard != truth).any(1).float().mean().item(), 4))
        if snr in oms_snrs:
            reference["snr_db"].append(snr)
            reference["ours"].append(round((mine[:oms_count] != truth[:oms_count]).any(1).float().mean().item(), 4))
            hard = oms(llr[:oms_count])
            reference["sionna layered offset min-sum"].append(round((hard != truth[:oms_count]).any(1).float().mean().item(), 4))

    def at(target: float, bler: list[float]) -> float | None:
        for i in range(1, len(snrs)):
            if bler[i - 1] >= target > bler[i]:
                lo, hi = math.log(max(bler[i - 1], 1e-6)), math.log(max(bler[i], 1e-6))
                return round(snrs[i - 1] + (math.log(target) - lo) / (hi - lo) * (snrs[i] - snrs[i - 1]), 3)
        return None

    return {"mcs": "qpsk:1/3", "n": plan.coded_bits, "num_iter": 20, "codewords_per_snr": count, "snr_db": list(snrs), "bler": curves,
            "snr_db_at_bler_0.1": {name: at(0.1, b) for name, b in curves.items()}, "same_algorithm_in_sionna": reference}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200, help="test images per point")
    ap.add_argument("--budget", type=int, default=1024)
    ap.add_argument("--bler-codewords", type=int, default=1000, help="codewords per SNR of the waterfall")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/baseline_speed.json"))
    args = ap.parse_args()
    console = Console()

    bb = create_backbone("pocketclip")
    test = create_dataset("fashion-mnist:test")
    tokens, labels = dataset_tokens(bb, test)
    train_tokens, _ = dataset_tokens(bb, create_dataset("fashion-mnist:train+clipart:train", limit=10000))  # as the demo
    clf = ZeroShotClassifier(bb, test.classes)
    n = args.n
    ctx = Context(bb, clf, [test.image(i) for i in range(n)], labels[:n], tokens[:n], lambda b: TokenQuantizer(train_tokens, b), None, "bench", 0)
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
    _, t_cap = timed(lambda: BASELINES.create("image-capacity").run(ctx, cfg, "awgn", [10.0], receiver, lambda: None))
    rows["image_capacity_images_per_s"] = n / t_cap
    image_jscc = BASELINES.create("image-jscc")
    image_jscc.model = ImageJSCC(auto_config(ctx.images[0])).eval()  # untrained: the speed is the same
    _, t_jscc = timed(lambda: image_jscc.run(ctx, cfg, "awgn", [10.0], receiver, lambda: None))
    rows["image_jscc_images_per_s"] = n / t_jscc
    q = TokenQuantizer(train_tokens, 1)
    tlink = DigitalLink(BlockPlan.for_payload(q.payload_bits, MCS.parse("qpsk:1/2")))
    _, t_tok = timed(lambda: clf.predict(q.decode(tlink.transmit(q.encode(tokens[:n]), awgn, 10.0)[0])))
    rows["token_digital_tokens_per_s"] = n / t_tok

    ldpc = []
    for spec in ("qpsk:1/3", "16qam:1/2", "64qam:2/3"):
        plan = BlockPlan.for_budget(args.budget, MCS.parse(spec))
        links = {d: DigitalLink(plan, decoder=d) for d in ("layered", "sionna")}
        links["layered"].transmit(torch.zeros(20, plan.payload_bits, dtype=torch.uint8), awgn, 0.0)  # compile (or load) the kernel
        for snr, label in ((25.0, "decodes"), (-10.0, "fails")):
            for decoder, count in (("layered", 2000), ("sionna", 100)):
                link = links[decoder]
                bits = torch.randint(0, 2, (count, plan.payload_bits), dtype=torch.uint8)
                out = awgn(link.modulate(bits), snr)
                no = out.noise_var.expand(count, plan.channel_uses).reshape(count * plan.blocks, -1)
                llr, t_demap = timed(lambda: link.demapper(out.y.reshape(count * plan.blocks, -1), no))
                (_, ok), t_dec = timed(lambda: link._decode(llr))  # decoding alone: BP/min-sum + early stop + CRC
                _, t_link = timed(lambda: link.transmit(bits, awgn, snr, batch_size=500))  # encode .. decode, all of it
                ldpc.append({"decoder": decoder, "mcs": spec, "n": plan.coded_bits, "snr_db": snr, "regime": label, "codewords": count,
                             "bler": round(1 - ok.float().mean().item(), 4), "decode_codewords_per_s": round(count / t_dec, 1),
                             "demap_codewords_per_s": round(count / t_demap, 1), "link_codewords_per_s": round(count / t_link, 1)})
    waterfall = bler_curves(args.bler_codewords)

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
        "ldpc_waterfall": waterfall,
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
        table.add_row(f"LDPC {r['decoder']} {r['mcs']} n={r['n']} ({r['regime']}, BLER {r['bler']:.2f}): decode / whole link",
                      f"{r['decode_codewords_per_s']:.0f} / {r['link_codewords_per_s']:.0f} codewords")
    console.print(table)
    console.print(f"QPSK r=1/3 n=2048, {args.bler_codewords} codewords per SNR, 20 iterations; SNR (dB) for BLER 10 %:",
                  waterfall["snr_db_at_bler_0.1"])
    console.print("noiseless top-1 of the quantised token:", {k: round(v, 4) for k, v in quant.items()})
    console.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
