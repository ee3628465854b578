"""The reference receiver: CLIP's template ensemble, nothing learned."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from semclip.prompts.base import PromptLearner, register_learner


@register_learner("the frozen receiver: CLIP's template ensemble, nothing learned")
class Handcrafted(PromptLearner):
    name = "handcrafted"
    variants = {"centred": {"centering": 1.0}}  # the template ensemble on centred received tokens

    def class_embeddings(
        self, classes: Sequence[str], tokens: torch.Tensor, snr_db: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return self.reference(classes).unsqueeze(0), torch.zeros(tokens.shape[0], dtype=torch.long, device=tokens.device)
