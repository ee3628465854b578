"""The receiver's prompt learners: one interface, from the fixed template ensemble to
transmission-aware prompts.

A learner scores received tokens against class names. It has two halves that any learner
may leave fixed: an image side (``adapt_image``: the received token, possibly adapted) and
a text side (``class_embeddings``: one embedding per class, possibly per sample or per SNR).
Backbones stay frozen; only the learner's own parameters train. Learners reach the text
encoder only through ``Backbone.tokenize / embed_tokens / insert_context /
encode_embeddings``, so each one works with any backbone.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from semclip.backbones.base import Backbone, TokenizedText
from semclip.errors import SemclipError
from semclip.registry import Registry
from semclip.prompts.centering import ReceivedMean
from semclip.tasks.templates import validate_classnames
from semclip.tasks.zeroshot import ZeroShotClassifier

# every prompt learner family, by name (``semclip.registry``): each registers its class in its own file,
# with its named variants (``PromptLearner.variants``: "tapl:no-snr" sets those PromptConfig fields)
LEARNERS: Registry[type["PromptLearner"]] = Registry(
    "prompt learner", builtins=("semclip.prompts.handcrafted", "semclip.prompts.coop", "semclip.prompts.tapl"))


def register_learner(doc: str):
    """Class decorator: register a ``PromptLearner`` subclass under its ``name``, with its
    ``variants`` as what may follow the colon."""

    def wrap(cls: type[PromptLearner]) -> type[PromptLearner]:
        LEARNERS.add(cls.name, cls, doc, arg="|".join(cls.variants))
        return cls

    return wrap

MAX_WEIGHT = 1000.0  # a loss weight above this drowns the cross-entropy: surely a typo
DEFAULTED = ("agreement", "image_anchor", "ensemble", "centering", "blend")  # PromptConfig fields a learner defaults
ENSEMBLE_CENTRE = 0.75  # where along training the prompt ensemble's Gaussian weights peak


@dataclass
class PromptConfig:
    """Every learner's options; a learner ignores the ones it has no use for.

    n_ctx / ctx_init: CoOp's context (initialised from the words of ``ctx_init``, whose
    token count then sets n_ctx; random when empty). TAPL's switches make the ablations:
    ``snr_conditioning`` (off: the same prompts at every SNR), ``text_side`` (off: the
    hand-crafted class embeddings), ``visual_side`` (off: no adapter on the received token).
    ``anchor``: weight of the pull of learned class embeddings towards the hand-crafted
    ones (KgCoOp-style; None: the learner's default). The regularisers of the methods that
    generalise to novel classes (PromptSRC, MaPLe): ``agreement``, weight of the KL from the
    frozen receiver's scores (hand-crafted prompts, received token unadapted) to the
    learner's; ``image_anchor``, weight of the pull of the adapted received token towards
    the unadapted one; ``ensemble``, the width (a fraction of the steps, 0: off) of the
    Gaussian weights of the prompt ensemble along training (PromptSRC's GPA, centred at
    ``ENSEMBLE_CENTRE`` of the run). ``centering`` (beta in [0, 1]): subtract beta times the
    mean received token at the token's SNR (``semclip.prompts.centering``), for any learner;
    ``centering_learned`` (TAPL): beta(s) = centering x sigmoid(g(e(s))), one scalar per SNR
    learned on the base classes (the direction stays the class-agnostic mean). ``blend``
    (b in [0, 1]): the scores are (1 - b) x the learner's + b x the frozen receiver's, in
    training and at test, so the learner learns a residual on the frozen scores (as
    CLIP-Adapter's residual ratio); with ``blend_train`` off, at test only (the learner
    trains alone: WiSE-FT's output ensemble).
    Those five at None take the learner's ``defaults`` (0: off), resolved when it is made."""

    n_ctx: int = 4
    ctx_init: str = "a photo of a"
    snr_conditioning: bool = True
    text_side: bool = True
    visual_side: bool = True
    cond_dim: int = 64
    adapter_dim: int = 128
    snr_resolution_db: float = 1.0
    anchor: float | None = None
    agreement: float | None = None
    image_anchor: float | None = None
    ensemble: float | None = None
    centering: float | None = None
    centering_learned: bool = False
    blend: float | None = None
    blend_train: bool = True

    def __post_init__(self) -> None:
        if self.n_ctx <= 0 or self.cond_dim <= 0 or self.adapter_dim <= 0 or self.snr_resolution_db <= 0:
            raise SemclipError(f"invalid prompt learner sizes: {self}")
        weights = {"anchor": self.anchor, "agreement": self.agreement, "image_anchor": self.image_anchor}
        for name, w in weights.items():
            if w is not None and not (math.isfinite(w) and 0 <= w <= MAX_WEIGHT):
                raise SemclipError(f"prompt setting {name} = {w} is out of range: a loss weight in [0, {MAX_WEIGHT:g}]")
        for name, v in (("ensemble", self.ensemble), ("centering", self.centering), ("blend", self.blend)):
            if v is not None and not (math.isfinite(v) and 0 <= v <= 1):
                raise SemclipError(f"prompt setting {name} = {v} is out of range: give a value in [0, 1] (0: off)")


class PromptLearner(nn.Module, ABC):
    """Scores tokens [B, d] received at SNR [B, 1] dB against class names."""

    name: str
    default_anchor: float = 0.0
    defaults: dict[str, float] = {}  # values of PromptConfig's None-means-default regularisers
    variants: dict[str, dict] = {}  # "name:variant" -> the PromptConfig fields it sets (ablations, options)

    def __init__(self, backbone: Backbone, cfg: PromptConfig | None = None, k: int | None = None) -> None:
        super().__init__()
        # not a submodule: the frozen backbone stays out of state_dict and optimisers
        object.__setattr__(self, "backbone", backbone)
        self.cfg = self.resolve(cfg or PromptConfig())
        self.k = k  # JSCC bandwidth this learner serves (None: any)
        self._text_cache: dict[tuple[str, ...], tuple[torch.Tensor, TokenizedText]] = {}
        self._reference: dict[tuple[str, ...], torch.Tensor] = {}
        self._encoded: dict[tuple, torch.Tensor] = {}  # [C, d] per (classes, context set) under no_grad
        # the class-agnostic centering table (filled from the codec; saved with the learner)
        self.received_mean = ReceivedMean(backbone.dim) if self.cfg.centering > 0 else None

    @classmethod
    def resolve(cls, cfg: PromptConfig) -> PromptConfig:
        """``cfg`` with every regulariser left at None set to this learner's default."""
        return replace(cfg, **{f: cls.defaults.get(f, 0.0) for f in DEFAULTED if getattr(cfg, f) is None})

    @property
    def anchor(self) -> float:
        return self.default_anchor if self.cfg.anchor is None else self.cfg.anchor

    # -- pieces shared by learners ------------------------------------------------
    def class_text(self, classes: Sequence[str]) -> tuple[torch.Tensor, TokenizedText]:
        """Word embeddings [C, L, width] of "<class>." and their tokens (cached)."""
        key = (*validate_classnames(classes, minimum=1), str(self.backbone.device))  # per device: the learner may move
        if key not in self._text_cache:
            tok = self.backbone.tokenize([f"{c}." for c in key[:-1]])
            with torch.no_grad():
                self._text_cache[key] = (self.backbone.embed_tokens(tok.input_ids), tok)
        return self._text_cache[key]

    def reference(self, classes: Sequence[str]) -> torch.Tensor:
        """Hand-crafted template-ensemble class embeddings [C, d] (cached)."""
        key = (*validate_classnames(classes), str(self.backbone.device))
        if key not in self._reference:
            self._reference[key] = ZeroShotClassifier(self.backbone, key[:-1]).weights
        return self._reference[key]

    def encode_with_context(self, classes: Sequence[str], ctx: torch.Tensor) -> torch.Tensor:
        """ctx: [G, M, width] (G context sets) -> class embeddings [G, C, d].

        Outside training (no gradient) each context set's class embeddings are kept, by its
        values: an evaluation scores every batch of every sweep point with a few contexts (one
        per SNR level the batch holds), and the text tower is the costly part; only the sets
        not seen before are encoded, together. Contexts made per sample (CoCoOp's, many per
        call) never repeat and are not kept."""
        if torch.is_grad_enabled() or ctx.shape[0] > 64:
            return self._encode_with_context(classes, ctx)
        keys = [(tuple(classes), str(ctx.device), ctx.dtype, row.tobytes()) for row in ctx.detach().cpu().numpy()]
        missing = list({k: i for i, k in enumerate(keys) if k not in self._encoded}.values())
        if len(self._encoded) + len(missing) > 4096:  # about 20 MB of class embeddings at most
            self._encoded.clear()
            missing = list({k: i for i, k in enumerate(keys)}.values())
        if missing:
            fresh = self._encode_with_context(classes, ctx[missing])
            for j, i in enumerate(missing):
                self._encoded[keys[i]] = fresh[j]
        return torch.stack([self._encoded[k] for k in keys])

    def _encode_with_context(self, classes: Sequence[str], ctx: torch.Tensor) -> torch.Tensor:
        embeds, tok = self.class_text(classes)
        g, c = ctx.shape[0], embeds.shape[0]
        rep = TokenizedText(
            tok.input_ids.repeat(g, 1),
            tok.attention_mask.repeat(g, 1),
            None if tok.pool_index is None else tok.pool_index.repeat(g),
        )
        full, text = self.backbone.insert_context(embeds.repeat(g, 1, 1), rep, ctx.repeat_interleave(c, dim=0))
        return self.backbone.encode_embeddings(full, text).view(g, c, -1)

    def init_context(self) -> torch.Tensor:
        """[M, width]: the word embeddings of ``ctx_init`` (CoOp's initialisation) or N(0, 0.02)."""
        if self.cfg.ctx_init.strip():
            tok = self.backbone.tokenize([self.cfg.ctx_init])
            n = int(tok.attention_mask[0].sum()) - 2  # drop start and end tokens
            with torch.no_grad():
                ctx = self.backbone.embed_tokens(tok.input_ids)[0, 1 : 1 + n].clone()
            self.cfg.n_ctx = n
            return ctx
        dev = self.backbone.device
        width = self.backbone.embed_tokens(torch.zeros(1, 1, dtype=torch.long, device=dev)).shape[-1]
        return torch.randn(self.cfg.n_ctx, width, device=dev) * 0.02

    def received(self, tokens: torch.Tensor, snr_db: torch.Tensor, learned: bool = True) -> torch.Tensor:
        """tokens: [B, d], snr_db: [B, 1] -> [B, d] L2-normalised, centred when the config
        says so, by ``centering_strength`` (``learned`` False: by ``cfg.centering``, the
        frozen receiver's, which the regularisers pull towards)."""
        z = F.normalize(tokens, dim=-1)
        if self.received_mean is None:
            return z
        beta = self.centering_strength(snr_db) if learned else self.cfg.centering
        return F.normalize(z - beta * self.received_mean(snr_db).to(z.dtype), dim=-1)

    def centering_strength(self, snr_db: torch.Tensor) -> torch.Tensor | float:
        """beta for tokens received at snr_db [B, 1]: a scalar, or [B, 1] where learned."""
        return self.cfg.centering

    # -- the interface ------------------------------------------------------------
    def adapt_image(self, tokens: torch.Tensor, snr_db: torch.Tensor) -> torch.Tensor:
        """tokens: [B, d], snr_db: [B, 1] -> [B, d] L2-normalised (default: ``received``)."""
        return self.received(tokens, snr_db)

    @abstractmethod
    def class_embeddings(
        self, classes: Sequence[str], tokens: torch.Tensor, snr_db: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """-> (text [G, C, d] L2-normalised, index [B] into G: which set scores sample b)."""

    def score(
        self, tokens: torch.Tensor, snr_db: torch.Tensor, classes: Sequence[str]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """tokens: [B, d] received; snr_db: [B, 1] known at the receiver -> (logits [B, C],
        the class embeddings used [G, C, d])."""
        return self.score_parts(tokens, snr_db, classes)[:2]

    def score_parts(
        self, tokens: torch.Tensor, snr_db: torch.Tensor, classes: Sequence[str],
        rows: slice | None = None, embed: ClassEmbedder | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``score`` and the adapted received tokens [B, d] it scored (what training's
        regularisers need, from one forward). ``rows``: score only these rows (B of them
        then), while the class embeddings see the whole batch, as class-sharded training
        needs (``semclip.prompts.train``); ``embed`` replaces ``class_embeddings`` there."""
        if tokens.dim() != 2 or tokens.shape[1] != self.backbone.dim:
            raise SemclipError(f"expected tokens [B, {self.backbone.dim}], got {list(tokens.shape)}")
        if snr_db.shape != (tokens.shape[0], 1):
            raise SemclipError(f"expected snr_db [B, 1] = [{tokens.shape[0]}, 1], got {list(snr_db.shape)}")
        if embed is not None:  # the classes reach the learner in slices: check the whole list here
            validate_classnames(classes)
        dev = self.backbone.device  # inputs follow the learner (a sweep may hand host tensors)
        tokens, snr_db = tokens.to(dev), snr_db.to(dev)
        text, index = (embed or self.class_embeddings)(classes, tokens, snr_db)
        if rows is not None:
            per_row = text.shape[0] == tokens.shape[0] > 1 and torch.equal(index, torch.arange(tokens.shape[0], device=dev))
            tokens, snr_db, index = tokens[rows], snr_db[rows], index[rows]
            if per_row:  # one set per row (CoCoOp): the rows' own sets
                text, index = text[rows], torch.arange(tokens.shape[0], device=dev)
        z = self.adapt_image(tokens, snr_db)
        logits = scores(z, text, index)
        if self.cfg.blend > 0 and (self.cfg.blend_train or not self.training):  # with the frozen receiver's scores
            frozen = self.received(tokens, snr_db, learned=False) @ self.reference(classes).t()
            logits = (1 - self.cfg.blend) * logits + self.cfg.blend * frozen.to(logits.dtype)
        return self.backbone.logit_scale * logits, text, z

    def forward(self, tokens: torch.Tensor, snr_db: torch.Tensor, classes: Sequence[str]) -> torch.Tensor:
        """tokens: [B, d]; snr_db: [B, 1] -> logits [B, C]."""
        return self.score(tokens, snr_db, classes)[0]

    def anchor_loss(self, text: torch.Tensor, classes: Sequence[str]) -> torch.Tensor:
        """Mean (1 - cos) between learned class embeddings [G, C, d] and the hand-crafted ones."""
        return (1 - (text * self.reference(classes).unsqueeze(0)).sum(-1)).mean()

    @torch.no_grad()
    def predict(self, tokens: torch.Tensor, snr_db: torch.Tensor, classes: Sequence[str]) -> torch.Tensor:
        return self(tokens, snr_db, classes).argmax(dim=-1)


ClassEmbedder = Callable[[Sequence[str], torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
"""(classes, tokens [B, d], snr_db [B, 1]) -> (text [G, C, d], index [B]): ``class_embeddings``'s signature."""


def scores(z: torch.Tensor, text: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Cosine scores [B, C] of z [B, d] against text[index[b]] [C, d].

    Without indexing ``text`` by ``index``: the backward of such a gather is a scatter-add,
    whose float sums land in a thread-dependent order on the CPU (TAPL's weights differed by
    2e-4 between identical runs). A set per row is used as it is; a few sets are scored all
    and picked with a one-hot matrix, whose backward is a plain (deterministic) product."""
    if text.shape[0] == 1:
        return z @ text[0].t()
    if text.shape[0] == z.shape[0] and torch.equal(index, torch.arange(z.shape[0], device=index.device)):
        return torch.einsum("bd,bcd->bc", z, text)  # one set per row (CoCoOp)
    every = torch.einsum("bd,gcd->bgc", z, text)  # [B, G, C], G small (distinct SNR levels)
    return (pick(index, text.shape[0], z.dtype).unsqueeze(-1) * every).sum(1)


def pick(index: torch.Tensor, groups: int, dtype: torch.dtype) -> torch.Tensor:
    """[B] group ids -> [B, G] one-hot rows: ``pick(...) @ x`` is ``x[index]`` with a
    deterministic backward."""
    return F.one_hot(index, groups).to(dtype)
