"""Shared channel pieces: the power constraint, SNR handling, the output record."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from semclip.errors import SemclipError
from semclip.registry import Registry
from semclip.training import snrs_drawn

# every channel family, by name (``semclip.registry``): each registers itself in its own file
CHANNELS: Registry[Channel] = Registry("channel", builtins=("semclip.channels.awgn", "semclip.channels.rayleigh", "semclip.channels.ofdm"))

SNR_RANGE_DB = (-50.0, 100.0)  # outside this, a request is almost surely a mistake


def power_normalize(x: torch.Tensor) -> torch.Tensor:
    """x: [B, k] complex -> same, scaled so that each sample has mean |x|^2 = 1.

    Per sample, not per batch: a batch-level constraint lets one sample borrow power
    from another, which no real transmitter can do."""
    if not torch.is_complex(x):
        raise SemclipError(f"channel input must be complex, got {x.dtype}")
    power = x.abs().pow(2).mean(dim=-1, keepdim=True)
    return x / torch.sqrt(power.clamp(min=1e-12))


def as_snr_tensor(snr_db: float | torch.Tensor, batch: int, device: torch.device | None = None) -> torch.Tensor:
    """A scalar or [B] / [B, 1] SNR in dB -> validated [B, 1] float32."""
    t = torch.as_tensor(snr_db, dtype=torch.float32, device=device)
    if t.dim() == 0:
        t = t.expand(batch)
    t = t.reshape(-1, 1)
    if t.shape[0] != batch:
        raise SemclipError(f"SNR tensor has {t.shape[0]} entries for a batch of {batch}")
    if not snrs_drawn():  # a trainer's draws from its validated range: no wait for the device here
        _check_values(t)
    return t


def _check_values(t: torch.Tensor) -> None:
    if not torch.isfinite(t).all():
        raise SemclipError("SNR must be a finite number of dB (got NaN or inf)")
    lo, hi = SNR_RANGE_DB
    if (t < lo).any() or (t > hi).any():
        raise SemclipError(f"SNR {t.min().item():g}..{t.max().item():g} dB is outside the sane range {lo:g}..{hi:g} dB")


def check_snr_range(lo: float, hi: float) -> None:
    """A training range of SNRs in dB: both ends sane (``as_snr_tensor``), lo <= hi."""
    _check_values(torch.tensor([lo, hi], dtype=torch.float32, device="cpu"))
    if lo > hi:
        raise SemclipError(f"invalid SNR range [{lo:g}, {hi:g}] dB: the low end is above the high end")


def snr_to_noise_var(snr_db: torch.Tensor) -> torch.Tensor:
    """sigma^2 = 10^(-SNR/10) for unit signal power."""
    return torch.pow(10.0, -snr_db / 10.0)


def complex_noise(shape: torch.Size, noise_var: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """CN(0, noise_var): real and imaginary parts each N(0, noise_var / 2)."""
    std = torch.sqrt(noise_var / 2.0)
    re = torch.randn(shape, generator=generator, device=noise_var.device)
    im = torch.randn(shape, generator=generator, device=noise_var.device)
    return torch.complex(re * std, im * std)


@dataclass
class ChannelOutput:
    """y: [B, k] complex64, what the decoder gets (equalised where the mode says so).
    csi: [B, 1] complex64 fading gain when the decoder is given it, else None.
    noise_var: [B, 1] float32 noise variance of y (after equalisation); [B, k] where it
    differs from symbol to symbol (OFDM over a frequency-selective channel).
    rx_snr_db: [B, 1] float32 the SNR the receiver knows: the instantaneous SNR
    |h|^2 / sigma^2 where it has CSI, the average SNR where it has not (OFDM: the
    effective SNR of the block, ``semclip.channels.ofdm``).
    gain: [B, k] float32 the gain b of each equalised symbol (y = b x + e) where it differs
    from symbol to symbol, else None (a flat block's gain follows from the other fields)."""

    y: torch.Tensor
    csi: torch.Tensor | None
    noise_var: torch.Tensor
    rx_snr_db: torch.Tensor
    gain: torch.Tensor | None = None

    def rows(self, sel: torch.Tensor | slice) -> "ChannelOutput":
        """The same output for the rows ``sel`` of the batch."""
        return ChannelOutput(self.y[sel], None if self.csi is None else self.csi[sel], self.noise_var[sel],
                             self.rx_snr_db[sel], None if self.gain is None else self.gain[sel])


class Channel(nn.Module):
    """Base class: ``forward(x [B, k] complex, snr_db [B, 1]) -> ChannelOutput``."""

    name = "channel"
    csi: str | None = None  # what the receiver knows of a fading channel (its CSI mode); None without fading
    gives_csi = False  # whether ChannelOutput.csi is filled for the decoder
    fading = False  # whether samples fade (and so can take common fades: ``gains``)
    charge = 1.0  # channel uses one sent symbol costs (an OFDM link: its share of the pilots and cyclic prefix)
    pilot_overhead: float | None = None  # the pilots' share of the resource elements, on a link that has them

    @property
    def spec(self) -> str:
        """The name it is made from again: ``awgn``, ``rayleigh:zf`` ..."""
        return self.name if self.csi is None else f"{self.name}:{self.csi}"

    @property
    def codec_recipe(self) -> tuple[tuple[str, ...], bool]:
        """Which channels a token codec serving this one is trained on, and whether its
        decoder takes CSI. AWGN and equalised fading share one codec (trained on both); the
        un-equalised modes need their own (the decoder must see h, or learn without it)."""
        if self.csi in (None, "mmse"):
            return ("awgn", "rayleigh"), False
        return (self.spec,), self.csi == "decoder"

    def __init__(self, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.generator = generator

    def coherent(self) -> "Channel":
        """This channel as a coherent digital receiver (QAM demapper) needs it: unit-gain
        symbols y = x + e with their noise variance. Most channels give that already."""
        return self

    def sent(self, symbols: float, digits: int = 2) -> dict:
        """What a record says of a transmission over this channel (``semclip.results.Record``
        fields): its name, the receiver's CSI mode, and the channel uses ``symbols`` sent
        symbols cost here, rounded to ``digits`` (an OFDM link adds its pilots' and cyclic
        prefix's share, and says the pilots' share)."""
        return dict(channel=self.name, csi=self.csi, channel_uses_per_image=round(symbols * self.charge, digits),
                    pilot_overhead=self.pilot_overhead)

    @property
    def receiver(self) -> str | None:
        """What the receiver does with the channel, for records (``Record.receiver``): its
        equaliser where it has one (``mmse``, ``zf``), else the CSI mode."""
        return self.csi

    @contextmanager
    def gains(self, h: torch.Tensor | None) -> Iterator[None]:
        """Within the block, samples fade by the rows of ``h`` [N, 1] in order (common random
        numbers shared by every method); ``None``, or a channel without fading: drawn as usual."""
        yield

    def common_fades(self, seed: int, snr_db: float, n: int, device: torch.device | None = None) -> torch.Tensor | None:
        """The fades [n, 1] that images 0..n-1 share at (seed, SNR) across every method, for
        ``gains``; None on a channel without fading."""
        return None

    @staticmethod
    def capacity(snr_db: float) -> float:
        """Shannon capacity of the AWGN channel, bits per complex channel use."""
        return math.log2(1.0 + 10 ** (snr_db / 10.0))

    def capacities(self, fades: torch.Tensor | None, snr_db: float, n: int, rows: int) -> torch.Tensor:
        """Each row's capacity [rows], bits per channel use, over the n symbols it sends, with
        the rate adapted to its own channel (CSI at the transmitter): log2(1 + |h|^2 SNR) for
        one gain per row (``fades`` [rows, 1]; AWGN: None, |h| = 1)."""
        lin = 10 ** (snr_db / 10.0)
        if fades is None:
            return torch.full((rows,), math.log2(1.0 + lin))
        return torch.log2(1 + fades.abs().pow(2).reshape(-1).cpu() * lin)

    def outage_rate(self, snr_db: float, target: float, n: int, seed: int) -> float:
        """The one rate (no CSI at the transmitter) whose outage probability over this
        channel is ``target``: AWGN has no outage, so its capacity."""
        return self.capacity(snr_db)

    def ergodic_rate(self, snr_db: float, n: int, seed: int) -> float:
        """The ergodic capacity E[log2(1 + |h|^2 SNR)], bits per channel use: what a code
        spread over many independent fades carries without CSI at the transmitter (AWGN: its
        capacity)."""
        return self.capacity(snr_db)


class FadingChannel(Channel):
    """A channel whose rows fade, with common random numbers: within ``gains(h)`` the rows
    sent take their fades from the rows of ``h`` in order (``next_fades``), so that every
    method sees the same channel on the same image; outside it they are drawn."""

    fading = True

    def __init__(self, generator: torch.Generator | None = None) -> None:
        super().__init__(generator)
        self._fixed: torch.Tensor | None = None  # the common fades given with ``gains``, and how many are used
        self._used = 0

    @contextmanager
    def gains(self, h: torch.Tensor | None) -> Iterator[None]:
        """Within the block, rows take their fades from ``h`` (one row per sample sent, in
        order) instead of drawing them; ``None``: drawn."""
        self._fixed, self._used = h, 0
        try:
            yield
        finally:
            self._fixed = None

    def next_fades(self, batch: int, device: torch.device | None, draw) -> torch.Tensor:
        """The next ``batch`` rows of the common fades, or ``draw(batch, device)`` without them."""
        if self._fixed is None:
            return draw(batch, device)
        left = self._fixed.shape[0] - self._used
        if left < batch:
            raise SemclipError(f"{batch} faded rows asked for, {left} common fades left")
        h = self._fixed[self._used : self._used + batch].to(device or self._fixed.device)
        self._used += batch
        return h
