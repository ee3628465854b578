"""The token codec zoo: which codec serves which channel, and where a trained one is kept.

A codec is named by what made it (backbone fingerprint, training images, bandwidths, training
settings), found in the cache or among the shipped files (``semclip.artefacts``), else
trained on first use; its loss may use a
text bank fixed by its corpus (ImageNet names and the corpus' captions, never an evaluation
class list), and its provenance records what it saw.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Sequence
from dataclasses import asdict, replace
from typing import TYPE_CHECKING
from pathlib import Path

import torch

from semclip.digest import json_digest
from semclip import artefacts
from semclip._io import cache_dir
from semclip.backbones.base import Backbone
from semclip.data.base import LabelledImages
from semclip.channels.registry import create_channel
from semclip.data.registry import create_dataset
from semclip.tokens.cache import Tokens, lazy_tokens, resolve_tokens
from semclip.tokens.store import TokenStore
from semclip.distributed import dist
from semclip.errors import SemclipError
from semclip.jscc.allocated import AllocatedLinearCode
from semclip.jscc.checkpoint import LINEAR_CODES, load_jscc, load_linear, save_jscc, save_linear
from semclip.jscc.linear import LinearCode
from semclip.jscc.model import DEFAULT_KS, JSCCConfig, TokenJSCC
from semclip.jscc.train import JSCCTrainConfig, recipe, train_jscc
from semclip.provenance import DatasetSeen, Provenance, Vocabulary
from semclip.resume import partial_path

if TYPE_CHECKING:
    from semclip.jscc.adapt import AdaptConfig

CODEC_DATASET = "corpus"  # the default codec's images: the task-agnostic transmitter corpus


def _parts(dataset: LabelledImages) -> list[LabelledImages]:
    """The parts of a concatenation (``a+b``), or the set itself."""
    return getattr(dataset, "parts", None) or [dataset]


def corpus_texts(dataset: LabelledImages) -> list[str]:
    """Distinct captions of a training set (of each part of a concatenation); none for a
    set without captions."""
    return list(dict.fromkeys(c for p in _parts(dataset) if hasattr(p, "captions") for c in p.captions()))


def codec_vocabulary(dataset: LabelledImages) -> list[tuple[str, list[str]]]:
    """The text bank of the codec's loss, fixed by its corpus: the 1000 ImageNet names (as
    'a photo of a <name>.') and the corpus' own captions. Never an evaluation class list."""
    from semclip.data.imagenet_names import imagenet_classes

    vocab = [("imagenet-1k names", imagenet_classes())]
    captions = corpus_texts(dataset)
    return vocab + ([(f"{dataset.name} captions", captions)] if captions else [])


def corpus_bank(backbone: Backbone, dataset: LabelledImages) -> torch.Tensor:
    """Text embeddings [C, d] of ``codec_vocabulary(dataset)``, cached on disk."""
    texts = [f"a photo of a {n}." if name.startswith("imagenet") else n for name, words in codec_vocabulary(dataset) for n in words]
    return text_embeddings(backbone, texts)


def text_embeddings(backbone: Backbone, texts: list[str]) -> torch.Tensor:
    """[N, d] embeddings of ``texts`` (on the CPU), cached by (backbone, texts)."""
    from safetensors.torch import load_file, save_file

    from semclip._io import atomic_write

    key = json_digest([backbone.fingerprint, texts])
    path = cache_dir() / "text" / f"bank-{len(texts)}-{key}.safetensors"
    if path.exists():
        return load_file(str(path))["embeddings"]
    with torch.no_grad():  # not inference_mode: the bank takes part in the codec's loss
        emb = backbone.encode_text(texts).cpu()  # on the host, like the cached copy: users move it
    atomic_write(path, lambda p: save_file({"embeddings": emb.contiguous()}, str(p)))
    return emb


def codec_provenance(dataset: LabelledImages, tcfg: JSCCTrainConfig) -> Provenance:
    """What a codec trained on ``dataset`` saw: its images and, when its loss has the text
    term, its text bank (no class list: the codec's loss never classifies against a data
    set's classes)."""
    seen = [DatasetSeen(p.name, p.cache_id, len(p), list(getattr(p, "excludes", []))) for p in _parts(dataset)]
    vocab = [Vocabulary.of(name, words, keep_words=name.startswith("imagenet")) for name, words in codec_vocabulary(dataset)
             ] if tcfg.semantic_weight > 0 else []
    return Provenance("token-codec", datasets=seen, vocabularies=vocab)


@functools.lru_cache(maxsize=None)  # asked for every code, channel and evaluation set: a spec is parsed once
def codec_recipe(channel: str) -> tuple[tuple[str, ...], bool]:
    """The codec recipe (``Channel.codec_recipe``) of the channel ``channel`` names."""
    return create_channel(channel).codec_recipe


def codec_configs(backbone: Backbone, channels: Sequence[str], csi: bool, ks: Sequence[int] = DEFAULT_KS,
                  tcfg: JSCCTrainConfig | None = None) -> tuple[JSCCConfig, JSCCTrainConfig]:
    """The model and training configs of the codec for ``channels`` (``codec_recipe``)."""
    # without CSI (rayleigh:none) no linear MMSE receiver exists to build on
    mcfg = JSCCConfig(dim=backbone.dim, ks=list(ks), csi=csi, linear_base="rayleigh:none" not in channels)
    return mcfg, replace(tcfg or JSCCTrainConfig(), channels=list(channels))


def codec_name(backbone: Backbone, train: LabelledImages, mcfg: JSCCConfig, tcfg: JSCCTrainConfig) -> str:
    """The codec's artefact name (``semclip.artefacts``): by backbone, images and settings."""
    return artefacts.name("jscc", f"token-jscc-k{'_'.join(map(str, mcfg.ks))}",
                          [backbone.fingerprint, train.cache_id, asdict(mcfg), recipe(tcfg), "v3"])


def get_jscc(
    backbone: Backbone,
    train: LabelledImages,
    train_tokens: Tokens,
    channels: tuple[str, ...],
    csi: bool,
    ks: Sequence[int] = DEFAULT_KS,
    tcfg: JSCCTrainConfig | None = None,
    k: int = 16,
    log=print,
) -> tuple[TokenJSCC, Path]:
    """The codec for this (backbone, training data, bandwidths, training config): cached,
    shipped with semclip (``semclip.artefacts``), or trained now on ``train_tokens`` (a
    tensor, or a function giving it: the images are encoded only when training needs them);
    returned sending ``k`` symbols (``.at(k)`` for the other served ks)."""
    mcfg, tcfg = codec_configs(backbone, channels, csi, ks, tcfg)

    def make(path: Path) -> TokenJSCC:
        bank = corpus_bank(backbone, train) if tcfg.semantic_weight > 0 else None
        model = fit_jscc(mcfg, tcfg, backbone, resolve_tokens(train_tokens), bank, codec_provenance(train, tcfg), path)
        return model.at(k)

    return artefacts.obtain(codec_name(backbone, train, mcfg, tcfg), f"token codec ({train.name}; {'+'.join(channels)}"
                            f"{', csi' if csi else ''})", lambda path: load_jscc(path, backbone=backbone.fingerprint, k=k),
                            make, log)


def linear_name(backbone: Backbone, train: LabelledImages, ks: Sequence[int], allocation: str = "flat") -> str:
    if allocation == "flat":  # the name the flat code has always had (its shipped file)
        return artefacts.name("jscc", f"linear-k{'_'.join(map(str, ks))}", [backbone.fingerprint, train.cache_id, list(ks), "v1"])
    return artefacts.name("jscc", f"linear-{allocation}-k{'_'.join(map(str, ks))}",
                          [backbone.fingerprint, train.cache_id, list(ks), allocation, "v1"])


LINEAR_METHODS = {"pca": "mmse", "pca-flat": "flat"}  # method name -> power allocation across the components


def linear_code(backbone: Backbone, train: LabelledImages, train_tokens: Tokens, ks: Sequence[int] = DEFAULT_KS,
                k: int = 16, log=print, allocation: str = "mmse") -> tuple[LinearCode | AllocatedLinearCode, Path]:
    """The PCA code fitted on ``train``'s tokens, with the LMMSE-optimal power allocation
    (``pca``, the default) or none (``pca-flat``): cached, shipped or fitted now."""
    if allocation not in LINEAR_CODES:
        raise SemclipError(f"unknown power allocation {allocation!r}: choose one of {', '.join(LINEAR_CODES)}")

    def make(path: Path) -> LinearCode | AllocatedLinearCode:
        code = LINEAR_CODES[allocation].fitted(resolve_tokens(train_tokens), list(ks), k)
        seen = Provenance("linear code", datasets=codec_provenance(train, JSCCTrainConfig(semantic_weight=0.0)).datasets)
        save_linear(code, path, backbone.fingerprint, seen)
        return code

    method = next(m for m, a in LINEAR_METHODS.items() if a == allocation)
    return artefacts.obtain(linear_name(backbone, train, ks, allocation), f"{method} code ({train.name})",
                            lambda path: load_linear(path, backbone.fingerprint, k), make, log)


def default_codec(backbone: Backbone, channel: str = "awgn", log=print, k: int = 16) -> tuple[TokenJSCC, Path]:
    """The default codec serving ``channel`` (the transmitter corpus, default settings:
    shipped with semclip, else cached or trained): what the demo, eval, transmit, serve and
    the benchmarks use when no checkpoint is given."""
    train = create_dataset(CODEC_DATASET)
    return get_jscc(backbone, train, lazy_tokens(backbone, train), *codec_recipe(channel), k=k, log=log)


def fit_jscc(
    mcfg: JSCCConfig,
    tcfg: JSCCTrainConfig,
    backbone: Backbone,
    train_tokens: torch.Tensor | TokenStore,
    bank: torch.Tensor | None,
    provenance: Provenance,
    path: Path,
) -> TokenJSCC:
    """Train a codec on ``train_tokens`` (stage 1) and save it, with how it was made and what
    it saw, to ``path`` (by the main process; under ``accelerate launch`` every process
    trains its share)."""
    d = dist()
    torch.manual_seed(tcfg.seed)
    model = TokenJSCC(mcfg)
    t0 = time.time()
    partial = partial_path(path)
    train_log = train_jscc(model, train_tokens, bank, tcfg, d, partial=partial)
    if d.is_main:
        save_jscc(
            model,
            path,
            backbone.fingerprint,
            extra={"train": recipe(tcfg), "seconds": time.time() - t0, "log": train_log[-1:], "processes": d.world},
            provenance=provenance,
        )
        partial.unlink(missing_ok=True)
    d.barrier()
    return model


def codec_bank(backbone: Backbone, prov: Provenance) -> torch.Tensor:
    """The text bank of a codec's own loss when its images were the transmitter corpus (the
    ImageNet names and the corpus captions), else the ImageNet names alone: what adapting it
    may use, never a class list of the sender's domain."""
    from semclip.data.imagenet_names import imagenet_classes

    corpus = create_dataset(CODEC_DATASET)
    if [d.cache_id for d in prov.datasets] == [corpus.cache_id]:
        return corpus_bank(backbone, corpus)
    return text_embeddings(backbone, [f"a photo of a {n}." for n in imagenet_classes()])


def adapt_saved(backbone: Backbone, source: Path, spec: str, cfg: "AdaptConfig", path: Path, allow_leak: bool = False,
                log=print, data: LabelledImages | None = None) -> TokenJSCC:
    """Adapt the codec saved at ``source`` on the unlabelled images ``spec`` (a training
    split of the sender's domain; ``data``, when the caller already made it) with the loss its
    training used, and save it to ``path`` with what it was adapted on
    (``provenance.adapted_on``) and how (the ``adaptation`` entry)."""
    from semclip.tokens.cache import dataset_tokens
    from semclip.jscc.adapt import adapt_codec, adapted_provenance, learned_from
    from semclip.jscc.checkpoint import ADAPTATION_KEY, read_meta

    cfg.validate()  # an unknown mode fails before any image is read
    meta = read_meta(source)
    if meta.get(ADAPTATION_KEY):
        raise SemclipError(f"{source} is already adapted: adapt the codec it came from")
    codec = load_jscc(source, backbone=backbone.fingerprint)
    data = data or create_dataset(spec)
    prov = adapted_provenance(Provenance.from_meta(meta, f"codec {source}"), spec, data, len(data), cfg.mode,
                              allow_leak)  # refuses an evaluation split
    tokens, _ = dataset_tokens(backbone, data, log=log)
    source_extra = json.loads(meta.get("extra") or "{}")
    trained = source_extra.get("train", {})
    cfg = replace(cfg, loss=JSCCTrainConfig(**{k: v for k, v in trained.items() if k in JSCCTrainConfig.__dataclass_fields__}))
    bank = codec_bank(backbone, prov) if cfg.loss.semantic_weight > 0 else None
    t0 = time.time()
    adapt_codec(codec, tokens, bank, cfg, what=f"--adapt-on {spec}")
    record = cfg.record() | {"source": Path(source).name, "spec": spec, "images": int(tokens.shape[0]),
                             "seconds": round(time.time() - t0, 1)}
    if cfg.mode == "both":  # what is sent to the receiver, once
        record["update_bits"] = codec.decoder.update.bits
    save_jscc(codec, path, backbone.fingerprint, extra=source_extra | {"adaptation": record}, provenance=prov, adaptation=record)
    log(f"adapted {Path(source).name} ({cfg.mode}) on {learned_from(cfg.mode, len(tokens))} of {data.name} in {record['seconds']} s"
        + (f"; the receiver update is {record['update_bits']} bits" if "update_bits" in record else ""))
    return codec


def adapted_name(source: Path | str, data: LabelledImages, cfg: "AdaptConfig") -> str:
    """The adapted codec's artefact name: by the codec it came from, the images and the settings."""
    return artefacts.name("jscc", f"adapted-{cfg.mode}", [Path(source).name, data.cache_id, cfg.record(), "v1"])


def adapted_codec(backbone: Backbone, source: Path, spec: str, cfg: "AdaptConfig | None" = None, k: int = 16,
                  log=print) -> tuple[TokenJSCC, Path]:
    """The codec at ``source`` adapted on ``spec`` (``adapt_saved``): cached, shipped with
    semclip, or adapted now; returned sending ``k`` symbols."""
    from semclip.jscc.adapt import AdaptConfig

    cfg = cfg or AdaptConfig()
    data = create_dataset(spec)
    return artefacts.obtain(adapted_name(source, data, cfg), f"token codec adapted ({cfg.mode}) on {spec}",
                            lambda path: load_jscc(path, backbone=backbone.fingerprint, k=k),
                            lambda path: adapt_saved(backbone, source, spec, cfg, path, log=log, data=data).at(k), log)
