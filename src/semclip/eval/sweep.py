"""Accuracy over a grid of channels and SNRs, from cached tokens: each point costs one
pass of the small codec and a matrix product, never the backbone."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from semclip.channels.registry import create_channel
from semclip.eval.results import Record
from semclip.jscc.model import TokenJSCC
from semclip.tasks.zeroshot import ZeroShotClassifier, top1_accuracy


@torch.inference_mode()
def sweep_semclip(
    jscc: TokenJSCC,
    tokens: torch.Tensor,
    labels: torch.Tensor,
    classifier: ZeroShotClassifier,
    channels: Sequence[str],
    snrs_db: Sequence[float],
    method: str = "semclip",
    seed: int = 0,
    batch_size: int = 4096,
) -> list[Record]:
    records = []
    for ch in channels:
        gen = torch.Generator().manual_seed(seed)
        channel = create_channel(ch, generator=gen)
        csi = getattr(channel, "csi", None)
        for snr in snrs_db:
            preds = []
            for s in range(0, tokens.shape[0], batch_size):
                t = tokens[s : s + batch_size]
                snr_t = torch.full((t.shape[0], 1), float(snr))
                preds.append(classifier.predict(jscc.transmit(t, snr_t, channel)))
            acc = top1_accuracy(torch.cat(preds), labels)
            records.append(
                Record(
                    method=method, channel=channel.name, csi=csi, snr_db=float(snr), value=acc, channel_uses_per_image=jscc.cfg.k
                )
            )
    return records
