"""Zero-shot classification: class embeddings are the mean of the L2-normalised text
embeddings of every template, renormalised (CLIP's prompt ensemble)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from semclip.backbones.base import Backbone
from semclip.tasks.templates import TEMPLATES, validate_classnames


class ZeroShotClassifier:
    def __init__(self, backbone: Backbone, classes: Sequence[str], templates: Sequence[str] = TEMPLATES) -> None:
        self.classes = validate_classnames(classes)
        self.templates = list(templates)
        self.logit_scale = backbone.logit_scale
        with torch.no_grad():
            texts = [t.format(c) for c in self.classes for t in self.templates]
            emb = backbone.encode_text(texts).view(len(self.classes), len(self.templates), -1)
            self.weights = F.normalize(emb.mean(dim=1), dim=-1)  # [C, d]

    def logits(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens: [B, d] -> cosine similarities [B, C]."""
        return F.normalize(tokens.to(self.weights.device), dim=-1) @ self.weights.t()

    def probs(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens: [B, d] -> class probabilities [B, C] at the backbone's logit scale."""
        return (self.logit_scale * self.logits(tokens)).softmax(dim=-1)

    def predict(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens: [B, d] -> class indices [B]."""
        return self.logits(tokens).argmax(dim=-1)


def correct(pred: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """[N] bool on the host: which predictions are right."""
    return pred.cpu() == labels.cpu()


def top1_accuracy(pred: torch.Tensor, labels: torch.Tensor) -> float:
    return float(correct(pred, labels).float().mean())
