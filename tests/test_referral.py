"""Criteria over daily histories, referral rules on the community life course, the referred
profile, referral-drawn trials, day outcomes and the clinical-profile command."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from nssisim.cli import app
from nssisim.core import simulate_cohort
from nssisim.population import (meets, help_seeking, History, load_rule, parse_node, parse_rule, profile_table,
                                refer, referral_days, ReferralError, ReferredSample, RULES, sample_population)
from nssisim.population.referral import check_days, check_uniforms
from nssisim.population.spec import load_population, params_of
from nssisim.trials import (Arm, build_schedule, completion_check, completion_to_dropout, day_outcomes, DesignError,
                            eligible_history, load_intervention, parse_design, run_trial, screen_patients,
                            simulate_arms)


def _hist(acts, attempts=None, ideation=None, severity=None, urges=None, start_age=10.0, sex=None) -> History:
    acts = np.asarray(acts, float)
    z = np.zeros_like(acts)
    return History(acts, z if attempts is None else np.asarray(attempts, float), z if urges is None else np.asarray(urges, float),
                   z if ideation is None else np.asarray(ideation, float), z if severity is None else np.asarray(severity, float),
                   start_age, np.full(acts.shape[0], np.nan) if sex is None else np.asarray(sex, float))


def _err(msg):
    return ValueError(msg)


# ------------------------------------------------------------------------------ criteria
def test_criteria_on_an_empty_group_of_subjects():
    """No subject left to check (an earlier screening stage kept nobody): every measure, windowed or not, and
    every combination give an empty answer, not an error."""
    h = _hist(np.zeros((0, 30)), ideation=np.zeros((0, 30)), severity=np.zeros((0, 30)))
    node = parse_node({"any": [{"measure": "ideation", "window_days": 10, "above": 0.5},
                               {"measure": "acts", "window_days": 10, "min": 1},
                               {"measure": "severity", "min": 0.4}]}, "test", _err)
    assert meets(node, h, np.zeros(0, np.int64) + 20).shape == (0,)


def test_criteria_windows_and_combinations_on_a_hand_made_history():
    # subject 0: acts on days 0, 5, 6 ; subject 1: one act on day 9 and an attempt on day 8; subject 2: nothing
    acts = np.zeros((3, 10))
    acts[0, [0, 5, 6]] = [1, 2, 1]
    acts[1, 9] = 1
    att = np.zeros((3, 10))
    att[1, 8] = 1
    ide = np.zeros((3, 10))
    ide[2, 3] = 0.8
    h = _hist(acts, att, ide, sex=[1, 0, 1])

    def ev(tab, at=10):
        return meets(parse_node(tab, "t", _err), h, at).tolist()

    assert ev({"measure": "acts", "min": 4}) == [True, False, False]                       # lifetime acts
    assert ev({"measure": "nssi_days", "min": 3}) == [True, False, False]                  # act days, not acts
    assert ev({"measure": "acts", "window_days": 3, "min": 1}) == [False, True, False]     # days 7..9
    assert ev({"measure": "acts", "window_days": 4, "min": 1}) == [True, True, False]      # days 6..9
    assert ev({"measure": "acts", "window_days": 5, "min": 1}, at=9) == [True, False, False]  # day 9 not yet seen
    assert ev({"measure": "days_since_act", "max": 1}) == [False, True, False]
    assert ev({"measure": "days_since_act", "max": 4}) == [True, True, False]
    assert ev({"measure": "ideation", "window_days": 7, "above": 0.5}) == [False, False, True]
    assert ev({"measure": "ideation", "window_days": 6, "above": 0.5}) == [False, False, False]
    assert ev({"measure": "sex_female", "min": 1}) == [True, False, True]
    # AND, OR, NOT
    assert ev({"all": [{"measure": "acts", "min": 1}, {"measure": "sex_female", "min": 1}]}) == [True, False, False]
    assert ev({"any": [{"measure": "attempts", "min": 1}, {"measure": "ideation", "above": 0.5}]}) == [False, True, True]
    assert ev({"none": [{"measure": "attempts", "min": 1}]}) == [True, False, True]
    nested = {"all": [{"measure": "acts", "min": 1}],
              "any": [{"measure": "sex_female", "min": 1}, {"all": [{"measure": "attempts", "min": 1},
                                                                     {"measure": "days_since_attempt", "max": 2}]}]}
    assert ev(nested) == [True, True, False]
    assert ev({}) == [True, True, True]
    # age at the evaluation day: 10 + 10 days
    assert ev({"measure": "age", "min": 10.02, "max": 10.03}) == [True] * 3


def test_urges_count_each_urge_and_urge_days_count_days():
    urges = np.array([[3, 0, 1, 0.0], [1, 1, 1, 1.0]])
    h = _hist(np.zeros((2, 4)), urges=urges)

    def ev(tab, at=4):
        return meets(parse_node(tab, "t", _err), h, at).tolist()

    assert ev({"measure": "urges", "min": 4}) == [True, True]
    assert ev({"measure": "urge_days", "min": 3}) == [False, True]
    assert ev({"measure": "urges", "window_days": 2, "min": 1}) == [True, True]     # days 2..3
    assert ev({"measure": "urges", "window_days": 3, "min": 2}) == [False, True]    # days 1..3: 1 and 3
    assert ev({"measure": "urges", "window_days": 4, "above": 3}) == [True, True]


def test_severity_is_the_largest_daily_mean_in_the_window():
    acts = np.array([[1, 0, 2, 0.0]])
    sev = np.array([[0.2, 0.0, 0.7, 0.0]])
    h = _hist(acts, severity=sev)
    assert meets(parse_node({"measure": "severity", "window_days": 2, "min": 0.7}, "t", _err), h, 4).tolist() == [True]
    assert meets(parse_node({"measure": "severity", "window_days": 1, "min": 0.1}, "t", _err), h, 4).tolist() == [False]


def test_per_subject_evaluation_days_equal_one_day_at_a_time():
    rng = np.random.default_rng(1)
    h = _hist((rng.random((12, 50)) < 0.1).astype(float), (rng.random((12, 50)) < 0.03).astype(float),
              rng.random((12, 50)), rng.random((12, 50)))
    node = parse_node({"any": [{"measure": "ideation", "window_days": 5, "above": 0.9},
                               {"all": [{"measure": "severity", "window_days": 7, "min": 0.8},
                                        {"measure": "days_since_attempt", "max": 10}]}],
                       "none": [{"measure": "nssi_days", "window_days": 3, "min": 2}]}, "t", _err)
    at = rng.integers(0, 51, 12)
    together = meets(node, h, at)
    alone = [bool(meets(node, h.take(np.array([i])), int(at[i]))[0]) for i in range(12)]
    assert together.tolist() == alone and 0 < together.sum() < 12


@pytest.mark.parametrize("tab, match", [
    ({"measure": "actz", "min": 1}, r"t.measure: unknown measure 'actz' \(did you mean 'acts'\?\)"),
    ({"measure": "acts"}, r"t: a criterion needs a bound"),
    ({"measure": "acts", "window_days": 0, "min": 1}, r"t.window_days: expected a whole number"),
    ({"measure": "age", "window_days": 5, "min": 1}, r"t.window_days: measure 'age' takes no window"),
    ({"alll": []}, r"t: unknown key 'alll' \(did you mean 'all'\?\)"),
    ({"any": [{"measure": "acts", "min": "x"}]}, r"t.any\[0\].min: expected a number"),
    ({"all": {"measure": "acts"}}, r"t.all: expected a list"),
])
def test_criteria_errors_name_the_field(tab, match):
    with pytest.raises(ValueError, match=match):
        parse_node(tab, "t", _err)


# ------------------------------------------------------------------------------ referral rules
RULE = {
    "name": "tiny", "age_min": 10.05, "age_max": 10.5, "check_every_days": 10,
    "help_seeking": {"mean": 0.5, "sd": 0.2},
    "pathways": [
        {"name": "nssi", "probability": 0.5, "help_seeking": True,
         "criteria": {"all": [{"measure": "nssi_days", "window_days": 20, "min": 1}]}},
        {"name": "attempt", "probability": 0.9, "help_seeking": False,
         "criteria": {"all": [{"measure": "attempts", "window_days": 20, "min": 1}]}},
    ],
}


def test_shipped_rules_load_with_evidence():
    from nssisim.modeldoc import load_references

    refs = load_references()
    for name in RULES:
        r = load_rule(name)
        assert r.pathways and 0 < r.help_mean < 1
        assert all(k in refs for k in r.evidence), r.evidence


@pytest.mark.parametrize("mutate, match", [
    (lambda d: d.update(colour=1), r"r.toml: unknown key 'colour'"),
    (lambda d: d.update(age_max=10.0), r"r.toml: age_max 10.0 must be above age_min"),
    (lambda d: d["pathways"][0].update(probability=2), r"pathways\[0\].probability: 2 must be <= 1"),
    (lambda d: d["pathways"][1]["criteria"]["all"][0].update(measure="atempts"),
     r"pathways\[1\].criteria.all\[0\].measure: unknown measure 'atempts' \(did you mean 'attempts'\?\)"),
    (lambda d: d.pop("help_seeking"), r"help_seeking: missing"),
    (lambda d: d["help_seeking"].update(sd=0.6), r"help_seeking: sd=0.6 is too large"),
])
def test_rule_errors_name_file_and_field(mutate, match):
    data = copy.deepcopy(RULE)
    mutate(data)
    with pytest.raises(ReferralError, match=match):
        parse_rule(data, "r.toml")


def test_referral_is_exactly_the_rule_on_a_hand_made_history():
    """Brute force: at each check, in order, refer when the per-check uniform is below the largest
    probability of the pathways whose criteria hold (help seeking scaling the pathways that need it)."""
    rule = parse_rule(RULE, "r.toml")
    rng = np.random.default_rng(3)
    n, days = 40, 200
    acts = (rng.random((n, days)) < 0.02).astype(float)
    att = (rng.random((n, days)) < 0.004).astype(float)
    h = _hist(acts, att)
    ids = np.arange(100, 100 + n)
    ref, via = referral_days(rule, h, 9, ids)
    checks = check_days(rule, 10.0)
    checks = checks[checks <= days]
    hs = help_seeking(rule, 9, ids)
    u = check_uniforms(9, ids, checks.size)
    for i in range(n):
        expect, path = -1, -1
        for m, d in enumerate(checks):
            q_nssi = 0.5 * hs[i] if (acts[i, max(d - 20, 0):d] > 0).sum() >= 1 else 0.0
            q_att = 0.9 if att[i, max(d - 20, 0):d].sum() >= 1 else 0.0
            if u[i, m] < max(q_nssi, q_att):
                expect, path = d, int(np.argmax([q_nssi, q_att]))
                break
        assert (ref[i], via[i]) == (expect, path), i
    assert 0 < (ref >= 0).sum() < n  # the history exercises both outcomes
    # never before a criterion holds: subjects without any act or attempt are never referred
    quiet = (acts.sum(1) == 0) & (att.sum(1) == 0)
    assert (ref[quiet] == -1).all()
    # keyed by subject id only: the same subject gets the same day in another pool
    ref2, _ = referral_days(rule, h.take(np.arange(5, 15)), 9, ids[5:15])
    np.testing.assert_array_equal(ref2, ref[5:15])


def test_help_seeking_scales_referral():
    """A pathway that needs help seeking never refers a subject whose propensity is 0."""
    data = copy.deepcopy(RULE)
    data["help_seeking"] = {"mean": 0.0, "sd": 0.0}
    data["pathways"] = [data["pathways"][0]]
    acts = np.ones((5, 100))
    ref, _ = referral_days(parse_rule(data), _hist(acts), 0, np.arange(5))
    assert (ref == -1).all()
    data["help_seeking"] = {"mean": 1.0, "sd": 0.0}
    data["pathways"][0]["probability"] = 1.0
    ref, _ = referral_days(parse_rule(data), _hist(acts), 0, np.arange(5))
    assert (ref == check_days(parse_rule(data), 10.0)[0]).all()  # the first check


@pytest.mark.parametrize("name", RULES)
def test_checks_lie_within_the_rules_ages(name):
    """Every check of a shipped rule falls on a day whose age lies in [age_min, age_max], the first on the
    first such day: 2 years from age 10 are 730.5 days, and the nearest day, 730, is age 11.9986."""
    rule = load_rule(name)
    for start in (10.0, 10.3, rule.age_min):
        days = check_days(rule, start)
        age = start + days / 365.25
        assert days.size and (age >= rule.age_min).all() and (age <= rule.age_max).all(), (start, age[:2])
        assert days[0] == 1 or start + (days[0] - 1) / 365.25 < rule.age_min


def test_a_patient_referred_at_the_first_check_is_in_the_rules_and_the_designs_ages(tiny_rule):
    """Referred at the rule's first check (age_min 10.05: day 18.26 of the life course), a patient is eligible
    for a design whose ages are the rule's; on day 18 (age 10.0493) no design from 10.05 could take them."""
    rule = load_rule(tiny_rule)
    h = _hist(np.ones((1, 200)))
    ref, _ = referral_days(rule, h, 4, np.arange(1))
    assert ref[0] == check_days(rule, 10.0)[0] and 10.0 + ref[0] / 365.25 >= rule.age_min
    d = parse_design(_design(tiny_rule, eligibility={"age_min": rule.age_min, "age_max": rule.age_max}), "d.toml")
    assert eligible_history(h, d, ref).tolist() == [True]


#: A rule for tiny simulated tests: checks over half a year from 10.05, any act in 20 days refers.
SIM_RULE = dict(copy.deepcopy(RULE), help_seeking={"mean": 1.0, "sd": 0.0})
SIM_RULE["pathways"] = [dict(SIM_RULE["pathways"][0], probability=1.0)]


@pytest.fixture(scope="module")
def tiny_rule(tmp_path_factory):

    path = tmp_path_factory.mktemp("rule") / "tiny_rule.toml"
    lines = ['name = "tiny"', "age_min = 10.05", "age_max = 10.5", "check_every_days = 10",
             "[help_seeking]", "mean = 1.0", "sd = 0.0",
             "[[pathways]]", 'name = "nssi"', "probability = 1.0", "help_seeking = true",
             'criteria = { all = [ { measure = "nssi_days", window_days = 20, min = 1 } ] }']
    path.write_text("\n".join(lines) + "\n")
    return path


def test_refer_returns_the_referred_with_their_profile(tiny_rule, tmp_path):
    s = refer(tiny_rule, 64, seed=4, population="clinical", chunk_size=32, checkpoint=tmp_path)
    t = s.table
    assert s.screened == 64 and 0 < len(t) < 64
    rule = load_rule(tiny_rule)
    checks = check_days(rule, 10.0)
    assert set(t["referral_day"]).issubset(set(checks.tolist()))
    assert (t["acts_90d"] >= 1).all() and (t["lifetime_acts"] >= t["acts_90d"]).all()
    np.testing.assert_allclose(t["referral_age"], 10.0 + t["referral_day"] / 365.25)
    assert t["subject"].is_monotonic_increasing
    # resumable: the cached chunks are reused, giving the same table
    assert len(list(tmp_path.glob("referral_*.parquet"))) == 2
    again = refer(tiny_rule, 64, seed=4, population="clinical", chunk_size=32, checkpoint=tmp_path)
    pd.testing.assert_frame_equal(t, again.table)
    # chunking does not change who is referred
    other = refer(tiny_rule, 64, seed=4, population="clinical", chunk_size=64)
    pd.testing.assert_frame_equal(t, other.table)


def test_life_course_screen_is_refer_on_the_same_simulation(tiny_rule):
    """The demo's referred sample (the rule applied to a life-course run as it is simulated) is the
    sample refer() draws when the life course starts where refer's does (no burn-in)."""
    from nssisim.population import LifeCourse, LifeCourseScreen, run_in_memory

    screen = LifeCourseScreen(tiny_rule, 4, "clinical", 10.0)
    run_in_memory("clinical", 32, seed=4, course=LifeCourse(start_age=10.0, end_age=11.0, burn_in=0.0),
                  on_dataset=screen)
    s = screen.sample()
    assert s.screened == 32 and s.rule.name == "tiny"
    pd.testing.assert_frame_equal(s.table, refer(tiny_rule, 32, seed=4, population="clinical").table)
    # with a burn-in the history still counts from the start age
    screen = LifeCourseScreen(tiny_rule, 4, "clinical", 10.0)
    run_in_memory("clinical", 32, seed=4, course=LifeCourse(start_age=10.0, end_age=11.0, burn_in=0.5),
                  on_dataset=screen)
    t = screen.sample().table
    assert len(t) > 0 and (t["referral_age"] >= 10.05 - 1e-9).all()
    start = (t["referral_age"] - t["referral_day"] / 365.25).to_numpy()  # day 0: the first day at or after 10
    assert ((start >= 10.0 - 1 / 365.25) & (start <= 10.0 + 1 / 365.25)).all()


def test_pre_referral_history_is_bit_identical_when_resimulated_with_treatment(tiny_rule):
    """Screen once, re-simulate only the referred with a DBT-A schedule that starts at referral:
    everything before the referral day is identical bit for bit; after it the treatment acts."""
    s = refer(tiny_rule, 64, seed=4, population="clinical", chunk_size=64)
    ids, day = s.ids, s.referral_day
    spec = load_population("clinical")
    pool = params_of(sample_population(spec, 64, 4, subject_ids=np.arange(64)))
    kw = dict(dt=1.0, record_every=24, event_capacity=1, start_age_years=10.0)
    first = simulate_cohort(4, pool, subject_ids=np.arange(64), horizon_hours=164 * 24.0, **kw)
    sched, _ = build_schedule([Arm("dbt_a", load_intervention("dbt_a"))], np.zeros(ids.size, int), ids, 4,
                              day * 24.0, 60)
    again = simulate_cohort(4, {k: v[ids] for k, v in pool.items()}, subject_ids=ids, schedule=sched,
                            horizon_hours=(int(day.max()) + 60) * 24.0, **kw)
    changed = 0
    for j, i in enumerate(ids):
        for f in ("acts", "urges", "attempts", "affect", "ideation", "tolerance", "harm", "habit"):
            np.testing.assert_array_equal(first[f].values[i, :day[j]], again[f].values[j, :day[j]], err_msg=f"{f} {i}")
        changed += not np.array_equal(first["affect"].values[i, day[j]:164], again["affect"].values[j, day[j]:164])
    assert changed == ids.size


def test_profile_table_reports_means_and_the_published_targets():
    rule = parse_rule(RULE)
    t = pd.DataFrame({"subject": [1, 2, 3, 4], "referral_day": [900] * 4, "referral_age": [12.0, 13.0, 14.0, 15.0],
                      "sex_female": [1.0, 1.0, 0.0, 1.0], "acts_per_month": [1.0, 2.0, 3.0, 10.0],
                      "more_than_weekly": [True, False, False, True], "almost_daily_urges": [False] * 4,
                      "diary_urges_per_week": [5.0] * 4, "diary_acts_per_week": [1.0] * 4, "diary_acts": [2.0] * 4,
                      "diary_urges": [10.0] * 4, "lifetime_attempt": [True, False, False, False],
                      "nssi_and_attempt": [True, False, False, False], "attempt_12m": [False] * 4,
                      "ideation_90d": [True] * 4, "addictive": [False, False, False, True],
                      "function_intrapersonal": [True, True, True, False],
                      "function_interpersonal": [True, False, False, False]})
    tab = profile_table(ReferredSample(rule, "community", 0, 10.0, 100, t)).set_index("measure")
    assert tab.loc["referral rate (share of the community pool)", "simulated"] == pytest.approx(0.04)
    assert tab.loc["acts per month at referral (mean)", "simulated"] == pytest.approx(4.0)
    assert tab.loc["acts per month at referral (median)", "simulated"] == pytest.approx(2.5)
    assert tab.loc["girls (share)", "simulated"] == pytest.approx(0.75)
    row = tab.loc["NSSI more than weekly (share)"]
    assert row.simulated == 0.5 and row.published == pytest.approx(0.833) and row.inside is None  # a point value
    row = tab.loc["intrapersonal function (share)"]  # 0.75 inside the published 0.63-0.78
    assert row.published_low == pytest.approx(0.63) and row.inside is True
    row = tab.loc["interpersonal function (share)"]  # 0.25 below 0.33-0.56
    assert row.inside is False
    assert tab.loc["NSSI and a suicide attempt (share)", "published"] == pytest.approx(0.26)


# ------------------------------------------------------------------------------ day outcomes
class _W:
    def __init__(self, a, b):
        self.start_day, self.end_day = a, b


def test_day_outcomes_on_a_hand_made_record():
    """4 baseline days, then 12 days; remission = 3 act-free days."""
    base = [[1, 0, 1, 0],  # 2 NSSI days in 4: rate 0.5
            [1, 1, 1, 1],  # rate 1
            [0, 0, 0, 0],  # no baseline NSSI: never a responder
            [1, 0, 0, 0]]
    post = [[2, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0],   # free days 1-4, act on day 5 (relapse), then free
            [1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1],   # act days 0-2, free 3-10, act on 11 (relapse in w2)
            [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            [0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1]]   # never 3 free days: no relapse
    acts = np.concatenate([np.array(base, float), np.array(post, float)], axis=1)
    att = np.zeros_like(acts)
    att[3, 4 + 2] = 1
    wins = [_W(0, 6), _W(6, 12)]
    o = day_outcomes(acts, att, 4, wins, 3)
    np.testing.assert_array_equal(o["nssi_days"], [[2, 0], [3, 1], [0, 0], [3, 3]])
    np.testing.assert_array_equal(o["nssi_per_month"][0], [3 / (6 / 30.4375), 0])
    # response: window NSSI days per day <= half the baseline rate (and baseline NSSI)
    np.testing.assert_array_equal(o["response"], [[False, True], [True, True], [False, False], [False, False]])
    # remission: no act in the last 3 days of the window
    np.testing.assert_array_equal(o["remission"], [[False, True], [True, False], [True, True], [False, False]])
    # relapse: an act after >= 3 act-free days since randomisation
    np.testing.assert_array_equal(o["relapse"], [[True, False], [False, True], [False, False], [False, False]])
    np.testing.assert_array_equal(o["attempt_free"], [[1, 1], [1, 1], [1, 1], [0, 1]])
    np.testing.assert_array_equal(o["nssi_free"], [[0, 1], [0, 0], [1, 1], [0, 0]])


# ------------------------------------------------------------------------------ designs
#: A population file without the sex factor (written by the test that needs it).
_NO_SEX = "nosex_population.toml"


def _design(rule_path, **extra):
    d = {"name": "ref", "seed": 4, "source": "referral", "population": "clinical", "n_patients": 6,
         "screen_batch": 64, "max_screen": 256, "baseline_days": 14, "control": "placebo",
         "referral": {"rule": str(rule_path)},
         "treatment": {"length_days": 30}, "windows": [{"name": "treatment", "start_day": 0, "end_day": 30}],
         "arms": {"dbt_a": {"intervention": "dbt_a", "completion": 0.78}, "placebo": {"intervention": "placebo"}}}
    d.update(extra)
    return d


def test_completion_becomes_the_dropout_that_completes_that_share():
    rate = completion_to_dropout(0.78, 140)
    assert math.exp(-rate * 140 / 30.4375) == pytest.approx(0.78)
    assert completion_to_dropout(1.0, 140) == 0.0


@pytest.mark.parametrize("mutate, match", [
    (lambda d: d.update(source="clinic"), r"d.toml: source: 'clinic'"),
    (lambda d: d.pop("referral"), r"d.toml: referral: missing table"),
    (lambda d: d.update(history_days=100), r"d.toml: history_days: not used with source = \"referral\""),
    (lambda d: d["referral"].update(rule="nowhere"), r"d.toml: referral.rule: .*nowhere"),
    (lambda d: d["referral"].update(start_age_years=11.0), r"referral.start_age_years: 11.0 is after"),
    (lambda d: d.update(eligibility={"all": [{"measure": "acts", "window_days": 999, "min": 1}]}),
     r"eligibility.all\[0\].window_days: 999 is longer than the simulated history"),
    (lambda d: d.update(eligibility={"age_min": 15, "age_max": 16}), r"eligibility: the age range .* misses"),
    (lambda d: d["arms"]["dbt_a"].update(dropout_per_month=0.1), r"arms.dbt_a: give completion or dropout_per_month"),
    (lambda d: d.update(female_share=1.5), r"d.toml.female_share: 1.5 must be <= 1"),
    (lambda d: d.update(female_share=0.5, population=_NO_SEX), r"female_share: population 'nosex' has no sex_female"),
])
def test_referral_design_errors_name_file_and_field(tiny_rule, mutate, match, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / _NO_SEX).write_text('name = "nosex"\n[factors.hope]\nkind = "beta"\nmean = 0.5\nsd = 0.1\n')
    data = _design(tiny_rule)
    mutate(data)
    with pytest.raises(DesignError, match=match):
        parse_design(data, "d.toml")


def test_eligibility_short_form_and_nested_form_agree():
    short = {"age_min": 12, "age_max": 18, "min_lifetime_acts": 3, "recent_days": 30, "recent_ideation_above": 0.5,
             "recent_attempt": True}
    nested = {"all": [{"measure": "age", "min": 12, "max": 18}, {"measure": "acts", "min": 3}],
              "any": [{"measure": "ideation", "window_days": 30, "above": 0.5},
                      {"measure": "attempts", "window_days": 30, "min": 1}]}
    base = {"name": "x", "seed": 1, "history_days": 60, "start_age_years": 14.0, "n_patients": 4,
            "treatment": {"length_days": 10}, "windows": [{"name": "w", "start_day": 0, "end_day": 10}],
            "arms": {"a": {"intervention": "placebo"}, "b": {"intervention": "placebo"}}, "control": "b"}
    d1 = parse_design(dict(base, eligibility=short))
    d2 = parse_design(dict(base, eligibility=nested))
    rng = np.random.default_rng(0)
    acts = (rng.random((50, 60)) < 0.05).astype(float)
    att = (rng.random((50, 60)) < 0.01).astype(float)
    ide = rng.random((50, 60)) * 0.6
    h = _hist(acts, att, ide, start_age=14.0)
    e1, e2 = meets(d1.eligibility, h, 60), meets(d2.eligibility, h, 60)
    np.testing.assert_array_equal(e1, e2)
    expect = (acts.sum(1) >= 3) & ((ide[:, 30:].max(1) > 0.5) | (att[:, 30:].sum(1) > 0))
    np.testing.assert_array_equal(e1, expect)
    assert 0 < expect.sum() < 50


@pytest.fixture(scope="module")
def referral_trial(tiny_rule):
    d = parse_design(_design(tiny_rule, eligibility={"age_min": 10, "age_max": 11,
                                                        "all": [{"measure": "acts", "min": 1}]}), "ref.toml")
    ids, t0, screened = screen_patients(d, {}, 6)
    return d, ids, t0, screened


def test_referral_trial_enters_patients_at_their_referral_day(referral_trial, tiny_rule):
    d, ids, t0, screened = referral_trial
    s = refer(tiny_rule, screened, seed=4, population="clinical", chunk_size=64)
    # the trial's patients are the first referred (and eligible) subjects, entering on their referral day
    np.testing.assert_array_equal(ids, s.ids[:6])
    np.testing.assert_array_equal(t0, s.referral_day[:6])
    out = simulate_arms(d, {}, ids, t0_days=t0)
    assert out["pre_identical"] and out["still_eligible"]
    np.testing.assert_allclose(out["randomisation_age"], 10.0 + t0 / 365.25)
    assert out["nssi_days"].shape == (2, 6, 1)
    with pytest.raises(ValueError, match="pass t0_days"):
        simulate_arms(d, {}, ids)


def test_sex_mix_selects_the_requested_share(tiny_rule):
    d = parse_design(_design(tiny_rule, female_share=0.5, n_patients=4), "ref.toml")
    ids, t0, _ = screen_patients(d, {}, 8)  # two trials of 4
    sex = sample_population(load_population("clinical"), ids.size, 4, subject_ids=ids)["factor.sex_female"]
    assert sex[:4].sum() == 2 and sex[4:].sum() == 2


def test_referral_trial_runs_and_reports_completion(referral_trial, tmp_path):
    d, *_ = referral_trial
    ds = run_trial(d, checkpoint=tmp_path)
    assert ds.attrs["patients_from"] == "referral" and ds.attrs["referral_rule"] == "tiny"
    for v in ("response", "relapse", "nssi_days", "randomisation_age", "sex_female"):
        assert v in ds
    c = completion_check(ds, "dbt_a")
    assert c["published"] == pytest.approx(0.78) and c["n"] == 6 and c["low"] <= c["simulated"] <= c["high"]
    assert c["target"] == "treatment.dbta_open_trial.completed"
    from nssisim.trials import trial_markdown

    text = trial_markdown(ds)
    assert "DBT-A completion (dropout check)" in text and "treatment.dbta_open_trial.completed" in text
    assert "referred from the community life course by rule `tiny`" in text and "| response |" in text


# ------------------------------------------------------------------------------ CLI
def test_clinical_profile_command(tiny_rule, tmp_path):
    runner = CliRunner()
    out = tmp_path / "prof"
    args = ["clinical-profile", "--rule", str(tiny_rule), "--subjects", "64", "--seed", "4", "--population", "clinical"]
    res = runner.invoke(app, args + ["--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "clinical.inpatient_frequency" in res.output and "functions.emotion_regulation_share" in res.output
    for f in ("profile.csv", "referred.csv", "profile.json"):
        assert (out / f).is_file()
    res = runner.invoke(app, args + ["--out", str(out)])
    assert res.exit_code == 1 and "refusing to overwrite" in res.output
    res = runner.invoke(app, args + ["--json"])
    assert res.exit_code == 0, res.output
    payload = json.loads(res.output)
    assert payload["screened"] == 64 and payload["referred"] == len(pd.read_csv(out / "referred.csv"))
    res = runner.invoke(app, ["clinical-profile", "--rule", "outpatiant"])
    assert res.exit_code == 2 and "did you mean 'outpatient'" in res.output


def test_profile_addictive_features_equal_measure_at_the_end_of_a_run():
    """The profile's past-year addictive features (daily records) equal core.measures.measure
    (event table) when the referral day is the end of the run."""
    from conftest import ACTIVE, AT_RISK
    from nssisim.core import defaults, load_preset, measure
    from nssisim.population import profile_rows

    d, typical = defaults(), load_preset("typical")
    mild = dict(AT_RISK, act_bias=AT_RISK.get("act_bias", d["act_bias"]) + 1.5)
    people = [ACTIVE, ACTIVE, AT_RISK, AT_RISK, typical, typical, mild, mild]
    keys = set().union(*people)
    params = {k: np.array([p.get(k, d[k]) for p in people], float) for k in keys}
    days = 400
    ds = simulate_cohort(2, params, n_subjects=8, horizon_hours=days * 24.0, record_every=24,
                         event_capacity=8192, start_age_years=13.0)
    assert int(ds["events_dropped"].sum()) == 0
    m = measure(ds).reset_index(drop=True)
    p = profile_rows(ds, np.arange(8), np.full(8, days), 13.0)
    assert 0 < m["addictive"].sum() < 8  # both profiles occur
    np.testing.assert_array_equal(p["addictive_index"].to_numpy(), m["addictive_index"].to_numpy())
    np.testing.assert_array_equal(p["addictive"].to_numpy(), m["addictive"].to_numpy())
    np.testing.assert_array_equal(p["lifetime_acts"].to_numpy(), m["n_acts"].to_numpy())
    np.testing.assert_array_equal(p["lifetime_attempt"].to_numpy(), m["attempt"].to_numpy())
