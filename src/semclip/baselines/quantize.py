"""Scalar quantisation of tokens for separate source-channel coding: each of the d
components gets b bits on a uniform grid over its range in the training tokens (both ends
know the grid, like a codebook agreed beforehand)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from semclip.errors import SemclipError


class TokenQuantizer:
    def __init__(self, train_tokens: torch.Tensor, bits: int, coverage: float = 0.999) -> None:
        """train_tokens: [N, d]; per-component range = the central ``coverage`` quantiles."""
        if not 1 <= bits <= 16:
            raise SemclipError(f"token quantisation needs 1..16 bits per component, got {bits}")
        if train_tokens.dim() != 2 or train_tokens.shape[0] < 2:
            raise SemclipError(f"need training tokens [N >= 2, d] to fit a quantiser, got {list(train_tokens.shape)}")
        tail = (1.0 - coverage) / 2
        t = train_tokens.float()
        self.bits = bits
        self.dim = t.shape[1]
        if bits == 1:  # sign quantisation: the threshold is the median, the levels the half-means
            self.lo = t.median(0).values
            self.levels = torch.stack([
                torch.where(t <= self.lo, t, torch.nan).nanmean(0), torch.where(t > self.lo, t, torch.nan).nanmean(0)
            ], dim=1)
        else:
            self.lo = torch.quantile(t, tail, dim=0)
            hi = torch.quantile(t, 1 - tail, dim=0)
            n = 2**bits
            step = (hi - self.lo) / n
            self.levels = self.lo[:, None] + step[:, None] * (torch.arange(n, device=t.device) + 0.5)  # [d, 2^b] cell centres
            self.step = step

    @property
    def payload_bits(self) -> int:
        return self.dim * self.bits

    def encode(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens: [B, d] -> bits [B, d * b] uint8 (component-major, MSB first)."""
        if tokens.dim() != 2 or tokens.shape[1] != self.dim:
            raise SemclipError(f"expected tokens [B, {self.dim}], got {list(tokens.shape)}")
        lo = self.lo.to(tokens.device)
        if self.bits == 1:
            idx = (tokens > lo).long()
        else:
            idx = ((tokens - lo) / self.step.to(tokens.device)).floor().clamp(0, 2**self.bits - 1).long()
        shifts = torch.arange(self.bits - 1, -1, -1, device=tokens.device)
        return ((idx.unsqueeze(-1) >> shifts) & 1).reshape(tokens.shape[0], -1).to(torch.uint8)

    def decode(self, bits: torch.Tensor) -> torch.Tensor:
        """bits: [B, d * b] -> tokens [B, d], L2-normalised."""
        b = bits.long().reshape(bits.shape[0], self.dim, self.bits)
        idx = (b << torch.arange(self.bits - 1, -1, -1, device=bits.device)).sum(-1)
        levels = self.levels.to(bits.device)
        values = torch.gather(levels.expand(bits.shape[0], -1, -1), 2, idx.unsqueeze(-1)).squeeze(-1)
        return F.normalize(values, dim=-1)
