"""Intervals for accuracies: a proportion measured on n images (or queries) is reported
with its 95 % Wilson score interval, and a difference of two with Newcombe's interval
built from theirs. Both stay inside [0, 1] (resp. [-1, 1]) and behave near 0 and 1, where
the normal approximation does not. Two methods scored on the same images are compared
image by image (``paired_bootstrap``), from the per-image outcomes records carry packed
(``pack_outcomes``)."""

from __future__ import annotations

import base64
import math
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

Z95 = 1.959963984540054


def wilson(p: float, n: int, z: float = Z95) -> tuple[float, float]:
    """95 % Wilson score interval of a proportion ``p`` observed on ``n`` trials."""
    if n <= 0:
        raise ValueError(f"an interval needs n >= 1 trials, got {n}")
    p = min(max(p, 0.0), 1.0)
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def newcombe(p1: float, n1: int, p2: float, n2: int, z: float = Z95) -> tuple[float, float]:
    """95 % interval of ``p1 - p2`` (Newcombe's hybrid score method, from each one's Wilson
    interval). It treats the two as independent; on the same images with positively
    correlated outcomes it is conservative (wider than a paired interval)."""
    l1, u1 = wilson(p1, n1, z)
    l2, u2 = wilson(p2, n2, z)
    d = p1 - p2
    return d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)


def pack_outcomes(correct: Sequence[bool]) -> str:
    """Per-image right/wrong, one bit each, as base64 text a JSON record can carry."""
    return base64.b64encode(np.packbits(np.asarray(correct, dtype=bool)).tobytes()).decode()


def unpack_outcomes(packed: str, n: int) -> np.ndarray:
    """[n] bool from ``pack_outcomes``."""
    bits = np.unpackbits(np.frombuffer(base64.b64decode(packed), dtype=np.uint8))
    if bits.size < n or bits.size >= n + 8:
        raise ValueError(f"packed outcomes hold {bits.size} bits, not {n} images")
    return bits[:n].astype(bool)


def paired_bootstrap(a: np.ndarray, b: np.ndarray, resamples: int = 20000, seed: int = 0) -> tuple[float, float]:
    """95 % percentile bootstrap interval of mean(a) - mean(b) for two methods' outcomes on
    the same images (resampling images, so that what both get right or wrong together
    cancels). Per image the difference is -1, 0 or +1, so a resample is a multinomial
    draw of those three counts: exact, and cheap for any number of images."""
    a, b = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    if a.shape != b.shape or a.ndim != 1 or a.size == 0:
        raise ValueError(f"paired outcomes need two equal, non-empty vectors, got {a.shape} and {b.shape}")
    return _bootstrap_interval(a.size, int(np.sum(a < b)), int(np.sum(a > b)), resamples, seed)


@lru_cache(maxsize=4096)
def _bootstrap_interval(n: int, worse: int, better: int, resamples: int, seed: int) -> tuple[float, float]:
    """The interval depends on the outcomes only through these three counts, so a report that
    asks for the same comparison twice (per view, and again among the claims) draws it once."""
    counts = np.array([worse, n - worse - better, better]) / n
    draws = np.random.default_rng(seed).multinomial(n, counts, size=resamples)
    diffs = (draws[:, 2] - draws[:, 0]) / n
    lo, hi = np.quantile(diffs, [0.025, 0.975])
    return float(lo), float(hi)


def paired_over_seeds(a: np.ndarray, b: np.ndarray, z: float = Z95) -> tuple[float, float, float]:
    """mean(a) - mean(b) with its 95 % interval, for outcomes [S, N] of two methods on the
    same N images and the same channel noise in each of S seeds (each seed's learners
    trained on that seed's shots). Per image the difference is averaged over the seeds, and
    the interval is the normal one over images of those averages: it carries the image
    sampling and, through the average, the seed-to-seed change of the learners."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 2 or a.shape[1] < 2:
        raise ValueError(f"paired outcomes need two equal [seeds, images] arrays with 2+ images, got {a.shape} and {b.shape}")
    diff = (a - b).mean(0)
    half = z * diff.std(ddof=1) / math.sqrt(diff.size)
    return float(diff.mean()), float(diff.mean() - half), float(diff.mean() + half)
