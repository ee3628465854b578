"""The token codec. Encoder: token [B, d] -> symbols [B, k] complex64, unit power per
sample. Decoder: received [B, k] complex (+ CSI) -> token [B, d]."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from semclip.channels.base import Channel, ChannelOutput, power_normalize
from semclip.errors import SemclipError
from semclip.jscc.film import FiLMBlock


@dataclass
class JSCCConfig:
    """d: token size; k: complex channel uses per token; csi: decoder takes h as input."""

    dim: int = 512
    k: int = 16
    width: int = 256
    depth: int = 2
    csi: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.k, int) or self.k <= 0:
            raise SemclipError(f"k (complex symbols per token) must be a positive integer, got {self.k!r}")
        if self.dim <= 0 or self.width <= 0 or self.depth < 0:
            raise SemclipError(f"invalid JSCC sizes: {asdict(self)}")


class TokenEncoder(nn.Module):
    def __init__(self, cfg: JSCCConfig) -> None:
        super().__init__()
        self.inp = nn.Linear(cfg.dim, cfg.width)
        self.blocks = nn.ModuleList(FiLMBlock(cfg.width) for _ in range(cfg.depth))
        self.out = nn.Linear(cfg.width, 2 * cfg.k)

    def forward(self, tokens: torch.Tensor, snr_db: torch.Tensor) -> torch.Tensor:
        """tokens: [B, d] float; snr_db: [B, 1] -> x: [B, k] complex64, mean |x|^2 = 1."""
        h = self.inp(tokens)
        for block in self.blocks:
            h = block(h, snr_db)
        re, im = self.out(h).chunk(2, dim=-1)
        return power_normalize(torch.complex(re, im))


class TokenDecoder(nn.Module):
    def __init__(self, cfg: JSCCConfig) -> None:
        super().__init__()
        self.csi = cfg.csi
        self.inp = nn.Linear(2 * cfg.k + (2 if cfg.csi else 0), cfg.width)
        self.blocks = nn.ModuleList(FiLMBlock(cfg.width) for _ in range(cfg.depth))
        self.out = nn.Sequential(nn.LayerNorm(cfg.width), nn.Linear(cfg.width, cfg.dim))

    def forward(self, y: torch.Tensor, snr_db: torch.Tensor, csi: torch.Tensor | None = None) -> torch.Tensor:
        """y: [B, k] complex; snr_db: [B, 1] (what the receiver knows); csi: [B, 1] complex
        when configured -> token estimate [B, d] (not normalised)."""
        parts = [y.real, y.imag]
        if self.csi:
            if csi is None:
                raise SemclipError("this decoder was trained with CSI at the decoder; use channel rayleigh:decoder")
            parts += [csi.real, csi.imag]
        h = self.inp(torch.cat(parts, dim=-1))
        for block in self.blocks:
            h = block(h, snr_db)
        return self.out(h)


class TokenJSCC(nn.Module):
    def __init__(self, cfg: JSCCConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = TokenEncoder(cfg)
        self.decoder = TokenDecoder(cfg)

    def forward(
        self, tokens: torch.Tensor, snr_db: torch.Tensor, channel: Channel
    ) -> tuple[torch.Tensor, ChannelOutput]:
        """tokens: [B, d]; snr_db: [B, 1] -> (decoded token [B, d] unnormalised, channel output)."""
        if tokens.dim() != 2 or tokens.shape[1] != self.cfg.dim:
            raise SemclipError(f"expected tokens of shape [B, {self.cfg.dim}], got {list(tokens.shape)}")
        out = channel(self.encoder(tokens, snr_db), snr_db)
        return self.decoder(out.y, out.rx_snr_db, out.csi), out

    def forward_rows(
        self, tokens: torch.Tensor, snr_db: torch.Tensor, channel: Channel, lo: int
    ) -> tuple[torch.Tensor, ChannelOutput]:
        """Rows lo..lo+n of a batch whose SNRs are ``snr_db`` [B, 1]; tokens: [n, d].

        The channel draws noise and fading for the whole batch (rows of other processes
        are zeros, and dropped), so a data-parallel step sees exactly the channel a
        single process would. Returns (decoded [n, d], this slice's channel output)."""
        total, n = snr_db.shape[0], tokens.shape[0]
        if n == total:
            return self(tokens, snr_db, channel)
        x = self.encoder(tokens, snr_db[lo : lo + n])
        full = torch.cat([x.new_zeros(lo, x.shape[1]), x, x.new_zeros(total - lo - n, x.shape[1])])
        out = channel(full, snr_db)
        rows = slice(lo, lo + n)
        out = ChannelOutput(out.y[rows], None if out.csi is None else out.csi[rows], out.noise_var[rows], out.rx_snr_db[rows])
        return self.decoder(out.y, out.rx_snr_db, out.csi), out

    @torch.no_grad()
    def transmit(self, tokens: torch.Tensor, snr_db: torch.Tensor, channel: Channel) -> torch.Tensor:
        """Received, L2-normalised tokens [B, d]: what the receiver's tasks use."""
        return F.normalize(self(tokens, snr_db, channel)[0], dim=-1)
