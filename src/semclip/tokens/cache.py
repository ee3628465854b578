"""Encode a dataset once, keep the tokens on disk.

The backbone is frozen, so a token depends only on (backbone weights, dataset content,
preprocessing). The cache key is exactly that triple.

Extraction streams: images are decoded a batch at a time (optionally by DataLoader
workers) and written in shards of ``shard_size(N)`` tokens, atomically, so memory stays bounded
by one batch of pixels plus one shard whatever the dataset size, and an interrupted run
resumes at the last finished shard. Under ``accelerate launch`` each process encodes every
world-th shard; the main process then joins them. Shards cover fixed image ranges, so a
run resumed with another number of processes reuses them.

An unreadable image (corrupt, truncated, missing) is skipped, counted and reported by
name; its row is left out of the tokens and labels returned, and ``dataset.skipped`` lists
the indices so callers that also read images (the baselines) can drop them too.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from semclip._io import atomic_write, cache_dir
from semclip.backbones.base import Backbone
from semclip.backbones.engine import image_encoder
from semclip.backbones.stream import batches_of, stream_batches
from semclip.data.base import LabelledImages
from semclip.distributed import dist
from semclip.tokens.store import TokenStore
from semclip.errors import SemclipError
from semclip.progress import progress, say
from semclip.digest import text_digest

SHARD = 1024


def shard_size(n: int) -> int:
    """Images per shard: 1024, or 128 for sets under 16 384 images, so a killed extraction of
    a small set loses seconds, not a large part of it. A function of the set's size alone,
    so a resumed run (with any number of processes) cuts the same shards."""
    return SHARD if n >= 16 * SHARD else max(1, SHARD // 8)


def cache_key(backbone: Backbone, dataset: LabelledImages) -> str:
    """Backbone, dataset, preprocessing and the engine that ran the tower (eager PyTorch keeps
    the key it always had)."""
    engine = image_encoder(backbone).engine
    raw = f"{backbone.fingerprint}|{dataset.cache_id}|{backbone.preprocess_id}" + ("" if engine == "eager" else f"|{engine}")
    return text_digest(raw, 16)


def cache_path(backbone: Backbone, dataset: LabelledImages, root: Path | None = None) -> Path:
    root = root or cache_dir() / "tokens"
    return root / f"{dataset.cache_id}--{backbone.name.replace('/', '_').replace(':', '_')}--{cache_key(backbone, dataset)}.safetensors"


def _save_shard(path: Path, tokens: torch.Tensor, ok: torch.Tensor, errors: dict[int, str]) -> None:
    meta = {"errors": json.dumps({str(k): v for k, v in errors.items()})}
    tensors = {"tokens": tokens.contiguous(), "ok": ok.to(torch.uint8).contiguous()}
    atomic_write(path, lambda p: save_file(tensors, str(p), metadata=meta))


def _read(path: Path) -> tuple[dict[str, torch.Tensor], dict[int, str]]:
    """A shard or cache file in one open: its tensors and {index: error} of skipped images."""
    with safe_open(str(path), "pt") as f:
        meta = f.metadata() or {}
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    return tensors, {int(k): v for k, v in json.loads(meta.get("errors", "{}")).items()}


def extract_tokens(
    backbone: Backbone, dataset: LabelledImages, root: Path | None = None, batch_size: int = 64, workers: int | None = None
) -> Path:
    """Make sure the cache file for (backbone, dataset) exists, encoding what is missing;
    every launched process takes part. Returns the file's path."""
    path = cache_path(backbone, dataset, root)
    d = dist()
    if path.exists():
        return path
    size = shard_size(len(dataset))
    shard_dir = path.with_suffix(f".shards{size}")  # the size in the name: shards of another size are never mixed in
    shard_dir.mkdir(parents=True, exist_ok=True)
    n_shards = (len(dataset) + size - 1) // size
    mine = {s: range(s * size, min(len(dataset), (s + 1) * size)) for s in range(n_shards) if s % d.world == d.rank}  # shard -> its rows
    with progress(disable=not d.is_main) as bar:
        what = f"encoding {dataset.name} ({backbone.name})" + (f", {d.world} processes" if d.world > 1 else "")
        task = bar.add_task(what, total=sum(len(rows) for rows in mine.values()))
        todo = []
        for s, rows in mine.items():
            if (shard_dir / f"{s:05d}.safetensors").exists():
                bar.advance(task, len(rows))
            else:
                todo.append(s)
        # one stream over every missing shard (its decoding processes start once), each shard
        # written as soon as its last batch is encoded
        batches = [b for s in todo for b in batches_of(mine[s], batch_size)]
        held: list[tuple[torch.Tensor, torch.Tensor, dict[int, str]]] = []
        for idx, tokens, ok, errors in stream_batches(backbone, dataset.image, batches, workers):
            held.append((tokens, ok, errors))
            bar.advance(task, len(idx))
            s = idx[0] // size
            if idx[-1] == mine[s][-1]:  # the shard's last batch
                _save_shard(shard_dir / f"{s:05d}.safetensors", torch.cat([t for t, _, _ in held]), torch.cat([o for _, o, _ in held]),
                            {i: e for _, _, bad in held for i, e in bad.items()})
                held = []
    d.barrier()
    if d.is_main and not path.exists():
        _join_shards(shard_dir, n_shards, size, len(dataset), backbone.dim, path)
    d.barrier()
    return path


def _join_shards(shard_dir: Path, n_shards: int, size: int, n: int, dim: int, path: Path) -> None:
    """One file from the shards, filled into a preallocated tensor (no second copy)."""
    tokens = torch.empty(n, dim, device="cpu")  # caches live on the host; consumers move batches
    ok = torch.empty(n, dtype=torch.uint8, device="cpu")
    errors: dict[int, str] = {}
    for s in range(n_shards):
        shard = shard_dir / f"{s:05d}.safetensors"
        part, shard_errors = _read(shard)
        lo = s * size
        tokens[lo : lo + part["tokens"].shape[0]] = part["tokens"]
        ok[lo : lo + part["tokens"].shape[0]] = part.get("ok", 1)  # shards of older versions: all readable
        errors |= shard_errors
    _save_shard(path, tokens, ok.bool(), errors)
    for f in shard_dir.glob("*.safetensors"):
        f.unlink()
    shard_dir.rmdir()


def dataset_tokens(
    backbone: Backbone, dataset: LabelledImages, root: Path | None = None, batch_size: int = 64, workers: int | None = None, log=say
) -> tuple[torch.Tensor, torch.Tensor]:
    """Tokens [M, d] and labels [M] of the readable images (M <= N), from the cache when
    present. Skipped images are reported through ``log`` and listed in ``dataset.skipped``."""
    parts = getattr(dataset, "parts", None)
    if parts:  # a concatenation: reuse each part's cache
        got = [dataset_tokens(backbone, p, root, batch_size, workers, log) for p in parts]
        offsets = [0]
        for p in parts:
            offsets.append(offsets[-1] + len(p))
        dataset.skipped = [offsets[i] + j for i, p in enumerate(parts) for j in p.skipped]
        keep = _keep_mask(len(dataset), dataset.skipped)
        return torch.cat([t for t, _ in got]), torch.from_numpy(dataset.labels)[keep]
    path = extract_tokens(backbone, dataset, root, batch_size, workers)
    data, errors = _read(path)
    tokens = data["tokens"]
    if tokens.shape[0] != len(dataset):
        raise SemclipError(f"token cache {path} holds {tokens.shape[0]} rows for {len(dataset)} images: delete it and run again")
    ok = data["ok"].bool() if "ok" in data else torch.ones(len(dataset), dtype=torch.bool, device="cpu")
    dataset.skipped = sorted(errors)
    if errors and dist().is_main:
        shown = "; ".join(errors[i] for i in dataset.skipped[:3])
        log(f"[yellow]skipped {len(errors)} unreadable image(s) of {len(dataset)} in {dataset.name}[/]: {shown}"
            + (f" (and {len(errors) - 3} more, listed in {path.name}'s metadata)" if len(errors) > 3 else ""))
    return tokens[ok], torch.from_numpy(dataset.labels)[ok]


Tokens = torch.Tensor | Callable[[], torch.Tensor]  # tokens [M, d], or a function that gives them when called


def resolve_tokens(tokens: Tokens) -> torch.Tensor:
    """The tensor of ``Tokens`` (calling the function, which may encode images)."""
    return tokens() if callable(tokens) else tokens


def lazy_tokens(backbone: Backbone, dataset: LabelledImages) -> Callable[[], torch.Tensor]:
    """A function giving ``dataset``'s tokens [M, d], encoded (or read from the cache) at its
    first call and kept: for parts that need them only when something must be trained."""
    got: list[torch.Tensor] = []

    def tokens() -> torch.Tensor:
        if not got:
            got.append(dataset_tokens(backbone, dataset)[0])
        return got[0]

    return tokens


def dataset_store(backbone: Backbone, dataset: LabelledImages, root: Path | None = None, batch_size: int = 64,
                  workers: int | None = None) -> TokenStore:
    """The readable tokens of ``dataset`` as a memory-mapped store (extracted first when
    missing): what training reads from, a batch at a time, at any dataset size."""
    parts = getattr(dataset, "parts", None) or [dataset]
    return TokenStore([extract_tokens(backbone, p, root, batch_size, workers) for p in parts])


def _keep_mask(n: int, skipped: list[int]) -> torch.Tensor:
    keep = torch.ones(n, dtype=torch.bool, device="cpu")
    keep[skipped] = False
    return keep
