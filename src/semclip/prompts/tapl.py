"""TAPL: transmission-aware multi-modal prompt learning (the SemCLIP receiver).

Text side: CoOp context plus an SNR-dependent shift, ``ctx(s) = ctx0 + f(e(s))`` where e is
an embedding of the SNR (and of the bandwidth k). Visual side: a residual adapter on the
received token whose prompt is *computed from the text context* by a coupling layer, as
MaPLe couples its vision prompts to its language prompts, so both sides move together:

    p(s)  = couple(mean_m ctx_m(s))                        [d]
    z'    = normalise(z + g(s) * W2 gelu(W1 z + p(s)))    g(s) in (0, 1), starts near 0

Class embeddings depend only on the SNR, so the receiver encodes them once per distinct SNR
(rounded to ``snr_resolution_db``), not once per image. Ablations: ``snr_conditioning``,
``text_side``, ``visual_side`` in ``PromptConfig``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from semclip.errors import SemclipError
from semclip.prompts.base import DEFAULTED, PromptLearner, pick, register_learner


class ConditionEmbedding(nn.Module):
    """SNR (dB) and bandwidth k -> [U, dim]: Fourier features of SNR/20 and log2 k, then an MLP."""

    def __init__(self, dim: int, n_freq: int = 6) -> None:
        super().__init__()
        self.register_buffer("freqs", math.pi * 2.0 ** torch.arange(n_freq) / 4, persistent=False)
        self.mlp = nn.Sequential(nn.Linear(2 + 2 * n_freq, dim), nn.GELU(), nn.Linear(dim, dim))

    def forward(self, snr_db: torch.Tensor, k: float) -> torch.Tensor:
        """snr_db: [U, 1] -> [U, dim]."""
        x = snr_db / 20.0
        ang = x * self.freqs
        feats = [x, torch.full_like(x, math.log2(k) / 8.0), ang.sin(), ang.cos()]
        return self.mlp(torch.cat(feats, dim=-1))


@register_learner("TAPL, the SemCLIP receiver: text and visual prompts conditioned on the received SNR (and k)")
class TAPL(PromptLearner):
    name = "tapl"
    variants = {
        "no-snr": {"snr_conditioning": False},
        "text-only": {"visual_side": False},
        "visual-only": {"text_side": False},
        "plain": {f: 0.0 for f in DEFAULTED},  # TAPL before issue 26: no regulariser but its anchor, no centering
        # centering and all three PromptSRC-style regularisers (benchmarks/prompt_validation.py's "all three")
        "regularised": {"centering": 1.0, "agreement": 1.0, "image_anchor": 10.0, "ensemble": 0.15},
    }
    default_anchor = 4.0

    def __init__(self, backbone, cfg=None, k=None) -> None:
        super().__init__(backbone, cfg, k)
        c = self.cfg
        if not (c.text_side or c.visual_side):
            raise SemclipError("tapl with text_side and visual_side both off learns nothing: use handcrafted")
        ctx0 = self.init_context()
        m, width = ctx0.shape
        d = backbone.dim
        self.ctx = nn.Parameter(ctx0)
        self.cond = ConditionEmbedding(c.cond_dim)
        self.ctx_shift = nn.Linear(c.cond_dim, m * width)  # text side: e(s) -> context shift
        nn.init.zeros_(self.ctx_shift.weight)
        nn.init.zeros_(self.ctx_shift.bias)
        # visual side, prompted from the text context (MaPLe-style coupling)
        self.couple = nn.Linear(width, c.adapter_dim)
        self.down = nn.Linear(d, c.adapter_dim)
        self.up = nn.Linear(c.adapter_dim, d)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)
        self.gate = nn.Linear(c.cond_dim, 1)
        nn.init.constant_(self.gate.bias, -2.0)
        # beta(s) = centering * sigmoid(.), starting at half the centering (nothing to learn without centering)
        self.centre_gate = nn.Linear(c.cond_dim, 1) if c.centering_learned and c.centering > 0 else None
        if self.centre_gate is not None:
            nn.init.zeros_(self.centre_gate.weight)
            nn.init.zeros_(self.centre_gate.bias)

    def centering_strength(self, snr_db: torch.Tensor) -> torch.Tensor | float:
        if self.centre_gate is None:
            return self.cfg.centering
        return self.cfg.centering * torch.sigmoid(self.centre_gate(self.cond(snr_db, float(self.k or 16))))

    def _groups(self, snr_db: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Distinct SNRs (rounded) [U, 1] and each sample's group [B]."""
        if not self.cfg.snr_conditioning:
            return snr_db.new_zeros(1, 1), torch.zeros(snr_db.shape[0], dtype=torch.long, device=snr_db.device)
        r = self.cfg.snr_resolution_db
        uniq, index = torch.unique(torch.round(snr_db[:, 0] / r) * r, return_inverse=True)
        return uniq.unsqueeze(1), index

    def _context(self, snr_db: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """-> ctx [U, M, width], condition [U, cond_dim], group index [B]. Outside training
        each level is computed alone: its prompts are then the same bits whatever levels
        share the batch, so an evaluation encodes them once (``encode_with_context``)."""
        uniq, index = self._groups(snr_db)
        if torch.is_grad_enabled():
            ctx, e = self._level_context(uniq)
        else:
            ctx, e = (torch.cat(parts) for parts in zip(*(self._level_context(u.view(1, 1)) for u in uniq)))
        return ctx, e, index

    def _level_context(self, levels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """levels [U, 1] dB -> ctx [U, M, width], condition [U, cond_dim]."""
        e = self.cond(levels, float(self.k or 16))
        if not self.cfg.snr_conditioning:
            e = torch.zeros_like(e)
        return self.ctx.unsqueeze(0) + self.ctx_shift(e).view(-1, *self.ctx.shape), e

    def adapt_image(self, tokens: torch.Tensor, snr_db: torch.Tensor) -> torch.Tensor:
        z = self.received(tokens, snr_db)
        if not self.cfg.visual_side:
            return z
        ctx, e, index = self._context(snr_db)
        rows = pick(index, ctx.shape[0], z.dtype)  # [B, U]: x[index] as a product (deterministic backward)
        prompt = rows @ self.couple(ctx.mean(dim=1))  # [B, r]
        residual = self.up(F.gelu(self.down(z) + prompt))
        return F.normalize(z + (rows @ torch.sigmoid(self.gate(e))) * residual, dim=-1)

    def class_embeddings(
        self, classes: Sequence[str], tokens: torch.Tensor, snr_db: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.cfg.text_side:
            return self.reference(classes).unsqueeze(0), torch.zeros(tokens.shape[0], dtype=torch.long, device=tokens.device)
        ctx, _, index = self._context(snr_db)
        return self.encode_with_context(classes, ctx), index
