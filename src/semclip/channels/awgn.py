"""Additive white Gaussian noise."""

from __future__ import annotations

import torch

from semclip.channels.base import Channel, ChannelOutput, as_snr_tensor, complex_noise, snr_to_noise_var


class AWGN(Channel):
    """y = x + n, n ~ CN(0, sigma^2)."""

    name = "awgn"

    def forward(self, x: torch.Tensor, snr_db: torch.Tensor | float) -> ChannelOutput:
        """x: [B, k] complex64 (unit power per sample); snr_db: [B, 1] -> y: [B, k] complex64."""
        snr = as_snr_tensor(snr_db, x.shape[0], x.device)
        var = snr_to_noise_var(snr)
        return ChannelOutput(x + complex_noise(x.shape, var, self.generator), None, var, snr)
