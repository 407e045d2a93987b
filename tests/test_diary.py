"""The EMA diary measures of the life course (lifecourse.diary_counts, survey.diary_rates) and their targets."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from nssisim.core.parameters import HOURS_PER_DAY, HOURS_PER_YEAR
from nssisim.population.calibration import is_measured, TARGET_IDS
from nssisim.population.lifecourse import (DIARY_AGES, DIARY_DAYS, DIARY_EVERY_DAYS, DIARY_RECENT_DAYS, diary_counts,
                                           SURVEY_COLUMNS)
from nssisim.population.survey import diary_rates


def _ages(n_days: int, start: float = 11.0) -> np.ndarray:
    return start + (np.arange(n_days) + 0.5) * HOURS_PER_DAY / HOURS_PER_YEAR


def test_diary_counts_equal_a_brute_force_count():
    rng = np.random.default_rng(2)
    n, days = 30, int(9.5 * 365.25)
    acts = (rng.random((n, days)) < rng.uniform(0, 0.05, (n, 1))).astype(float)
    acts[:5] = 0.0  # a few who never act
    urges = acts + rng.poisson(rng.uniform(0, 0.5, (n, 1)), (n, days))
    mid = _ages(days)
    out = diary_counts(acts, urges, mid, HOURS_PER_DAY)
    inside = np.flatnonzero((mid >= DIARY_AGES[0]) & (mid < DIARY_AGES[1]))
    for i in range(n):
        w = u = a = 0
        for d in range(inside[0], inside[-1] + 1, DIARY_EVERY_DAYS):
            if d < DIARY_RECENT_DAYS or d + DIARY_DAYS > days:
                continue
            if acts[i, d - DIARY_RECENT_DAYS:d].sum() > 0:
                w += 1
                u += urges[i, d:d + DIARY_DAYS].sum()
                a += acts[i, d:d + DIARY_DAYS].sum()
        assert (out["diary_windows"][i], out["diary_urges"][i], out["diary_acts"][i]) == (w, u, a), i
    assert 0 < (out["diary_windows"] > 0).sum() < n  # both kinds of subject exercised
    # nobody without an act takes part
    quiet = acts.sum(axis=1) == 0
    assert (out["diary_windows"][quiet] == 0).all()


def test_diary_counts_need_daily_records_and_the_ages():
    acts = np.ones((2, 400))
    z = diary_counts(acts, acts, _ages(400), 6.0)  # 6-hour blocks: not a daily record
    assert all((v == 0).all() for v in z.values())
    z = diary_counts(acts, acts, _ages(400, start=20.0), HOURS_PER_DAY)  # after the diary ages
    assert all((v == 0).all() for v in z.values())
    assert {"diary_windows", "diary_urges", "diary_acts"} <= set(SURVEY_COLUMNS)


def test_diary_rates_are_per_participant_week_with_a_cluster_variance():
    t = pd.DataFrame({"diary_windows": [0, 2, 1, 3], "diary_urges": [0.0, 20.0, 4.0, 30.0],
                      "diary_acts": [0.0, 4.0, 1.0, 6.0]})
    (u, vu), (a, va) = diary_rates(t)
    weeks = np.array([2, 1, 3]) * DIARY_DAYS / 7.0
    assert u == pytest.approx(54.0 / weeks.sum()) and a == pytest.approx(11.0 / weeks.sum())
    y = np.array([20.0, 4.0, 30.0])
    assert vu == pytest.approx(((y - u * weeks) ** 2).sum() / (3 * 2 * weeks.mean() ** 2))
    assert va > 0
    one = diary_rates(t.iloc[:2])
    assert all(math.isnan(x) for pair in one for x in pair)  # a single participant: no estimate
    assert all(math.isnan(x) for pair in diary_rates(t.drop(columns="diary_windows")) for x in pair)


def test_the_ema_targets_are_measured_on_the_survey_table():
    for tid in ("ema_thoughts_week", "ema_acts_week"):
        t = TARGET_IDS[tid]
        assert is_measured(t) and t.measure in ("ema_urges_week", "ema_acts_week")
        assert t.ages[1] > DIARY_AGES[1]
