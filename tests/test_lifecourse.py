"""Life-course population runs: chunking, resumption, survey measures, population statistics, spec overrides."""

from __future__ import annotations

import json
import math
import tomllib

import numpy as np
import pandas as pd
import pytest

from nssisim.lifecourse import (LifeCourse, collect, odds_ratio, onset_histogram, prevalence_by_age, run_population,
                                simulate_chunk, summarise, survey_ages)
from nssisim.population import PopulationError, load_population, parse_population, population_path, sample_population

SHORT = LifeCourse(12.0, 14.0)  # two years keeps the tests fast


@pytest.fixture(scope="module")
def spec():
    return load_population("community")


@pytest.fixture(scope="module")
def table(spec):
    return simulate_chunk(spec, np.arange(96), 3, SHORT)


def test_life_course_geometry():
    c = LifeCourse()
    assert (c.start_age, c.end_age) == (11.0, 18.0)
    assert c.whole_ages() == list(range(11, 18))
    assert c.n_days == 2556 and c.horizon_hours == 2556 * 24.0
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
    assert lo == pytest.approx(orr * math.exp(-1.96 * se)) and hi == pytest.approx(orr * math.exp(1.96 * se))


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
