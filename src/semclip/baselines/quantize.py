"""Scalar quantisation of tokens for separate source-channel coding: each of the d
components gets b bits on a uniform grid over its range in the training tokens (both ends
know the grid, like a codebook agreed beforehand)."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import save_file

from semclip import artefacts
from semclip._io import atomic_write, checkpoint_errors
from semclip.backbones.base import Backbone
from semclip.data.base import LabelledImages
from semclip.tokens.cache import Tokens, resolve_tokens
from semclip.errors import SemclipError

KIND = "semclip-token-quantizer"


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

    def save(self, path: str | Path, backbone: str, data: str) -> Path:
        """Write the grid (per-component levels, and thresholds) with its bit width, backbone
        and training data, atomically."""
        state = {"lo": self.lo, "levels": self.levels} | ({"step": self.step} if self.bits > 1 else {})
        state = {k: v.detach().cpu().contiguous() for k, v in state.items()}
        meta = {"kind": KIND, "bits": str(self.bits), "backbone": backbone, "data": data}
        return atomic_write(path, lambda p: save_file(state, str(p), metadata=meta))

    @classmethod
    def load(cls, path: str | Path, backbone: str, bits: int) -> "TokenQuantizer":
        """A saved grid; refused when it is not one, or was fitted for another backbone or
        bit width."""
        with checkpoint_errors(path, "token quantiser"):
            with safe_open(str(path), "pt") as f:
                meta = f.metadata() or {}
                state = {k: f.get_tensor(k) for k in f.keys()}
            if meta.get("kind") != KIND or meta.get("backbone") != backbone or int(meta["bits"]) != bits:
                raise SemclipError(f"{path} is not a {bits}-bit token quantiser for backbone {backbone}: delete it to refit")
            q = cls.__new__(cls)
            q.bits, q.lo, q.levels = bits, state["lo"], state["levels"]
            q.dim = q.lo.shape[0]
            if bits > 1:
                q.step = state["step"]
        return q

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


def quantizer_name(backbone: Backbone, train: LabelledImages, bits: int) -> str:
    return artefacts.name("quantizers", f"token-b{bits}", [backbone.fingerprint, train.cache_id, bits, "v1"])


def fitted_quantizer(backbone: Backbone, train: LabelledImages, train_tokens: Tokens, bits: int, log=print) -> TokenQuantizer:
    """The ``bits``-bit quantiser of ``train``'s tokens: cached, shipped with semclip
    (``semclip.artefacts``), or fitted now (encoding the images if they are not yet)."""
    def make(path: Path) -> TokenQuantizer:
        q = TokenQuantizer(resolve_tokens(train_tokens), bits)
        q.save(path, backbone.fingerprint, train.cache_id)
        return q

    q, _ = artefacts.obtain(quantizer_name(backbone, train, bits), f"token-digital {bits}-bit quantiser ({train.name})",
                            lambda path: TokenQuantizer.load(path, backbone.fingerprint, bits), make, log)
    return q
