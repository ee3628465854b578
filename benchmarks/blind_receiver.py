"""A first probe of label-free adaptation at the receiver alone (issue 25, mode b): can the
``pca`` receiver, by re-estimating the mean and covariance of what it receives, recover
what the corpus-fitted code loses on a domain it never saw?

The sender is the ``pca`` code fitted on the transmitter corpus (fixed). The receiver sees
n received symbol vectors of the sender's own traffic (Fashion-MNIST *training* images,
no labels), estimates their mean and covariance (shrunk towards the corpus prior when n
is small), and replaces the corpus prior of its LMMSE estimate with them. Scored on
Fashion-MNIST test (zero-shot top-1, AWGN, k = 16), against the unadapted receiver.

    python benchmarks/blind_receiver.py [--out benchmarks/results/blind_receiver.json]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torch.nn.functional as F

from semclip._io import atomic_write_json
from semclip.backbones.registry import create_backbone
from semclip.channels import create_channel
from semclip.data.registry import create_dataset
from semclip.tokens.cache import dataset_tokens
from semclip.results import machine_facts
from semclip.jscc.allocated import AllocatedLinearCode
from semclip.tasks.zeroshot import ZeroShotClassifier, top1_accuracy

K, SNRS, COUNTS = 16, (-10.0, 0.0, 10.0), (10, 100, 1000)


def received(code: AllocatedLinearCode, tokens: torch.Tensor, snr: float, seed: int) -> torch.Tensor:
    """The real received vectors [N, 2k] (AWGN: unit gain already)."""
    s = torch.full((len(tokens), 1), snr)
    out = create_channel("awgn", generator=torch.Generator().manual_seed(seed))(code.encode(tokens, s, K), s)
    r = torch.empty(len(tokens), 2 * K, dtype=torch.float64)
    r[:, 0::2], r[:, 1::2] = out.y.real, out.y.imag
    return r


def blind_estimate(code: AllocatedLinearCode, seen: torch.Tensor, r: torch.Tensor, snr: float) -> torch.Tensor:
    """Token estimates [N, d] from received vectors r, with the prior re-estimated from the
    received vectors ``seen`` [n, 2k] of the sender's earlier traffic."""
    noise = 10 ** (-snr / 10) / 2
    g = code.gains(torch.tensor([[snr]]), K)[0].double()
    eye = torch.eye(2 * K, dtype=torch.float64)
    prior = torch.diag(g**2 * code.var[: 2 * K].double()) + noise * eye
    mu = seen.mean(0)
    shrink = min(1.0, 2 * K / len(seen))
    c_r = (1 - shrink) * torch.cov(seen.t()) + shrink * prior
    gz = mu + (r - mu) @ ((c_r - noise * eye) @ torch.linalg.inv(c_r)).t()  # LMMSE of G z
    z = torch.where(g > 1e-6, gz / g.clamp(min=1e-6), torch.zeros_like(gz))
    return code.mean + z.float() @ code.directions[: 2 * K]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/blind_receiver.json"))
    args = ap.parse_args()
    bb = create_backbone("pocketclip")
    corpus_tokens, _ = dataset_tokens(bb, create_dataset("corpus"))
    code = AllocatedLinearCode.fitted(corpus_tokens, [4, 8, 16, 32, 64])
    test = create_dataset("fashion-mnist:test")
    tokens, labels = dataset_tokens(bb, test)
    traffic, _ = dataset_tokens(bb, create_dataset(f"fashion-mnist:train#{max(COUNTS)}"))
    clf = ZeroShotClassifier(bb, test.classes)
    rows = []
    for snr in SNRS:
        r = received(code, tokens, snr, 0)
        unadapted = code.at(K).transmit(tokens, torch.full((len(tokens), 1), snr), create_channel("awgn", generator=torch.Generator().manual_seed(0)))
        row = {"snr_db": snr, "unadapted": round(top1_accuracy(clf.predict(unadapted), labels), 4)}
        for n in COUNTS:
            est = blind_estimate(code, received(code, traffic[:n], snr, 5), r, snr)
            row[f"blind, {n} received"] = round(top1_accuracy(clf.predict(F.normalize(est, dim=-1)), labels), 4)
        rows.append(row)
        print(row, flush=True)
    atomic_write_json(args.out, {"k": K, "channel": "awgn", "test": "fashion-mnist test, 10 000 images, one noise draw",
                                 "traffic": "fashion-mnist train, first images, no labels", "rows": rows, "machine": machine_facts()})


if __name__ == "__main__":
    main()
