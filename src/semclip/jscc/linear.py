"""The linear reference code (method ``pca``): principal directions and a linear MMSE receiver.

Transmitter: the token's coordinates on the top 2k principal directions of a corpus,
paired into k complex symbols and power-normalised per token (nested like the learned
codec: the first k symbols of k_max are the code at k). Receiver: the linear MMSE
estimate of the token from the equalised symbols, with the statistics of the normalised
symbols measured on the same corpus, so t_hat = mean + C_ts (C_ss + sigma^2/2 I)^-1 (r - mean_s)
with sigma^2 the noise the receiver knows of. No training, nothing tuned on any test set:
the floor a learned codec has to beat.
"""

from __future__ import annotations


import torch
import torch.nn.functional as F
from torch import nn

from semclip.channels.base import Channel, ChannelOutput, power_normalize
from semclip.tokens.store import TokenStore
from semclip.errors import SemclipError
from semclip.jscc.config import JSCCConfig, ServesK


def principal_directions(tokens: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """tokens: [N, d] -> (mean [d], top-n directions [n, d] orthonormal, their std [n])."""
    if tokens.shape[0] < 2:
        raise SemclipError("principal directions need at least two tokens")
    if n > min(tokens.shape):
        raise SemclipError(f"cannot take {n} principal directions of {tokens.shape[0]} tokens of size {tokens.shape[1]}")
    x = tokens.double()
    mean = x.mean(0)
    _, s, vt = torch.linalg.svd(x - mean, full_matrices=False)
    return mean.float(), vt[:n].float(), (s[:n] / (x.shape[0] - 1) ** 0.5).float()


def streamed_directions(store: TokenStore, n: int, with_variances: bool = False) -> tuple[torch.Tensor, ...]:
    """``principal_directions`` of a store too large for memory: the d x d covariance
    accumulated chunk by chunk, its top-n eigenvectors -> (mean [d], [n, d]), and with
    ``with_variances`` the variance along each [n]."""
    if len(store) < 2 or n > min(store.shape):
        raise SemclipError(f"cannot take {n} principal directions of {len(store)} tokens of size {store.dim}")
    shift = None  # products of shifted data in float32 (4x faster than double), sums in double:
    total = torch.zeros(store.dim, dtype=torch.float64, device="cpu")  # shifting by a first estimate
    outer, count = torch.zeros(store.dim, store.dim, dtype=torch.float64, device="cpu"), 0  # of the mean avoids cancellation
    for t in store.chunks():
        shift = t.mean(0) if shift is None else shift
        x = t - shift
        total, outer, count = total + x.sum(0).double(), outer + (x.t() @ x).double(), count + x.shape[0]
    centre = total / count
    mean = shift.double() + centre
    cov = (outer - count * torch.outer(centre, centre)) / (count - 1)
    vals, vecs = torch.linalg.eigh(cov)  # ascending
    out = mean.float(), vecs[:, -n:].flip(1).t().float()
    return (*out, vals[-n:].flip(0).clamp(min=0).float()) if with_variances else out


def check_input(tokens: torch.Tensor, dim: int, channel: Channel) -> None:
    """What a linear code needs: tokens [B, dim] and a receiver with CSI (its MMSE estimate
    is built on the equalised symbols)."""
    if tokens.dim() != 2 or tokens.shape[1] != dim:
        raise SemclipError(f"expected tokens of shape [B, {dim}], got {list(tokens.shape)}")
    if channel.csi == "none":
        raise SemclipError("the linear code needs CSI at the receiver (rayleigh:mmse, zf or decoder), not rayleigh:none")


def unit_gain(out: ChannelOutput, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first k received symbols brought to unit gain, and the linear SNR [B, 1] the
    receiver knows of: ZF with CSI at the decoder; AWGN or equalised Rayleigh (gain
    b = g/(g+s2) with MMSE, 1 with ZF) scaled by 1/sqrt(noise_var SNR)."""
    y = out.y[:, :k]
    inst = torch.pow(10.0, out.rx_snr_db / 10.0)
    if out.gain is not None:  # per-symbol gains (OFDM): each symbol to unit gain, the block's effective SNR
        return y / out.gain[:, :k].clamp(min=1e-6), inst
    return (y / out.csi if out.csi is not None else y / torch.sqrt(out.noise_var * inst)), inst


class FittedCode:
    """``fitted``: a linear code made for ``tokens``' dimension and fitted on them (a tensor or a store)."""

    @classmethod
    def fitted(cls, tokens: torch.Tensor | TokenStore, ks: list[int] | None = None, k: int | None = None):
        code = cls(tokens.dim if isinstance(tokens, TokenStore) else tokens.shape[1], ks, k)
        code.fit(tokens)
        return code


class LinearCode(nn.Module, ServesK, FittedCode):
    """Same interface as ``TokenJSCC`` (``cfg.k``, ``at``, ``forward``, ``transmit``).
    Built empty (for loading) or fitted with ``fit(tokens)``; its statistics are buffers,
    so a codec that contains one saves them with its weights."""

    def __init__(self, dim: int, ks: list[int] | None = None, k: int | None = None) -> None:
        super().__init__()
        self.cfg = JSCCConfig(dim=dim, **({"ks": list(ks)} if ks else {}), k=k)
        km = self.cfg.k_max
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("directions", torch.zeros(2 * km, dim))
        for kk in self.cfg.ks:  # receiver statistics of the normalised symbols at each k
            self.register_buffer(f"lam{kk}", torch.zeros(2 * kk))
            self.register_buffer(f"v{kk}", torch.zeros(2 * kk, 2 * kk))
            self.register_buffer(f"a{kk}", torch.zeros(dim, 2 * kk))
            self.register_buffer(f"ms{kk}", torch.zeros(2 * kk))

    @torch.no_grad()
    def fit(self, tokens: torch.Tensor | TokenStore) -> None:
        """Principal directions of ``tokens`` [N, d] (a tensor, or a store read a chunk at a
        time) and the receiver's statistics at every k, accumulated over the chunks in double."""
        n_dir, dev = 2 * self.cfg.k_max, self.mean.device
        if isinstance(tokens, TokenStore):
            mean, dirs = streamed_directions(tokens, n_dir)
            chunks = tokens.chunks
        else:
            mean, dirs, _ = principal_directions(tokens, n_dir)
            chunks = lambda: [tokens]  # noqa: E731
        self.mean.copy_(mean)
        self.directions.copy_(dirs)
        ks = self.cfg.ks
        n, s_sum, ss, ts, t_sum = 0, dict.fromkeys(ks, 0.0), dict.fromkeys(ks, 0.0), dict.fromkeys(ks, 0.0), 0.0
        for t in chunks():  # one pass for every k: the code at k is the first k symbols of the code at k_max
            t = t.to(dev)
            z = self.encode(t, self.cfg.k_max)
            tc = t.double() - self.mean.double()
            n, t_sum = n + t.shape[0], t_sum + tc.sum(0)
            for kk in ks:
                x = power_normalize(z[:, :kk])
                sym = torch.cat([x.real, x.imag], dim=-1).double()
                s_sum[kk], ss[kk], ts[kk] = s_sum[kk] + sym.sum(0), ss[kk] + sym.t() @ sym, ts[kk] + tc.t() @ sym
        for kk in ks:
            ms = s_sum[kk] / n
            c_ss = (ss[kk] - n * torch.outer(ms, ms)) / (n - 1)
            c_ts = (ts[kk] - torch.outer(t_sum, ms)) / (n - 1)
            lam, v = torch.linalg.eigh(c_ss)
            getattr(self, f"lam{kk}").copy_(lam.clamp(min=0))
            getattr(self, f"v{kk}").copy_(v)
            getattr(self, f"a{kk}").copy_(c_ts @ v)
            getattr(self, f"ms{kk}").copy_(ms)

    def _symbols(self, tokens: torch.Tensor, k: int) -> torch.Tensor:
        """tokens [B, d] -> normalised symbols as reals [B, 2k] = [re_1..re_k, im_1..im_k]."""
        x = power_normalize(self.encode(tokens, k))
        return torch.cat([x.real, x.imag], dim=-1)

    def encode(self, tokens: torch.Tensor, k: int) -> torch.Tensor:
        """tokens [B, d] -> [B, k] complex (symbol i: directions 2i and 2i+1), not normalised."""
        z = (tokens - self.mean) @ self.directions[: 2 * k].t()
        return torch.complex(z[:, 0::2], z[:, 1::2])

    def decode(self, out: ChannelOutput, k: int) -> torch.Tensor:
        """Linear MMSE estimate of the token [B, d] from a channel output carrying k symbols
        (its first k are read)."""
        y, inst = unit_gain(out, k)
        r = torch.cat([y.real, y.imag], dim=-1)
        lam, v, a, ms = (getattr(self, f"{n}{k}") for n in ("lam", "v", "a", "ms"))
        coef = ((r - ms) @ v) / (lam[None] + 0.5 / inst)  # sigma^2 / 2 per real dimension
        return self.mean + coef @ a.t()

    def decode_rows(self, out: ChannelOutput, k: torch.Tensor, grouped: bool | None = None) -> torch.Tensor:
        """``decode`` for a batch whose rows carry k[i] symbols each: [B, d]. On the CPU
        each bandwidth decodes its own rows. Elsewhere every bandwidth served decodes the
        whole batch and each row keeps its own: a few times the arithmetic of a small
        product, but no shape that depends on the data, so the host never waits for the
        device (``benchmarks/gpu_syncs.py``); the same estimates up to float rounding.
        ``grouped`` chooses the first way (True) or the second (False) on any device."""
        est = out.y.new_zeros(out.y.shape[0], self.cfg.dim, dtype=self.mean.dtype)
        if not (k.device.type == "cpu" if grouped is None else grouped):
            for kk in self.cfg.ks:
                est = torch.where((k == kk)[:, None], self.decode(out, kk), est)
            return est
        for kk in k.unique().tolist():
            rows = k == kk
            est[rows] = self.decode(out.rows(rows), int(kk))
        return est

    def forward(self, tokens: torch.Tensor, snr_db: torch.Tensor, channel: Channel) -> tuple[torch.Tensor, ChannelOutput]:
        """tokens: [B, d]; snr_db: [B, 1] -> (token estimate [B, d], channel output)."""
        check_input(tokens, self.cfg.dim, channel)
        k = self.cfg.k
        out = channel(power_normalize(self.encode(tokens, k)), snr_db)
        return self.decode(out, k), out

    @torch.no_grad()
    def transmit(self, tokens: torch.Tensor, snr_db: torch.Tensor, channel: Channel) -> torch.Tensor:
        return F.normalize(self(tokens, snr_db, channel)[0], dim=-1)
