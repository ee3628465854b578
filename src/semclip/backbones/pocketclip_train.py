"""Train PocketCLIP's projection heads (both towers stay frozen).

Training data, all offline and none of it an evaluation split:
- Fashion-MNIST *training* split (first ``fashion_per_class`` x 10 images), caption
  = a generic template with the class name (skipped with ``fashion_per_class=0``);
- Open Clip Art drawings with captions from topic folder and file name, except the test
  split of the clip-art topics dataset (``semclip.data.clipart_topics``);
- Noto colour emoji with their Unicode names;
- the ImageNet classifier of EfficientNet-Lite0 as a teacher: on every clip-art and
  emoji image the student's zero-shot distribution over the 1000 ImageNet class names
  is pulled towards the classifier's (KL), which ties the text head to 1000 concepts.

Tower outputs are computed once and cached; the heads then train in a minute on CPU.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from semclip.digest import json_digest, text_digest
from semclip._io import atomic_write, cache_dir
from semclip.backbones.pocketclip import PocketCLIP, PocketHeads
from semclip.data.imagenet_names import imagenet_classes
from semclip.data import captioned, clipart_topics
from semclip.data.fashion_mnist import FashionMNIST
from semclip.backbones.stream import encode_images
from semclip.device import current as current_device, generator
from semclip.progress import progress
from semclip.training import LoopLog, TrainingLoop, adamw, one_cycle
from semclip.distributed import Dist

# Generic caption templates for class names during head training. The evaluation
# templates (semclip.tasks.templates) are a different list.
TRAIN_TEMPLATES = [
    "{}",
    "a {}",
    "an image of a {}",
    "a picture of a {}",
    "a product photo of a {}",
    "a greyscale picture of a {}",
    "a small image showing a {}",
    "this is a {}",
]


@dataclass
class HeadTrainConfig:
    fashion_per_class: int = 1200
    clipart_limit: int = 8121
    steps: int = 2000
    batch_size: int = 512
    lr: float = 1e-3
    weight_decay: float = 0.05
    distill_weight: float = 1.0
    distill_temperature: float = 2.0
    dim: int = 512
    hidden: int = 1024
    image_size: int = 128
    seed: int = 0


def _fingerprint(obj: object) -> str:
    return json_digest(obj, 12, sort_keys=True)


def _cached(path: Path, make) -> dict[str, torch.Tensor]:
    if path.exists():
        return load_file(str(path))
    tensors = make()
    atomic_write(path, lambda p: save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(p)))
    return tensors


@torch.no_grad()  # not inference_mode: these tensors feed autograd during head training
def _text_features(model: PocketCLIP, texts: list[str], batch: int = 256) -> torch.Tensor:
    out = []
    for i in range(0, len(texts), batch):
        tok = model.tokenize(texts[i : i + batch])
        out.append(model.text_features(model.embed_tokens(tok.input_ids), tok))
    return torch.cat(out)


def image_features(model: PocketCLIP, sources: list, root: Path) -> dict[str, torch.Tensor]:
    """The frozen image tower's features of each source (name, loader, indices), cached in ``root``."""
    feats = {}
    with progress() as bar:
        for name, load, idx in sources:
            key = _fingerprint([name, len(idx), idx[:5], idx[-5:], model.preprocess_id])
            path = root / f"img-{name}-{key}.safetensors"
            if not path.exists():
                task = bar.add_task(f"image tower: {name}", total=len(idx))
                chunks = []
                for s in range(0, len(idx), 256):
                    chunks.append(encode_images(model, load, idx[s : s + 256], 64, fn=model.image_features))
                    bar.advance(task, len(idx[s : s + 256]))
                atomic_write(path, lambda p, t=torch.cat(chunks): save_file({"f": t.contiguous()}, str(p)))
            feats[name] = load_file(str(path))["f"]
    return feats


def collect_features(cfg: HeadTrainConfig, model: PocketCLIP, root: Path) -> dict[str, object]:
    """Frozen-tower features for every training image and caption (cached)."""
    sources = []  # (name, loader, n, caption list per image or class-template captions)
    fm = FashionMNIST("train") if cfg.fashion_per_class > 0 else None
    fm_idx: list[int] = []
    if fm is not None:
        for c in range(len(fm.classes)):
            fm_idx += np.flatnonzero(fm.labels == c)[: cfg.fashion_per_class].tolist()
        fm_idx.sort()
    clip = captioned.clipart()
    clip_idx = list(range(min(cfg.clipart_limit, len(clip))))
    emo = captioned.emoji()
    emo_idx = list(range(len(emo)))
    if fm is not None:
        sources.append(("fashion-mnist-train", fm.image, fm_idx))
    sources += [("openclipart", clip.load, clip_idx), ("noto-emoji", emo.load, emo_idx)]

    feats = image_features(model, sources, root)
    # the clip-art topics test split is an evaluation set: drop it (by content) after
    # caching, so the cached features of the full collection stay reusable
    held_out = clipart_topics.test_hashes()
    rows = [r for r, i in enumerate(clip_idx) if clipart_topics.content_sha1(Path(clip.keys[i])) not in held_out]
    feats["openclipart"] = feats["openclipart"][rows]
    clip_idx = [clip_idx[r] for r in rows]

    captions: list[str] = []
    image_caption: list[np.ndarray] = []  # per source: [n, n_choices] caption ids
    is_distilled: list[np.ndarray] = []
    if fm is not None:
        base = len(captions)
        captions += [t.format(c) for c in fm.classes for t in TRAIN_TEMPLATES]
        lab = fm.labels[fm_idx]
        choices = base + lab[:, None] * len(TRAIN_TEMPLATES) + np.arange(len(TRAIN_TEMPLATES))[None]
        image_caption.append(choices)
        is_distilled.append(np.zeros(len(fm_idx), bool))
    for src, idx in ((clip, clip_idx), (emo, emo_idx)):
        base = len(captions)
        captions += [src.captions[i] for i in idx]
        image_caption.append(base + np.arange(len(idx))[:, None].repeat(len(TRAIN_TEMPLATES), 1))
        is_distilled.append(np.ones(len(idx), bool))
    names = imagenet_classes()
    imagenet_texts = [t.format(n) for n in names for t in TRAIN_TEMPLATES[:4]]

    key = _fingerprint([captions, imagenet_texts])
    text = _cached(
        root / f"text-{key}.safetensors",
        lambda: {"captions": _text_features(model, captions), "imagenet": _text_features(model, imagenet_texts)},
    )
    return {
        "images": torch.cat([feats[n] for n, _, _ in sources]),
        "choices": torch.from_numpy(np.concatenate(image_caption)),
        "distill": torch.from_numpy(np.concatenate(is_distilled)),
        "captions": text["captions"],
        "imagenet": text["imagenet"].view(len(names), 4, -1),
        "sizes": {n: feats[n].shape[0] for n, _, _ in sources},
    }


@torch.enable_grad()  # trains even when called under no_grad
def train_heads(cfg: HeadTrainConfig, out: Path, work: Path | None = None) -> dict[str, object]:
    """Train the heads and write them, with their config and training-set sizes, to ``out``."""
    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    dev = current_device()
    model = PocketCLIP(heads_path=None, image_size=cfg.image_size).to(dev)
    work = work or cache_dir() / "pocketclip-train"
    data = {k: v.to(dev) if torch.is_tensor(v) else v for k, v in collect_features(cfg, model, work).items()}
    teacher_w, teacher_b = model.image_tower._fc.weight.detach(), model.image_tower._fc.bias.detach()
    heads = PocketHeads(cfg.dim, cfg.hidden).to(dev)
    opt = adamw(heads.parameters(), cfg.lr, cfg.weight_decay)
    sched = one_cycle(opt, cfg.lr, cfg.steps)
    images, choices, distill = data["images"], data["choices"], data["distill"]
    n = images.shape[0]
    gen = generator(cfg.seed, dev)
    partial = work / f"heads-{_fingerprint(asdict(cfg))}.partial.safetensors"  # a killed run goes on from here
    key = _fingerprint([asdict(cfg), data["sizes"]])
    loop = TrainingLoop("training PocketCLIP heads", cfg.steps, heads, opt, sched=sched, gen=gen, partial=partial, key=key,
                        save_every=200, log=LoopLog(show_loss=True), d=Dist(0, 1, dev))

    def loss_at(step: int) -> torch.Tensor:
        idx = torch.randint(n, (cfg.batch_size,), generator=gen, device=dev)
        f = images[idx]
        cap = choices[idx, torch.randint(choices.shape[1], (cfg.batch_size,), generator=gen, device=dev)]
        uniq, inv = torch.unique(cap, return_inverse=True)
        img = F.normalize(heads.image(f), dim=-1)
        txt = F.normalize(heads.text(data["captions"][uniq]), dim=-1)
        scale = heads.logit_scale.clamp(max=4.6052).exp()
        logits = scale * img @ txt.t()  # [B, U]
        loss_i2t = F.cross_entropy(logits, inv)
        pos = (inv[None, :] == torch.arange(len(uniq), device=dev)[:, None]).float()  # [U, B]
        loss_t2i = -(pos / pos.sum(1, keepdim=True) * logits.t().log_softmax(-1)).sum(1).mean()
        loss = 0.5 * (loss_i2t + loss_t2i)
        d = distill[idx]
        if cfg.distill_weight > 0 and d.any():
            t = cfg.distill_temperature
            teacher = (f[d] @ teacher_w.t() + teacher_b) / t
            # one random template per class and step: 4x cheaper than the full ensemble
            tpl = torch.randint(data["imagenet"].shape[1], (data["imagenet"].shape[0],), generator=gen, device=dev)
            cls = F.normalize(heads.text(data["imagenet"][torch.arange(len(tpl), device=dev), tpl]), dim=-1)
            student = (scale * img[d] @ cls.t()) / t
            kl = F.kl_div(student.log_softmax(-1), teacher.log_softmax(-1), log_target=True, reduction="batchmean")
            loss = loss + cfg.distill_weight * kl * t * t
        return loss

    log = loop.run(loss_at)
    state = {k: v.detach().cpu().contiguous() for k, v in heads.state_dict().items()}
    sha = text_digest(b"".join(v.numpy().tobytes() for v in state.values()), 12)
    meta = {
        "kind": "pocketclip-heads",
        "dim": str(cfg.dim),
        "hidden": str(cfg.hidden),
        "sha": sha,
        "config": json.dumps(asdict(cfg)),
        "train_sizes": json.dumps(data["sizes"]),
    }
    atomic_write(out, lambda p: save_file(state, str(p), metadata=meta))
    partial.unlink(missing_ok=True)
    return {"out": str(out), "sha": sha, "sizes": data["sizes"], "final_loss": log[-1]["loss"], "log": log}
