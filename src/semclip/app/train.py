"""``semclip train``: stage 1 (token codec) and stage 2 (receiver prompts, codec frozen)
written to one folder as safetensors checkpoints."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from semclip._io import clean_stale_tmp
from semclip.backbones.base import Backbone
from semclip.backbones.registry import backbone_setting, create_backbone
from semclip.data.registry import create_dataset, has_splits, with_split
from semclip.tokens.cache import dataset_store
from semclip.jscc.zoo import codec_provenance, corpus_bank, fit_jscc
from semclip.distributed import Dist, dist
from semclip.errors import SemclipError
from semclip.app.evaluate import EvalConfig, load_codec, load_split
from semclip.jscc.model import DEFAULT_KS, JSCCConfig
from semclip.jscc.train import JSCCTrainConfig, recipe
from semclip.prompts.base import PromptConfig
from semclip.prompts.registry import create_learner, learner_config
from semclip.prompts.splits import base_novel, few_shot
from semclip.prompts.train import PromptTrainConfig, train_prompts
from semclip.jscc.checkpoint import read_meta, read_provenance
from semclip.provenance import prompts_provenance
from semclip.settings import setting
from semclip.eval.protocols import Split, fill_centering

STAGES = ("jscc", "prompts", "all")


@dataclass
class TrainConfig:
    """``semclip train``'s settings: which stages, the codec's and the prompts' training."""

    stage: str = setting("prompts", help="jscc (stage 1: the token codec), prompts (stage 2, codec frozen) or all.")
    backbone: str = backbone_setting()
    dataset: str = setting("fashion-mnist", help="Training images: fashion-mnist or clipart (their train split), or any dataset spec.")
    learner: str = setting("tapl", help=("coop, cocoop, tapl or a variant (tapl:no-snr, tapl:regularised, handcrafted:centred, ...; "
                                         "`semclip list learners`)."))
    classes: str = setting("base", help="Train prompts on 'base' (first half of the classes) or 'all'.")
    prompts: PromptTrainConfig = setting(factory=PromptTrainConfig, help="How the prompts train.", rename={"prompt_steps": "steps"})
    jscc_path: str | None = setting(None, help="Codec checkpoint for stage prompts (default: train/reuse one).", flag="jscc")
    k: int = setting(16, help="Complex channel uses per image the prompts are trained at (one the codec serves).")
    ks: list[int] = setting(factory=lambda: list(DEFAULT_KS), help="Bandwidths the codec serves, for stage jscc (comma-separated).")
    jscc_dataset: str = setting("corpus", help="The codec's training images, for stage jscc (default: the task-agnostic corpus).")
    codec: JSCCTrainConfig = setting(factory=JSCCTrainConfig, help="How the codec trains.", rename={"steps": "jscc_steps", "channels": "jscc_channels"})
    train_limit: int | None = setting(10000, help="Use only N training images (spread over the classes for on-disk sets).")
    world_size: int | None = setting(None, help="Processes this run expects (checked against `accelerate launch`).")
    adapt_on: str | None = setting(None, help=(
        "Stage jscc: instead of training a codec, adapt --jscc (default: the shipped one) on these unlabelled images of the "
        "sender's domain, a training split, e.g. fashion-mnist:train#1000."))
    adapt_mode: str = setting("transmitter", help=(
        "With --adapt-on: transmitter (encoder only, receiver unchanged), both (plus a compact receiver update, sent once: "
        "13 216 bits) or receiver (blind: the receiver retrains its decoder on its own decisions; transmitter unchanged, "
        "nothing sent)."))
    adapt_steps: int = setting(300, help="With --adapt-on: adaptation steps (batches of 256).")
    allow_leak: bool = setting(False, help="With --adapt-on: accept an evaluation split (every record of the codec then says so).")


def train_stages(cfg: TrainConfig, out: Path, log=print) -> dict[str, Path]:
    """Stage ``jscc`` trains a codec, or with ``adapt_on`` adapts one (``jscc``, default the
    shipped one) to the sender's unlabelled images; stage ``prompts`` trains prompts through it."""
    if cfg.stage not in STAGES:
        raise SemclipError(f"unknown stage {cfg.stage!r}; choose one of {STAGES}")
    if cfg.classes not in ("base", "all"):
        raise SemclipError(f"--classes must be 'base' or 'all', not {cfg.classes!r}")
    learner_config(cfg.learner)  # an unknown name fails before any work
    d = dist(cfg.world_size)  # a launch with another number of processes than the config expects fails here
    mcfg = JSCCConfig(ks=cfg.ks, k=cfg.k)  # a k the codec will not serve fails here
    bb = create_backbone(cfg.backbone)
    paths: dict[str, Path] = {}
    out.mkdir(parents=True, exist_ok=True)
    clean_stale_tmp(out)  # what a killed earlier start left half-written here
    jscc = Path(cfg.jscc_path) if cfg.jscc_path else None
    seed = cfg.codec.seed
    if cfg.stage in ("jscc", "all") and cfg.adapt_on:
        jscc = paths["jscc"] = adapt_stage(bb, cfg.adapt_on, out, jscc, cfg.adapt_mode, cfg.adapt_steps, seed, cfg.allow_leak, log)
    elif cfg.stage in ("jscc", "all"):
        jscc = paths["jscc"] = codec_stage(bb, mcfg, cfg.jscc_dataset, cfg.codec, out, log)
    if cfg.stage in ("prompts", "all"):
        train = load_split(bb, with_split(cfg.dataset, "train") if has_splits(cfg.dataset) else cfg.dataset, cfg.train_limit)
        codec, codec_id, _ = load_codec(EvalConfig(backbone=cfg.backbone, jscc_path=str(jscc) if jscc else None, k=cfg.k), bb, log)
        paths["prompts"] = prompts_stage(bb, train, codec, codec_id, cfg.learner, cfg.classes, cfg.prompts, out, d, log)
    return paths


def codec_stage(bb: Backbone, mcfg: JSCCConfig, spec: str, tcfg: JSCCTrainConfig, out: Path, log=print) -> Path:
    """Train the codec on ``spec`` (the transmitter corpus by default; a dataset with splits
    means its training split), or find it trained with these settings already."""
    data = create_dataset(with_split(spec, "train") if has_splits(spec) else spec)
    tokens = dataset_store(bb, data)  # memory-mapped: training reads one batch at a time, whatever the size
    path = out / f"jscc-k{'_'.join(map(str, mcfg.ks))}.safetensors"
    mcfg = replace(mcfg, dim=tokens.shape[1])
    if _finished(path, bb.fingerprint, mcfg, tcfg, data.cache_id):
        log(f"reusing the codec already trained with these settings: {path}")
    else:
        fit_jscc(mcfg, tcfg, bb, tokens, corpus_bank(bb, data) if tcfg.semantic_weight > 0 else None, codec_provenance(data, tcfg), path)
    return path


def prompts_stage(bb: Backbone, train: Split, codec, codec_id: str, learner: str, classes: str, pcfg: PromptTrainConfig, out: Path,
                  d: Dist, log=print) -> Path:
    """Train ``learner``'s prompts on ``pcfg.shots`` examples of each class of ``classes``
    ("base": the first half) of ``train`` (a dataset with splits means its training split)."""
    ids = base_novel(train.classes)[0] if classes == "base" else list(range(len(train.classes)))
    idx = few_shot(train.labels, ids, pcfg.shots, pcfg.seed, train.cache_id)
    tokens, labels, names = train.take(idx).subset(ids)
    torch.manual_seed(pcfg.seed)
    model = create_learner(learner, bb, PromptConfig(), k=codec.cfg.k)
    path = out / f"prompts-{learner.replace(':', '-')}-{classes}-shots{pcfg.shots}-seed{pcfg.seed}.safetensors"
    prov = prompts_provenance(train.name, train.cache_id, len(idx), names, classes, codec_id)
    fill_centering(model, codec, codec_id, prov, log)  # variants that centre received tokens need the codec's table
    r = train_prompts(model, codec, tokens, labels, names, pcfg, path,
                      extra={"jscc": codec_id, "dataset": train.cache_id, "shots": idx.tolist()}, d=d, provenance=prov)
    if r["resumed_from"] and d.is_main:
        log(f"resumed {learner} training at step {r['resumed_from']}")
    return path


def _finished(path: Path, backbone: str, mcfg: JSCCConfig, tcfg: JSCCTrainConfig, data_id: str) -> bool:
    """Whether ``path`` is the codec these settings would train (a rerun after a kill in stage 2
    goes straight on to it, instead of training stage 1 again)."""
    if not path.is_file():
        return False
    try:
        meta = read_meta(path)
        cfg = {k: v for k, v in asdict(mcfg).items() if k != "k"}
        seen = [d.cache_id for d in read_provenance(path).datasets]
        return (meta.get("backbone") == backbone and json.loads(meta["config"]) == cfg
                and json.loads(meta["extra"]).get("train") == recipe(tcfg) and data_id in seen)
    except (SemclipError, KeyError, ValueError, TypeError):
        return False


def adapt_stage(bb: Backbone, spec: str, out: Path, jscc: Path | None, mode: str, steps: int, seed: int, allow_leak: bool,
                log=print) -> Path:
    """Adapt a trained codec (``jscc``, default the shipped one for AWGN) on the unlabelled
    images ``spec`` and save it in ``out``, named by mode and images."""
    from semclip.jscc.adapt import AdaptConfig
    from semclip.jscc.zoo import adapt_saved, default_codec

    cfg = AdaptConfig.chosen(mode, steps=steps, seed=seed)
    cfg.validate()
    source = jscc or default_codec(bb, "awgn", log)[1]
    data = create_dataset(spec)
    path = out / f"jscc-adapted-{mode}-{data.name}-n{len(data)}.safetensors"
    adapt_saved(bb, source, spec, cfg, path, allow_leak, log, data=data)
    return path
