"""The token codec: one rate-adaptive model for several bandwidths.

Encoder: token [B, d] -> ``k_max`` complex symbols, ordered so that every prefix is a
code of its own (nested): sending the first k symbols, power-normalised on their own,
is a valid transmission at every served k. Decoder: the received prefix (zero-padded to
``k_max``, with a mask that tells it k) -> token [B, d]. Both are FiLM-conditioned on the
SNR and on k.

With ``linear_base`` (the default) each side is the linear code of
``semclip.jscc.linear`` (principal directions of the training tokens; a linear MMSE
receiver) plus a learned residual (a linear map and an MLP) whose output starts at zero:
the codec starts as the linear code, and training adds what the network finds on top
of it. ``fit_base(tokens)`` sets the linear part before training.
"""

from __future__ import annotations


import torch
import torch.nn.functional as F
from torch import nn

from semclip.channels.base import Channel, ChannelOutput
from semclip.errors import SemclipError
from semclip.jscc.config import DEFAULT_KS, JSCCConfig, ServesK
from semclip.jscc.film import FiLMBlock
from semclip.jscc.linear import LinearCode

__all__ = ["DEFAULT_KS", "JSCCConfig", "ReceiverUpdate", "UPDATE_KINDS", "TokenJSCC", "prefix_mask"]

def prefix_mask(k: torch.Tensor, k_max: int) -> torch.Tensor:
    """k: [B] ints -> [B, k_max] float, 1 on the first k symbols of each row."""
    return (torch.arange(k_max, device=k.device)[None] < k[:, None]).float()


def _cond(snr_db: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """[B, 1] dB and [B] k -> [B, 2] FiLM input; FiLM divides by 10, so log2 k is given as
    10 (log2 k / 3 - 1) to sit on the same scale as the SNR in dB / 10."""
    return torch.cat([snr_db, 10.0 * (torch.log2(k.float())[:, None] / 3.0 - 1.0)], dim=-1)


class _Residual(nn.Module):
    """x -> linear(x) + MLP(x) with FiLM blocks; with ``zero`` the output starts at zero."""

    def __init__(self, din: int, dout: int, width: int, depth: int, zero: bool) -> None:
        super().__init__()
        self.linear = nn.Linear(din, dout)
        self.inp = nn.Linear(din, width)
        self.blocks = nn.ModuleList(FiLMBlock(width, cond=2) for _ in range(depth))
        self.out = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, dout))
        for layer in (self.out[-1], self.linear) if zero else (self.out[-1],):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """x: [B, din]; cond: [B, 2] -> [B, dout]."""
        h = self.inp(x)
        for block in self.blocks:
            h = block(h, cond)
        return self.linear(x) + self.out(h)


class TokenEncoder(nn.Module):
    def __init__(self, cfg: JSCCConfig, base: LinearCode | None) -> None:
        super().__init__()
        self.k_max = cfg.k_max
        self.base = [base]  # shared with the decoder; a list keeps it out of this module's state
        self.net = _Residual(cfg.dim, 2 * cfg.k_max, cfg.width, cfg.depth, zero=base is not None)

    def forward(self, tokens: torch.Tensor, snr_db: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        """tokens: [B, d]; snr_db: [B, 1]; k: [B] symbols sent per row -> x: [B, k_max]
        complex64, zero after each row's k-th symbol, mean |x|^2 = 1 over the k sent."""
        z = self.net(tokens, _cond(snr_db, k))
        x = torch.complex(z[:, : self.k_max], z[:, self.k_max :])
        if self.base[0] is not None:
            x = x + self.base[0].encode(tokens, self.k_max)
        x = x * prefix_mask(k, self.k_max)
        power = x.abs().pow(2).sum(-1, keepdim=True) / k[:, None].float()  # per sample, over its own prefix
        return x / torch.sqrt(power.clamp(min=1e-12))


def grid_step(p: torch.Tensor, bits: int) -> torch.Tensor:
    """The step of p's uniform grid: 2^(bits-1) - 1 steps each side over its own range."""
    return p.detach().abs().max().clamp(min=1e-12) / (2 ** (bits - 1) - 1)


def _fake_quantize(p: torch.Tensor, bits: int) -> torch.Tensor:
    """p rounded to its grid (``grid_step``); the gradient passes straight through, so
    training sees the update the receiver gets."""
    step = grid_step(p, bits)
    return p + (torch.round(p / step) * step - p).detach()


class ReceiverUpdate(nn.Module):
    """What the ``both`` mode sends the receiver: est -> scale * est + shift, per dimension;
    with ``snr_shift`` a second shift weighted by the noise share 1 / (1 + SNR) (a decoder
    that has to lean on its prior at low SNR leans on the corpus's, and the correction
    towards the sender's domain grows with that reliance); with ``rank`` a low-rank linear
    map from what the decoder received to its estimate (LoRA-style: the decoder's own
    linear map is where adapting the whole decoder gains, benchmarks/adapt_where.py). Starts
    as the identity; every value is trained and sent on a ``bits``-bit grid."""

    def __init__(self, dim: int, snr_shift: bool = False, rank: int = 0, n_received: int = 0, bits: int = 8) -> None:
        super().__init__()
        self.bits_per_value = bits
        self.shift = nn.Parameter(torch.zeros(dim))
        self.log_scale = nn.Parameter(torch.zeros(dim))
        self.noise_shift = nn.Parameter(torch.zeros(dim)) if snr_shift else None
        g = torch.Generator().manual_seed(0)
        self.down = nn.Parameter(torch.randn(rank, n_received, generator=g) / max(1, n_received) ** 0.5) if rank else None
        self.up = nn.Parameter(torch.zeros(dim, rank)) if rank else None

    def forward(self, est: torch.Tensor, snr_db: torch.Tensor, received: torch.Tensor) -> torch.Tensor:
        """est: [B, d]; snr_db: [B, 1] what the receiver knows; received: [B, r_in] the
        decoder's input -> [B, d]."""
        q = lambda p: _fake_quantize(p, self.bits_per_value)  # noqa: E731
        out = est * q(self.log_scale).exp() + q(self.shift)
        if self.noise_shift is not None:
            out = out + q(self.noise_shift) / (1.0 + torch.pow(10.0, snr_db / 10.0))
        if self.down is not None:
            out = out + (received @ q(self.down).t()) @ q(self.up).t()
        return out

    @torch.no_grad()
    def quantize(self) -> None:
        """Round every value to its grid: what is sent."""
        for p in self.parameters():
            p.copy_(_fake_quantize(p, self.bits_per_value))

    @property
    def bits(self) -> int:
        """Its size as sent: each value on its grid, and one float32 step per tensor."""
        return sum(p.numel() * self.bits_per_value + 32 for p in self.parameters())

    @classmethod
    def of_kind(cls, kind: str, dim: int, n_received: int) -> "ReceiverUpdate":
        """An identity update of ``kind`` for a decoder that reads ``n_received`` values."""
        return cls(dim, n_received=n_received, **UPDATE_KINDS[kind])


# what the receiver may be sent, by name; "low-rank-R-Bbit": the SNR-dependent update plus a
# rank-R map from the received symbols, every value on a B-bit grid
UPDATE_KINDS: dict[str, dict] = {
    "scale-shift": {},
    "scale-shift-snr": {"snr_shift": True},
    "low-rank-4-3bit": {"snr_shift": True, "rank": 4, "bits": 3},
    "low-rank-8-4bit": {"snr_shift": True, "rank": 8, "bits": 4},
    "low-rank-8-8bit": {"snr_shift": True, "rank": 8},
}


class TokenDecoder(nn.Module):
    def __init__(self, cfg: JSCCConfig, base: LinearCode | None) -> None:
        super().__init__()
        self.csi, self.k_max, self.dim = cfg.csi, cfg.k_max, cfg.dim
        self.base = [base]
        self.n_received = 3 * cfg.k_max + (2 if cfg.csi else 0)  # the received prefix (re, im), its mask, and h with CSI
        self.net = _Residual(self.n_received, cfg.dim, cfg.width, cfg.depth, zero=base is not None)
        self.update: ReceiverUpdate | None = None  # set by label-free adaptation (semclip.jscc.adapt)

    def add_update(self, kind: str) -> ReceiverUpdate:
        """Give this decoder an identity ``ReceiverUpdate`` of ``kind`` (on its device)."""
        self.update = ReceiverUpdate.of_kind(kind, self.dim, self.n_received).to(next(self.net.parameters()).device)
        return self.update

    def forward(self, out: ChannelOutput, k: torch.Tensor) -> torch.Tensor:
        """out.y: [B, k_max] complex (symbols past k ignored), out.rx_snr_db: [B, 1] (what
        the receiver knows), out.csi: [B, 1] complex when configured; k: [B] -> token
        estimate [B, d]."""
        mask = prefix_mask(k, self.k_max)
        y = out.y
        parts = [y.real * mask, y.imag * mask, mask]
        if self.csi:
            if out.csi is None:
                raise SemclipError("this decoder was trained with CSI at the decoder; use channel rayleigh:decoder")
            parts += [out.csi.real, out.csi.imag]
        received = torch.cat(parts, dim=-1)
        est = self.net(received, _cond(out.rx_snr_db, k))
        if self.base[0] is not None:
            est = est + self.base[0].decode_rows(out, k)
        return est if self.update is None else self.update(est, out.rx_snr_db, received)


class TokenJSCC(nn.Module, ServesK):
    def __init__(self, cfg: JSCCConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.base = LinearCode(cfg.dim, cfg.ks) if cfg.linear_base else None
        self.encoder = TokenEncoder(cfg, self.base)
        self.decoder = TokenDecoder(cfg, self.base)
        self._base_seen_fitted = False

    def fit_base(self, tokens: torch.Tensor) -> None:
        """Fit the linear part (principal directions, receiver statistics) to ``tokens``."""
        if self.base is not None:
            self.base.fit(tokens)

    def _ks(self, batch: int, k: torch.Tensor | None, device: torch.device) -> torch.Tensor:
        if self.base is not None and not self._base_seen_fitted:  # checked until true: each check waits for a GPU
            if not self.base.directions.any():
                raise SemclipError("this codec's linear part was never fitted: call fit_base(tokens) (training does) or load a trained checkpoint")
            self._base_seen_fitted = True  # fitted directions are never zeroed again
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
        return self.decoder(out, k), out

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
        out = out.rows(rows)
        return self.decoder(out, k[rows]), out

    @torch.no_grad()
    def transmit(self, tokens: torch.Tensor, snr_db: torch.Tensor, channel: Channel) -> torch.Tensor:
        """Received, L2-normalised tokens [B, d]: what the receiver's tasks use."""
        return F.normalize(self(tokens, snr_db, channel)[0], dim=-1)
