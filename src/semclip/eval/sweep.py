"""Accuracy over a grid of channels and SNRs, from cached tokens: each point costs one
pass of the small codec and the receiver, never the image backbone."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from semclip.channels.registry import create_channel
from semclip.eval.results import Record
from semclip.jscc.model import TokenJSCC
from semclip.jscc.linear import LinearCode

TokenCode = TokenJSCC | LinearCode  # anything with cfg.k and forward(tokens, snr_db, channel) -> (decoded, ChannelOutput)
from semclip.tasks.zeroshot import ZeroShotClassifier, top1_accuracy

# (received tokens [B, d] L2-normalised, SNR known at the receiver [B, 1]) -> predictions [B]
Receiver = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@torch.no_grad()  # not inference_mode: a learner may cache tensors that training reuses
def sweep(
    jscc: TokenCode,
    tokens: torch.Tensor,
    labels: torch.Tensor,
    receiver: Receiver,
    channels: Sequence[str],
    snrs_db: Sequence[float],
    method: str = "semclip",
    split: str = "all",
    seed: int = 0,
    batch_size: int = 4096,
) -> list[Record]:
    """One record per (channel, SNR). The same seed gives every method the same noise."""
    records = []
    for ch in channels:
        gen = torch.Generator().manual_seed(seed)
        channel = create_channel(ch, generator=gen)
        csi = getattr(channel, "csi", None)
        for snr in snrs_db:
            preds = []
            for s in range(0, tokens.shape[0], batch_size):
                t = tokens[s : s + batch_size]
                decoded, out = jscc(t, torch.full((t.shape[0], 1), float(snr)), channel)
                preds.append(receiver(F.normalize(decoded, dim=-1), out.rx_snr_db))
            acc = top1_accuracy(torch.cat(preds), labels)
            records.append(
                Record(
                    method=method,
                    split=split,
                    channel=channel.name,
                    csi=csi,
                    snr_db=float(snr),
                    value=acc,
                    channel_uses_per_image=jscc.cfg.k,
                    k=jscc.cfg.k,
                )
            )
    return records


def sweep_semclip(
    jscc: TokenCode,
    tokens: torch.Tensor,
    labels: torch.Tensor,
    classifier: ZeroShotClassifier,
    channels: Sequence[str],
    snrs_db: Sequence[float],
    method: str = "semclip",
    seed: int = 0,
    batch_size: int = 4096,
) -> list[Record]:
    """The hand-crafted receiver (template ensemble, SNR-blind) over the grid."""
    return sweep(jscc, tokens, labels, lambda t, s: classifier.predict(t), channels, snrs_db, method, "all", seed, batch_size)
