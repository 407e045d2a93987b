"""The mechanisms that carry the course over years (MODEL.md, "The course over years").

Each test checks one mechanism against a variant in which it must come out the other way
(mechanism off, or the parameter that carries it at zero).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from nssisim.core import HOURS_PER_YEAR, reference_initial_state, reference_params, reference_step, simulate_cohort
from nssisim.core.model import DEVELOPMENT_REF_AGE, development

ON = [1.0] * 13


def _np_params(**kw):
    return {k: np.float64(v) for k, v in reference_params(kw).items()}


# ---------------------------------------------------------------- M12: two systems
def test_puberty_is_an_inverted_u_peaking_earlier_in_girls():
    ages = np.linspace(8.0, 26.0, 721)
    boy, girl = _np_params(female=0.0), _np_params(female=1.0)
    b_boy, _ = development(boy, ages, 1.0, xp=np)
    b_girl, _ = development(girl, ages, 1.0, xp=np)
    peak_boy, peak_girl = ages[np.argmax(b_boy)], ages[np.argmax(b_girl)]
    assert peak_boy == pytest.approx(boy["puberty_peak_age"], abs=0.03)
    assert peak_boy - peak_girl == pytest.approx(boy["puberty_offset_female"], abs=0.05)
    # rises from late childhood and falls again by young adulthood
    assert b_boy[0] < 0.1 and b_boy[-1] < 0.01 and b_boy.max() == pytest.approx(1.0, abs=1e-3)
    # individual timing shifts the peak
    late = _np_params(female=0.0, puberty_timing=1.5)
    assert ages[np.argmax(development(late, ages, 1.0, xp=np)[0])] == pytest.approx(peak_boy + 1.5, abs=0.05)


def test_prefrontal_maturation_goes_on_into_the_twenties():
    p = _np_params()
    ages = np.array([10.0, 14.0, 18.0, 21.0, 25.0])
    _, m = development(p, ages, 1.0, xp=np)
    assert m[0] == pytest.approx(p["pfc_child_fraction"])
    assert np.all(np.diff(m) > 0)
    assert m[2] < 0.92  # not complete at 18
    assert m[4] > 0.9 and m[4] - m[3] > 0.01  # still rising between 21 and 25


def test_development_off_freezes_both_systems():
    p = _np_params(female=1.0)
    b, m = development(p, np.array([10.0, 14.0, 25.0]), 0.0, xp=np)
    np.testing.assert_array_equal(b, 0.0)
    np.testing.assert_allclose(m, p["pfc_child_fraction"])


def test_the_step_uses_the_age_it_is_given():
    """Same state and uniforms, two ages: the younger, pre-pubertal person's arousal rises less."""
    p = reference_params(dict(lam_stress=0.0))
    s = reference_initial_state(p)
    s.update(stress=0.8)
    u = [0.999, 0.999]
    child, _ = reference_step(u, s, p, ON, 1.0, age=DEVELOPMENT_REF_AGE)
    teen, _ = reference_step(u, s, p, ON, 1.0, age=p["puberty_peak_age"])
    assert teen["affect"] > child["affect"]
    assert teen["pfc"] > child["pfc"]
    off = list(ON)
    off[11] = 0.0
    child_off, _ = reference_step(u, s, p, off, 1.0, age=DEVELOPMENT_REF_AGE)
    teen_off, _ = reference_step(u, s, p, off, 1.0, age=p["puberty_peak_age"])
    assert teen_off == child_off  # M12 off: age does not matter


# ---------------------------------------------------------------- M1: stressful periods
def test_stressful_periods_come_and_go_at_their_rates():
    """Share of days in a period matches enter / (enter + leave); stressors are denser inside periods."""
    tau = 30.0 * 24.0
    lam = 1.0 / (90.0 * 24.0)
    params = dict(lam_period=lam, tau_period=tau, k_period_stressors=4.0, lam_stress=1.0 / 48.0,
                  peer_victimisation=0.0, parental_control=0.0, maltreatment=0.0, female=0.0)
    ds = simulate_cohort(3, params, n_subjects=64, horizon_hours=2 * HOURS_PER_YEAR - 0.5 * 24, dt=1.0, record_every=24,
                         mechanisms_off=("M5",))
    period = ds["period"].values
    share = period.mean()
    assert share == pytest.approx(lam / (lam + 1.0 / tau), abs=0.05)  # 0.25 expected; 64 x 2 years
    switches = np.abs(np.diff(period, axis=1)).sum()
    assert switches > 50
    # the state recorded at a block's end is the period the next block starts in
    stressors = ds["stressors"].values[:, 1:]
    inside = period[:, :-1] > 0.5
    rate_in, rate_out = stressors[inside].mean(), stressors[~inside].mean()
    assert rate_in / rate_out == pytest.approx(5.0, rel=0.2)


def test_without_m1_there_are_no_periods():
    ds = simulate_cohort(3, dict(lam_period=1e-3), n_subjects=64, horizon_hours=365 * 24, dt=1.0, record_every=24,
                         mechanisms_off=("M1", "M5"))
    assert float(ds["period"].values.max()) == 0.0


# ---------------------------------------------------------------- M9: extinction
def _idle_run(p, s, hours, on=ON):
    u = [0.999, 0.999]  # no stressor, urge, attempt or period switch
    for _ in range(int(hours)):
        s, ev = reference_step(u, s, p, on, 1.0, age=16.0)
        assert not ev["act"]
    return s


@pytest.mark.parametrize("floor", [0.0, 0.5])
def test_learned_relief_extinguishes_towards_the_floor_without_acts(floor):
    p = reference_params(dict(relief_extinction_floor=floor, tau_extinction=720.0, lam_period=0.0))
    s = reference_initial_state(p)
    s.update(relief_value=0.7, n_acts=5.0)
    end = _idle_run(p, s, 10 * 720)
    assert end["relief_value"] == pytest.approx(floor * p["relief_value_prior"], abs=0.7 * math.exp(-10) + 1e-9)
    # a person who never acted keeps the prior expectation
    naive = _idle_run(p, reference_initial_state(p), 2000)
    assert naive["relief_value"] == pytest.approx(p["relief_value_prior"])


def test_without_learning_there_is_no_extinction():
    p = reference_params(dict(tau_extinction=720.0, lam_period=0.0))
    s = reference_initial_state(p)
    s.update(n_acts=5.0)
    off = list(ON)
    off[8] = 0.0
    end = _idle_run(p, s, 5 * 720, off)
    assert end["relief_value"] == pytest.approx(p["relief_value_prior"])


# ---------------------------------------------------------------- M10: reinforced habit
def _one_act(p, on):
    s = reference_initial_state(p)
    s.update(affect=0.9, relief_value=0.9, habit=0.1)
    new, ev = reference_step([0.999, 0.0], s, p, on, 1.0, age=16.0)
    assert ev["act"]
    return new["habit"] - s["habit"] * math.exp(-1.0 / p["tau_habit"])


def test_habit_grows_with_reinforced_acts_only():
    p = reference_params(dict(w_habit_reinforcement=1.0))
    no_relief = list(ON)
    no_relief[6] = 0.0  # M7 off: acts bring no relief
    assert _one_act(p, ON) > 0.01
    assert _one_act(p, no_relief) == pytest.approx(0.0, abs=1e-12)
    # with reinforcement-independent habit (w = 0) an unreinforced act builds habit as before
    p0 = reference_params(dict(w_habit_reinforcement=0.0))
    decayed = 0.1 * math.exp(-1.0 / p0["tau_habit"])
    assert _one_act(p0, no_relief) == pytest.approx(p0["eta_habit"] * (1.0 - decayed), rel=1e-9)


# ---------------------------------------------------------------- M10: arbitration with goal-directed control
def test_habit_cue_rate_falls_with_regulation_capacity():
    """The cue rate carries exp(-k (capacity - neutral)): 1 at neutral capacity, and without
    arbitration (k = 0) capacity does not matter."""
    from nssisim.core.model import PFC_NEUTRAL, habit_cue_rate

    p = _np_params(k_habit_control=4.0, lam_cue=0.05, w_habit_cue_affect=0.3)
    base = 0.05 * 0.6 * (1.0 - 0.3 + 0.3 * 0.2)
    assert float(habit_cue_rate(p, 0.6, 0.2, PFC_NEUTRAL, xp=np)) == pytest.approx(base, rel=1e-12)
    strong, weak = (float(habit_cue_rate(p, 0.6, 0.2, c, xp=np)) for c in (0.9, 0.3))
    assert strong == pytest.approx(base * math.exp(-4.0 * 0.4), rel=1e-12)
    assert weak / strong == pytest.approx(math.exp(4.0 * 0.6), rel=1e-12)
    p0 = _np_params(k_habit_control=0.0)
    assert float(habit_cue_rate(p0, 0.6, 0.2, 0.9, xp=np)) == float(habit_cue_rate(p0, 0.6, 0.2, 0.3, xp=np))


def _habitual_acts_by_capacity(k, mechanisms_off=()):
    """Young adults (22) with a strong habit and no stress (so no goal-directed urges): acts in the
    second year of 32 low-capacity (adult prefrontal 0.6) and 32 high-capacity (1.3) persons."""
    n = 64
    pfc = np.where(np.arange(n) < n // 2, 0.6, 1.3)
    ds = simulate_cohort(5, dict(k_habit_control=k, habit_initial=0.6, lam_cue=0.06, tau_habit=8000.0,
                                 lam_stress=0.0, lam_period=0.0, relief_value_prior=0.0, pfc_adult=pfc),
                         n_subjects=n, horizon_hours=2 * HOURS_PER_YEAR, start_age_years=22.0,
                         mechanisms_off=mechanisms_off, records="counts", record_every=8766, events=False)
    per = ds["acts"].values[:, 1]
    assert ds["habit_acts"].values.sum() == ds["acts"].values.sum()  # habitual acts only
    return per[: n // 2].mean(), per[n // 2:].mean()


def test_mature_control_tames_habits_and_weak_control_lets_them_persist():
    """The course consequence (docs/model.md, M10): with arbitration, a strong habit keeps
    itself going in weak-control adults and fades in strong-control ones; without it
    (k = 0) or with M3 off (capacity neutral for everyone), capacity makes no systematic difference."""
    low, high = _habitual_acts_by_capacity(4.0)
    assert low > 10 and low > 4 * high
    low0, high0 = _habitual_acts_by_capacity(0.0)
    assert 0.6 < low0 / high0 < 1.6
    low3, high3 = _habitual_acts_by_capacity(4.0, mechanisms_off=("M3",))
    assert 0.6 < low3 / high3 < 1.6
