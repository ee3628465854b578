"""Rayleigh block fading: one complex gain h ~ CN(0, 1) per sample, constant over its
k symbols (a block shorter than the coherence time), with a choice of receiver:

- ``mmse``: perfect CSI at the receiver, per-block MMSE equalisation
  x_hat = conj(h) y / (|h|^2 + sigma^2);
- ``zf``: perfect CSI, zero forcing x_hat = y / h;
- ``decoder``: y untouched, h handed to the decoder as side information;
- ``none``: y untouched, nothing known about h.

Common random numbers: ``common_gains(seed, snr_db, n)`` are the fades of images 0..n-1 at
one (seed, SNR), the same for every method; a method that knows which images it sends
passes their rows (``with channel.gains(h): ...``), so that at a given (image, channel,
SNR, seed) every method sees the same h, and only the noise is its own.
"""

from __future__ import annotations

import math

import torch
from scipy.integrate import quad

from semclip.channels.base import CHANNELS, ChannelOutput, FadingChannel, as_snr_tensor, complex_noise, snr_to_noise_var
from semclip.errors import SemclipError

CSI_MODES = ("mmse", "zf", "decoder", "none")


class RayleighBlockFading(FadingChannel):
    name = "rayleigh"

    def __init__(self, csi: str = "mmse", generator: torch.Generator | None = None) -> None:
        super().__init__(generator)
        if csi not in CSI_MODES:
            raise SemclipError(f"unknown CSI mode {csi!r}; choose one of {CSI_MODES}")
        self.csi = csi
        self.gives_csi = csi == "decoder"

    def sample_gain(self, batch: int, device: torch.device | None = None) -> torch.Tensor:
        """h: [B, 1] complex64, CN(0, 1): E|h|^2 = 1, uniform phase (the next rows of the
        gains given with ``gains(h)``, when given)."""
        return self.next_fades(batch, device, self._draw).reshape(-1, 1)

    def _draw(self, batch: int, device: torch.device | None) -> torch.Tensor:
        return complex_noise(torch.Size((batch, 1)), torch.ones(batch, 1, device=device), self.generator)

    def common_fades(self, seed: int, snr_db: float, n: int, device: torch.device | None = None) -> torch.Tensor:
        return common_gains(seed, snr_db, n, device)

    def outage_rate(self, snr_db: float, target: float, n: int, seed: int) -> float:
        """|h|^2 ~ Exp(1): P(log2(1 + |h|^2 SNR) < R) = target at R = log2(1 - SNR ln(1 - target))."""
        return math.log2(1 - 10 ** (snr_db / 10.0) * math.log(1 - target))

    def ergodic_rate(self, snr_db: float, n: int, seed: int) -> float:
        """|h|^2 ~ Exp(1): the integral of log2(1 + g SNR) e^-g over g >= 0 (in closed form
        exp(1/SNR) E1(1/SNR) / ln 2, which overflows at very low SNR; quadrature does not)."""
        lin = 10 ** (snr_db / 10.0)
        return float(quad(lambda g: math.log2(1 + g * lin) * math.exp(-g), 0, math.inf)[0])

    def coherent(self) -> "RayleighBlockFading":
        """Zero forcing y / h for any mode that gives the receiver h; without CSI there is no
        coherent QAM detection, so that mode is refused."""
        if self.csi == "none":
            raise SemclipError("digital baselines need CSI at the receiver for coherent QAM detection; 'rayleigh:none' has none")
        return RayleighBlockFading("zf", self.generator)

    def forward(self, x: torch.Tensor, snr_db: torch.Tensor | float) -> ChannelOutput:
        """x: [B, k] complex64; snr_db: [B, 1] average SNR -> ChannelOutput."""
        snr = as_snr_tensor(snr_db, x.shape[0], x.device)
        var = snr_to_noise_var(snr)
        h = self.sample_gain(x.shape[0], x.device)
        y = h * x + complex_noise(x.shape, var, self.generator)
        g = h.abs().pow(2)
        inst_snr = snr + 10.0 * torch.log10(g.clamp(min=1e-12))
        if self.csi == "mmse":
            # x_hat = g/(g+s2) x + conj(h) n/(g+s2): its noise variance is g s2 / (g+s2)^2
            return ChannelOutput(h.conj() * y / (g + var), None, var * g / (g + var) ** 2, inst_snr)
        if self.csi == "zf":
            return ChannelOutput(y / h, None, var / g.clamp(min=1e-12), inst_snr)
        if self.csi == "decoder":
            return ChannelOutput(y, h, var, inst_snr)
        return ChannelOutput(y, None, var, snr)


def common_gains(seed: int, snr_db: float, n: int, device: torch.device | None = None) -> torch.Tensor:
    """[n, 1] CN(0, 1) fades of images 0..n-1 at (seed, SNR): the same for every method
    (a stream of their own, apart from any method's noise)."""
    from semclip.device import keyed_generator

    gen = keyed_generator(seed, f"fading|{float(snr_db):g}", device)
    return complex_noise(torch.Size((n, 1)), torch.ones(n, 1, device=gen.device), gen)


@CHANNELS.register("rayleigh", "Rayleigh block fading; the receiver's CSI: mmse (the default, equalised), zf, "
                   "decoder (h given to the decoder) or none", arg="|".join(CSI_MODES))
def _rayleigh(arg: str = "", generator: torch.Generator | None = None) -> RayleighBlockFading:
    return RayleighBlockFading(arg or "mmse", generator)
