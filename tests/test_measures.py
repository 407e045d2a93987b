"""Virtual measurements on hand-made Datasets with known answers, and on a small simulated cohort."""

from __future__ import annotations

import math

import numpy as np
import pytest
import xarray as xr

from conftest import ACTIVE, HORIZON_30D, N_SUBJECTS
from nssisim.core import measures as M
from nssisim.core import measure, prevalence_by_age
from nssisim.core import HOURS_PER_YEAR
from nssisim.core import simulate_cohort

DAY = 24.0


def make_ds(events: dict[int, list[tuple]], days: int, *, start_age: float = 12.0, harm=None, tolerance=None,
            ideation=None) -> xr.Dataset:
    """A Dataset shaped like simulate_cohort's (daily blocks, dt = 1 h).

    ``events[s]`` lists ``(time_h, kind, habitual, intrapersonal, interpersonal)`` of subject s;
    per-block counts are binned from them; states default to zero (or the given (n, days) arrays).
    """
    subjects = sorted(events)
    n = len(subjects)
    time = np.arange(1, days + 1) * DAY
    counts = {f: np.zeros((n, days)) for f in ("acts", "urges", "habit_acts", "attempts", "intrapersonal_acts",
                                               "interpersonal_acts")}
    rows = []
    for i, s in enumerate(subjects):
        for t, kind, hab, intra, inter in events[s]:
            b = int(math.ceil(t / DAY)) - 1
            if kind == 2:
                counts["attempts"][i, b] += 1
            else:
                counts["urges"][i, b] += 1
            if kind == 1:
                counts["acts"][i, b] += 1
                counts["habit_acts"][i, b] += hab
                counts["intrapersonal_acts"][i, b] += intra
                counts["interpersonal_acts"][i, b] += inter
            rows.append((s, t, kind, hab, intra, inter))
    ev = np.array(rows, dtype=float).reshape(-1, 6)
    zeros = np.zeros((n, days))
    data = {k: (("subject", "time"), v) for k, v in counts.items()}
    for k, v in (("harm", harm), ("tolerance", tolerance), ("ideation", ideation)):
        data[k] = (("subject", "time"), zeros if v is None else np.asarray(v, float))
    data.update({
        "events_dropped": (("subject",), np.zeros(n, np.int64)),
        "event_subject": (("event",), ev[:, 0].astype(np.int64)),
        "event_time": (("event",), ev[:, 1]),
        "event_kind": (("event",), ev[:, 2].astype(np.int8)),
        "event_habitual": (("event",), ev[:, 3].astype(bool)),
        "event_intrapersonal": (("event",), ev[:, 4].astype(bool)),
        "event_interpersonal": (("event",), ev[:, 5].astype(bool)),
    })
    return xr.Dataset(data, coords={"subject": subjects, "time": time, "age": ("time", start_age + time / HOURS_PER_YEAR)},
                      attrs={"dt_hours": 1.0, "start_age_years": start_age})


def act(t, habitual=False, intra=True, inter=False):
    return (t, 1, habitual, intra, inter)


def test_episodes_days_and_thresholds():
    ds = make_ds({
        0: [act(10), act(20), act(44), act(100)],                   # gaps 10, 24, 56 h: 3 episodes, days 0, 1, 4
        1: [act(1), act(2), act(25), act(49), act(73)],             # 5 acts on 4 days (0, 1, 2, 3)
        2: [act(1), act(25), act(49), act(73), act(97)],            # 5 acts on 5 days
        3: [act(24), act(25)],                                      # the act ending hour 24 lies in day 0
    }, days=30)
    m = measure(ds)
    assert m.loc[0, "n_episodes"] == 3 and m.loc[0, "n_acts"] == 4 and m.loc[0, "days_12m"] == 3
    assert m.loc[1, "n_episodes"] == 3  # 1, 2, 25 h: one episode (gaps < 24 h); 49 and 73 h: 24 h gaps, new episodes
    assert m.loc[1, "five_plus_12m"] and not m.loc[1, "criterion_a"] and m.loc[1, "days_12m"] == 4
    assert m.loc[2, "five_plus_12m"] and m.loc[2, "criterion_a"]
    assert not m.loc[0, "five_plus_12m"] and not m.loc[0, "criterion_a"]
    assert m.loc[3, "days_12m"] == 2 and m.loc[3, "n_episodes"] == 1
    assert m["lifetime_nssi"].all() and m["nssi_12m"].all() and not m["cessation"].any()


def test_window_cessation_and_onset():
    days = 500
    win_start = days * DAY - M.YEAR_HOURS
    ds = make_ds({
        0: [act(10 * DAY + 5)],                                     # only before the window
        1: [act(HOURS_PER_YEAR / 2), act(days * DAY - 1)],          # onset at age 12.5; an act in the window
        2: [(30.0, 0, False, False, False)],                        # an urge resisted: no NSSI
        3: [act(win_start - 1), act(win_start + 1)],                # one act either side of the window edge
    }, days=days, start_age=12.0)
    m = measure(ds)
    assert m.loc[0, "lifetime_nssi"] and not m.loc[0, "nssi_12m"] and m.loc[0, "cessation"]
    assert m.loc[1, "onset_age"] == pytest.approx(12.5) and not m.loc[1, "cessation"]
    assert m.loc[0, "onset_age"] == pytest.approx(12.0 + (10 * DAY + 5) / HOURS_PER_YEAR)
    assert math.isnan(m.loc[2, "onset_age"]) and not m.loc[2, "lifetime_nssi"] and not m.loc[2, "cessation"]
    assert m.loc[3, "n_acts"] == 2 and m.loc[3, "n_acts_12m"] == 1 and m.loc[3, "days_12m"] == 1


def test_functions_ideation_attempts():
    ide = np.zeros((3, 10))
    ide[1, 4] = 0.6
    ide[2, 4] = 0.5
    ds = make_ds({
        0: [act(5, intra=True, inter=False), act(50, intra=False, inter=True), (60.0, 2, False, False, False)],
        1: [act(5, intra=False, inter=False)],
        2: [(60.0, 2, False, False, False)],
    }, days=10, ideation=ide)
    m = measure(ds)
    assert m.loc[0, "function_intrapersonal"] and m.loc[0, "function_interpersonal"]
    assert not m.loc[1, "function_intrapersonal"] and not m.loc[1, "function_interpersonal"]
    assert m.loc[0, "n_acts"] == 2  # the attempt is not an NSSI act
    assert list(m["attempt"]) == [True, False, True] and list(m["nssi_and_attempt"]) == [True, False, False]
    assert list(m["ideation"]) == [False, True, False]  # strictly above 0.5


def _addictive_case(n_acts=6, habitual=True, tol=0.3, harm=0.5, urges=True):
    days = 364
    evs = [act(100 + 48 * k, habitual=habitual and k % 2 == 0) for k in range(n_acts)]
    if urges:  # resisted urges to reach >= 2 urges a week with the acts
        evs += [(2000.0 + 12 * k, 0, False, False, False) for k in range(110)]
    t = np.zeros((1, days))
    t[0, -1] = tol
    h = np.full((1, days), harm)
    return make_ds({0: evs}, days=days, tolerance=t, harm=h)


def test_addictive_rule():
    m = measure(_addictive_case()).loc[0]
    assert m["urges_per_week_12m"] >= M.CRAVING_URGES_PER_WEEK
    assert m["craving"] and m["tolerance"] and m["loss_of_control"] and m["despite_harm"]
    assert m["addictive_index"] == 4 and m["addictive"]
    # three of four components are enough
    m = measure(_addictive_case(tol=0.1)).loc[0]
    assert m["addictive_index"] == 3 and m["addictive"]
    # two are not
    m = measure(_addictive_case(tol=0.1, harm=0.2)).loc[0]
    assert m["addictive_index"] == 2 and not m["addictive"]
    # all four features, but fewer than 5 acts in the year: not repetitive, not addictive
    m = measure(_addictive_case(n_acts=4)).loc[0]
    assert m["addictive_index"] == 4 and not m["addictive"]
    # no habit-triggered acts, no frequent urges
    m = measure(_addictive_case(habitual=False, urges=False)).loc[0]
    assert not m["loss_of_control"] and not m["craving"] and m["addictive_index"] == 2


def test_despite_harm_uses_state_before_the_act():
    harm = np.zeros((1, 10))
    harm[0, 2:] = 0.5  # recorded at the end of day 2 onwards
    ds = make_ds({0: [act(30), act(60), act(80), act(100)]}, days=10, harm=harm)  # days 1, 2, 3, 4
    assert measure(ds).loc[0, "acts_despite_harm_12m"] == 2  # the acts in days 3 and 4


def test_prevalence_by_age():
    days = 731
    ds = make_ds({0: [act(100)], 1: [act(400 * DAY)], 2: [], 3: [act(5), act(600 * DAY)]}, days=days, start_age=12.0)
    p = prevalence_by_age(ds)
    assert list(p["age"]) == [12, 13]
    assert p.loc[0, "prevalence_12m"] == pytest.approx(0.5) and p.loc[1, "prevalence_12m"] == pytest.approx(0.5)
    assert p.loc[0, "ci_low"] < 0.5 < p.loc[0, "ci_high"]
    assert p.loc[0, "mean_acts"] == pytest.approx(0.5)


@pytest.fixture(scope="module")
def simulated():
    ds = simulate_cohort(3, dict(ACTIVE), n_subjects=N_SUBJECTS, horizon_hours=HORIZON_30D, start_age_years=12.0)
    return ds, measure(ds)


def test_simulated_cohort_consistency(simulated):
    ds, m = simulated
    assert len(m) == N_SUBJECTS and list(m.columns) == list(M.COLUMNS)
    assert m["lifetime_nssi"].any() and (m["events_dropped"] == 0).all()
    ev_acts = np.bincount(ds["event_subject"].values[ds["event_kind"].values == 1], minlength=N_SUBJECTS)
    np.testing.assert_array_equal(m["n_acts"].to_numpy(), ev_acts)
    assert (m["n_acts"] == m["n_acts_12m"]).all()  # a 30-day run lies inside its past year
    assert (m["n_episodes"] <= m["n_acts"]).all() and (m["days_12m"] <= m["n_acts"]).all()
    onset = m["onset_age"][m["lifetime_nssi"]]
    assert ((onset >= 12.0) & (onset <= 12.0 + HORIZON_30D / HOURS_PER_YEAR)).all()
    assert m["onset_age"][~m["lifetime_nssi"]].isna().all()
    assert not m["cessation"].any()
    assert prevalence_by_age(ds).empty  # no whole year of age is covered by 30 days
