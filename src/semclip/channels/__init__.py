"""Complex-baseband channels: per-sample power normalisation, per-sample SNR.

Conventions (fixed here, used everywhere): a transmitted block is ``x: [B, k]``
complex64 with mean |x|^2 = 1 per sample; ``snr_db: [B, 1]`` float32 with
SNR = 10 log10(1 / sigma^2); the noise is CN(0, sigma^2) (sigma^2 / 2 per real part),
never scaled to the measured signal power.
"""

from semclip.channels.awgn import AWGN
from semclip.channels.base import (CHANNELS, Channel, ChannelOutput, FadingChannel, as_snr_tensor, complex_noise, power_normalize,
                                   snr_to_noise_var)
from semclip.channels.rayleigh import RayleighBlockFading
from semclip.channels.registry import create_channel, list_channels

__all__ = [
    "AWGN",
    "CHANNELS",
    "Channel",
    "ChannelOutput",
    "FadingChannel",
    "RayleighBlockFading",
    "as_snr_tensor",
    "complex_noise",
    "create_channel",
    "list_channels",
    "power_normalize",
    "snr_to_noise_var",
]
