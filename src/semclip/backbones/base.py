"""The one interface every backbone offers, and the registry that names them.

A backbone turns images into L2-normalised tokens (what SemCLIP transmits) and texts
into L2-normalised embeddings in the same space (what the receiver compares against).
For prompt learning it also exposes the text encoder at the token-embedding level:
``tokenize`` -> ``embed_tokens`` -> (edit the embeddings) -> ``encode_embeddings``.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from semclip._io import hash_tensor
from semclip.data.base import flatten_alpha
from semclip.errors import SemclipError
from semclip.registry import Registry


@lru_cache(maxsize=8)
def normalise_table(mean: tuple[float, float, float], std: tuple[float, float, float]) -> np.ndarray:
    """[3, 256] float32: (v / 255 - mean_c) / std_c for every byte value v, computed with the
    same float32 operations as normalising pixel by pixel."""
    v = torch.from_numpy(np.arange(256, dtype=np.float32) / 255.0)
    table = (v.view(1, 256) - torch.tensor(mean, device="cpu").view(3, 1)) / torch.tensor(std, device="cpu").view(3, 1)
    table = table.numpy()
    table.flags.writeable = False  # shared by every call
    return table


@dataclass(frozen=True)
class Preprocess:
    """PIL image (any mode/size) -> [3, S, S] float32, normalised.

    Shorter side resized to S (bicubic), centre crop, RGB, per-channel mean/std, as CLIP
    does. Alpha is composited on white so transparent clip art keeps its shape. A grey image
    is resized as one band and spread to three at the end (Pillow resamples each band alike,
    so the pixels are those of resizing its RGB copy, at a third of the work); the
    normalisation is a table lookup of the same float32 operations. Both matter: a cold run
    preprocesses every received picture."""

    image_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def __call__(self, image: Image.Image) -> torch.Tensor:
        image = flatten_alpha(image)
        if image.mode not in ("L", "RGB"):
            image = image.convert("RGB")
        s = self.image_size
        w, h = image.size
        scale = s / min(w, h)
        nw, nh = max(s, round(w * scale)), max(s, round(h * scale))
        image = image.resize((nw, nh), Image.BICUBIC)
        left, top = (nw - s) // 2, (nh - s) // 2
        px = np.asarray(image.crop((left, top, left + s, top + s)))  # [S, S] or [S, S, 3] uint8
        table = normalise_table(self.mean, self.std)
        x = table[:, px] if px.ndim == 2 else table[np.arange(3)[:, None, None], px.transpose(2, 0, 1)]
        return torch.from_numpy(np.ascontiguousarray(x))


@dataclass(frozen=True)
class TokenizedText:
    """input_ids / attention_mask: [N, L] int64. ``pool_index``: [N] position whose
    hidden state is the sentence (CLIP's end-of-text); None for mean pooling."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    pool_index: torch.Tensor | None


class Backbone(nn.Module, ABC):
    """Frozen image and text towers sharing one embedding space of size ``dim``."""

    name: str
    dim: int
    image_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    # -- images -----------------------------------------------------------------
    def preprocess(self, image: Image.Image) -> torch.Tensor:
        """PIL image (any mode/size) -> [3, S, S] float32, normalised (``Preprocess``)."""
        return self.preprocessor(image)

    @property
    def preprocessor(self) -> Preprocess:
        """This backbone's preprocessing as a small picklable object (what decoding worker
        processes are handed, instead of the model)."""
        return Preprocess(self.image_size, tuple(self.mean), tuple(self.std))

    precision: str = "fp32"  # "bf16": the image tower runs under bf16 autocast on a GPU (opt-in)

    @property
    def preprocess_id(self) -> str:
        """Identifies the preprocessing (and a reduced precision), so cached tokens are reused
        only when it matches."""
        pid = f"s{self.image_size}-m{self.mean}-sd{self.std}-bicubic-center-white"
        return pid if self.precision == "fp32" else f"{pid}-{self.precision}"

    @property
    def device(self) -> torch.device:
        """Where the towers are (moved by the run's device policy)."""
        return next(iter(self.parameters()), torch.empty(0, device="cpu")).device

    @abstractmethod
    def encode_pixels(self, pixels: torch.Tensor) -> torch.Tensor:
        """pixels: [B, 3, S, S] -> tokens [B, dim], L2-normalised."""

    # -- texts ------------------------------------------------------------------
    @abstractmethod
    def tokenize(self, texts: Sequence[str]) -> TokenizedText:
        """Texts -> padded token ids, on the towers' device."""

    @abstractmethod
    def embed_tokens(self, input_ids: torch.Tensor) -> torch.Tensor:
        """input_ids: [N, L] -> word embeddings [N, L, width] (before positions)."""

    @abstractmethod
    def encode_embeddings(self, embeds: torch.Tensor, text: TokenizedText) -> torch.Tensor:
        """embeds: [N, L, width] (possibly edited) -> text embeddings [N, dim], L2-normalised."""

    def insert_context(self, embeds: torch.Tensor, text: TokenizedText, ctx: torch.Tensor) -> tuple[torch.Tensor, TokenizedText]:
        """Put learned context vectors right after the start token ([CLS] / <|startoftext|>).

        embeds: [N, L, width]; ctx: [N, M, width] or [M, width] -> ([N, L+M, width], the
        text with its attention mask extended and its pooling position shifted by M). The one
        place a prompt learner touches token layout, so learners never special-case a backbone.
        """
        n = embeds.shape[0]
        if ctx.dim() == 2:
            ctx = ctx.unsqueeze(0).expand(n, -1, -1)
        if ctx.shape[0] != n or ctx.shape[2] != embeds.shape[2]:
            raise SemclipError(f"context of shape {list(ctx.shape)} does not fit embeddings {list(embeds.shape)}")
        m = ctx.shape[1]
        if embeds.shape[1] + m > self.max_text_length:
            raise SemclipError(
                f"{m} context vectors + {embeds.shape[1]} tokens exceed the text encoder's {self.max_text_length} positions"
            )
        out = torch.cat([embeds[:, :1], ctx.to(embeds.dtype), embeds[:, 1:]], dim=1)
        mask = text.attention_mask
        mask = torch.cat([mask[:, :1], mask.new_ones(n, m), mask[:, 1:]], dim=1)
        pool = None if text.pool_index is None else text.pool_index + m
        return out, TokenizedText(torch.cat([text.input_ids[:, :1], text.input_ids.new_zeros(n, m), text.input_ids[:, 1:]], 1), mask, pool)

    @property
    def logit_scale(self) -> float:
        """Temperature the backbone was trained with (exp of its learned log-scale)."""
        return 100.0

    max_text_length: int = 512

    def encode_text(self, texts: Sequence[str], batch_size: int = 256) -> torch.Tensor:
        """Texts -> [N, dim] L2-normalised embeddings."""
        if not texts:
            raise SemclipError("no texts to encode")
        out = []
        for i in range(0, len(texts), batch_size):
            tok = self.tokenize(texts[i : i + batch_size])
            out.append(self.encode_embeddings(self.embed_tokens(tok.input_ids), tok))
        return torch.cat(out)

    @property
    def fingerprint(self) -> str:
        """Names this exact backbone for caches and checkpoints: its name and a digest of its
        weights and its preprocessing (with the image tower's precision), so tokens, codecs and
        prompts made otherwise are never reused."""
        return f"{self.name}@{hashlib.sha256(f'{self.weights_digest()}|{self.preprocess_id}'.encode()).hexdigest()[:16]}"

    def weights_digest(self) -> str:
        """SHA-256 over every parameter and buffer (name, dtype, shape, bytes): the weights
        themselves, not the folder or hub id they came from. Computed once (about a second per
        GB), again only if a tensor was changed in place since (torch counts in-place writes)."""
        state = self.state_dict()
        versions = tuple(t._version for t in state.values())
        memo = self.__dict__.get("_digest")
        if memo is None or memo[0] != versions:
            h = hashlib.sha256()
            for name, t in state.items():
                hash_tensor(h, t, name)
            memo = (versions, h.hexdigest())
            self.__dict__["_digest"] = memo
        return memo[1]

    @staticmethod
    def _normalize(x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x, dim=-1)


# every backbone family, by name (``semclip.registry``): each registers itself in its own file
BACKBONES: Registry[Backbone] = Registry(
    "backbone", builtins=("semclip.backbones.pocketclip", "semclip.backbones.hf_clip"),
    hint="; hf-clip takes a hub id or folder: hf-clip:openai/clip-vit-base-patch32")


def register_backbone(name: str, doc: str = "", arg: str = "") -> Callable[[Callable[..., Backbone]], Callable[..., Backbone]]:
    """Decorator: make a backbone factory ``factory(arg: str) -> Backbone`` available by
    name (``BACKBONES.register``)."""
    return BACKBONES.register(name, doc or f"the {name} backbone", arg)
