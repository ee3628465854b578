"""CoOp (Zhou et al., IJCV 2022) and CoCoOp (Zhou et al., CVPR 2022) at the receiver.

CoOp learns M context vectors shared by all classes; here it trains on tokens received at
random SNRs but never sees the SNR. CoCoOp adds a small meta-network that shifts the context
by a function of each received token; its prompts are encoded for the whole batch at once
(B x C sequences), not one image at a time.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from semclip.prompts.base import PromptLearner, register_learner


@register_learner("CoOp: learned context vectors shared by all classes, blind to the SNR")
class CoOp(PromptLearner):
    name = "coop"

    def __init__(self, backbone, cfg=None, k=None) -> None:
        super().__init__(backbone, cfg, k)
        self.ctx = nn.Parameter(self.init_context())  # [M, width]

    def class_embeddings(
        self, classes: Sequence[str], tokens: torch.Tensor, snr_db: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        text = self.encode_with_context(classes, self.ctx.unsqueeze(0))
        return text, torch.zeros(tokens.shape[0], dtype=torch.long, device=tokens.device)


@register_learner("CoCoOp: CoOp plus a meta-network shifting the context by each received token")
class CoCoOp(CoOp):
    name = "cocoop"

    def __init__(self, backbone, cfg=None, k=None) -> None:
        super().__init__(backbone, cfg, k)
        d, width = backbone.dim, self.ctx.shape[1]
        self.meta_net = nn.Sequential(nn.Linear(d, max(d // 16, 8)), nn.ReLU(), nn.Linear(max(d // 16, 8), width))

    def class_embeddings(
        self, classes: Sequence[str], tokens: torch.Tensor, snr_db: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        ctx = self.ctx.unsqueeze(0) + self.meta_net(nn.functional.normalize(tokens, dim=-1)).unsqueeze(1)  # [B, M, w]
        return self.encode_with_context(classes, ctx), torch.arange(tokens.shape[0], device=tokens.device)
