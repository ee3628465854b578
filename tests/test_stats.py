"""Intervals against published values, and every accuracy record carrying its own."""

import numpy as np
import pytest
import torch

from semclip.results import Record
from semclip.stats import newcombe, wilson


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


def test_paired_bootstrap_by_hand_and_tighter_than_independent():
    """Outcomes travel packed in records; the paired interval of a difference resamples
    images, so what two methods get right (or wrong) together cancels: 500 images both right,
    30 only a, 10 only b, 460 neither -> the difference 0.02 with a standard error
    sqrt((0.03 + 0.01 - 0.02^2) / 1000) = 0.0063, far tighter than treating the two as
    independent (Newcombe's, about 0.022)."""
    import numpy as np

    from semclip.stats import pack_outcomes, paired_bootstrap, unpack_outcomes

    a = np.array([True] * 530 + [False] * 470)
    b = np.array([True] * 500 + [False] * 30 + [True] * 10 + [False] * 460)
    assert (unpack_outcomes(pack_outcomes(a.tolist()), 1000) == a).all()
    with pytest.raises(ValueError, match="not 990 images"):
        unpack_outcomes(pack_outcomes(a.tolist()), 990)
    lo, hi = paired_bootstrap(a, b)
    se = ((0.03 + 0.01 - 0.02**2) / 1000) ** 0.5
    assert lo == pytest.approx(0.02 - 1.96 * se, abs=0.002) and hi == pytest.approx(0.02 + 1.96 * se, abs=0.002)
    nlo, nhi = newcombe(0.53, 1000, 0.51, 1000)
    assert nlo < 0 < lo and hi - lo < 0.4 * (nhi - nlo)  # paired: a gain; independent: none shown
    assert paired_bootstrap(a, a) == (0.0, 0.0)
    with pytest.raises(ValueError, match="equal, non-empty"):
        paired_bootstrap(a, b[:10])


def test_paired_bootstrap_memo_keeps_sign_seed_and_order():
    """The interval is drawn once per (images, only-b, only-a, resamples, seed): the same
    counts in another order of images give the same interval, swapping the methods mirrors
    it, and another seed draws afresh."""
    import numpy as np

    from semclip.stats import paired_bootstrap

    a = np.array([True] * 40 + [False] * 60)
    b = np.array([True] * 30 + [False] * 10 + [True] * 5 + [False] * 55)
    lo, hi = paired_bootstrap(a, b)
    perm = np.random.default_rng(1).permutation(a.size)
    assert paired_bootstrap(a[perm], b[perm]) == (lo, hi)
    assert paired_bootstrap(b, a) == pytest.approx((-hi, -lo))
    assert lo < 0.05 < hi
    assert paired_bootstrap(a, b, resamples=50, seed=1) != paired_bootstrap(a, b, resamples=50, seed=0)


def _rec(method, snr, uses, value, view="all", n=100, k=None):
    outcomes = [True] * round(value * n) + [False] * (n - round(value * n))
    from semclip.stats import pack_outcomes

    return Record(method=method, channel="awgn", snr_db=snr, value=round(value * n) / n, channel_uses_per_image=uses, view=view,
                  n=n, k=k, outcomes=pack_outcomes(outcomes))


def test_equal_energy_matches_points_by_energy_per_image():
    """A 1024-use baseline at -10 dB spends 10 log10(1024 / 16) = 18.06 dB more per image
    than semclip's 16 uses at -10 dB: semclip is compared with it at +8.06 dB."""
    from semclip.eval.views import energy_claims, energy_db, equal_energy_rows, equal_energy_snrs

    base = [_rec("image-capacity", -10.0, 1024, 0.3), _rec("image-jscc", -10.0, 98, 0.25), _rec("image-capacity", 20.0, 1024, 0.9)]
    snrs = equal_energy_snrs(base, 16)
    assert list(snrs) == pytest.approx([-2.1289, 8.0618, 38.0618], abs=1e-3) and list(snrs.values()) == [-10.0, -10.0, 20.0]
    assert energy_db(base[0]) == pytest.approx(20.103, abs=1e-3)
    ref = [_rec("semclip", s, 16, v, view="equal-energy") for s, v in zip(snrs, (0.5, 0.6, 0.7))]
    ref.append(_rec("semclip", -10.0, 16, 0.1, view="subset"))  # same SNR, not the same energy: never matched
    other = [_rec("image-jscc", -10.0, 98, 0.95, view="bandwidth")]  # the same point in another view: never a row
    rows = equal_energy_rows(base + ref + other)
    assert len(rows) == 3
    by = {(r["method"], r["snr_db"]): r for r in rows}
    assert by[("image-capacity", -10.0)]["reference_snr_db"] == pytest.approx(8.0618, abs=1e-3)
    assert by[("image-capacity", -10.0)]["difference"] == pytest.approx(0.3)
    assert by[("image-jscc", -10.0)]["semclip"] == 0.5 and by[("image-capacity", 20.0)]["difference"] == pytest.approx(-0.2)
    assert all(r["interval"] == "paired" for r in rows)
    claims = energy_claims(rows)  # per point, the baseline semclip does worst against
    assert [(c["method"], c["snr_db"]) for c in claims] == [("image-jscc", -10.0), ("image-capacity", 20.0)]


def test_equal_bandwidth_compares_at_shared_uses_and_finds_the_uses_to_match():
    from semclip.eval.views import bandwidth_claims

    recs = [_rec("semclip", 0.0, k, v, view="bandwidth", k=k) for k, v in ((16, 0.6), (64, 0.7))]
    recs += [_rec("image-jpeg-ldpc", 0.0, b, v, view="bandwidth") for b, v in ((64, 0.1), (256, 0.5), (1024, 0.8))]
    recs += [_rec("image-capacity", 0.0, b, v, view="bandwidth") for b, v in ((64, 0.2), (256, 0.65))]
    [c] = bandwidth_claims(recs, 16)
    assert (c["uses"], c["best"], c["best_acc"]) == (64, "image-capacity", 0.2)
    assert c["difference"] == pytest.approx(0.5) and c["ci95"][0] > 0
    assert c["uses_to_match"] == 256 and c["largest_budget"] == 1024
    # paired: capacity at 256 uses gets 5 more images right than semclip and no fewer, shown above it
    assert c["uses_to_match_range"] == (256, 256)
    [c] = bandwidth_claims([r for r in recs if r.value < 0.6 or r.method == "semclip"], 16)
    assert c["uses_to_match"] is None  # no budget of the view reaches semclip at k = 16


def test_the_views_on_an_ofdm_link_use_each_side_s_charged_uses():
    """On a link every use is charged 1.249 (pilots, prefix): semclip at k = 16 occupies 19.98
    uses, a 1024-use baseline 1278.7. Equal energy puts semclip 10 log10(1278.7 / 19.98) =
    18.06 dB above the baseline's SNR (as on AWGN), equal bandwidth pairs k = 64's 79.94 with
    a budget of 64's 79.9 (each rounded), and ratios are to semclip's own 19.98 uses."""
    from semclip.eval.views import bandwidth_claims, equal_energy_snrs, uses_range, uses_to_match

    charge = 1.249
    assert list(equal_energy_snrs([_rec("image-capacity", -10.0, round(1024 * charge, 1), 0.3)], 16 * charge)) == pytest.approx(
        [8.0618], abs=1e-3)
    recs = [_rec("semclip", 0.0, round(k * charge, 2), v, view="bandwidth", k=k) for k, v in ((16, 0.6), (64, 0.7))]
    recs += [_rec("image-capacity", 0.0, round(b * charge, 1), v, view="bandwidth") for b, v in ((64, 0.1), (256, 0.65))]
    [c] = bandwidth_claims(recs, 16)
    assert (c["uses"], c["best"]) == (round(64 * charge, 2), "image-capacity") and c["difference"] == pytest.approx(0.6)
    assert uses_to_match(c) == "319.7 (16x)" and uses_range(c) == "319.7–319.7 uses (16–16x)"


def test_claims_per_view_list_wins_and_losses_by_interval():
    """Same SNR: semclip 0.2 against image-capacity 0.5 (a loss); at equal energy semclip
    gets 0.8 against 0.5 (a gain); at equal bandwidth (64 uses) 0.7 against 0.1 (a gain),
    and image-capacity needs 256 uses to reach semclip's 0.6 at k = 16 (16x)."""
    from semclip.eval.compare import claims_markdown, claims_rows

    recs = [_rec("semclip", -10.0, 16, 0.2, view="subset", n=400), _rec("image-capacity", -10.0, 1024, 0.5, n=400),
            _rec("semclip", 8.0618, 16, 0.8, view="equal-energy", n=400)]
    recs += [_rec("semclip", 0.0, k, v, view="bandwidth", k=k) for k, v in ((16, 0.6), (64, 0.7))]
    recs += [_rec("image-capacity", 0.0, b, v, view="bandwidth") for b, v in ((64, 0.1), (256, 0.65))]
    same, energy, bandwidth = claims_rows(recs, chance=0.1, k=16)
    assert (same["wins"], same["losses"]) == ([], [("awgn", -10.0)]) and "0.40x the best (image-capacity)" in same["claim"]
    assert (energy["wins"], energy["losses"]) == ([("awgn", -10.0)], []) and "1.60x" in energy["claim"]
    assert (bandwidth["wins"], bandwidth["losses"]) == ([("awgn", 0.0)], []) and "256 (16x)" in bandwidth["claim"]
    assert "| equal energy per image | awgn -10 dB | none |" in claims_markdown(recs, 0.1, 16)


def test_semclip_against_the_linear_floor_is_paired_per_point_and_lists_its_losses():
    from semclip.eval.compare import floor_markdown, floor_rows
    from semclip.stats import pack_outcomes

    def rec(method, snr, right, view="all", k=16, dataset="fm"):
        return Record(method=method, channel="awgn", snr_db=snr, value=sum(right) / len(right), channel_uses_per_image=k, k=k,
                      n=len(right), outcomes=pack_outcomes(right), view=view, dataset=dataset)

    n = 400
    better = [i % 4 != 0 for i in range(n)]  # 0.75
    worse = [i % 2 == 0 for i in range(n)]  # 0.50: wrong on half of the images the other gets right
    records = [rec("semclip", 0.0, better), rec("pca", 0.0, worse), rec("semclip", 10.0, worse), rec("pca", 10.0, better),
               rec("semclip", 10.0, worse, "k-sweep"), rec("pca", 10.0, better, "k-sweep"),  # the grid's point again: once
               rec("semclip", 10.0, better, "k-sweep", k=4), rec("pca", 10.0, better, "k-sweep", k=4),
               rec("semclip", 5.0, better, dataset="other")]  # no floor there: not a point
    rows = floor_rows(records)
    assert [(r["snr_db"], r["k"], r["verdict"]) for r in rows] == [(0.0, 16, "gain"), (10.0, 16, "loss"), (10.0, 4, "no difference shown")]
    assert rows[0]["interval"] == "paired" and rows[0]["ci95"][0] > 0.15
    md = floor_markdown(records)
    assert "above at 1, below at 1, not told apart at 1" in md and "| fm | awgn | 10 dB | 16 | 0.500 | 0.750 | -0.250" in md


def test_paired_over_seeds_averages_each_image_over_seeds():
    from semclip.stats import paired_over_seeds

    a = np.array([[1, 1, 0, 1], [1, 0, 0, 1]], dtype=bool)
    b = np.array([[0, 1, 0, 1], [0, 1, 0, 0]], dtype=bool)
    mean, lo, hi = paired_over_seeds(a, b)
    per_image = np.array([1.0, -0.5, 0.0, 0.5])
    half = 1.959963984540054 * per_image.std(ddof=1) / 2
    assert mean == pytest.approx(0.25) and (lo, hi) == (pytest.approx(0.25 - half), pytest.approx(0.25 + half))
    with pytest.raises(ValueError, match="equal"):
        paired_over_seeds(a, b[:, :3])
