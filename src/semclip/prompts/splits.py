"""Class splits and few-shot samples, reproducible from a seed and cached on disk."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

import numpy as np
import torch

from semclip._io import atomic_write_json, cache_dir
from semclip.errors import SemclipError


def base_novel(classes: Sequence[str]) -> tuple[list[int], list[int]]:
    """CoOp's base-to-novel split: the first ceil(C/2) classes are base, the rest novel."""
    n = math.ceil(len(classes) / 2)
    if len(classes) < 2:
        raise SemclipError("base-to-novel needs at least two classes")
    return list(range(n)), list(range(n, len(classes)))


def few_shot(labels: torch.Tensor, class_ids: Sequence[int], shots: int, seed: int, dataset_id: str) -> torch.Tensor:
    """Indices of ``shots`` examples of each class in ``class_ids`` (sorted), drawn without
    replacement by ``numpy.random.default_rng(seed)``; cached as JSON per (dataset, classes,
    shots, seed) so every learner and every rerun trains on the same images."""
    if shots <= 0:
        raise SemclipError(f"shots must be positive, got {shots}")
    path = cache_dir() / "splits" / f"{dataset_id}-c{'_'.join(map(str, class_ids))}-shots{shots}-seed{seed}.json"
    if path.exists():
        return torch.tensor(json.loads(path.read_text())["indices"], dtype=torch.long, device="cpu")
    lab = labels.numpy()
    counts = {c: int((lab == c).sum()) for c in class_ids}
    small = {c: n for c, n in counts.items() if n < shots}
    if small:
        raise SemclipError(
            f"{shots} shots per class, but class(es) {sorted(small)} have only {min(small.values())} training "
            f"examples: use --shots {min(counts.values())} or fewer"
        )
    rng = np.random.default_rng(seed)
    idx = np.concatenate([np.sort(rng.choice(np.flatnonzero(lab == c), shots, replace=False)) for c in class_ids])
    atomic_write_json(path, {"dataset": dataset_id, "classes": list(class_ids), "shots": shots, "seed": seed, "indices": idx.tolist()})
    return torch.from_numpy(idx).long()
