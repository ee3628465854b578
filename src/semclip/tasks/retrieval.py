"""Zero-shot image-text retrieval over received tokens: Recall@K both ways.

Captions can repeat (two drawings with the same title), so texts are the distinct
captions and an image's match is its caption's index; a text query counts as found when
any image with that caption is in its top K."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from semclip.backbones.base import Backbone
from semclip.errors import SemclipError

RECALL_AT = (1, 5, 10)  # Recall@K cut-offs (k alone means channel uses elsewhere)


class CaptionIndex:
    """The distinct captions embedded once, and each image's caption index."""

    def __init__(self, backbone: Backbone, captions: Sequence[str]) -> None:
        if not captions:
            raise SemclipError("retrieval needs at least one caption")
        self.texts = list(dict.fromkeys(captions))
        where = {t: i for i, t in enumerate(self.texts)}
        with torch.no_grad():
            self.embeddings = backbone.encode_text(self.texts)  # batched there, on the backbone's device
        self.target = torch.tensor([where[c] for c in captions], device=self.embeddings.device)  # [N images]

    def recall(self, tokens: torch.Tensor, at: Sequence[int] = RECALL_AT) -> dict[str, dict[str, float]]:
        """tokens: [N, d] image tokens, one per caption -> {"image-to-text": {"r@1": ..}, "text-to-image": {..}}."""
        if tokens.shape[0] != self.target.shape[0]:
            raise SemclipError(f"{tokens.shape[0]} image tokens for {self.target.shape[0]} captions")
        dev, target = self.embeddings.device, self.target
        sim = F.normalize(tokens.to(dev), dim=-1) @ self.embeddings.t()  # [N, T]
        # image -> text: rank of the image's own caption among all texts
        own = sim.gather(1, target[:, None])
        i2t_rank = (sim > own).sum(1)
        # text -> image: best rank among the images carrying that caption
        order = sim.t().argsort(dim=1, descending=True)  # [T, N]
        hit_rank = (target[order] == torch.arange(len(self.texts), device=dev)[:, None]).float().argmax(1)
        return {
            "image-to-text": {f"r@{n}": float((i2t_rank < n).float().mean()) for n in at},
            "text-to-image": {f"r@{n}": float((hit_rank < n).float().mean()) for n in at},
        }
