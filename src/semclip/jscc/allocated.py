"""The strong linear reference code (method ``pca``): principal components with the power
allocation that is optimal for a linear MMSE receiver at the link's SNR.

This is the classic optimal linear analog code (Lee and Petersen, "Optimal linear coding
for vector channels", 1976): a source component of variance lam_i sent with power p_i over
a real channel of noise variance N leaves the LMMSE error lam_i N / (p_i + N); minimising
the sum under sum p_i = P gives

    p_i = max(0, sqrt(lam_i N / mu) - N),   mu set by the power budget,

a water-filling rule on the square roots of the component variances: at low SNR the power
goes to the strongest components and weak ones are switched off, at high SNR it spreads
towards p_i proportional to sqrt(lam_i). The flat code (``pca-flat``,
``semclip.jscc.linear``) sends the components as they come (p_i proportional to lam_i),
which is what an engineer would improve first.

Transmitter: the token's coordinates on the top 2k principal directions of a corpus, each
scaled by its gain sqrt(p_i / lam_i) for the SNR it is told (the same SNR the learned
codec's encoder is given), paired into k complex symbols and power-normalised per token
as every method is. Receiver: the per-component LMMSE estimate with the noise it knows of
(the instantaneous SNR where it has CSI), then the token from the components.
Nested like the other codes: the code at k is the first 2k components, with the
allocation done over those. No training, nothing tuned on any test set.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from semclip.channels.base import Channel, ChannelOutput, power_normalize, snr_to_noise_var
from semclip.tokens.store import TokenStore
from semclip.errors import SemclipError
from semclip.jscc.config import JSCCConfig, ServesK
from semclip.jscc.linear import FittedCode, check_input, principal_directions, streamed_directions, unit_gain


def mmse_power(var: torch.Tensor, total: float, noise: torch.Tensor) -> torch.Tensor:
    """Power per component minimising the summed LMMSE error.

    var: [n] component variances, in descending order; total: the power budget (sum of
    p_i); noise: [B, 1] noise variance per component -> p: [B, n], p >= 0, rows summing
    to ``total``. With a_i = sqrt(var_i N), p_i = a_i nu - N on the m strongest components,
    nu = (total + m N) / sum_{j<m} a_j, m the largest count for which the m-th is positive."""
    if var.dim() != 1 or (var[1:] > var[:-1] * (1 + 1e-6) + 1e-12).any():
        raise SemclipError("component variances must be a 1-D tensor in descending order")
    var = var.clamp(min=1e-20).to(noise.dtype)
    a = torch.sqrt(var[None] * noise)  # [B, n]
    m = torch.arange(1, var.shape[0] + 1, device=var.device, dtype=noise.dtype)  # [n]
    nu = (total + m[None] * noise) / a.cumsum(-1)  # [B, n]: the level if the first m are on
    active = a * nu > noise  # the m-th component positive at level nu_m
    m_star = torch.where(active, m[None], torch.ones_like(nu)).amax(-1, keepdim=True).long()  # [B, 1] the largest such m
    level = nu.gather(-1, m_star - 1)
    return (a * level - noise).clamp(min=0) * (m[None] <= m_star)


class AllocatedLinearCode(nn.Module, ServesK, FittedCode):
    """Same interface as ``TokenJSCC`` and ``LinearCode`` (``cfg.k``, ``at``, ``forward``,
    ``transmit``). Built empty (for loading) or fitted with ``fit(tokens)``: its statistics
    (mean, directions, component variances) are buffers and saved with it."""

    allocation = "mmse"

    def __init__(self, dim: int, ks: list[int] | None = None, k: int | None = None) -> None:
        super().__init__()
        self.cfg = JSCCConfig(dim=dim, **({"ks": list(ks)} if ks else {}), k=k)
        n = 2 * self.cfg.k_max
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("directions", torch.zeros(n, dim))
        self.register_buffer("var", torch.zeros(n))

    @torch.no_grad()
    def fit(self, tokens: torch.Tensor | TokenStore) -> None:
        """Principal directions of ``tokens`` [N, d] (or a store, read a chunk at a time)
        and the variance of the token along each."""
        n = 2 * self.cfg.k_max
        if isinstance(tokens, TokenStore):
            mean, dirs, var = streamed_directions(tokens, n, with_variances=True)
        else:
            mean, dirs, std = principal_directions(tokens, n)
            var = std.pow(2)
        dev = self.mean.device
        self.mean.copy_(mean.to(dev))
        self.directions.copy_(dirs.to(dev))
        self.var.copy_(var.to(dev))

    def _check_fitted(self) -> None:
        if not self.var.any():
            raise SemclipError("this linear code was never fitted: call fit(tokens) or load a saved one")

    def gains(self, snr_db: torch.Tensor, k: int) -> torch.Tensor:
        """snr_db: [B, 1] the SNR the transmitter is told -> amplitude gains [B, 2k] of the
        first 2k components (real dimension i carries noise sigma^2 / 2)."""
        var = self.var[: 2 * k].double()
        p = mmse_power(var, float(k), snr_to_noise_var(snr_db.double()) / 2.0)
        return torch.sqrt(p / var.clamp(min=1e-20)).to(self.var.dtype)

    def encode(self, tokens: torch.Tensor, snr_db: torch.Tensor, k: int) -> torch.Tensor:
        """tokens [B, d], snr_db [B, 1] -> [B, k] complex, unit mean power per token (symbol
        i: components 2i and 2i+1, scaled by their gains)."""
        self._check_fitted()
        z = ((tokens - self.mean) @ self.directions[: 2 * k].t()) * self.gains(snr_db, k)
        return power_normalize(torch.complex(z[:, 0::2].contiguous(), z[:, 1::2].contiguous()))

    def decode(self, out: ChannelOutput, snr_db: torch.Tensor, k: int) -> torch.Tensor:
        """Token estimate [B, d] from a channel output carrying k symbols; ``snr_db`` [B, 1]
        is the SNR the transmitter allocated for (the gains are a function of it)."""
        y, inst = unit_gain(out, k)
        r = torch.empty(y.shape[0], 2 * k, dtype=y.real.dtype, device=y.device)
        r[:, 0::2], r[:, 1::2] = y.real, y.imag
        g = self.gains(snr_db, k)
        var = self.var[: 2 * k]
        coef = r * g * var / (g.pow(2) * var + 0.5 / inst)  # LMMSE per component: noise sigma^2 / 2 per real dimension
        return self.mean + coef @ self.directions[: 2 * k]

    def forward(self, tokens: torch.Tensor, snr_db: torch.Tensor, channel: Channel) -> tuple[torch.Tensor, ChannelOutput]:
        """tokens: [B, d]; snr_db: [B, 1] -> (token estimate [B, d], channel output)."""
        check_input(tokens, self.cfg.dim, channel)
        k = self.cfg.k
        out = channel(self.encode(tokens, snr_db, k), snr_db)
        return self.decode(out, snr_db, k), out

    @torch.no_grad()
    def transmit(self, tokens: torch.Tensor, snr_db: torch.Tensor, channel: Channel) -> torch.Tensor:
        return F.normalize(self(tokens, snr_db, channel)[0], dim=-1)
