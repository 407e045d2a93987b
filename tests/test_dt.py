"""Does the step length matter? Cohort statistics at dt = 0.25, 0.5 and 1 h against dt = 0.1 h.

Every run uses the same seed, but a subject's random stream is indexed by step, so runs with
different dt draw different numbers: the comparison is statistical. For each statistic we
compute the Monte Carlo standard error from the subjects and accept a difference

    |stat(dt) - stat(0.1 h)| <= max(K * sqrt(se(dt)**2 + se(0.1 h)**2), FLOOR * |stat(0.1 h)|)

* ``K = 4``: with fixed seeds the test is deterministic; 4 combined standard errors is the
  band a correct implementation stays inside with probability 1 - 6e-5 per comparison (about
  1 - 1e-3 over the module), so a failure is a real discrepancy, not bad luck.
* ``FLOOR = 10 %`` of the reference value: the discretisation error we accept, fixed before
  measuring and the same at every dt. The step is first-order operator splitting (couplings
  and hazards frozen at start-of-step values, at most one event of each kind per step), so its
  bias is O(dt): it does not shrink with more subjects, and for statistics with a tiny standard
  error (mean affect, about 0.1 %) the 4-SE band alone would reject any dt != 0.1 h.

What is true (numbers in the docs table, measured with 20,000 subjects): the bias grows
linearly with dt, at about +0.9 x the value per hour of dt for the act statistics, and always
upward (the urge hazard is evaluated at start-of-step distress and held for the whole step while
affect relaxes within about an hour). dt = 0.25 h is +13 % on acts per year and +14 % on
end-of-year habit, just beyond the 10 % floor, but with 400 subjects the 4-SE band (about 30 %
on act statistics) covers it, so ``test_quarter_hour_step_agrees_with_reference`` passes: it
guards against gross discrepancies, not against 13 %. dt = 1 h doubles acts per year: the
comparison is an xfail (strict) carrying the measured discrepancy. dt = 0.5 h (+36 % acts) is
not resolved at 400 subjects; the slow test (4,000 subjects) shows it disagrees.
``test_bias_is_first_order`` checks the O(dt) convergence itself.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from conftest import AT_RISK
from nssisim import simulate_cohort

#: Step lengths compared (h); every run records once a day (record_every = 24 h / dt: 240, 96, 48, 24).
DTS = (0.1, 0.25, 0.5, 1.0)
REFERENCE_DT = 0.1
HORIZON = 8760.0  # one year of 365 days
N_SUBJECTS = 400
SEED = 2026
K = 4.0
FLOOR = 0.10
STATISTICS = ("any_act", "acts_per_year", "ge5_acts", "mean_affect", "habit_end")


def cohort_statistics(dt: float, n_subjects: int, seed: int = SEED) -> dict[str, tuple[float, float]]:
    """Each statistic as (mean over subjects, Monte Carlo standard error)."""
    record_every = round(24.0 / dt)
    assert record_every * dt == 24.0
    ds = simulate_cohort(seed, AT_RISK, n_subjects=n_subjects, horizon_hours=HORIZON, dt=dt,
                         record_every=record_every, event_capacity=4, chunk_size=4096)
    assert ds.sizes["time"] == 365 and float(ds["time"][-1]) == HORIZON
    acts = ds["acts"].sum("time").values.astype(np.float64) * (8766.0 / HORIZON)  # per (365.25-day) year
    per_subject = {
        "any_act": (acts > 0).astype(np.float64),
        "acts_per_year": acts,
        "ge5_acts": (ds["acts"].sum("time").values >= 5).astype(np.float64),
        "mean_affect": ds["affect"].mean("time").values.astype(np.float64),
        "habit_end": ds["habit"].isel(time=-1).values.astype(np.float64),
        "urges_per_year": ds["urges"].sum("time").values.astype(np.float64) * (8766.0 / HORIZON),
    }
    n = n_subjects
    return {k: (float(v.mean()), float(v.std(ddof=1) / math.sqrt(n))) for k, v in per_subject.items()}


def disagreements(stats: dict[float, dict], dt: float) -> list[str]:
    """Statistics at ``dt`` outside the tolerance around the dt = 0.1 h reference, with numbers."""
    out = []
    ref = stats[REFERENCE_DT]
    for name in STATISTICS:
        (m, se), (m0, se0) = stats[dt][name], ref[name]
        tol = max(K * math.hypot(se, se0), FLOOR * abs(m0))
        if abs(m - m0) > tol:
            out.append(f"{name}: {m:.4g} at dt={dt} vs {m0:.4g} at dt={REFERENCE_DT} "
                       f"({(m - m0) / m0:+.1%}; tolerance {tol:.3g}, SE {se:.2g}/{se0:.2g})")
    return out


def format_table(stats: dict[float, dict]) -> str:
    names = (*STATISTICS, "urges_per_year")
    lines = ["dt (h) | " + " | ".join(names)]
    for dt in sorted(stats):
        lines.append(f"{dt} | " + " | ".join(f"{stats[dt][k][0]:.4g} ± {stats[dt][k][1]:.2g}" for k in names))
    return "\n".join(lines)


@pytest.fixture(scope="module")
def stats() -> dict[float, dict]:
    return {dt: cohort_statistics(dt, N_SUBJECTS) for dt in DTS}


def test_cohort_is_active(stats):
    """The comparison means something only if acts happen (and not in everyone)."""
    s = stats[REFERENCE_DT]
    assert 0.1 < s["any_act"][0] < 0.95, s["any_act"]
    assert s["acts_per_year"][0] > 0.2 and s["ge5_acts"][0] > 0 and s["habit_end"][0] > 0, s


def test_quarter_hour_step_agrees_with_reference(stats):
    bad = disagreements(stats, 0.25)
    assert not bad, "dt = 0.25 h disagrees with dt = 0.1 h:\n" + "\n".join(bad) + "\n" + format_table(stats)


@pytest.mark.xfail(strict=True, reason=(
    "dt = 1 h does not agree with dt = 0.1 h. Measured (20,000 AT_RISK subjects, 1 year): any act "
    "+57 %, acts per year +108 %, >= 5 acts +370 %, end habit +113 %, mean affect +2.1 %"))
def test_hour_step_agrees_with_reference(stats):
    bad = disagreements(stats, 1.0)
    assert not bad, "dt = 1 h disagrees with dt = 0.1 h:\n" + "\n".join(bad) + "\n" + format_table(stats)


def test_bias_is_first_order(stats):
    """Refining dt converges, at first order: the bias against dt = 0.1 h grows with dt, and
    bias(1 h) / bias(0.5 h) is near (1 - 0.1) / (0.5 - 0.1) = 2.25 (second order would give
    about 4.1, no convergence about 1). Measured on the low-variance statistics."""
    for name in ("mean_affect", "urges_per_year"):
        m0 = stats[REFERENCE_DT][name][0]
        bias = {dt: stats[dt][name][0] - m0 for dt in (0.25, 0.5, 1.0)}
        assert 0 < bias[0.25] < bias[0.5] < bias[1.0], (name, bias, format_table(stats))
    m0 = stats[REFERENCE_DT]["mean_affect"][0]
    ratio = (stats[1.0]["mean_affect"][0] - m0) / (stats[0.5]["mean_affect"][0] - m0)
    assert 1.5 < ratio < 3.5, (ratio, format_table(stats))


@pytest.mark.slow
def test_dt_table_large(request, capsys):
    """Ten times the cohort (4,000 subjects), with dt = 0.05 h as well: the table (printed), the
    convergence below dt = 0.1 h, and the disagreement of dt = 0.5 h and 1 h.

    Minutes of CPU: runs only when selected with ``-m slow`` (``make test-slow``), so that a plain
    ``pytest tests/test_dt.py`` stays fast.
    """
    if "slow" not in (request.config.getoption("-m") or ""):
        pytest.skip("slow: run with -m slow (make test-slow)")
    big = {dt: cohort_statistics(dt, 10 * N_SUBJECTS, seed=SEED + 1) for dt in (0.05, *DTS)}
    with capsys.disabled():
        print("\n" + format_table(big))
        for dt in (0.05, 0.25, 0.5, 1.0):
            print(f"dt={dt}:", disagreements(big, dt) or "agrees")
    assert not disagreements(big, 0.05)
    assert not disagreements(big, 0.25)  # at 4,000 subjects; the 13 % act bias needs ~20,000 to resolve
    assert disagreements(big, 0.5) and disagreements(big, 1.0)
