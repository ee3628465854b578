"""Label-free test-time prompt tuning at the receiver (TPT, Shu et al., NeurIPS 2022),
with views drawn from the channel instead of image crops.

The receiver knows the SNR its tokens arrived at and holds the codec, so it can draw
views of what it received: the decoded token sent again through the codec and the same
channel at that SNR (``views - 1`` draws, plus the token itself). For every chunk of
``chunk`` tokens (one adaptation per chunk: labels never enter, and nothing carries over
from one chunk to the next), the learner's prompt context takes ``steps`` AdamW steps that
minimise the entropy of each token's mean prediction over its ``keep`` most confident
views (TPT's confidence selection); the chunk is then scored once with the adapted
context, and the context is reset.

Learners with a context (CoOp, TAPL: the context shared by every SNR) adapt it; a
learner without one (the hand-crafted receiver) is replaced by CoOp's context initialised
from ``ctx_init`` and never trained, which is TPT's own starting point (one template, not
the template ensemble). It is its own method: the learner it wraps is left as it was.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from semclip.channels.registry import create_channel
from semclip.device import generator
from semclip.errors import SemclipError
from semclip.jscc.model import TokenJSCC
from semclip.prompts.base import PromptLearner
from semclip.training import adamw
from semclip.prompts.coop import CoOp

SUFFIX = "+tta"  # "coop+tta": the learner coop, adapted at test time


@dataclass(frozen=True)
class TTAConfig:
    views: int = 16  # per token, the token itself included
    keep: float = 0.25  # fraction of the views, the most confident, whose mean prediction's entropy is minimised
    steps: int = 1
    lr: float = 5e-3  # TPT's AdamW step
    chunk: int = 64  # tokens that share one adaptation

    def __post_init__(self) -> None:
        if self.views < 1 or self.steps < 1 or self.chunk < 1:
            raise SemclipError(f"test-time adaptation needs views, steps and chunk >= 1, got {self}")
        if not (math.isfinite(self.keep) and 0 < self.keep <= 1):
            raise SemclipError(f"test-time adaptation setting keep = {self.keep} is out of range: give a fraction in (0, 1]")
        if not (math.isfinite(self.lr) and 0 < self.lr <= 1):
            raise SemclipError(f"test-time adaptation setting lr = {self.lr} is out of range: give a value in (0, 1]")


def split_name(name: str) -> tuple[str, bool]:
    """"coop+tta" -> ("coop", True); "coop" -> ("coop", False)."""
    return (name[: -len(SUFFIX)], True) if name.endswith(SUFFIX) else (name, False)


class TestTimePrompts:
    """``learner`` adapted per chunk at test time; ``predict`` as a learner's."""

    __test__ = False  # not a pytest class, whatever its name

    def __init__(self, learner: PromptLearner, jscc: TokenJSCC, channel: str, cfg: TTAConfig | None = None,
                 seed: int = 0) -> None:
        self.cfg = cfg or TTAConfig()
        self.jscc, self.channel_name, self.seed = jscc, channel, seed
        create_channel(channel)  # an unknown channel fails here, not at the first batch
        ctx = getattr(learner, "ctx", None)
        if not isinstance(ctx, nn.Parameter):
            coop = CoOp(learner.backbone, learner.cfg, learner.k).to(learner.backbone.device)
            coop.received_mean = learner.received_mean  # the same received tokens, centred as the learner centres them
            learner = coop
        self.learner = learner.eval()
        self._start = learner.ctx.detach().clone()
        self._calls = 0

    def views(self, tokens: torch.Tensor, snr_db: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """tokens [B, d] as received -> [V, B, d]: the tokens, then V - 1 draws of them sent
        again through the codec and channel at ``snr_db`` [B, 1]."""
        channel = create_channel(self.channel_name, generator=gen)
        out = [tokens]
        with torch.no_grad():
            for _ in range(self.cfg.views - 1):
                out.append(self.jscc(tokens, snr_db, channel)[0])
        return torch.stack(out)

    def adapt(self, tokens: torch.Tensor, snr_db: torch.Tensor, classes: Sequence[str], gen: torch.Generator) -> None:
        """``cfg.steps`` entropy-minimising steps of the context on one chunk."""
        views = self.views(tokens, snr_db, gen)  # [V, b, d]
        v, b = views.shape[:2]
        top = max(1, round(self.cfg.keep * v))
        ctx = self.learner.ctx
        opt = adamw([ctx], self.cfg.lr, 0.0)
        with torch.enable_grad():
            for _ in range(self.cfg.steps):
                logits = self.learner(views.reshape(v * b, -1), snr_db.repeat(v, 1), classes).float().view(v, b, -1)
                logp = logits.log_softmax(-1)
                entropy = -(logp.exp() * logp).sum(-1)  # [V, b]
                chosen = entropy.topk(top, dim=0, largest=False).indices  # [top, b]
                picked = logp.gather(0, chosen.unsqueeze(-1).expand(-1, -1, logp.shape[-1]))  # [top, b, C]
                mean = picked.logsumexp(0) - math.log(top)  # log of the mean prediction [b, C]
                loss = -(mean.exp() * mean).sum(-1).mean()
                (ctx.grad,) = torch.autograd.grad(loss, [ctx])  # the context only: the rest stays frozen
                opt.step()

    @torch.no_grad()
    def predict(self, tokens: torch.Tensor, snr_db: torch.Tensor | None, classes: Sequence[str]) -> torch.Tensor:
        """tokens: [B, d] received; snr_db: [B, 1] dB known at the receiver -> [B] predictions."""
        if snr_db is None:
            raise SemclipError("test-time adaptation needs the SNR each token was received at: give snr_db [B, 1]")
        if snr_db.shape != (tokens.shape[0], 1) or not torch.isfinite(snr_db).all():
            raise SemclipError(f"test-time adaptation needs a finite SNR per token, shape [{tokens.shape[0]}, 1]; "
                               f"got {list(snr_db.shape)}")
        dev = self.learner.backbone.device
        tokens, snr_db = tokens.to(dev), snr_db.to(dev)
        gen = generator(self.seed * 1_000_003 + self._calls, dev)  # reproducible: the sweep's order is fixed
        self._calls += 1
        preds = []
        try:
            for s in range(0, tokens.shape[0], self.cfg.chunk):
                t, snr = tokens[s : s + self.cfg.chunk], snr_db[s : s + self.cfg.chunk]
                self.adapt(t, snr, classes, gen)
                preds.append(self.learner(t, snr, classes).argmax(-1))
                self.learner.ctx.copy_(self._start)
        finally:
            self.learner.ctx.copy_(self._start)  # the learner leaves as it came, whatever happened
        return torch.cat(preds)
