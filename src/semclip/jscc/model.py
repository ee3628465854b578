"""The token codec: one rate-adaptive model for several bandwidths.

Encoder: token [B, d] -> ``k_max`` complex symbols, ordered so that every prefix is a
code of its own (nested): sending the first k symbols, power-normalised on their own,
is a valid transmission at every served k. Decoder: the received prefix (zero-padded to
``k_max``, with a mask that tells it k) -> token [B, d]. Both are FiLM-conditioned on the
SNR and on k.

Each side is a linear map plus a residual MLP whose output starts at zero, so a codec
initialised from principal directions (``init_linear``) starts as the linear code and
training only adds what the MLP finds on top.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field, replace

import torch
import torch.nn.functional as F
from torch import nn

from semclip.channels.base import Channel, ChannelOutput
from semclip.errors import SemclipError
from semclip.jscc.film import FiLMBlock

DEFAULT_KS = (4, 8, 16, 32, 64)


@dataclass
class JSCCConfig:
    """d: token size; ks: the bandwidths (complex channel uses per token) one checkpoint
    serves; k: the one this codec (or view, ``TokenJSCC.at``) sends; csi: the decoder
    takes h as input."""

    dim: int = 512
    ks: list[int] = field(default_factory=lambda: list(DEFAULT_KS))
    k: int | None = None  # None: the largest of ks
    width: int = 512
    depth: int = 2
    csi: bool = False

    def __post_init__(self) -> None:
        self.ks = sorted(set(self.ks))
        if not self.ks or any(not isinstance(k, int) or isinstance(k, bool) or k <= 0 for k in self.ks):
            raise SemclipError(f"ks (complex symbols per token) must be positive integers, got {self.ks!r}")
        if self.k is None:
            self.k = self.ks[-1]
        if self.k not in self.ks:
            raise SemclipError(f"this codec serves k in {self.ks}, not k={self.k!r}: pick one of those or train a codec for it")
        if self.dim <= 0 or self.width <= 0 or self.depth < 0:
            raise SemclipError(f"invalid JSCC sizes: {asdict(self)}")

    @property
    def k_max(self) -> int:
        return self.ks[-1]


def prefix_mask(k: torch.Tensor, k_max: int) -> torch.Tensor:
    """k: [B] ints -> [B, k_max] float, 1 on the first k symbols of each row."""
    return (torch.arange(k_max, device=k.device)[None] < k[:, None]).float()


def _cond(snr_db: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """[B, 1] dB and [B] k -> [B, 2] FiLM input; FiLM divides by 10, so log2 k is given as
    10 (log2 k / 3 - 1) to sit on the same scale as the SNR in dB / 10."""
    return torch.cat([snr_db, 10.0 * (torch.log2(k.float())[:, None] / 3.0 - 1.0)], dim=-1)


class _Residual(nn.Module):
    """x -> linear(x) + MLP(x) with FiLM blocks; the MLP's output starts at zero."""

    def __init__(self, din: int, dout: int, width: int, depth: int) -> None:
        super().__init__()
        self.linear = nn.Linear(din, dout)
        self.inp = nn.Linear(din, width)
        self.blocks = nn.ModuleList(FiLMBlock(width, cond=2) for _ in range(depth))
        self.out = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, dout))
        nn.init.zeros_(self.out[-1].weight)
        nn.init.zeros_(self.out[-1].bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """x: [B, din]; cond: [B, 2] -> [B, dout]."""
        h = self.inp(x)
        for block in self.blocks:
            h = block(h, cond)
        return self.linear(x) + self.out(h)


class TokenEncoder(nn.Module):
    def __init__(self, cfg: JSCCConfig) -> None:
        super().__init__()
        self.k_max = cfg.k_max
        self.net = _Residual(cfg.dim, 2 * cfg.k_max, cfg.width, cfg.depth)

    def forward(self, tokens: torch.Tensor, snr_db: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        """tokens: [B, d]; snr_db: [B, 1]; k: [B] symbols sent per row -> x: [B, k_max]
        complex64, zero after each row's k-th symbol, mean |x|^2 = 1 over the k sent."""
        z = self.net(tokens, _cond(snr_db, k))
        x = torch.complex(z[:, : self.k_max], z[:, self.k_max :]) * prefix_mask(k, self.k_max)
        power = x.abs().pow(2).sum(-1, keepdim=True) / k[:, None].float()  # per sample, over its own prefix
        return x / torch.sqrt(power.clamp(min=1e-12))


class TokenDecoder(nn.Module):
    def __init__(self, cfg: JSCCConfig) -> None:
        super().__init__()
        self.csi, self.k_max = cfg.csi, cfg.k_max
        self.net = _Residual(3 * cfg.k_max + (2 if cfg.csi else 0), cfg.dim, cfg.width, cfg.depth)

    def forward(self, y: torch.Tensor, snr_db: torch.Tensor, k: torch.Tensor, csi: torch.Tensor | None = None) -> torch.Tensor:
        """y: [B, k_max] complex (symbols past k ignored); snr_db: [B, 1] (what the receiver
        knows); k: [B]; csi: [B, 1] complex when configured -> token estimate [B, d]."""
        mask = prefix_mask(k, self.k_max)
        parts = [y.real * mask, y.imag * mask, mask]
        if self.csi:
            if csi is None:
                raise SemclipError("this decoder was trained with CSI at the decoder; use channel rayleigh:decoder")
            parts += [csi.real, csi.imag]
        return self.net(torch.cat(parts, dim=-1), _cond(snr_db, k))


class TokenJSCC(nn.Module):
    def __init__(self, cfg: JSCCConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = TokenEncoder(cfg)
        self.decoder = TokenDecoder(cfg)

    def at(self, k: int) -> "TokenJSCC":
        """This codec sending k symbols per token (shares the weights); k must be served."""
        view = copy.copy(self)
        view.cfg = replace(self.cfg, k=k)
        return view

    def _ks(self, batch: int, k: torch.Tensor | None, device: torch.device) -> torch.Tensor:
        if k is None:
            return torch.full((batch,), self.cfg.k, dtype=torch.long, device=device)
        return k.to(device=device, dtype=torch.long)

    def forward(
        self, tokens: torch.Tensor, snr_db: torch.Tensor, channel: Channel, k: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, ChannelOutput]:
        """tokens: [B, d]; snr_db: [B, 1]; k: [B] per-row bandwidth (default: ``cfg.k``)
        -> (decoded token [B, d] unnormalised, channel output)."""
        if tokens.dim() != 2 or tokens.shape[1] != self.cfg.dim:
            raise SemclipError(f"expected tokens of shape [B, {self.cfg.dim}], got {list(tokens.shape)}")
        k = self._ks(tokens.shape[0], k, tokens.device)
        out = channel(self.encoder(tokens, snr_db, k), snr_db)
        return self.decoder(out.y, out.rx_snr_db, k, out.csi), out

    def forward_rows(
        self, tokens: torch.Tensor, snr_db: torch.Tensor, channel: Channel, lo: int, k: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, ChannelOutput]:
        """Rows lo..lo+n of a batch whose SNRs are ``snr_db`` [B, 1] and bandwidths ``k``
        [B]; tokens: [n, d].

        The channel draws noise and fading for the whole batch (rows of other processes
        are zeros, and dropped), so a data-parallel step sees exactly the channel a
        single process would. Returns (decoded [n, d], this slice's channel output)."""
        total, n = snr_db.shape[0], tokens.shape[0]
        k = self._ks(total, k, tokens.device)
        if n == total:
            return self(tokens, snr_db, channel, k)
        rows = slice(lo, lo + n)
        x = self.encoder(tokens, snr_db[rows], k[rows])
        full = torch.cat([x.new_zeros(lo, x.shape[1]), x, x.new_zeros(total - lo - n, x.shape[1])])
        out = channel(full, snr_db)
        out = ChannelOutput(out.y[rows], None if out.csi is None else out.csi[rows], out.noise_var[rows], out.rx_snr_db[rows])
        return self.decoder(out.y, out.rx_snr_db, k[rows], out.csi), out

    @torch.no_grad()
    def transmit(self, tokens: torch.Tensor, snr_db: torch.Tensor, channel: Channel) -> torch.Tensor:
        """Received, L2-normalised tokens [B, d]: what the receiver's tasks use."""
        return F.normalize(self(tokens, snr_db, channel)[0], dim=-1)

    @torch.no_grad()
    def init_linear(self, mean: torch.Tensor, directions: torch.Tensor, scales: torch.Tensor) -> None:
        """Start as the linear code: symbol i (real, imaginary) = principal directions
        (2i, 2i+1) of the tokens, the decoder their transpose.

        mean: [d]; directions: [2 k_max, d] orthonormal rows, by decreasing variance;
        scales: [2 k_max] their standard deviations."""
        km = self.cfg.k_max
        if directions.shape != (2 * km, self.cfg.dim):
            raise SemclipError(f"need {2 * km} directions of size {self.cfg.dim}, got {list(directions.shape)}")
        order = torch.cat([torch.arange(0, 2 * km, 2), torch.arange(1, 2 * km, 2)])  # [re of all, im of all]
        rms = scales.pow(2).mean().sqrt()
        enc, dec = self.encoder.net.linear, self.decoder.net.linear
        enc.weight.copy_(directions[order] / rms)
        enc.bias.copy_(-(directions[order] @ mean) / rms)
        dec.weight.zero_()
        dec.weight[:, : 2 * km] = directions[order].t() * rms
        dec.bias.copy_(mean)
