"""The full EMA recovery study (slow: about 4-7 minutes on 2 loaded cores).

30 participants drawn across the recovery ranges, 14 days x 6 prompts a day from the full
simulator, fitted with the default sampler settings; then the goals (correlation >= 0.8, 90 %
coverage in 0.8..0.98) are checked for the quantities declared identifiable.
"""

from __future__ import annotations

import math

import pytest

from nssisim.ema import IDENTIFIABLE, recover, self_consistency
from nssisim.ema import recovery as R

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def recovery(tmp_path_factory):
    return recover(tmp_path_factory.mktemp("recovery"), n_participants=30, days=14, prompts_per_day=6, seed=1)


def _rows(rec):
    return {r["parameter"]: r for r in rec["recovery"]}


def test_recovery_correlation_goal_for_identifiable(recovery):
    rows = _rows(recovery)
    for name in IDENTIFIABLE:
        assert rows[name]["correlation"] >= R.RECOVERY_CORR_MIN, (name, rows[name])


def test_recovery_coverage_goal_for_identifiable(recovery):
    rows = _rows(recovery)
    for name in IDENTIFIABLE:
        if rows[name]["kind"] == "same":
            lo, hi = R.COVERAGE90_RANGE
            assert lo <= rows[name]["coverage90"] <= hi, (name, rows[name])


@pytest.mark.xfail(strict=True, reason="not met at this commit: the recovery fit warns (seed 1, 2 x 500 + 500: "
                                       "R-hat of habit 1.062, ESS 32; the posterior of low-threshold participants "
                                       "is bimodal in threshold x habit; 1000 + 1000 did not cure it on seed 2)")
def test_recovery_fit_has_no_diagnostic_warnings(recovery):
    assert recovery["diagnostic_warnings"] == []


def test_forecast_beats_base_rate_on_heldout_week(recovery):
    fc = recovery["forecast"]
    assert fc["n"] == 30 and math.isfinite(fc["brier"])
    assert fc["brier"] < fc["brier_base_rate"], fc


def test_self_consistency_habit_meets_goals_on_inference_model_data():
    """Data from the inference model itself (not the simulator): habit meets both goals, so its
    miscoverage on simulator data comes from the model mismatch, not from the sampler or design."""
    res = self_consistency(seed=1)
    row = res.loc["habit"]
    assert row["correlation"] >= R.RECOVERY_CORR_MIN
    assert R.COVERAGE90_RANGE[0] <= row["coverage90"] <= R.COVERAGE90_RANGE[1]
