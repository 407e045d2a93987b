"""Calibration of a referral rule's pathway probabilities (nssisim.population.referral_calibration)."""

from __future__ import annotations

import copy
from dataclasses import replace

import numpy as np
import pytest
from typer.testing import CliRunner

from nssisim.cli import app
from nssisim.population import parse_rule, referral_days
from nssisim.population.referral import PROFILE_COUNTS, PROFILE_CRITERIA, refer
from nssisim.population.referral_calibration import (calibrate_referral, CheckTable, evaluate_grid, load_setup,
                                                     parse_setup, refer_with, ReferralSetupError, sample_profile,
                                                     SETUPS, tabulate, tabulate_history)

from test_referral import _hist, RULE  # the referral tests' hand-made history and two-pathway rule


def test_refer_with_is_referral_days_for_any_probabilities():
    """The tabulated rule refers the same subjects on the same days, through the same pathway, as
    referral_days does with the probabilities written into the rule."""
    rng = np.random.default_rng(5)
    n, days = 60, 200
    acts = (rng.random((n, days)) < 0.03).astype(float)
    att = (rng.random((n, days)) < 0.005).astype(float)
    h = _hist(acts, att)
    ids = np.arange(7, 7 + n)
    table = tabulate_history(parse_rule(RULE), h, 11, ids)
    for p_nssi, p_att in [(0.5, 0.9), (1.0, 0.05), (0.1, 0.0), (0.0, 1.0)]:
        data = copy.deepcopy(RULE)
        data["pathways"][0]["probability"], data["pathways"][1]["probability"] = p_nssi, p_att
        ref, via = referral_days(parse_rule(data), h, 11, ids)
        first, via2 = refer_with(table, {"nssi": p_nssi, "attempt": p_att})
        np.testing.assert_array_equal(np.where(first >= 0, table.days[first], -1), ref)
        np.testing.assert_array_equal(via2, via)
        assert 0 <= (ref >= 0).sum() <= n
    # the rule's own probabilities when none are given
    ref, _ = referral_days(parse_rule(RULE), h, 11, ids)
    first, _ = refer_with(table)
    np.testing.assert_array_equal(np.where(first >= 0, table.days[first], -1), ref)
    assert 0 < (ref >= 0).sum() < n


def test_profile_criteria_equal_the_profile_columns_on_a_simulated_pool(tmp_path):
    """PROFILE_CRITERIA evaluated at the referral check give the referred table's own columns."""
    path = tmp_path / "r.toml"
    path.write_text("\n".join(['name = "t"', "age_min = 10.2", "age_max = 10.6", "check_every_days = 7",
                               "[help_seeking]", "mean = 1.0", "sd = 0.0", "[[pathways]]", 'name = "nssi"',
                               "probability = 0.3", "help_seeking = true",
                               'criteria = { all = [ { measure = "nssi_days", window_days = 20, min = 1 } ] }']) + "\n")
    from nssisim.population.referral import load_rule

    rule = load_rule(path)
    s = refer(rule, 96, seed=3, population="clinical", chunk_size=48)
    table = tabulate(rule, "clinical", 96, 3, 10.0, chunk_size=48)
    first, _ = refer_with(table)
    rows = np.flatnonzero(first >= 0)
    np.testing.assert_array_equal(rows, s.table["subject"].to_numpy())
    np.testing.assert_array_equal(table.days[first[rows]], s.table["referral_day"].to_numpy())
    for col in PROFILE_CRITERIA:
        np.testing.assert_array_equal(table.shares[col][rows, first[rows]], s.table[col].to_numpy(bool), err_msg=col)
    for col in PROFILE_COUNTS:
        np.testing.assert_array_equal(table.counts[col][rows, first[rows]], s.table[col].to_numpy(float), err_msg=col)
    assert s.table["more_than_weekly"].any() and not s.table["more_than_weekly"].all()  # both values exercised
    assert s.table["diary_urges"].max() > s.table["diary_acts"].max() >= 1  # the counts exercised


def _toy_table(n_frequent: int, n_attempt: int, help_value: float, seed: int) -> CheckTable:
    """One check; frequent self-injurers meet only the frequency pathway (and are more than weekly),
    attempters only the attempt pathway (and are not)."""
    rule = parse_rule({"name": "toy", "age_min": 12.0, "age_max": 12.1, "help_seeking": {"mean": help_value, "sd": 0.0},
                       "pathways": [{"name": "frequent", "probability": 0.5, "help_seeking": True,
                                     "criteria": {"all": [{"measure": "acts", "min": 1}]}},
                                    {"name": "attempt", "probability": 0.5, "help_seeking": False,
                                     "criteria": {"all": [{"measure": "attempts", "min": 1}]}}]})
    n = n_frequent + n_attempt
    freq = np.arange(n) < n_frequent
    met = np.stack([freq, ~freq])[:, :, None]
    u = np.random.default_rng(seed).random((n, 1))
    return CheckTable(rule, np.array([10]), met, np.array([True, False]), np.full(n, help_value), u,
                      np.ones((n, 1), bool), {"more_than_weekly": freq[:, None], "almost_daily_urges": freq[:, None]})


def test_the_fit_recovers_the_known_attempt_probability_on_a_toy_pool():
    """Known answer: with nF frequent self-injurers referred with p_F h and nA attempters with p_A, the
    expected share more than weekly is nF p_F h / (nF p_F h + nA p_A); the published 0.833 then needs
    p_A = nF p_F h (1 - 0.833) / (0.833 nA). The grid point chosen is the one nearest that answer."""
    nF, nA, h, pF = 40_000, 160_000, 0.5, 0.5
    truth = nF * pF * h * (1 - 0.833) / (0.833 * nA)  # 0.01253
    grid = [0.003, 0.006, 0.0125, 0.025, 0.05, 0.1]
    setup = parse_setup({"rule": "inpatient", "population": "community", "fit": {"clinical_more_than_weekly": "more_than_weekly"},
                         "grid": {"suicide_attempt": grid}}, "toy.toml")
    table = _toy_table(nF, nA, h, 1)
    # the toy rule's pathway is called "attempt"; the setup's grid names the shipped rule's
    setup = replace(setup, grid=(("attempt", tuple(grid)),))
    res = evaluate_grid(setup, table)
    best = float(res.loc[res["I_max"].idxmin(), "p_attempt"])
    nearest = min(grid, key=lambda g: abs(g - truth))
    assert nearest == 0.0125 and best == nearest
    share = res.set_index("p_attempt")["more_than_weekly"]
    assert share.is_monotonic_decreasing  # more attempt referrals dilute the frequent share
    assert share[nearest] == pytest.approx(0.833, abs=0.01)
    prof = sample_profile(table, {"attempt": nearest})
    assert prof["sample"] == prof["referred"] and prof["via_frequent"] == pytest.approx(0.833, abs=0.01)


def test_inclusion_keeps_only_the_referred_who_meet_it():
    table = _toy_table(1000, 1000, 1.0, 2)
    keep = np.zeros((2000, 1), bool)
    keep[:500] = True  # only half of the frequent self-injurers meet the study's inclusion
    t2 = CheckTable(table.rule, table.days, table.met, table.needs_help, table.help, table.u, keep, table.shares)
    prof = sample_profile(t2, {"frequent": 1.0, "attempt": 1.0})
    assert prof["referred"] == 2000 and prof["sample"] == 500 and prof["more_than_weekly"][0] == 1.0


def test_a_target_with_its_own_inclusion_and_a_count_column():
    """A count column's value is the sample mean, with the variance of the mean; a target's own
    inclusion selects its sample instead of the study's."""
    table = _toy_table(1000, 1000, 1.0, 4)
    n = 2000
    counts = np.where(np.arange(n) < 1000, 3.0, 0.0)[:, None]  # the frequent self-injurers 3 acts, attempters 0
    counts[:500] = 1.0  # half the frequent ones 1
    own = np.zeros((n, 1), bool)
    own[:1000] = True  # the target's own inclusion: the frequent self-injurers only
    t2 = replace(table, counts={"diary_acts": counts}, inclusions={"clinical_ema_acts": own})
    both = {"frequent": 1.0, "attempt": 1.0}
    all_ = sample_profile(t2, both)
    assert all_["sample"] == 2000 and all_["diary_acts"][0] == pytest.approx(1.0)
    mine = sample_profile(t2, both, inclusion="clinical_ema_acts")
    assert mine["sample"] == 1000 and mine["diary_acts"][0] == pytest.approx(2.0)
    assert mine["diary_acts"][1] == pytest.approx(np.var(counts[:1000, 0], ddof=1) / 1000)
    setup = parse_setup({"rule": "inpatient", "population": "community",
                         "fit": {"clinical_ema_acts": {"column": "diary_acts", "inclusion": {"measure": "acts", "min": 1}},
                                 "clinical_more_than_weekly": "more_than_weekly"},
                         "grid": {"suicide_attempt": [0.5, 1.0]}}, "toy.toml")
    assert [t for t, _ in setup.own_inclusions] == ["clinical_ema_acts"]
    setup = replace(setup, grid=(("frequent", (1.0,)), ("attempt", (0.5, 1.0))))
    res = evaluate_grid(setup, t2).set_index("p_attempt")
    assert res.loc[1.0, "diary_acts@clinical_ema_acts"] == pytest.approx(2.0)
    assert res.loc[1.0, "sample@clinical_ema_acts"] == 1000
    assert res.loc[1.0, "diary_acts"] == pytest.approx(1.0)  # the study's sample, reported beside it
    # a reported target is evaluated and shown, but does not enter I_max
    rep = replace(setup, report=(("nssi_attempt_mental", "more_than_weekly"),))
    res2 = evaluate_grid(rep, t2).set_index("p_attempt")
    assert np.isfinite(res2["I_nssi_attempt_mental"]).all()
    np.testing.assert_array_equal(res2["I_max"], res["I_max"])
    assert (res2["I_nssi_attempt_mental"] > res2["I_max"]).any()  # it would have changed I_max


def test_shipped_setups_load():
    for name in SETUPS:
        s = load_setup(name)
        assert s.fit and s.grid and s.evidence
        assert {pw for pw, _ in s.grid} <= {p.name for p in s.rule.pathways}


@pytest.mark.parametrize("mutate, match", [
    (lambda d: d.pop("rule"), r"rule: missing"),
    (lambda d: d["fit"].update(nope="more_than_weekly"), r"fit.nope: unknown target id"),
    (lambda d: d["fit"].update(clinical_more_than_weekly="weekly"), r"unknown profile column 'weekly'"),
    (lambda d: d["fit"].update(clinical_ema_acts={"column": "diary_acts", "incl": {}}), r"fit.clinical_ema_acts.*incl"),
    (lambda d: d["fit"].update(clinical_ema_acts={"column": "diary_acts", "inclusion": {"measure": "x", "min": 1}}),
     r"fit.clinical_ema_acts.inclusion.measure: unknown measure"),
    (lambda d: d["grid"].update(nope=[0.1]), r"grid.nope: the rule 'inpatient' has no such pathway"),
    (lambda d: d["grid"].update(suicide_attempt=[1.5]), r"grid.suicide_attempt: expected a list of probabilities"),
    (lambda d: d["screen"].update(start_age=13.0), r"screen.start_age"),
    (lambda d: d["sample"].update(inclusion={"all": [{"measure": "nope", "min": 1}]}), r"sample.inclusion"),
    (lambda d: d.update(extra=1), r"extra"),
    (lambda d: d.update(report={"clinical_more_than_weekly": "lifetime_attempt"}), r"report.clinical_more_than_weekly: the target is fitted"),
    (lambda d: d.update(report={"nssi_attempt_mental": "nope"}), r"report.nssi_attempt_mental: unknown profile column"),
    (lambda d: d.update(report=[1]), r"report: expected a table"),
])
def test_setup_errors_name_file_and_field(mutate, match):
    data = {"rule": "inpatient", "population": "community", "screen": {"subjects": 64, "seed": 1, "start_age": 10.0},
            "sample": {"inclusion": {"all": [{"measure": "nssi_days", "window_days": 365, "min": 5}]}},
            "fit": {"clinical_more_than_weekly": "more_than_weekly"}, "grid": {"suicide_attempt": [0.1, 0.5]}}
    mutate(data)
    with pytest.raises(ReferralSetupError, match=match):
        parse_setup(data, "s.toml")


def test_calibrate_referral_command(tmp_path):
    path = tmp_path / "setup.toml"
    path.write_text("\n".join(['rule = "outpatient"', 'population = "clinical"', "[screen]", "subjects = 64", "seed = 2",
                               "[fit]", 'clinical_more_than_weekly = "more_than_weekly"', "[grid]",
                               "suicide_attempt = [0.1, 0.6]"]) + "\n")
    out = tmp_path / "grid.csv"
    r = CliRunner().invoke(app, ["calibrate-referral", "--setup", str(path), "--out", str(out), "--no-progress"])
    assert r.exit_code == 0, r.output
    assert "chosen: suicide_attempt = " in r.output and out.exists()
    r = CliRunner().invoke(app, ["calibrate-referral", "--setup", str(path), "--out", str(out), "--no-progress"])
    assert r.exit_code == 1 and "--overwrite" in r.output
    r = CliRunner().invoke(app, ["calibrate-referral", "--setup", str(tmp_path / "none.toml")])
    assert r.exit_code == 2 and "none.toml" in r.output


#: Shipped setups whose best grid point misses the fit's bar (strict: the test fails once one meets it).
FIT_MISSES: dict[str, str] = {
    # none since 2026-12-04: the outpatient fit (I_max 3.16 at the grid's floor on 2026-12-03) meets the bar once
    # M13's history term counts recent acts (I_max 1.43; docs/calibration_trials/referral_outpatient_2026-12-04.txt)
}


@pytest.mark.slow
@pytest.mark.parametrize("name", [pytest.param(n, marks=[pytest.mark.xfail(strict=True, reason=FIT_MISSES[n])]
                                               if n in FIT_MISSES else []) for n in SETUPS])
def test_shipped_rule_carries_its_calibrated_probabilities(name):
    """Re-run a shipped setup: the chosen probabilities are the ones in configs/referral/<rule>.toml."""
    from nssisim.population.referral import load_rule

    res = calibrate_referral(name)
    shipped = {p.name: p.probability for p in load_rule(res["setup"].rule.name).pathways}
    for pw, v in res["best"].items():
        assert shipped[pw] == pytest.approx(v), pw
    assert res["I_max"] < 3.0
