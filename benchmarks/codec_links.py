"""Does the token codec carry over from one channel model to another? (issue 28)

Trains (or reads from the cache) the token codec, with the default settings and corpus, on:

- ``base``: AWGN + Rayleigh, the default (shipped) recipe, which has never seen an OFDM link;
- ``links``: AWGN + Rayleigh + OFDM over TDL-A and TDL-C (LS, 300 ns, 3 km/h);
- ``links+X``: the same plus the link X, for each test link X (``--with``).

Then it scores each on the Fashion-MNIST test images at k = 16 with the hand-crafted
receiver, over test links (TDL-B, D, E; CDL-A, C, E; LS, 300 ns, 3 km/h), and reports, per link and
SNR, each codec's top-1 and the paired difference (same images, same frames, same noise) to
the codec that saw the link.

    python benchmarks/codec_links.py [--snrs 0,10,20] [--with ofdm-tdl:B:ls,ofdm-cdl:C:ls] [--limit N]

The evaluation set reports, it selects nothing: which mixture the main job's codec trains on
is not chosen here. Writes ``benchmarks/results/codec_links.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from rich.console import Console

from semclip._io import atomic_write_json, atomic_write_text
from semclip.backbones.registry import create_backbone
from semclip.data.registry import create_dataset
from semclip.eval.sweep import sweep
from semclip.jscc.zoo import CODEC_DATASET, get_jscc
from semclip.results import machine_facts
from semclip.stats import paired_bootstrap, unpack_outcomes
from semclip.tasks.zeroshot import ZeroShotClassifier
from semclip.tokens.cache import dataset_tokens, lazy_tokens

TRAIN_LINKS = ("ofdm-tdl:A:ls", "ofdm-tdl:C:ls")
TEST_LINKS = ("ofdm-tdl:B:ls", "ofdm-tdl:D:ls", "ofdm-tdl:E:ls", "ofdm-cdl:A:ls", "ofdm-cdl:C:ls", "ofdm-cdl:E:ls")


def recipes(also: list[str]) -> dict[str, tuple[str, ...]]:
    out = {"base": ("awgn", "rayleigh"), "links": ("awgn", "rayleigh", *TRAIN_LINKS)}
    out |= {f"links+{x}": (*out["links"], x) for x in also}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--snrs", default="0,10,20")
    ap.add_argument("--links", default=",".join(TEST_LINKS), help="test links")
    ap.add_argument("--with", dest="also", default="ofdm-tdl:B:ls,ofdm-cdl:C:ls",
                    help="test links to train a codec with (links+X), for the loss of not having seen them")
    ap.add_argument("--limit", type=int, default=None, help="first N test images")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/codec_links"))
    args = ap.parse_args()
    console = Console()
    snrs = [float(s) for s in args.snrs.split(",")]
    links = [s for s in args.links.split(",") if s]
    also = [s for s in args.also.split(",") if s]
    bb = create_backbone("pocketclip")
    train = create_dataset(CODEC_DATASET)
    test = create_dataset("fashion-mnist:test", limit=args.limit)
    tokens, labels = dataset_tokens(bb, test)
    clf = ZeroShotClassifier(bb, test.classes)
    codecs, seconds = {}, {}
    for name, channels in recipes(also).items():
        t = time.perf_counter()
        codecs[name], _ = get_jscc(bb, train, lazy_tokens(bb, train), channels, False, log=console.print)
        seconds[name] = time.perf_counter() - t
    rows = []
    for link in links:
        recs = {name: sweep(c, tokens, labels, lambda t, s: clf.predict(t), [link], snrs, outcomes=True)
                for name, c in codecs.items()}
        seen = f"links+{link}" if f"links+{link}" in codecs else None
        for i, snr in enumerate(snrs):
            row = {"link": link, "snr_db": snr, **{name: r[i].value for name, r in recs.items()}}
            ref = recs[seen][i] if seen else None
            for name in ("base", "links"):
                if ref is not None:
                    a, b = (unpack_outcomes(r.outcomes, len(labels)) for r in (recs[name][i], ref))
                    row[f"{name}_minus_seen"] = [float(a.mean() - b.mean()), *paired_bootstrap(a, b)]
            rows.append(row)
            console.print(row)
    atomic_write_json(args.out.with_suffix(".json"), {"machine": machine_facts(), "n_images": len(labels), "snrs_db": snrs,
                                                      "recipes": recipes(also), "train_seconds": seconds, "rows": rows})
    atomic_write_text(args.out.with_suffix(".md"), markdown(rows, list(codecs), len(labels)))
    console.print(f"wrote {args.out}.json and .md")


def markdown(rows: list[dict], names: list[str], n: int) -> str:
    head = "| link | SNR (dB) | " + " | ".join(names) + " | base - seen | links - seen |\n"
    head += "|---|---|" + "---|" * (len(names) + 2) + "\n"
    body = ""
    for r in rows:
        diff = [f"{r[k][0]:+.3f} [{r[k][1]:+.3f}, {r[k][2]:+.3f}]" if k in r else "" for k in ("base_minus_seen", "links_minus_seen")]
        body += f"| {r['link']} | {r['snr_db']:g} | " + " | ".join(f"{r[nm]:.3f}" for nm in names) + " | " + " | ".join(diff) + " |\n"
    return (f"Token codecs on Fashion-MNIST test ({n} images), k = 16, hand-crafted receiver, one seed; "
            "differences paired on the same images, frames and noise (95 % bootstrap intervals).\n\n" + head + body)


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
