"""The SNR a method loses to a worse receiver, read off two accuracy-against-SNR curves on
the same images, with a paired bootstrap interval.

A communications engineer states what a receiver costs (estimated CSI against perfect CSI,
say) as the extra SNR it needs for the same performance. Here the performance is a rate of
right answers, and the level is fixed per method from the reference curve: half-way from
chance to the reference's accuracy at its highest SNR, which puts it on the steep part of
both curves. Each curve's SNR at that level is interpolated linearly between the measured
points; the bootstrap resamples the images (the same draw for both curves, so the noise the
two share cancels) and keeps the level fixed, as a definition rather than an estimate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

BELOW, NEVER = -math.inf, math.inf  # the level is met at the first SNR measured / at none


def crossing(snrs: np.ndarray, accuracy: np.ndarray, level: float) -> float:
    """The lowest SNR (dB) at which a curve [S] over increasing ``snrs`` [S] reaches
    ``level``: linear between the two points around its first crossing; ``BELOW`` when the
    first point already reaches it, ``NEVER`` when no point does."""
    above = np.flatnonzero(accuracy >= level)
    if above.size == 0:
        return NEVER
    i = int(above[0])
    if i == 0:
        return BELOW
    a0, a1 = float(accuracy[i - 1]), float(accuracy[i])
    return float(snrs[i - 1] + (snrs[i] - snrs[i - 1]) * (level - a0) / (a1 - a0))


@dataclass(frozen=True)
class SNRLoss:
    level: float  # the accuracy both curves are read at
    reference_db: float  # the SNR at which the reference curve reaches it (``BELOW`` / ``NEVER`` outside the points)
    other_db: float
    loss_db: float  # other - reference; infinite or NaN where a crossing lies outside the points
    ci95: tuple[float, float]  # percentile bootstrap over the images; may be infinite on either side
    span: tuple[float, float]  # the lowest and highest SNR measured

    def text(self) -> str:
        """'2.1 dB [1.4, 2.9]', or the bound the measured points allow ('> 12.5 dB')."""
        def bound(x: float) -> str:
            return f"{x:.1f}" if math.isfinite(x) else "n/a" if math.isnan(x) else f"{'+' if x > 0 else '-'}inf"
        if math.isfinite(self.loss_db):
            return f"{self.loss_db:.1f} dB [{bound(self.ci95[0])}, {bound(self.ci95[1])}]"
        if self.other_db == NEVER and math.isfinite(self.reference_db):
            return f"> {self.span[1] - self.reference_db:.1f} dB (never reaches the level)"
        if self.other_db == BELOW and math.isfinite(self.reference_db):
            return f"< {self.span[0] - self.reference_db:.1f} dB (at the level from the lowest SNR)"
        return "not measured (the reference reaches the level outside the SNRs measured)"


def snr_loss(snrs: list[float] | np.ndarray, reference: np.ndarray, other: np.ndarray, chance: float,
             resamples: int = 2000, seed: int = 0) -> SNRLoss:
    """How many dB ``other`` needs beyond ``reference`` to reach the same accuracy.

    ``reference``, ``other``: per-image outcomes [S, N] (right = True) at the same ``snrs``
    [S] (increasing) on the same N images; ``chance``: the accuracy of guessing."""
    snrs = np.asarray(snrs, dtype=float)
    reference, other = np.asarray(reference, dtype=float), np.asarray(other, dtype=float)
    if reference.shape != other.shape or reference.shape[0] != snrs.size or snrs.size < 2:
        raise ValueError(f"outcomes {reference.shape} and {other.shape} must both be [S, N] over the same {snrs.size} >= 2 SNRs")
    if np.any(np.diff(snrs) <= 0):
        raise ValueError(f"SNRs must increase: {snrs.tolist()}")
    n = reference.shape[1]
    level = chance + 0.5 * (reference[-1].mean() - chance)
    ref_db, other_db = crossing(snrs, reference.mean(1), level), crossing(snrs, other.mean(1), level)
    rng = np.random.default_rng(seed)
    losses = np.empty(resamples)
    for i in range(resamples):  # weights of a resample: how often each image is drawn
        w = np.bincount(rng.integers(0, n, n), minlength=n) / n
        losses[i] = _gap(crossing(snrs, other @ w, level), crossing(snrs, reference @ w, level))
    if np.isnan(losses).any():  # some resample has both crossings off the same end: no interval
        lo = hi = math.nan
    else:
        lo, hi = float(np.quantile(losses, 0.025, method="lower")), float(np.quantile(losses, 0.975, method="higher"))
    return SNRLoss(float(level), ref_db, other_db, _gap(other_db, ref_db), (lo, hi), (float(snrs[0]), float(snrs[-1])))


def _gap(other_db: float, reference_db: float) -> float:
    """other - reference; NaN where both lie on the same side outside the points."""
    if math.isinf(other_db) and math.isinf(reference_db) and other_db == reference_db:
        return math.nan
    return other_db - reference_db
