"""The lifetime report's recall (population/survey.py): a measurement model over the simulated acts.

What happened stays in the table; :func:`reported_table` derives what a survey hears. With no recall time
the report is what happened; with one, an act older than the past year fades as ``exp(-age / recall_years)``.
"""

from __future__ import annotations

import math
import tomllib

import numpy as np
import pandas as pd
import pytest

from nssisim.population import (LifeCourse, PopulationError, load_population, parse_population, population_path,
                                recall_probability, reported_table, simulate_chunk)
from nssisim.population.calibration import apply_to_spec, record_matches_spec, with_settings
from nssisim.population.survey import calibration_measures, lifetime_by_survey_window

Q = "acts_q"


def _table(rows: list[dict], quarters: range = range(40, 100)) -> pd.DataFrame:
    """A hand-made measurement table: quarter counts (ages 10 to 25), survey ages and recall uniforms."""
    out = []
    for r in rows:
        row = {f"{Q}{k}": 0 for k in quarters}
        row.update({f"{Q}{k}": v for k, v in r.get("acts", {}).items()})
        row["acts_before_quarters"] = r.get("early", 0)
        age = r["age"]
        acts_before = row["acts_before_quarters"] + sum(v for k, v in r.get("acts", {}).items() if (k + 1) / 4 <= age)
        recent = sum(v for k, v in r.get("acts", {}).items() if age - 1 < (k + 1) / 4 <= age)
        row.update({"survey_age": age, "survey_lifetime": acts_before > 0, "survey_12m": recent > 0,
                    "survey_recall_u": r.get("u", 0.5), "survey_intrapersonal": acts_before > 0,
                    "survey_interpersonal": acts_before > 0, "survey_nssi_and_attempt": acts_before > 0})
        out.append(row)
    return pd.DataFrame(out)


def test_no_recall_time_reports_what_happened():
    t = _table([{"age": 15.0, "acts": {48: 1}}])
    assert reported_table(t, None) is t


def test_one_old_act_is_recalled_with_the_stated_probability():
    # one act in quarter 48 (age 12-12.25, midpoint 12.125), survey at 15: recalled with exp(-2.875 / tau)
    t = _table([{"age": 15.0, "acts": {48: 1}}, {"age": 15.0, "acts": {48: 3}}])
    for tau in (1.0, 3.0, 10.0):
        p = recall_probability(t, t["survey_age"].to_numpy(), tau)
        one = math.exp(-2.875 / tau)
        np.testing.assert_allclose(p, [one, 1 - (1 - one) ** 3], rtol=1e-12)


def test_past_year_acts_need_no_recall_and_reports_are_nested():
    t = _table([
        {"age": 15.0, "acts": {59: 1}, "u": 0.999},          # an act in the past year: always reported
        {"age": 15.0, "acts": {44: 1}, "u": 0.2},             # one act 3.9 years back
        {"age": 15.0, "acts": {44: 1}, "u": 0.9},             # the same history, a subject who forgets sooner
        {"age": 15.0, "early": 2, "u": 0.5},                  # acts in the burn-in only
        {"age": 15.0},                                        # no act
    ])
    prev = np.zeros(len(t), bool)
    for tau in (0.5, 1.0, 2.0, 5.0, 20.0, 1000.0):
        rep = reported_table(t, tau)
        life = rep["survey_lifetime"].to_numpy(bool)
        assert life[0] and not life[4]
        assert (prev <= life).all()  # a longer recall never loses a report
        assert (life <= t["survey_lifetime"].to_numpy(bool)).all()  # nobody reports what did not happen
        for c in ("survey_intrapersonal", "survey_interpersonal", "survey_nssi_and_attempt"):
            assert (rep[c].to_numpy(bool) == life).all()  # counted among those who report
        prev = life
    assert reported_table(t, 0.5)["survey_lifetime"].tolist() == [True, False, False, False, False]
    assert reported_table(t, 1000.0)["survey_lifetime"].tolist() == [True, True, True, True, False]
    # the table itself is not touched
    assert t["survey_lifetime"].tolist() == [True, True, True, True, False]


def test_later_survey_window_with_and_without_recall():
    # acts at 13 only: lifetime at a survey age of 18-25 falls with the recall time, never above what happened
    rows = [{"age": 12.0 + 6.0 * i / 40, "acts": {52: 1}, "u": (i + 0.5) / 40} for i in range(40)]
    t = _table(rows)
    full, n = lifetime_by_survey_window(t, 18.0, 25.0)
    assert (full, n) == (1.0, 40.0)
    shares = [lifetime_by_survey_window(t, 18.0, 25.0, tau)[0] for tau in (2.0, 5.0, 20.0, 1e6)]
    assert shares == sorted(shares) and shares[0] < 0.2 and shares[-1] == 1.0


def test_the_quarter_columns_account_for_every_act_of_the_daily_survey():
    """With a recall time far longer than the run, the quarter-resolution report equals the daily survey's
    lifetime measure: the quarter columns and the burn-in column hold every act before the survey."""
    spec = load_population("community")
    table = simulate_chunk(spec, np.arange(160), 11, LifeCourse(10.0, 17.0, burn_in=1.0), with_events=False)
    assert table["survey_lifetime"].sum() > 10 and table["acts_before_quarters"].sum() >= 0
    rep = reported_table(table, 1e9)
    assert (rep["survey_lifetime"] == table["survey_lifetime"]).all()
    short = reported_table(table, 1.0)["survey_lifetime"].to_numpy(bool)
    assert short.sum() < table["survey_lifetime"].sum()  # some old histories fade at a one-year recall
    assert (short >= table["survey_12m"].to_numpy(bool)).all()
    # the recall uniform is keyed by (seed, subject id): a chunk of the same subjects has the same draws
    part = simulate_chunk(spec, np.arange(100, 110), 11, LifeCourse(10.0, 11.0, burn_in=0.0), with_events=False)
    np.testing.assert_array_equal(part["survey_recall_u"].to_numpy(), table["survey_recall_u"].to_numpy()[100:110])
    m_none, m_long = calibration_measures(table), calibration_measures(table, 1e9)
    assert m_none["lifetime_nssi"] == m_long["lifetime_nssi"]
    assert calibration_measures(table, 1.0)["lifetime_nssi"][0] < m_none["lifetime_nssi"][0]


def test_a_table_without_the_recall_columns_is_refused_by_name():
    t = _table([{"age": 15.0, "acts": {48: 1}}]).drop(columns=["survey_recall_u"])
    with pytest.raises(ValueError, match="survey_recall_u"):
        reported_table(t, 3.0)
    with pytest.raises(ValueError, match="acts_before_quarters"):
        recall_probability(t.drop(columns=["acts_before_quarters"]), np.array([15.0]), 3.0)
    with pytest.raises(ValueError, match="recall_years must be > 0"):
        recall_probability(_table([{"age": 15.0}]), np.array([15.0]), 0.0)


def test_survey_table_of_a_spec_is_validated_by_field():
    data = tomllib.loads(population_path("community").read_text(encoding="utf-8"))
    assert load_population("community").recall_years is None or load_population("community").recall_years > 0
    data["survey"] = {"recall_years": 4.0}
    assert parse_population(data, "x.toml").recall_years == 4.0
    data["survey"] = {"recall_year": 4.0, }
    with pytest.raises(PopulationError, match="survey.recall_year.*did you mean 'recall_years'"):
        parse_population(data, "x.toml")
    for bad in (0.0, -1.0, "soon", 1e9):
        data["survey"] = {"recall_years": bad}
        with pytest.raises(PopulationError, match="survey.recall_years.*expected a number of years"):
            parse_population(data, "x.toml")
    data["survey"] = 3
    with pytest.raises(PopulationError, match="survey.*expected a table"):
        parse_population(data, "x.toml")


def test_recall_is_a_population_setting_written_into_the_spec_and_checked_against_the_record():
    text = population_path("community").read_text(encoding="utf-8")
    spec = load_population("community")
    assert with_settings(spec, {"recall_years": 3.5}).recall_years == 3.5
    new = apply_to_spec(text, {"act_bias": -3.5, "recall_years": 3.5}, "test")
    again = apply_to_spec(new, {"act_bias": -3.5, "recall_years": 2.5}, "again")
    assert again.count("[survey]") == 1
    written = parse_population(tomllib.loads(again), "new.toml")
    assert written.recall_years == 2.5 and written.parameters["act_bias"] == -3.5
    rec = {"parameters": {**written.parameters, "correlation_scale": written.correlation_scale, "recall_years": 2.5}}
    assert record_matches_spec(rec, written)
    assert not record_matches_spec(dict(rec, parameters={**rec["parameters"], "recall_years": 3.0}), written)
    assert not record_matches_spec(rec, written.with_recall(None))
    with pytest.raises(ValueError, match="recall_years"):
        spec.with_recall(0.0)
