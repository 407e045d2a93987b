"""The shared statistics of nssisim.stats: known values and the coverage of their intervals."""

import math

import numpy as np
import pytest

from nssisim.stats import (bootstrap_weights, hedges_g, paired_risk_ratio, percentile_interval, weighted_hedges_g,
                           weighted_means)


def _pairs(a, b, c, d):
    x1 = np.array([1] * a + [1] * b + [0] * c + [0] * d, bool)
    x0 = np.array([1] * a + [0] * b + [1] * c + [0] * d, bool)
    return x1, x0


def test_paired_risk_ratio_known_cells():
    rr, lo, hi = paired_risk_ratio(*_pairs(10, 20, 5, 65))
    assert rr == pytest.approx(2.0)
    se = math.sqrt(25 / (30 * 15))
    assert lo == pytest.approx(2.0 * math.exp(-1.959963984540054 * se))
    assert hi == pytest.approx(2.0 * math.exp(1.959963984540054 * se))


def test_paired_risk_ratio_empty_margins_and_shapes():
    assert paired_risk_ratio(*_pairs(0, 0, 0, 9))[0] != paired_risk_ratio(*_pairs(0, 0, 0, 9))[0]  # nan
    assert paired_risk_ratio(*_pairs(0, 3, 0, 9))[0] == math.inf
    with pytest.raises(ValueError, match="same people"):
        paired_risk_ratio(np.zeros(3, bool), np.zeros(4, bool))


def test_paired_risk_ratio_interval_covers_the_truth():
    # correlated pairs: a person's two outcomes share a latent risk; the true RR is known by construction
    rng = np.random.default_rng(7)
    n, reps, p0, rr_true = 500, 400, 0.15, 1.6
    hits = 0
    for _ in range(reps):
        u = rng.random(n)
        shared = rng.random(n) < 0.5
        v = np.where(shared, u, rng.random(n))  # the two outcomes use the same uniform half the time
        x0 = u < p0
        x1 = v < p0 * rr_true
        _, lo, hi = paired_risk_ratio(x1, x0)
        hits += lo <= rr_true <= hi
    assert 0.92 <= hits / reps <= 0.98


# ----------------------------------------------------------------------------- the bootstrap of the targets' intervals
def test_bootstrap_weights_are_resample_multiplicities():
    w = bootstrap_weights(7, 50, seed=3)
    assert w.shape == (50, 7) and np.all(w.sum(axis=1) == 7) and np.all(w >= 0)
    assert np.array_equal(w, bootstrap_weights(7, 50, seed=3)) and not np.array_equal(w, bootstrap_weights(7, 50, seed=4))
    with pytest.raises(ValueError, match="n_units"):
        bootstrap_weights(0, 10, seed=0)


def test_weighted_statistics_at_unit_weights_are_the_plain_ones():
    rng = np.random.default_rng(0)
    x1, x0 = rng.normal(0.4, 1.0, 30), rng.normal(0.0, 1.2, 30)
    one = np.ones((1, 30))
    assert weighted_means(x1, one)[0] == pytest.approx(x1.mean())
    assert weighted_hedges_g(x1, x0, one)[0] == pytest.approx(hedges_g(x1, x0)[0])
    # a weight of 2 is the unit drawn twice
    w = np.ones((1, 30)); w[0, 0], w[0, 1] = 2.0, 0.0
    xr1, xr0 = np.r_[x1[0], x1[0], x1[2:]], np.r_[x0[0], x0[0], x0[2:]]
    assert weighted_hedges_g(x1, x0, w)[0] == pytest.approx(hedges_g(xr1, xr0)[0])
    assert np.isnan(weighted_means(x1, np.zeros((1, 30)))[0])


def test_percentile_interval_needs_enough_finite_resamples():
    assert percentile_interval(np.arange(100.0)) == pytest.approx((2.475, 96.525))
    v = np.full(10, np.nan); v[:4] = 1.0
    assert all(math.isnan(b) for b in percentile_interval(v))


def test_cluster_bootstrap_of_a_ratio_of_means_covers_the_truth():
    # events clustered in persons with a person effect; the ratio of the two kinds' means (truth 2.0)
    rng = np.random.default_rng(11)
    hits, reps = 0, 200
    for r in range(reps):
        n = 60
        person = rng.gamma(4.0, 0.25, n)
        pos_a, pos_b = rng.integers(0, n, 300), rng.integers(0, n, 600)
        xa = 2.0 * person[pos_a] * rng.exponential(1.0, 300)
        xb = person[pos_b] * rng.exponential(1.0, 600)
        w = bootstrap_weights(n, 400, seed=r)
        ma = (w[:, pos_a] * xa).sum(1) / w[:, pos_a].sum(1)
        mb = (w[:, pos_b] * xb).sum(1) / w[:, pos_b].sum(1)
        lo, hi = percentile_interval(ma / mb)
        hits += lo <= 2.0 <= hi
    assert 0.89 <= hits / reps <= 0.99, hits / reps
