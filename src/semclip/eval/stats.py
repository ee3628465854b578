"""Intervals for accuracies: a proportion measured on n images (or queries) is reported
with its 95 % Wilson score interval, and a difference of two with Newcombe's interval
built from theirs. Both stay inside [0, 1] (resp. [-1, 1]) and behave near 0 and 1, where
the normal approximation does not."""

from __future__ import annotations

import math

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
