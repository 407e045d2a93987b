"""The shared statistics of nssisim.stats: known values and the coverage of their intervals."""

import math

import numpy as np
import pytest

from nssisim.stats import paired_risk_ratio


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
