"""Label-free adaptation of the default codec to its sender's domain (issue 25, item 4).

The sender is a Fashion-MNIST camera: it adapts the shipped default codec (trained on the
transmitter corpus only) on its first N unlabelled *training* images (N = 0, 10, 100,
1000, 10 000), in each mode of ``semclip.jscc.adapt``.

- Validation, which alone chooses the adaptation settings (``--variants``): on 1000 other
  unlabelled training images (rows 10 000 to 10 999, never adapted on), how often the
  received token's zero-shot label over the 1000 ImageNet names agrees with the clean
  token's, k = 16, AWGN, 0 and 10 dB. No label, no Fashion-MNIST class name.
- Report, never used to choose: Fashion-MNIST test zero-shot top-1 (10 000 images, one
  noise draw, paired 95 % interval against the unadapted codec) at the same points.
- ``receiver`` adapts blind: its traffic (the same N images) is received at 10 dB, k = 16,
  and only the receiver's own decisions about it are learned from.
- For ``both``, the receiver update's size in bits and its cost in channel uses at the MCS
  the digital baseline's BLER link adaptation picks at that SNR, amortised over 10 000
  images.

Results are written after every run, so an interrupted run goes on where it stopped.

    python benchmarks/adapt_curve.py [--variants a,b] [--counts 0,10,100,1000,10000] [--seed 0] [--out ...]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from semclip._io import atomic_write_json, atomic_write_text
from semclip.backbones.registry import create_backbone
from semclip.data.imagenet_names import imagenet_classes
from semclip.baselines.adaptation import select_mcs
from semclip.baselines.digital import BlockPlan, DigitalLink
from semclip.baselines.common import BaselineConfig
from semclip.channels.registry import create_channel
from semclip.data.registry import create_dataset
from semclip.tokens.cache import dataset_tokens
from semclip.results import machine_facts
from semclip.stats import paired_bootstrap
from semclip.jscc.adapt import AdaptConfig, adapt_codec
from semclip.jscc.train import JSCCTrainConfig
from semclip.jscc.zoo import CODEC_DATASET, corpus_bank, default_codec
from semclip.tasks.zeroshot import ZeroShotClassifier

K, SNRS = 16, (0.0, 10.0)
VALIDATION_ROWS = (10000, 11000)
AMORTISED_OVER = 10000  # images the receiver update is amortised over
# name -> AdaptConfig overrides (mode, steps, lr)
VARIANTS = {  # every setting given: the library's defaults are the chosen variants
    "transmitter / 300 steps": {"mode": "transmitter", "steps": 300, "lr": 3e-4},
    "transmitter / 300 steps / lr 1e-3": {"mode": "transmitter", "steps": 300, "lr": 1e-3},
    "transmitter / 100 steps": {"mode": "transmitter", "steps": 100, "lr": 3e-4},
    "both / 300 steps": {"mode": "both", "steps": 300, "lr": 3e-4},
    "both / 300 steps / lr 1e-3": {"mode": "both", "steps": 300, "lr": 1e-3},
    "both / 600 steps / lr 1e-3": {"mode": "both", "steps": 600, "lr": 1e-3},
    "both / snr shift / 300 steps / lr 1e-3": {"mode": "both", "steps": 300, "lr": 1e-3, "update": "scale-shift-snr"},
    "both / low rank 4 at 3 bits / 300 steps / lr 1e-3": {"mode": "both", "steps": 300, "lr": 1e-3, "update": "low-rank-4-3bit"},
    "both / low rank 8 at 4 bits / 300 steps / lr 1e-3": {"mode": "both", "steps": 300, "lr": 1e-3, "update": "low-rank-8-4bit"},
    "both / low rank 8 at 8 bits / 300 steps / lr 1e-3": {"mode": "both", "steps": 300, "lr": 1e-3, "update": "low-rank-8-8bit"},
    "receiver / 300 steps / lr 1e-3": {"mode": "receiver", "steps": 300, "lr": 1e-3, "update": "decoder-net"},
    "receiver / 300 steps": {"mode": "receiver", "steps": 300, "lr": 3e-4, "update": "decoder-net"},
    "receiver / 300 steps / trained below the traffic's SNR": {"mode": "receiver", "steps": 300, "lr": 3e-4, "update": "decoder-net",
                                                               "loss": JSCCTrainConfig(snr_max_db=10.0)},
}
assert not any("," in name for name in VARIANTS), "--variants splits on commas"
# the best validation (mean over 0 and 10 dB) of each mode among the variants that adapt within 60 s on our
# slowest machine (600 steps take ~95 s) and, for both, whose update costs at most 2 channel uses per image
# over 10 000 images at 0 dB; semclip.jscc.adapt.CHOSEN holds the same settings (checked in main)
CHOSEN = {"transmitter": "transmitter / 300 steps / lr 1e-3", "both": "both / low rank 4 at 3 bits / 300 steps / lr 1e-3",
          "receiver": "receiver / 300 steps"}


def received(codec, tokens: torch.Tensor, snr: float) -> torch.Tensor:
    ch = create_channel("awgn", generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        return codec.at(K).transmit(tokens, torch.full((tokens.shape[0], 1), snr), ch)


def update_cost(bits: int, snr: float, images: int = AMORTISED_OVER) -> dict:
    """The receiver update sent once through the digital baseline's link at ``snr`` (AWGN):
    the MCS its BLER link adaptation picks for a payload of ``bits``, the channel uses of one
    attempt, the expected uses with retransmission (1 / (1 - BLER) attempts), and those
    amortised over ``images`` images."""
    cfg = BaselineConfig()
    links = {m: DigitalLink(BlockPlan.for_payload(bits, m), cfg.num_iter, decoder=cfg.decoder) for m in cfg.mcs_table}
    mcs, bler = select_mcs(links, "awgn", snr, cfg.target_bler, cfg.probe_payloads, 0, cfg.batch_size)
    uses = links[mcs].plan.channel_uses
    expected = uses / max(1e-9, 1 - bler)
    return {"mcs": mcs.name, "probe_bler": round(bler, 4), "channel_uses": uses, "expected_channel_uses": round(expected, 1),
            f"per_image_over_{images}": round(expected / images, 3)}


def markdown(state: dict) -> str:
    """The variant table (validation chooses) and the curve of the chosen variants."""
    runs = state["runs"]

    def cells(row: dict) -> list[str]:
        return [f"{row[f'{snr:g}dB'][what]:.3f}" for what in ("validation", "test") for snr in SNRS]

    head = "| {} | images | val. 0 dB | val. 10 dB | test 0 dB | test 10 dB |\n|---|---|---|---|---|---|\n"
    out = ["## Variants (1000 images; validation chooses among those within 60 s)\n\n" + head.format("variant")]
    for key, row in runs.items():
        variant, _, n = key.partition(" | n=")
        if n == "1000":
            mark = " (chosen)" if variant in CHOSEN.values() else ""
            out.append(f"| {variant}{mark} | {n} | " + " | ".join(cells(row)) + " |\n")
    out.append("\n## Curve of the chosen variants (test: paired 95 % interval of the gain over the unadapted codec)\n\n"
               "| mode | images | test 0 dB | gain 0 dB | test 10 dB | gain 10 dB | update (bits) | cost per image over "
               f"{AMORTISED_OVER} images (0 / 10 dB) |\n|---|---|---|---|---|---|---|---|\n")
    base = runs["unadapted | n=0"]
    out.append(f"| none | 0 | {base['0dB']['test']:.3f} | | {base['10dB']['test']:.3f} | | | |\n")
    for mode, variant in CHOSEN.items():
        for key, row in sorted(((k, r) for k, r in runs.items() if k.startswith(variant + " | n=")), key=lambda kr: int(kr[0].rpartition("=")[2])):
            gains = [f"{row[f'{snr:g}dB']['test gain 95% CI'][0]:+.3f} to {row[f'{snr:g}dB']['test gain 95% CI'][1]:+.3f}" for snr in SNRS]
            cost = row.get("update_cost")
            per = " / ".join(f"{c[f'per_image_over_{AMORTISED_OVER}']:.2f} ({c['mcs']})" for c in cost.values()) if cost else "none"
            out.append(f"| {mode} | {key.partition(' | n=')[2]} | {row['0dB']['test']:.3f} | {gains[0]} | {row['10dB']['test']:.3f} | "
                       f"{gains[1]} | {row.get('update_bits', 0)} | {per} |\n")
    return "".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", default=",".join(CHOSEN.values()), help="comma-separated subset of: " + ", ".join(VARIANTS))
    ap.add_argument("--counts", default="0,10,100,1000,10000")
    ap.add_argument("--seed", type=int, default=0, help="the adaptation's seed (its batches and simulated channel; the "
                    "test's noise draw stays seed 0); give each seed its own --out")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/adapt_curve.json"))
    args = ap.parse_args()
    for mode, variant in CHOSEN.items():
        if AdaptConfig(**VARIANTS[variant]) != AdaptConfig.chosen(mode):
            raise SystemExit(f"{variant} is not semclip.jscc.adapt.CHOSEN[{mode!r}]: bring the two in line")
    state = json.loads(args.out.read_text()) if args.out.exists() else {"runs": {}}
    seeds = {row["config"].get("seed", 0) for row in state["runs"].values() if row.get("config")}
    if seeds - {args.seed}:
        raise SystemExit(f"{args.out} holds adaptations of seed {sorted(seeds)}, not {args.seed}: give each seed its own --out")
    bb = create_backbone("pocketclip")
    bank = corpus_bank(bb, create_dataset(CODEC_DATASET))
    pool, _ = dataset_tokens(bb, create_dataset(f"fashion-mnist:train#{VALIDATION_ROWS[1]}"))
    val = pool[VALIDATION_ROWS[0]:]
    names = ZeroShotClassifier(bb, list(dict.fromkeys(imagenet_classes())))  # CLIP's list names two classes twice
    val_clean = names.predict(val)
    test = create_dataset("fashion-mnist:test")
    test_tokens, labels = dataset_tokens(bb, test)
    clf = ZeroShotClassifier(bb, test.classes)
    unadapted, _ = default_codec(bb, "awgn", k=K, log=lambda *a: None)
    base = {snr: (clf.predict(received(unadapted, test_tokens, snr)) == labels).numpy() for snr in SNRS}
    for variant in args.variants.split(","):
        for n in map(int, args.counts.split(",")):
            key = f"{variant} | n={n}"
            key = "unadapted | n=0" if n == 0 else key
            if key in state["runs"]:
                continue
            codec, _ = default_codec(bb, "awgn", k=K, log=lambda *a: None)
            cfg = AdaptConfig(**VARIANTS[variant], seed=args.seed)
            t0 = time.time()
            if n:
                adapt_codec(codec, pool[:n], bank, cfg)
            row = {"seconds": round(time.time() - t0, 1), "config": cfg.record() if n else None}
            for snr in SNRS:
                agree = float((names.predict(received(codec, val, snr)) == val_clean).float().mean())
                ok = (clf.predict(received(codec, test_tokens, snr)) == labels).numpy()
                lo, hi = paired_bootstrap(ok, base[snr])
                row[f"{snr:g}dB"] = {"validation": round(agree, 4), "test": round(float(ok.mean()), 4),
                                     "test gain 95% CI": [round(lo, 4), round(hi, 4)]}
            if codec.decoder.update is not None:
                bits = row["update_bits"] = codec.decoder.update.bits
                row["update_cost"] = {f"{snr:g}dB": update_cost(bits, snr) for snr in SNRS}
            state["runs"][key] = row
            print(key, row, flush=True)
            state["machine"] = machine_facts()
            atomic_write_json(args.out, state)
    for key, row in state["runs"].items():  # rows made before the cost was measured
        if "update_bits" in row and "update_cost" not in row:
            row["update_cost"] = {f"{snr:g}dB": update_cost(row["update_bits"], snr) for snr in SNRS}
            atomic_write_json(args.out, state)
    atomic_write_text(args.out.with_suffix(".md"), "# Label-free adaptation (benchmarks/adapt_curve.py)\n\n" + markdown(state))


if __name__ == "__main__":
    main()
