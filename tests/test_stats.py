"""Intervals against published values, and every accuracy record carrying its own."""

import pytest
import torch

from semclip.eval.results import Record
from semclip.eval.stats import newcombe, wilson


def test_wilson_and_newcombe_match_published_examples():
    # Wilson (1927) score interval, 81 of 263 (the example in Agresti & Coull 1998 style tables)
    assert wilson(81 / 263, 263) == pytest.approx((0.2553, 0.3662), abs=1e-4)
    assert wilson(0.5, 100) == pytest.approx((0.4038, 0.5962), abs=1e-4)
    lo, hi = wilson(0.0, 10)  # stays in [0, 1] at the edges, unlike p +- 1.96 s.e.
    assert lo == 0.0 and hi == pytest.approx(0.2775, abs=1e-4)
    # Newcombe (1998), method 10: 56/70 against 48/80
    assert newcombe(56 / 70, 70, 48 / 80, 80) == pytest.approx((0.0524, 0.3339), abs=1e-4)
    with pytest.raises(ValueError):
        wilson(0.5, 0)


def test_records_of_proportions_carry_their_interval():
    r = Record(method="semclip", channel="awgn", snr_db=0.0, value=0.7, channel_uses_per_image=16, n=10000)
    assert r.ci95 == pytest.approx(wilson(0.7, 10000), abs=1e-5)
    assert Record(method="x", channel="awgn", snr_db=0.0, value=0.7, channel_uses_per_image=16).ci95 is None  # n unknown
    assert Record.model_validate_json(r.model_dump_json()).ci95 == r.ci95


def test_a_sweep_gives_every_record_n_and_interval():
    from semclip.eval.sweep import sweep
    from semclip.jscc.linear import LinearCode

    torch.manual_seed(0)
    tokens = torch.nn.functional.normalize(torch.randn(300, 8), dim=-1)
    labels = (tokens[:, 0] > 0).long()
    recs = sweep(LinearCode.fitted(tokens, [4], 4), tokens, labels, lambda t, s: (t[:, 0] > 0).long(), ["awgn"], [-10.0, 30.0])
    for r in recs:
        assert r.n == 300 and r.ci95[0] <= r.value <= r.ci95[1]
    assert recs[1].ci95[1] - recs[1].ci95[0] < recs[0].ci95[1] - recs[0].ci95[0]  # near 1: narrower
