"""The statistics that more than one part of the package reports, each defined once.

All intervals are two-sided 95 % intervals with the normal quantile :data:`Z95`.
"""

from __future__ import annotations

import math

import numpy as np

#: The standard normal 97.5 % quantile.
Z95 = 1.959963984540054


def wilson_interval(k: float, n: float, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval (95% by default) of ``k`` successes in ``n`` trials; NaN if ``n <= 0``."""
    if n <= 0:
        return math.nan, math.nan
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return c - h, c + h


def odds_ratio_cells(a: float, b: float, c: float, d: float, *, correction: str = "if_empty") -> tuple[float, float, float]:
    """Odds ratio ``a d / (b c)`` of a 2x2 table with a Woolf (log) 95 % interval.

    ``a, b``: exposed with and without the outcome; ``c, d``: unexposed with and without.
    ``correction`` adds 0.5 to every cell (Haldane-Anscombe): ``"if_empty"`` only when a cell
    is empty, ``"always"`` in every table.
    """
    if correction not in ("if_empty", "always"):
        raise ValueError(f"correction must be 'if_empty' or 'always', got {correction!r}")
    a, b, c, d = float(a), float(b), float(c), float(d)
    if correction == "always" or min(a, b, c, d) == 0:
        a, b, c, d = a + 0.5, b + 0.5, c + 0.5, d + 0.5
    ratio = a * d / (b * c)
    lor = math.log(ratio)
    se = math.sqrt(1 / a + 1 / b + 1 / c + 1 / d)
    return ratio, math.exp(lor - Z95 * se), math.exp(lor + Z95 * se)


def odds_ratio(exposed: np.ndarray, outcome: np.ndarray, *, correction: str = "if_empty") -> tuple[float, float, float]:
    """Odds ratio of ``outcome`` given ``exposed`` (two boolean arrays over the same people)."""
    e, o = np.asarray(exposed, bool), np.asarray(outcome, bool)
    return odds_ratio_cells(np.sum(e & o), np.sum(e & ~o), np.sum(~e & o), np.sum(~e & ~o), correction=correction)


def odds_ratio_groups(x1: np.ndarray, x0: np.ndarray) -> tuple[float, float, float]:
    """Odds ratio of a binary outcome in group 1 (``x1``) against group 0 (``x0``)."""
    s1, s0 = float(np.sum(x1)), float(np.sum(x0))
    return odds_ratio_cells(s1, len(x1) - s1, s0, len(x0) - s0)


def risk_difference(x1: np.ndarray, x0: np.ndarray) -> tuple[float, float, float]:
    """Risk difference p1 - p0 with a Wald 95% interval."""
    n1, n0 = len(x1), len(x0)
    p1, p0 = float(np.mean(x1)), float(np.mean(x0))
    se = math.sqrt(p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0)
    return p1 - p0, p1 - p0 - Z95 * se, p1 - p0 + Z95 * se


def hedges_g(x1: np.ndarray, x0: np.ndarray) -> tuple[float, float, float]:
    """Hedges' g (group 1 minus group 0 over the pooled SD, small-sample corrected) with a 95% interval."""
    n1, n0 = len(x1), len(x0)
    s2 = ((n1 - 1) * np.var(x1, ddof=1) + (n0 - 1) * np.var(x0, ddof=1)) / (n1 + n0 - 2)
    if not s2 > 0:
        return float("nan"), float("nan"), float("nan")
    j = 1.0 - 3.0 / (4.0 * (n1 + n0) - 9.0)
    g = j * (np.mean(x1) - np.mean(x0)) / math.sqrt(s2)
    se = math.sqrt((n1 + n0) / (n1 * n0) + g * g / (2.0 * (n1 + n0)))
    return float(g), float(g - Z95 * se), float(g + Z95 * se)


def paired_difference(x1: np.ndarray, x0: np.ndarray) -> tuple[float, float, float]:
    """Mean within-person difference (``x1 - x0``, same people) with a 95% interval."""
    d = np.asarray(x1, float) - np.asarray(x0, float)
    m = float(d.mean())
    se = float(d.std(ddof=1) / math.sqrt(len(d))) if len(d) > 1 else float("nan")
    return m, m - Z95 * se, m + Z95 * se


def paired_risk_ratio(x1: np.ndarray, x0: np.ndarray) -> tuple[float, float, float]:
    """Risk ratio P(x1) / P(x0) of two binary outcomes of the same people, with the matched-pairs
    delta-method 95 % interval: with ``a`` people who have both, ``b`` only ``x1`` and ``c`` only ``x0``,
    RR = (a + b) / (a + c) and Var(log RR) = (b + c) / ((a + b)(a + c)) (Agresti, Categorical Data
    Analysis, matched pairs). NaN bounds where a margin is empty."""
    x1, x0 = np.asarray(x1, bool), np.asarray(x0, bool)
    if x1.shape != x0.shape:
        raise ValueError(f"paired_risk_ratio: the outcomes of the same people, got shapes {x1.shape} and {x0.shape}")
    a = float((x1 & x0).sum())
    b = float((x1 & ~x0).sum())
    c = float((~x1 & x0).sum())
    if a + b == 0 or a + c == 0:
        rr = float("nan") if a + b == 0 and a + c == 0 else (float("inf") if a + c == 0 else 0.0)
        return rr, float("nan"), float("nan")
    rr = (a + b) / (a + c)
    se = math.sqrt((b + c) / ((a + b) * (a + c)))
    return rr, rr * math.exp(-Z95 * se), rr * math.exp(Z95 * se)


def bootstrap_weights(n_units: int, replicates: int, seed: int) -> np.ndarray:
    """Multiplicity weights of a nonparametric bootstrap over ``n_units`` units (persons, or the patients
    whose events are clustered in them): row ``b`` says how often each unit is drawn in resample ``b``
    (``replicates x n_units``, each row summing to ``n_units``). A statistic of weighted sums evaluates
    all resamples at once."""
    if n_units < 1 or replicates < 1:
        raise ValueError(f"bootstrap_weights: expected n_units >= 1 and replicates >= 1, got {n_units}, {replicates}")
    rng = np.random.default_rng(seed)
    return rng.multinomial(n_units, np.full(n_units, 1.0 / n_units), size=replicates).astype(np.float64)


def percentile_interval(values: np.ndarray, *, min_share: float = 0.5) -> tuple[float, float]:
    """The 2.5 and 97.5 % quantiles of bootstrap ``values`` (the percentile interval), over the finite
    ones; NaN where fewer than ``min_share`` of the resamples give a finite value."""
    v = np.asarray(values, np.float64).ravel()
    ok = v[np.isfinite(v)]
    if v.size == 0 or ok.size < min_share * v.size:
        return float("nan"), float("nan")
    lo, hi = np.quantile(ok, [0.025, 0.975])
    return float(lo), float(hi)


def weighted_means(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Means of ``x`` (units along the last axis) under each row of weights ``w`` (``replicates x units``);
    NaN for a resample that draws no unit of a selection (all its weights zero)."""
    x = np.asarray(x, np.float64)
    tot = w.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (w @ x.T) / (tot[:, None] if x.ndim > 1 else tot)


def weighted_hedges_g(x1: np.ndarray, x0: np.ndarray, w: np.ndarray) -> np.ndarray:
    """:func:`hedges_g` of paired groups (``x1[i]``, ``x0[i]`` of the same unit i) under each row of
    frequency weights ``w``: the g of the resample that draws unit i ``w[b, i]`` times."""
    n = w.sum(axis=1)
    m1, m0 = weighted_means(x1, w), weighted_means(x0, w)
    v1 = (w * (np.asarray(x1, np.float64)[None, :] - m1[:, None]) ** 2).sum(axis=1) / (n - 1)
    v0 = (w * (np.asarray(x0, np.float64)[None, :] - m0[:, None]) ** 2).sum(axis=1) / (n - 1)
    s2 = 0.5 * (v1 + v0)  # the pooled variance of two groups of the same size n
    j = 1.0 - 3.0 / (4.0 * (2 * n) - 9.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(s2 > 0, j * (m1 - m0) / np.sqrt(s2), np.nan)


__all__ = ["Z95", "bootstrap_weights", "hedges_g", "odds_ratio", "odds_ratio_cells", "odds_ratio_groups",
           "paired_difference", "paired_risk_ratio", "percentile_interval", "risk_difference", "weighted_hedges_g",
           "weighted_means", "wilson_interval"]
