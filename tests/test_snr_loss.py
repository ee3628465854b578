"""The SNR loss between two accuracy curves (semclip.eval.snr_loss): a known shift is found
inside its interval, and the edges of the measured range are reported, not extrapolated."""

import math

import numpy as np
import pytest

from semclip.eval.snr_loss import BELOW, NEVER, crossing, snr_loss


def curves(shift_db: float, n: int = 3000, chance: float = 0.1, seed: int = 1):
    """Outcomes [S, n] of a logistic accuracy curve and of the same curve shifted right by
    ``shift_db``, from one uniform draw per image (the same images under both receivers)."""
    snrs = np.arange(-10.0, 21.0, 2.5)
    u = np.random.default_rng(seed).random(n)

    def outcomes(centre: float) -> np.ndarray:
        p = chance + (1 - chance) / (1 + np.exp(-(snrs - centre) / 2.0))
        return u[None, :] < p[:, None]
    return snrs, outcomes(0.0), outcomes(shift_db)


@pytest.mark.parametrize("shift", [0.0, 3.0, 6.5])
def test_a_known_shift_is_found_within_its_interval(shift):
    snrs, ref, other = curves(shift)
    loss = snr_loss(snrs, ref, other, chance=0.1, resamples=400)
    assert loss.ci95[0] <= shift <= loss.ci95[1], loss
    assert abs(loss.loss_db - shift) < 0.5 and loss.ci95[1] - loss.ci95[0] < 1.5
    assert loss.text().endswith("]")


def test_crossing_interpolates_and_marks_the_edges():
    snrs = np.array([0.0, 10.0, 20.0])
    assert crossing(snrs, np.array([0.2, 0.6, 0.8]), 0.4) == pytest.approx(5.0)
    assert crossing(snrs, np.array([0.5, 0.6, 0.8]), 0.4) == BELOW
    assert crossing(snrs, np.array([0.1, 0.2, 0.3]), 0.4) == NEVER


def test_a_curve_that_never_reaches_the_level_is_a_bound():
    snrs, ref, _ = curves(0.0)
    flat = np.zeros_like(ref)
    loss = snr_loss(snrs, ref, flat, chance=0.1, resamples=50)
    assert loss.loss_db == math.inf and loss.text().startswith("> ")


def test_bad_shapes_and_orders_are_refused():
    snrs, ref, other = curves(1.0)
    with pytest.raises(ValueError, match="same"):
        snr_loss(snrs, ref, other[:, :10], chance=0.1)
    with pytest.raises(ValueError, match="increase"):
        snr_loss(snrs[::-1], ref, other, chance=0.1)
