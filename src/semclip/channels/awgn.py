"""Additive white Gaussian noise."""

from __future__ import annotations

import torch

from semclip.channels.base import CHANNELS, Channel, ChannelOutput, as_snr_tensor, complex_noise, snr_to_noise_var
from semclip.errors import SemclipError


class AWGN(Channel):
    """y = x + n, n ~ CN(0, sigma^2)."""

    name = "awgn"

    def forward(self, x: torch.Tensor, snr_db: torch.Tensor | float) -> ChannelOutput:
        """x: [B, k] complex64 (unit power per sample); snr_db: [B, 1] -> y: [B, k] complex64."""
        snr = as_snr_tensor(snr_db, x.shape[0], x.device)
        var = snr_to_noise_var(snr)
        return ChannelOutput(x + complex_noise(x.shape, var, self.generator), None, var, snr)


@CHANNELS.register("awgn", "additive white Gaussian noise, y = x + n")
def _awgn(arg: str = "", generator: torch.Generator | None = None) -> AWGN:
    if arg:
        raise SemclipError(f"unknown channel 'awgn:{arg}': awgn takes no argument")
    return AWGN(generator)
