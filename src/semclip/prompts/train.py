"""Stage 2: train a prompt learner on few-shot tokens received through the frozen JSCC.

Every step draws a batch of the few-shot tokens, ``snr_draws`` SNRs uniform on a grid (each
sample gets one of them at random: SNR-conditioned prompts are then encoded ``snr_draws``
times per step, not once per sample) and fresh channel noise, sends the tokens through the frozen codec and channel, and minimises
cross-entropy over the training classes, plus, for learners with an anchor weight, the pull
of the learned class embeddings towards the hand-crafted ones. A partial checkpoint (learner
and optimiser state) is written every ``save_every`` steps, so a killed run resumes there.
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from semclip.digest import json_digest
from semclip.channels.base import check_snr_range
from semclip.channels.registry import create_channel
from semclip.device import autocast, generator, precision
from semclip.distributed import Dist, dist
from semclip.errors import SemclipError
from semclip.settings import setting
from semclip.jscc.model import TokenJSCC
from semclip.prompts.base import ENSEMBLE_CENTRE, PromptLearner
from semclip.prompts.checkpoint import save_prompts
from semclip.provenance import Provenance
from semclip.resume import partial_path
from semclip.training import LoopLog, TrainingLoop, adamw


@dataclass
class PromptTrainConfig:
    shots: int = setting(16, help="Few-shot examples per base class for the prompt learners.")
    steps: int = setting(300, help="Prompt training steps.", flag="prompt_steps")
    batch_size: int = 32
    lr: float = 2e-3
    snr_min_db: float = -12.0
    snr_max_db: float = 22.0
    snr_step_db: float = 1.0
    snr_draws: int = 4  # distinct SNRs per step, each sample gets one: bounds text-encoder passes
    channels: list[str] = field(default_factory=lambda: ["awgn"])
    seed: int = setting(0, help="Seed for training and channel noise.", shared=True)
    save_every: int = 50
    split: str = setting("rows", flag="prompt_split", help=(
        "How processes under `accelerate launch` share a prompt step: rows (each its slice of the batch against "
        "every class) or classes (each also encodes only its slice of the class prompts, gathered: for many classes). "
        "The same learning either way."))

    def __post_init__(self) -> None:
        if min(self.steps, self.batch_size, self.save_every, self.snr_draws, self.shots) <= 0 or self.lr <= 0:
            raise SemclipError(f"invalid prompt training settings: {asdict(self)}")
        check_snr_range(self.snr_min_db, self.snr_max_db)
        if self.snr_step_db <= 0:
            raise SemclipError(f"invalid SNR step {self.snr_step_db} dB: it must be positive")
        for ch in self.channels:
            create_channel(ch)
        if self.split not in SPLITS:
            raise SemclipError(f"unknown prompt split {self.split!r}: choose one of {', '.join(SPLITS)}")


SPLITS = ("rows", "classes")


def recipe(cfg: PromptTrainConfig) -> dict:
    """The settings as they name prompts: ``asdict`` without ``split``, which says how the
    processes share the work, not what is learnt (like their number)."""
    return {k: v for k, v in asdict(cfg).items() if k != "split"}


class _Step(nn.Module):
    """What DDP wraps: the learner's scores on this process's rows (DDP hooks only ``forward``)."""

    def __init__(self, learner: PromptLearner) -> None:
        super().__init__()
        self.learner = learner

    def forward(
        self, received: torch.Tensor, snr_db: torch.Tensor, classes: list[str], rows: slice | None = None, d: Dist | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """received: [B, d] unit norm; snr_db: [B, 1] -> (logits [n, C], class embeddings
        [G, C, d], adapted received tokens [n, d]) of ``rows`` (n of them; default: all).
        With ``d``, the classes are sharded: this process encodes its slice of the class
        prompts for the whole batch and gathers the rest from the others."""
        if d is None:
            return self.learner.score_parts(received, snr_db, classes, rows)

        def embed(names, tokens, snr):
            lo, hi = d.class_slice(len(names))
            text, index = self.learner.class_embeddings(names[lo:hi] or names[:1], tokens, snr)
            return d.gather_classes(text[:, : hi - lo], len(names)), index

        return self.learner.score_parts(received, snr_db, classes, rows, embed)


class PromptEnsemble(nn.Module):
    """PromptSRC's Gaussian prompt aggregation: the average of the learner's weights along
    training, step t weighted by exp(-((t/T - centre) / width)^2 / 2). Kept as buffers, so
    a resumed run goes on with the same average."""

    def __init__(self, params: list[nn.Parameter], steps: int, width: float) -> None:
        super().__init__()
        self.params, self.steps, self.width = params, steps, width
        for i, p in enumerate(params):
            self.register_buffer(f"avg{i}", torch.zeros_like(p.detach()))
        self.register_buffer("total", torch.zeros((), dtype=torch.float64))

    @torch.no_grad()
    def add(self, step: int) -> None:
        """Fold in the weights as they are after ``step`` (0-based)."""
        w = math.exp(-0.5 * (((step + 1) / self.steps - ENSEMBLE_CENTRE) / self.width) ** 2)
        self.total += w
        for i, p in enumerate(self.params):
            avg = getattr(self, f"avg{i}")
            avg += (w / float(self.total)) * (p.detach() - avg)  # running weighted mean

    @torch.no_grad()
    def apply(self) -> None:
        """Set the learner's weights to the ensemble."""
        for i, p in enumerate(self.params):
            p.copy_(getattr(self, f"avg{i}"))


def regularisers(
    learner: PromptLearner, received: torch.Tensor, snr_db: torch.Tensor, classes: list[str],
    logits: torch.Tensor, text: torch.Tensor, image: torch.Tensor,
) -> torch.Tensor:
    """The pulls towards the frozen receiver that keep learned prompts general (each off at
    weight 0): the class embeddings [G, C, d] towards the hand-crafted ones (``anchor``),
    the scores [n, C] towards the frozen receiver's (``agreement``, KL), the adapted
    received tokens [n, d] towards the unadapted ones (``image_anchor``)."""
    cfg, loss = learner.cfg, logits.new_zeros(())
    if learner.anchor > 0:
        loss = loss + learner.anchor * learner.anchor_loss(text, classes)
    if cfg.agreement > 0 or cfg.image_anchor > 0:
        with torch.no_grad():
            frozen = learner.received(received, snr_db, learned=False).float()
        if cfg.agreement > 0:
            target = (learner.backbone.logit_scale * frozen @ learner.reference(classes).float().t()).log_softmax(-1)
            loss = loss + cfg.agreement * F.kl_div(logits.log_softmax(-1), target, log_target=True, reduction="batchmean")
        if cfg.image_anchor > 0:
            loss = loss + cfg.image_anchor * (1 - (image * frozen).sum(-1)).mean()
    return loss


def cosine_lr(peak: float, steps: int, step: int) -> float:
    """Cosine decay from ``peak``: a pure function of the step, so a resumed run needs no schedule state."""
    return peak * 0.5 * (1 + math.cos(math.pi * step / steps))


def check_shots(tokens: torch.Tensor, labels: torch.Tensor, classes: list[str]) -> None:
    """Tokens [N, d] and labels [N] in 0..C-1 that fit ``classes``, or a one-line error."""
    if tokens.shape[0] != labels.shape[0] or tokens.shape[0] == 0:
        raise SemclipError(f"{tokens.shape[0]} tokens but {labels.shape[0]} labels")
    if int(labels.max()) >= len(classes):
        raise SemclipError(f"labels go up to {int(labels.max())} but only {len(classes)} classes were given")


class PromptLoss:
    """One training step's loss: a batch of few-shot tokens drawn from the step's own
    generator (so a resumed run draws what an uninterrupted one would), sent through the
    frozen codec at drawn SNRs, scored by the learner on this process's rows."""

    def __init__(self, learner: PromptLearner, step_fn: nn.Module, jscc: TokenJSCC, tokens: torch.Tensor, labels: torch.Tensor,
                 classes: list[str], cfg: PromptTrainConfig, d: Dist) -> None:
        self.learner, self.step_fn, self.jscc, self.tokens, self.labels, self.classes, self.cfg = (
            learner, step_fn, jscc, tokens, labels, classes, cfg)
        self.dev, (self.lo, self.hi) = d.device, d.shard(0, cfg.batch_size)
        self.d, self.by_class = d, cfg.split == "classes" and d.world > 1
        self.n_snr = int(round((cfg.snr_max_db - cfg.snr_min_db) / cfg.snr_step_db)) + 1

    def __call__(self, step: int) -> torch.Tensor:
        cfg, dev, lo, hi = self.cfg, self.dev, self.lo, self.hi
        gen = generator(cfg.seed * 1_000_003 + step, dev)
        idx = torch.randint(self.tokens.shape[0], (cfg.batch_size,), generator=gen, device=dev)
        levels = cfg.snr_min_db + cfg.snr_step_db * torch.randint(self.n_snr, (cfg.snr_draws,), generator=gen, device=dev).float()
        snr = levels[torch.randint(cfg.snr_draws, (cfg.batch_size, 1), generator=gen, device=dev)]
        channel = create_channel(cfg.channels[step % len(cfg.channels)], generator=gen)
        with torch.no_grad():
            decoded, rx = self.jscc(self.tokens[idx], snr, channel)
        received = F.normalize(decoded, dim=-1)  # the codec runs on the whole batch: it is cheap
        snr_rx = rx.rx_snr_db
        with autocast(dev, precision() == "bf16"):  # the frozen text tower in bf16 on a GPU, when chosen
            if self.by_class:  # the class prompts of the whole batch's SNRs, a slice per process
                logits, text, image = self.step_fn(received, snr_rx, self.classes, slice(lo, hi), self.d)
            else:
                logits, text, image = self.step_fn(received[lo:hi], snr_rx[lo:hi], self.classes)
        received, snr_rx = received[lo:hi], snr_rx[lo:hi]
        logits, text, image = logits.float(), text.float(), image.float()
        return (F.cross_entropy(logits, self.labels[idx[lo:hi]])
                + regularisers(self.learner, received, snr_rx, self.classes, logits, text, image))


@torch.enable_grad()  # trains even when called under no_grad (transmit and serve train a missing codec)
def train_prompts(
    learner: PromptLearner,
    jscc: TokenJSCC,
    tokens: torch.Tensor,
    labels: torch.Tensor,
    classes: list[str],
    cfg: PromptTrainConfig,
    out: str | Path,
    extra: dict | None = None,
    d: Dist | None = None,
    provenance: Provenance | None = None,
) -> dict:
    """tokens: [N, d] clean few-shot tokens; labels: [N] in 0..C-1 over ``classes``.
    Writes the final checkpoint to ``out`` and returns a training log.

    Runs on ``d.device``: learner, backbone, codec, tokens and the per-step generators move
    there. Data-parallel under ``accelerate launch``: every process draws the same batch, SNRs
    and channel, scores its equal share of the rows through the DDP-wrapped learner, and
    ``accelerator.backward`` averages the gradients."""
    out = Path(out)
    d = d or dist()
    d.check_split(cfg.batch_size, "prompt")
    check_shots(tokens, labels, classes)
    dev = d.device
    jscc.eval().requires_grad_(False).to(dev)
    learner.backbone.to(dev)
    learner.to(dev)
    tokens, labels = tokens.to(dev), labels.to(dev)
    params = [p for p in learner.parameters() if p.requires_grad]
    log: list[dict] = []
    meta = {"train": recipe(cfg), **(extra or {})}
    if not params:  # hand-crafted: nothing to learn
        if d.is_main:
            save_prompts(learner, out, classes, meta, provenance)
        d.barrier()
        return {"log": log, "resumed_from": 0}
    opt = adamw(params, cfg.lr, 0.0)
    key = json_digest([learner.name, asdict(learner.cfg), recipe(cfg), classes, tokens.shape[0], float(tokens.sum())])
    partial = partial_path(out)
    ensemble = PromptEnsemble(params, cfg.steps, learner.cfg.ensemble).to(dev) if learner.cfg.ensemble > 0 else None
    saved = learner if ensemble is None else nn.ModuleDict({"learner": learner, "ensemble": ensemble})
    what = f"training {learner.name} prompts on {dev}" + (f" ({d.world} processes)" if d.world > 1 else "")
    loop = TrainingLoop(what, cfg.steps, saved, opt, partial=partial, key=key, save_every=cfg.save_every,
                        log=LoopLog(every=25, digits=4, show_loss=True), d=d)
    loss = PromptLoss(learner, loop.prepare(_Step(learner)), jscc, tokens, labels, classes, cfg, d)
    learner.train()

    log = loop.run(loss, lr_at=functools.partial(cosine_lr, cfg.lr, cfg.steps), after_step=None if ensemble is None else ensemble.add)
    if ensemble is not None:
        ensemble.apply()
    d.check_agree(params, f"the {learner.name} prompts")
    learner.eval()
    if d.is_main:
        save_prompts(learner, out, classes, meta | {"log": log[-1:], "processes": d.world} | ({"split": cfg.split} if d.world > 1 else {}), provenance)
        partial.unlink(missing_ok=True)
    d.barrier()
    return {"log": log, "resumed_from": loop.start}
