"""Life-course population runs: chunking, resumption, survey measures, population statistics, spec overrides."""

from __future__ import annotations

import json
import math
import tomllib

import numpy as np
import pandas as pd
import pytest

from nssisim.population import (LifeCourse, collect, onset_histogram, prevalence_by_age_table as prevalence_by_age, run_population, simulate_chunk, summarise, survey_ages)
from nssisim.stats import Z95, odds_ratio
from nssisim.population import PopulationError, load_population, parse_population, sample_population
from nssisim.population import population_path

SHORT = LifeCourse(12.0, 14.0, burn_in=0.0)  # two years, no burn-in: keeps the tests fast


@pytest.fixture(scope="module")
def spec():
    return load_population("community")


@pytest.fixture(scope="module")
def table(spec):
    return simulate_chunk(spec, np.arange(96), 3, SHORT)


def test_life_course_geometry():
    c = LifeCourse()
    assert (c.start_age, c.end_age, c.burn_in) == (10.0, 25.0, 1.0)
    assert c.sim_start_age == 9.0
    assert c.whole_ages() == list(range(10, 25))  # the burn-in year (age 9) is simulated, not measured
    assert c.n_days == 5844 and c.horizon_hours == 5844 * 24.0
    with pytest.raises(ValueError, match="burn_in"):
        LifeCourse(start_age=6.0, burn_in=2.0)
    with pytest.raises(ValueError, match="start_age < end_age"):
        LifeCourse(15.0, 12.0)
    with pytest.raises(ValueError, match="must divide"):
        LifeCourse(dt=5.0)


def test_survey_ages_keyed_by_subject():
    a = survey_ages(5, np.arange(100))
    b = survey_ages(5, np.arange(50, 60))
    assert ((a >= 12.0) & (a < 18.0)).all()
    np.testing.assert_array_equal(a[50:60], b)
    assert abs(a.mean() - 15.0) < 0.6


def test_survey_measures_consistent_with_end_measures(table):
    assert len(table) == 96 and (table["subject"].to_numpy() == np.arange(96)).all()
    acts = table[[c for c in table.columns if c.startswith("acts_age_")]].sum(axis=1).to_numpy()
    # survey ages beyond the run end are measured at the end: the survey sees at most the whole run
    assert (table["survey_lifetime"] <= table["end_lifetime_nssi"]).all()
    assert (table["survey_five_plus"] <= table["survey_12m"]).all() and (table["survey_12m"] <= table["survey_lifetime"]).all()
    assert (acts <= table["end_n_acts"].to_numpy()).all()
    # onset from daily blocks agrees with the event table's exact onset within a day
    both = table["end_onset_age"].notna()
    assert (table["onset_age_block"].notna() == both).all()
    diff = (table["onset_age_block"] - table["end_onset_age"])[both].abs()
    assert (diff <= 1.0 / 365.0 + 1e-9).all()
    assert (table["survey_nssi_and_attempt"] <= table["survey_attempt"]).all()


def test_chunked_run_resumes_and_does_not_depend_on_chunk_size(spec, tmp_path):
    n = 70
    full = run_population(spec, n, tmp_path / "a", seed=3, course=SHORT, chunk_size=32)
    assert sorted(p.name for p in (tmp_path / "a" / "chunks").iterdir()) == [
        "chunk_00000.parquet", "chunk_00001.parquet", "chunk_00002.parquet"]
    # interrupted run: a chunk is missing; --resume simulates only that one and gives the same table
    (tmp_path / "a" / "chunks" / "chunk_00001.parquet").unlink()
    with pytest.raises(FileNotFoundError, match="--resume"):
        collect(tmp_path / "a")
    resumed = run_population(spec, n, tmp_path / "a", seed=3, course=SHORT, chunk_size=32, resume=True)
    pd.testing.assert_frame_equal(full, resumed)
    other = run_population(spec, n, tmp_path / "b", seed=3, course=SHORT, chunk_size=64)
    pd.testing.assert_frame_equal(full, other)
    # an existing run is never overwritten silently, and a resume with other settings is refused
    with pytest.raises(FileExistsError, match="--resume"):
        run_population(spec, n, tmp_path / "a", seed=3, course=SHORT, chunk_size=32)
    with pytest.raises(ValueError, match="seed"):
        run_population(spec, n, tmp_path / "a", seed=4, course=SHORT, chunk_size=32, resume=True)
    assert json.loads((tmp_path / "a" / "manifest.json").read_text())["n_subjects"] == n


def test_prevalence_by_age_and_summary(table):
    prev = prevalence_by_age(table)
    assert list(prev["age"]) == [12, 13]
    for _, r in prev.iterrows():
        k = (table[f"acts_age_{int(r.age)}"] > 0).mean()
        assert r.prevalence_12m == pytest.approx(k) and r.ci_low <= k <= r.ci_high
    hist = onset_histogram(table)
    assert hist["count"].sum() == table["onset_age_block"].notna().sum()
    ds = summarise(table)
    assert ds.attrs["n_subjects"] == 96 and "lifetime_nssi" in ds.attrs


def test_odds_ratio_known_table():
    e = np.array([1] * 30 + [0] * 70, bool)
    o = np.array([1] * 15 + [0] * 15 + [1] * 10 + [0] * 60, bool)
    orr, lo, hi = odds_ratio(e, o)
    assert orr == pytest.approx(15 * 60 / (15 * 10))
    se = math.sqrt(1 / 15 + 1 / 15 + 1 / 10 + 1 / 60)
    assert lo == pytest.approx(orr * math.exp(-Z95 * se)) and hi == pytest.approx(orr * math.exp(Z95 * se))


def _community_data():
    return tomllib.loads(population_path("community").read_text(encoding="utf-8"))


def test_parameters_table_overrides_and_errors():
    data = _community_data()
    data["parameters"] = {"act_bias": -4.0, "lam_attempt": 1e-3}
    spec = parse_population(data, "x.toml")
    pop = sample_population(spec, 10, seed=1)
    assert (pop["act_bias"] == -4.0).all() and (pop["lam_attempt"] == 1e-3).all()
    data["parameters"] = {"act_bais": -4.0, "maltreatment": 0.2, "lam_attempt": 1.0, "p_interpersonal": "x"}
    with pytest.raises(PopulationError) as err:
        parse_population(data, "x.toml")
    msg = str(err.value)
    assert "parameters.act_bais" in msg and "did you mean 'act_bias'" in msg
    assert "parameters.maltreatment" in msg and "also a factor" in msg
    assert "parameters.lam_attempt" in msg and "outside the bounds" in msg
    assert "parameters.p_interpersonal" in msg and "finite number" in msg


def test_population_cli_runs_resumes_and_refuses_overwrite(tmp_path):
    from typer.testing import CliRunner

    from nssisim.cli import app

    runner = CliRunner()
    out = tmp_path / "pop"
    args = ["population", "--out", str(out), "--subjects", "40", "--start-age", "12", "--end-age", "14", "--chunk", "32",
            "--no-progress", "--csv"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    for name in ("measurements.parquet", "measurements.csv", "prevalence_by_age.csv", "summary.nc", "manifest.json"):
        assert (out / name).stat().st_size > 0, name
    assert "subject-years/s" in res.output
    res = runner.invoke(app, args)
    assert res.exit_code == 1 and "--resume" in res.output
    res = runner.invoke(app, [*args, "--resume"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["population", "--out", str(tmp_path / "x"), "--population", "nope.toml"])
    assert res.exit_code == 2 and "nope.toml" in res.output


def test_calibration_report_cli():
    from typer.testing import CliRunner

    from nssisim.cli import app

    runner = CliRunner()
    res = runner.invoke(app, ["calibration-report", "--markdown"])
    assert res.exit_code == 0, res.output
    assert "| lifetime |" in res.output and "[0.169, 0.284]" in res.output
    res = runner.invoke(app, ["calibration-report", "nowhere"])
    assert res.exit_code == 2 and "no calibration record" in res.output


# ----------------------------------------------------------------------------- age-varying environment
_ENV = {"parameter": "lam_stress", "change": 2.0, "onset_age": 12.0, "peak_age": 13.0, "rise_years": 0.5,
        "decline_years": 1.0, "evidence": ["Plener2015"]}


def _env_spec(**fields):
    data = _community_data()
    data["environment"] = {"stress": {**_ENV, **fields}}
    return parse_population(data, "env.toml")


def test_without_environment_the_run_is_unscheduled(spec, table):
    """No [environment] table: no schedule, so the chunk equals a direct unscheduled simulate_cohort run."""
    from nssisim.population import environment_schedule, reduce_chunk
    from nssisim.population import params_of
    from nssisim.core import simulate_cohort

    assert spec.environment == () and environment_schedule(spec, 96, SHORT) is None
    ids = np.arange(96)
    ds = simulate_cohort(3, params_of(sample_population(spec, 96, 3, subject_ids=ids)), subject_ids=ids,
                         horizon_hours=SHORT.horizon_hours, dt=SHORT.dt, record_every=SHORT.record_every,
                         event_capacity=512, start_age_years=SHORT.sim_start_age, chunk_size=96)
    direct = reduce_chunk(ds, np.minimum(survey_ages(3, ids), SHORT.end_age), SHORT)
    pd.testing.assert_frame_equal(table[direct.columns], direct)


def test_environment_schedule_matches_component_effect():
    """The Schedule built from the table gives base * (1 + change * e(age)) at each block start."""
    from nssisim.population import environment_schedule
    from nssisim.core import HOURS_PER_YEAR
    from nssisim.population import params_of
    from nssisim.core import effective_params, stack_params

    sp = _env_spec()
    c = sp.environment[0]
    assert c.effect(12.0) == 0.0 and c.effect(13.0) == pytest.approx(1.0) and 0 < c.effect(12.5) < 1
    assert c.effect(14.0) == pytest.approx(math.exp(-1.0))
    n = 5
    pop = sample_population(sp, n, 0)
    sched = environment_schedule(sp, n, SHORT)
    base = pop.get("lam_stress", np.full(n, 1.0 / 48.0))
    for age in (11.5, 12.0, 12.4, 13.0, 13.7):
        t = (age - SHORT.sim_start_age) * HOURS_PER_YEAR
        eff, _ = effective_params(stack_params(params_of(pop), n), sched.validated(n), t)
        np.testing.assert_allclose(eff["lam_stress"], base * (1 + 2.0 * c.effect(age)), rtol=1e-5)


def test_environment_changes_prevalence_by_age_and_hash():
    """A stressor rate tripled around age 13 raises 12-month prevalence there; the run's hash knows it."""
    from nssisim.population.lifecourse import _spec_hash

    plain, env = load_population("community"), _env_spec()
    a = prevalence_by_age(simulate_chunk(plain, np.arange(160), 5, SHORT, with_events=False))
    b = prevalence_by_age(simulate_chunk(env, np.arange(160), 5, SHORT, with_events=False))
    assert b.set_index("age").loc[13, "prevalence_12m"] > a.set_index("age").loc[13, "prevalence_12m"]
    assert _spec_hash(plain) != _spec_hash(env)


def test_environment_errors_name_the_field():
    with pytest.raises(PopulationError) as err:
        _env_spec(parameter="lam_stres", change=-2.0, peak_age=11.0, rise_years=0.0, evidence=["Nobody2030"],
                  colour="red")
    msg = str(err.value)
    assert "env.toml" in msg and "environment.stress.parameter" in msg and "did you mean 'lam_stress'" in msg
    assert "environment.stress.evidence[0]" in msg and "environment.stress.colour" in msg
    with pytest.raises(PopulationError) as err:
        _env_spec(change=-2.0, peak_age=11.0, rise_years=0.0)
    msg = str(err.value)
    assert "environment.stress.change" in msg and "environment.stress.peak_age" in msg
    assert "environment.stress.rise_years" in msg
    data = _community_data()
    data["environment"] = {"stress": {k: v for k, v in _ENV.items() if k != "decline_years"}}
    with pytest.raises(PopulationError, match="environment.stress.decline_years: missing"):
        parse_population(data, "env.toml")
    data["environment"] = {"change": 1.0}
    with pytest.raises(PopulationError, match=r"environment: expected one \[environment.<name>\] table"):
        parse_population(data, "env.toml")
