"""Real CLIP through Hugging Face ``transformers``: any ``CLIPModel`` hub id or folder.

Weights are never downloaded by semclip's tests; users with network access (or a local
copy) pass ``hf-clip:openai/clip-vit-base-patch32`` or ``hf-clip:/path/to/folder``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from semclip.backbones.base import Backbone, TokenizedText, register_backbone
from semclip.errors import SemclipError

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


class HFCLIP(Backbone):
    """Wraps a ``transformers.CLIPModel`` and a tokenizer."""

    def __init__(self, model: "transformers.CLIPModel", tokenizer, source: str) -> None:  # noqa: F821
        super().__init__()
        self.model = model
        self.tokenizer = tokenizer
        self.source = source
        self.name = f"hf-clip:{source}"
        self.dim = model.config.projection_dim
        self.image_size = model.config.vision_config.image_size
        self.mean, self.std = CLIP_MEAN, CLIP_STD
        self.max_text_length = model.config.text_config.max_position_embeddings

    @classmethod
    def from_pretrained(cls, source: str) -> "HFCLIP":
        from transformers import AutoTokenizer, CLIPModel
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # "Loading weights" bars would come before our one-line errors

        try:
            model = CLIPModel.from_pretrained(source)
            tokenizer = AutoTokenizer.from_pretrained(source)
        except (OSError, ValueError) as exc:
            raise SemclipError(
                f"could not load CLIP from {source!r} ({exc.__class__.__name__}). Give a local folder "
                "holding config.json, the weights and the tokenizer, or a hub id on a machine with network access"
            ) from exc
        return cls(model, tokenizer, source)

    @property
    def logit_scale(self) -> float:
        return float(self.model.logit_scale.exp())

    def encode_pixels(self, pixels: torch.Tensor) -> torch.Tensor:
        out = self.model.get_image_features(pixel_values=pixels)
        feats = out.pooler_output if hasattr(out, "pooler_output") else out
        return self._normalize(feats)

    def tokenize(self, texts: Sequence[str]) -> TokenizedText:
        enc = self.tokenizer(
            list(texts), padding=True, truncation=True, max_length=self.max_text_length, return_tensors="pt"
        )
        ids = enc["input_ids"]
        eos = self.model.config.text_config.eos_token_id
        if eos == 2:  # legacy configs: end-of-text is the largest id, as in transformers
            pool = ids.argmax(dim=-1)
        else:
            pool = (ids == eos).int().argmax(dim=-1)
        dev = self.device
        return TokenizedText(ids.to(dev), enc["attention_mask"].to(dev), pool.to(dev))

    def embed_tokens(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.model.text_model.embeddings.token_embedding(input_ids)

    def encode_embeddings(self, embeds: torch.Tensor, text: TokenizedText) -> torch.Tensor:
        """The CLIP text transformer from word embeddings on: positions, causal encoder,
        final norm, end-of-text pooling, projection (mirrors ``CLIPTextModel.forward``)."""
        from transformers.masking_utils import create_causal_mask

        tm = self.model.text_model
        hidden = tm.embeddings(inputs_embeds=embeds)
        mask = create_causal_mask(
            config=tm.config, inputs_embeds=hidden, attention_mask=text.attention_mask, past_key_values=None
        )
        hidden = tm.encoder(inputs_embeds=hidden, attention_mask=mask, is_causal=True).last_hidden_state
        hidden = tm.final_layer_norm(hidden)
        pooled = hidden[torch.arange(hidden.shape[0], device=hidden.device), text.pool_index]
        return self._normalize(self.model.text_projection(pooled))


@register_backbone("hf-clip", "any Hugging Face CLIP checkpoint, by hub id or local folder", arg="<hub id or folder>")
def _hf_clip(source: str = "") -> HFCLIP:
    if not source:
        raise SemclipError("hf-clip needs a hub id or folder, e.g. hf-clip:openai/clip-vit-base-patch32")
    return HFCLIP.from_pretrained(source)
