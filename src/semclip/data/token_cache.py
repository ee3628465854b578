"""Encode a dataset once, keep the tokens on disk.

The backbone is frozen, so a token depends only on (backbone weights, dataset content,
preprocessing). The cache key is exactly that triple. Encoding writes shards of
``SHARD`` images atomically, so an interrupted run resumes at the last finished shard.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from semclip._io import atomic_write, cache_dir
from semclip.backbones.base import Backbone
from semclip.data.base import LabelledImages
from semclip.progress import progress

SHARD = 1024


def cache_key(backbone: Backbone, dataset: LabelledImages) -> str:
    raw = f"{backbone.fingerprint}|{dataset.cache_id}|{backbone.preprocess_id}"
    return hashlib.sha1(raw.encode()).hexdigest()[:16]


def cache_path(backbone: Backbone, dataset: LabelledImages, root: Path | None = None) -> Path:
    root = root or cache_dir() / "tokens"
    return root / f"{dataset.cache_id}--{backbone.name.replace('/', '_').replace(':', '_')}--{cache_key(backbone, dataset)}.safetensors"


@torch.no_grad()
def encode_images(
    backbone: Backbone,
    load: Callable[[int], object],
    indices: range | list[int],
    batch_size: int = 64,
    fn: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """Preprocess and encode images ``load(i)`` for i in indices -> [n, d] float32.
    ``fn`` replaces ``backbone.encode_pixels`` (e.g. raw tower features)."""
    fn = fn or backbone.encode_pixels
    out = []
    idx = list(indices)
    for s in range(0, len(idx), batch_size):
        pixels = torch.stack([backbone.preprocess(load(i)) for i in idx[s : s + batch_size]])
        out.append(fn(pixels).float())
    return torch.cat(out) if out else torch.empty(0)


def dataset_tokens(
    backbone: Backbone, dataset: LabelledImages, root: Path | None = None, batch_size: int = 64
) -> tuple[torch.Tensor, torch.Tensor]:
    """Tokens [N, d] and labels [N] for a dataset, from the cache when present."""
    parts = getattr(dataset, "parts", None)
    if parts:  # a concatenation: reuse each part's cache
        tokens = torch.cat([dataset_tokens(backbone, p, root, batch_size)[0] for p in parts])
        return tokens, torch.from_numpy(dataset.labels)
    path = cache_path(backbone, dataset, root)
    labels = torch.from_numpy(dataset.labels)
    if path.exists():
        tokens = load_file(str(path))["tokens"]
        if tokens.shape[0] == len(dataset):
            return tokens, labels
    shard_dir = path.with_suffix(".shards")
    shard_dir.mkdir(parents=True, exist_ok=True)
    n_shards = (len(dataset) + SHARD - 1) // SHARD
    parts = []
    with progress() as bar:
        task = bar.add_task(f"encoding {dataset.name} ({backbone.name})", total=len(dataset))
        for s in range(n_shards):
            shard = shard_dir / f"{s:05d}.safetensors"
            lo, hi = s * SHARD, min(len(dataset), (s + 1) * SHARD)
            if shard.exists():
                part = load_file(str(shard))["tokens"]
                bar.advance(task, hi - lo)
            else:
                chunks = []
                for b in range(lo, hi, batch_size):
                    e = min(hi, b + batch_size)
                    chunks.append(encode_images(backbone, dataset.image, range(b, e), batch_size))
                    bar.advance(task, e - b)
                part = torch.cat(chunks)
                atomic_write(shard, lambda p, t=part: save_file({"tokens": t.contiguous()}, str(p)))
            parts.append(part)
    tokens = torch.cat(parts)
    atomic_write(path, lambda p: save_file({"tokens": tokens.contiguous()}, str(p), metadata={"key": path.stem}))
    for f in shard_dir.glob("*.safetensors"):
        f.unlink()
    shard_dir.rmdir()
    return tokens, labels
