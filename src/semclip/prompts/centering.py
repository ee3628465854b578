"""Received-token centering: the receiver's class-agnostic correction for transmission quality.

At low SNR the codec's decoded token is shrunk towards the mean of what it was trained on
(the MMSE answer to a noisy channel); once L2-normalised, that shared mean direction
dominates it, and the cosine scores of every class name pick up a class-dependent bias
(``t_c . mean``) that has nothing to do with the image. Subtracting the mean *received*
token at the SNR it came in at removes that bias. The means are measured once per codec
and bandwidth on the transmitter corpus (its tokens sent through the codec over AWGN and
Rayleigh, binned by the received SNR the receiver knows): no class name, no label and no
image of an evaluation set is involved, so the correction cannot lean towards any class,
base or novel. ``PromptConfig.centering`` (beta) scales it: z' = normalise(z - beta m(s)).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from semclip.channels.registry import create_channel
from semclip.device import generator
from semclip.errors import SemclipError

LEVELS_DB = (-15, 30)  # received SNRs the table covers, one bin per dB; outside, the nearest end
TABLE_TOKENS = 4096  # corpus tokens sent per (channel, SNR): a mean to about 1e-3 per component
TABLE_CHANNELS = ("awgn", "rayleigh")


class ReceivedMean(nn.Module):
    """The mean received token per received-SNR bin of one codec at one bandwidth: a table
    [L, d] read by linear interpolation in dB. Starts empty (``fitted`` 0); ``fill`` or a
    checkpoint sets it."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        lo, hi = LEVELS_DB
        self.register_buffer("means", torch.zeros(hi - lo + 1, dim))
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))

    def fill(self, means: torch.Tensor) -> None:
        if means.shape != self.means.shape or not torch.isfinite(means).all():
            raise SemclipError(f"received-mean table must be finite with shape {list(self.means.shape)}, got {list(means.shape)}")
        self.means.copy_(means)
        self.fitted.fill_(True)

    def forward(self, snr_db: torch.Tensor) -> torch.Tensor:
        """snr_db: [B, 1] received SNR -> mean received token [B, d] (unnormalised)."""
        if not bool(self.fitted):
            raise SemclipError("this receiver's centering table was never measured: build it with semclip.prompts.centering.measure")
        lo, hi = LEVELS_DB
        pos = (snr_db[:, 0].clamp(lo, hi) - lo).to(self.means.dtype)
        i0 = pos.floor().long().clamp(max=hi - lo - 1)
        w = (pos - i0.to(pos.dtype)).unsqueeze(1)
        return (1 - w) * self.means[i0] + w * self.means[i0 + 1]


@torch.no_grad()
def measure(codec: nn.Module, tokens: torch.Tensor, k: int, channels: Sequence[str] = TABLE_CHANNELS,
            n: int = TABLE_TOKENS, seed: int = 0) -> torch.Tensor:
    """The table [L, d] for ``codec`` sending ``k`` symbols: ``n`` of ``tokens`` (clean
    corpus tokens [N, d]) sent at every SNR of the table over each channel, the normalised
    decoded tokens averaged per received-SNR bin (Rayleigh spreads a transmit SNR over
    several bins; a bin no draw reached takes its nearest filled neighbour)."""
    if tokens.dim() != 2 or tokens.shape[0] == 0:
        raise SemclipError(f"centering needs clean tokens [N, d], got {list(tokens.shape)}")
    dev = next(codec.parameters()).device
    lo, hi = LEVELS_DB
    gen = generator(seed, dev)
    pick = torch.randperm(tokens.shape[0], generator=generator(seed, "cpu"))[:n]
    x = F.normalize(tokens[pick].to(dev).float(), dim=-1)
    ks = torch.full((x.shape[0],), int(k), dtype=torch.long, device=dev)
    sums = torch.zeros(hi - lo + 1, x.shape[1], device=dev)
    counts = torch.zeros(hi - lo + 1, device=dev)
    for ch in channels:
        channel = create_channel(ch, generator=gen)
        for level in range(lo, hi + 1):
            decoded, rx = codec(x, torch.full((x.shape[0], 1), float(level), device=dev), channel, ks)
            bins = (rx.rx_snr_db[:, 0].round().clamp(lo, hi) - lo).long()
            sums.index_add_(0, bins, F.normalize(decoded.float(), dim=-1))
            counts.index_add_(0, bins, torch.ones_like(bins, dtype=counts.dtype))
    filled = torch.nonzero(counts > 0)[:, 0]
    nearest = filled[(torch.arange(len(counts), device=dev)[:, None] - filled[None]).abs().argmin(1)]
    return (sums[nearest] / counts[nearest, None]).cpu()
