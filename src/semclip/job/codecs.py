"""The codecs stage: the token codes the job compares, each cached, shipped or trained
(``semclip.artefacts``); and the zero-shot check of every learned one against every
evaluation set it is scored on."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from torch import nn

from semclip.backbones.base import Backbone
from semclip.data.registry import create_dataset
from semclip.job.config import CodecsConfig, GridConfig
from semclip.job.encode import Encoded, EvalSet
from semclip.jscc.checkpoint import read_provenance
from semclip.jscc.zoo import LINEAR_METHODS, adapted_codec, codec_recipe, get_jscc, linear_code
from semclip.provenance import check
from semclip.tokens.cache import lazy_tokens

Recipe = tuple[tuple[str, ...], bool]  # (channels a codec is trained on, whether its decoder takes CSI): Channel.codec_recipe
MAIN_SET_ONLY = ("semclip-adapted", "semclip-indomain")  # codes about the main set's domain, scored on it alone


@dataclass(frozen=True)
class Code:
    """One token code: ``method`` (semclip, pca, ...) for one codec recipe, the model
    (``.at(k)``, ``.cfg``) and the file it was read from or written to."""

    method: str
    recipe: Recipe
    model: nn.Module
    path: Path

    @property
    def label(self) -> str:
        return f"{self.method} ({'+'.join(self.recipe[0])}{', csi' if self.recipe[1] else ''})"


@dataclass
class Codes:
    """Every code of the job, in order; found by method and the channel it serves."""

    items: list[Code] = field(default_factory=list)

    def add(self, code: Code) -> None:
        self.items.append(code)

    def methods(self) -> list[str]:
        return list(dict.fromkeys(c.method for c in self.items))

    def find(self, method: str, channel: str) -> Code | None:
        """The ``method`` code that serves ``channel`` (by its codec recipe), if any."""
        recipe = codec_recipe(channel)
        return next((c for c in self.items if c.method == method and c.recipe == recipe), None)

    def get(self, method: str, channel: str) -> Code:
        code = self.find(method, channel)
        if code is None:
            raise KeyError(f"no {method} code serves {channel}")
        return code


def make_codes(cfg: CodecsConfig, grid: GridConfig, backbone: Backbone, data: Encoded, train_limit: int | None,
               log=print) -> Codes:
    """``semclip`` per codec recipe of ``grid.channels``; the linear codes fitted on the same
    corpus (``pca`` with the LMMSE-optimal power allocation, the floor semclip is measured
    against, and ``pca-flat`` without it); ``semclip-adapted`` (its transmitter adapted on the
    sender's unlabelled images) and ``semclip-indomain`` (the same recipe plus the main set's
    training images) where those sets are given. Images are encoded only for what is trained."""
    codes, train, tokens = Codes(), data.train, data.train_tokens
    for ch in grid.channels:
        recipe = codec_recipe(ch)
        if codes.find("semclip", ch) is None:
            jscc, path = get_jscc(backbone, train, tokens, *recipe, grid.ks, cfg.jscc, grid.k, log=log)
            codes.add(Code("semclip", recipe, jscc, path))
    for method, allocation in LINEAR_METHODS.items():
        linear, path = linear_code(backbone, train, tokens, grid.ks, grid.k, log, allocation)
        linear = linear.to(backbone.device)
        for recipe in dict.fromkeys(codec_recipe(ch) for ch in grid.channels if ch != "rayleigh:none"):
            codes.add(Code(method, recipe, linear, path))
    recipe = codec_recipe("awgn")
    if cfg.adapt_dataset:
        source = codes.find("semclip", "awgn")
        source_path = source.path if source else get_jscc(backbone, train, tokens, *recipe, grid.ks, cfg.jscc, grid.k, log=log)[1]
        codes.add(Code("semclip-adapted", recipe, *adapted_codec(backbone, source_path, cfg.adapt_dataset, cfg.adapt, grid.k, log)))
    if cfg.reference_dataset:
        ref = create_dataset(cfg.reference_dataset, limit=train_limit)
        codes.add(Code("semclip-indomain", recipe, *get_jscc(backbone, ref, lazy_tokens(backbone, ref), *recipe, grid.ks, cfg.jscc,
                                                             grid.k, log=log)))
    return codes


@dataclass
class Checks:
    """What each learned code saw (its provenance, by label) and every leak found."""

    provenance: dict[str, dict]
    leaks: list[str]


def zero_shot_checks(codes: Codes, evals: list[EvalSet], allow_leak: bool, log=print) -> Checks:
    """Each learned code's provenance checked against every evaluation set it is scored on
    (images of the split, its class list)."""
    out = Checks({}, [])
    for code in codes.items:
        prov = read_provenance(code.path)
        out.provenance[code.label] = asdict(prov)
        for e in evals[:1] if code.method in MAIN_SET_ONLY else evals:
            out.leaks += check(prov, e.data.name, e.data.classes, allow_leak, log, split_id=e.data.cache_id)
    return out
