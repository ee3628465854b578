"""SNR conditioning: a small MLP turns the SNR (dB) into a per-feature scale and shift
(FiLM), so one network adapts its code to the channel quality it is told."""

from __future__ import annotations

import torch
from torch import nn


class SNRFiLM(nn.Module):
    def __init__(self, features: int, cond: int = 1, hidden: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(cond, hidden), nn.SiLU(), nn.Linear(hidden, 2 * features))
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, h: torch.Tensor, snr_db: torch.Tensor) -> torch.Tensor:
        """h: [B, F, ...] (features on dim 1, e.g. conv maps); snr_db: [B, cond] (dB) -> same shape as h."""
        gamma, beta = self.net(snr_db / 10.0).chunk(2, dim=-1)
        shape = gamma.shape + (1,) * (h.dim() - 2)
        return h * (1.0 + gamma.reshape(shape)) + beta.reshape(shape)


class FiLMBlock(nn.Module):
    """Pre-norm residual MLP block with SNR FiLM (``cond`` inputs: the SNR, and k where
    the codec serves several bandwidths)."""

    def __init__(self, width: int, cond: int = 1) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.fc1 = nn.Linear(width, width)
        self.film = SNRFiLM(width, cond)
        self.fc2 = nn.Linear(width, width)

    def forward(self, h: torch.Tensor, snr_db: torch.Tensor) -> torch.Tensor:
        """h: [B, W], snr_db: [B, cond] -> [B, W]."""
        return h + self.fc2(nn.functional.gelu(self.film(self.fc1(self.norm(h)), snr_db)))
