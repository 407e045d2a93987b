"""Calibration: target definitions, implausibility, records, the shipped calibrated population."""

from __future__ import annotations

import math
from pathlib import Path
import tomllib

import numpy as np
import pandas as pd
import pytest

from nssisim.population import (TARGETS, apply_to_spec, record_matches_spec, with_settings, format_report, implausibility, load_record, load_setup, load_targets, record_toml, simulated_measures)
from nssisim.population import ENVIRONMENT_FIELD
from nssisim.core import PARAMS
from nssisim.population import load_population, parse_population
from nssisim.population import population_path


def test_shipped_targets_are_the_calibration_file():
    entries = load_targets()
    assert entries["lifetime"]["value"] == 0.221 and entries["lifetime"]["low"] == 0.169
    assert entries["maltreatment_or"]["value"] == 3.42 and entries["bullying_or"]["high"] == 2.83
    assert entries["peak_age"]["low"] == 14.0 and entries["peak_age"]["high"] == 16.0


def test_missing_target_entry_is_named(tmp_path):
    p = tmp_path / "t.toml"
    p.write_text("[prevalence.other]\nvalue = 0.1\n")
    with pytest.raises(ValueError, match=r"t.toml: \[prevalence.lifetime_nssi_community_adolescents\] missing"):
        load_targets(p)


def _measures(**kw):
    """Measures as calibration_measures gives them: (value, sampling variance), here with no sampling noise."""
    return {k: (v, 0.0) for k, v in kw.items()}


def test_implausibility_zero_at_target_and_grows():
    entries = load_targets()
    t = {x.id: x for x in TARGETS}
    # a sampling variance widens the denominator
    wide = implausibility(t["lifetime"], entries["lifetime"], {"lifetime_nssi": (0.30, 0.01)})
    assert wide < implausibility(t["lifetime"], entries["lifetime"], _measures(lifetime_nssi=0.30))
    assert implausibility(t["lifetime"], entries["lifetime"], _measures(lifetime_nssi=0.221)) == pytest.approx(0.0)
    near = implausibility(t["lifetime"], entries["lifetime"], _measures(lifetime_nssi=0.25))
    far = implausibility(t["lifetime"], entries["lifetime"], _measures(lifetime_nssi=0.40))
    assert 0 < near < 3 < far
    # interval without a value: the midpoint (interpersonal 0.33-0.56)
    assert implausibility(t["interpersonal"], entries["interpersonal"], _measures(interpersonal_share=0.445)) == pytest.approx(0.0)
    # the peak age is matched anywhere in 14-16, two sds per year outside
    assert implausibility(t["peak_age"], entries["peak_age"], _measures(peak_age=15.0)) == 0.0
    assert implausibility(t["peak_age"], entries["peak_age"], _measures(peak_age=12.0)) == pytest.approx(4.0)
    # odds ratios on the log scale; a missing measure is maximally implausible
    m = _measures(maltreatment_or=math.log(3.42))
    assert implausibility(t["maltreatment_or"], entries["maltreatment_or"], m) == pytest.approx(0.0)
    # the decline after 18 is an inequality: inside costs nothing
    assert implausibility(t["decline_after_18"], entries["decline_after_18"], _measures(decline_ratio=0.3)) == 0.0
    assert implausibility(t["decline_after_18"], entries["decline_after_18"], _measures(decline_ratio=0.8)) > 3
    assert implausibility(t["onset"], entries["onset"], _measures(onset_mean=math.nan)) == math.inf


def test_simulated_measures_definitions():
    n = 200
    rng = np.random.default_rng(0)
    life = rng.random(n) < 0.3
    tab = pd.DataFrame({
        "survey_lifetime": life, "survey_12m": life & (rng.random(n) < 0.5), "survey_five_plus": np.zeros(n, bool),
        "survey_intrapersonal": life, "survey_interpersonal": life & (np.arange(n) % 2 == 0),
        "survey_nssi_and_attempt": np.zeros(n, bool), "onset_age_block": np.where(life, 13.0, np.nan),
        "acts_age_14": (rng.random(n) < 0.2).astype(int), "acts_age_15": (rng.random(n) < 0.3).astype(int),
        "factor.maltreatment": rng.random(n), "factor.peer_victimisation": rng.random(n),
    })
    m = simulated_measures(tab)
    assert m["lifetime_nssi"] == pytest.approx(life.mean())
    assert m["intrapersonal_share"] == 1.0
    assert m["interpersonal_share"] == pytest.approx((life & (np.arange(n) % 2 == 0)).sum() / life.sum())
    assert m["onset_mean"] == 13.0 and m["peak_age"] == 15.0
    assert 0 < m["maltreatment_or"] and "prospective_or" in m


def test_apply_to_spec_round_trip():
    text = population_path("community").read_text(encoding="utf-8")
    new = apply_to_spec(text, {"act_bias": -3.5, "lam_attempt": 1.5e-4}, "test")
    again = apply_to_spec(new, {"act_bias": -3.0}, "again")
    data = tomllib.loads(again)
    # the fitted values replace the spec's; entries that were not fitted stay (the calibration ran on them)
    original = tomllib.loads(text)["parameters"]
    assert data["parameters"] == {**original, "act_bias": -3.0, "lam_attempt": 1.5e-4}
    spec = parse_population(data, "x.toml")
    assert spec.parameters == data["parameters"]


def test_record_matches_spec_with_unfitted_spec_parameters():
    from nssisim.population import record_matches_spec

    spec = load_population("community")
    fitted = {k: v for k, v in spec.parameters.items() if k != "act_bias"}
    rec = {"parameters": {**fitted, "correlation_scale": spec.correlation_scale},
           "spec_parameters": dict(spec.parameters)}
    assert record_matches_spec(rec, spec)  # act_bias: not fitted, as the calibration ran it
    rec_moved = dict(rec, spec_parameters={**spec.parameters, "act_bias": spec.parameters["act_bias"] - 1.0})
    assert not record_matches_spec(rec_moved, spec)  # the unfitted value changed since the calibration
    assert not record_matches_spec({"parameters": rec["parameters"]}, spec)  # a record without the base: exact


def test_shipped_setup_ranges_within_bounds():
    from nssisim.population import POPULATION_SETTINGS
    from nssisim.population.calibration import SETTING_BOUNDS

    setup = load_setup("community")
    assert setup.course.start_age == 10.0 and setup.course.end_age == 25.0
    for r in setup.ranges:
        if r.name in POPULATION_SETTINGS:
            assert SETTING_BOUNDS[r.name][0] <= r.low < r.high <= SETTING_BOUNDS[r.name][1]
        else:
            assert PARAMS[r.name].low <= r.low < r.high <= PARAMS[r.name].high
    ids = {t.id for t in TARGETS}
    assert set(setup.fit) <= ids and len(setup.fit) >= 20


def test_shipped_record_matches_shipped_spec():
    rec = load_record("community")
    spec = load_population("community")
    fitted = dict(rec["parameters"])
    assert spec.correlation_scale == pytest.approx(fitted.pop("correlation_scale"))
    for k, f in ENVIRONMENT_FIELD.items():  # the environment's shape, when the spec has one
        if k in fitted:
            assert getattr(spec.environment[0], f) == pytest.approx(fitted.pop(k))
    assert set(rec["parameters"]) == set(rec["ranges"])
    # fitted values, and the spec's unfitted entries as the calibration ran them
    unfitted = {k: v for k, v in rec.get("spec_parameters", {}).items() if k not in fitted}
    assert spec.parameters == pytest.approx({**unfitted, **fitted})
    from nssisim.population import record_matches_spec

    assert record_matches_spec(rec, spec)
    for k in ("waves", "wave_size", "seed", "cutoff"):
        assert k in rec["method"]
    assert set(rec["targets"]) <= {t.id for t in TARGETS}
    text = format_report(rec, markdown=True)
    for tid, r in rec["targets"].items():
        assert f"| {tid} |" in text
        if "low" in r and "high" in r:
            assert f"[{r['low']:g}, {r['high']:g}]" in text
    # the TOML writer round-trips
    assert tomllib.loads(record_toml({**rec, "history": None}))["parameters"] == rec["parameters"]


def test_correlation_scale_written_and_parsed():
    text = population_path("community").read_text(encoding="utf-8")
    new = apply_to_spec(text, {"act_bias": -3.5, "correlation_scale": 0.5}, "test")
    new = apply_to_spec(new, {"act_bias": -3.5, "correlation_scale": 0.4}, "again")
    data = tomllib.loads(new)
    assert data["correlation"]["scale"] == 0.4
    assert data["factors"]["limbic_reactivity"]["scale"] == tomllib.loads(text)["factors"]["limbic_reactivity"]["scale"]
    spec = parse_population(data, "x.toml")
    base = parse_population({**data, "correlation": {k: v for k, v in data["correlation"].items() if k != "scale"}}, "y.toml")
    eye = np.eye(len(spec.factors))
    np.testing.assert_allclose(spec.correlation - eye, 0.4 * (base.correlation - eye), atol=1e-12)
    np.testing.assert_allclose(base.with_correlation_scale(0.4).correlation, spec.correlation, atol=1e-12)
    np.testing.assert_allclose(spec.with_correlation_scale(1.0).correlation, base.correlation, atol=1e-12)


def test_factor_spread_setting_applies_writes_and_is_checked():
    """A trait factor's spread is a population setting: with_settings applies it (and nothing else of the
    factor), apply_to_spec writes it into the factor's table, and record_matches_spec tells a spec that
    holds it from one that does not."""
    spec = load_population("community")
    old = spec.factor("pfc_adult")
    wide = with_settings(spec, {"pfc_adult_scale": 0.3})
    assert wide.factor("pfc_adult").args == (old.args[0], 0.3) and wide.factor("pfc_adult").sd() > old.sd()
    assert wide.factor("limbic_reactivity") == spec.factor("limbic_reactivity")
    u = np.linspace(0.05, 0.95, 7)
    assert np.ptp(wide.factor("pfc_adult").ppf(u)) > np.ptp(old.ppf(u))
    text = population_path("community").read_text(encoding="utf-8")
    new = apply_to_spec(text, {"act_bias": -3.5, "pfc_adult_scale": 0.3}, "test")
    data = tomllib.loads(new)
    assert data["factors"]["pfc_adult"]["scale"] == 0.3
    assert data["factors"]["limbic_reactivity"]["scale"] == tomllib.loads(text)["factors"]["limbic_reactivity"]["scale"]
    assert data["factors"]["puberty_timing"]["scale"] == tomllib.loads(text)["factors"]["puberty_timing"]["scale"]
    written = parse_population(data, "x.toml")
    rec = {"parameters": {"act_bias": -3.5, "pfc_adult_scale": 0.3}, "spec_parameters": dict(spec.parameters)}
    assert record_matches_spec(rec, written)
    assert not record_matches_spec(rec, written.with_factor_scale("pfc_adult", 0.15))
    with pytest.raises(ValueError, match="sex_female"):
        spec.with_factor_scale("sex_female", 0.2)  # a binary factor has no scale
    with pytest.raises(ValueError, match=r"factors\.pfc_adult\.scale: -1\.0: expected > 0"):
        spec.with_factor_scale("pfc_adult", -1.0)  # the parser's own check, naming the field


TINY_SETUP = """
population = "community"
[course]
start_age = 11.0
end_age = 18.0
[method]
waves = 1
wave_size = 6
subjects = 12
confirm_subjects = 12
seed = 7
ensemble_size = 1
extra_waves = 0
cloud_size = 500
cutoff = 1000.0
[fit]
targets = ["lifetime", "five_plus", "attempt_lifetime"]
[ranges]
act_bias = [-4.0, -2.0, "linear"]
correlation_scale = [0.0, 1.0]
"""


def test_calibrate_cli_tiny_run_writes_record_spec_and_ensemble(tmp_path):
    """End to end on a tiny setup (6 candidates x 12 subjects); the cut-off is wide so every candidate counts."""
    from typer.testing import CliRunner

    from nssisim.cli import app
    from nssisim.population import load_ensemble

    runner = CliRunner()
    setup = tmp_path / "setup.toml"
    setup.write_text(TINY_SETUP)
    rec, spec, ens = tmp_path / "rec.toml", tmp_path / "spec.toml", tmp_path / "ens.toml"
    args = ["calibrate", "--setup", str(setup), "--no-progress", "--out", str(tmp_path / "run"),
            "--record", str(rec), "--write-spec", str(spec), "--write-ensemble", str(ens)]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "per candidate" in res.output and "estimate:" in res.output  # the time estimate before the run
    record = load_record(rec)
    assert record["method"]["candidates"] == 6 and record["method"]["subjects"] == 12
    assert set(record["parameters"]) == {"act_bias", "correlation_scale"}
    assert record["targets"]["lifetime"]["status"] == "fitted"
    assert record["targets"]["dbta_completed"]["status"] == "not yet measured"
    written = load_population(spec)
    assert written.correlation_scale == pytest.approx(record["parameters"]["correlation_scale"])
    base = load_population("community").parameters  # the spec it ran on: unfitted entries stay
    assert written.parameters == pytest.approx({**base, "act_bias": record["parameters"]["act_bias"]})
    assert record["spec_parameters"] == pytest.approx(base) and record_matches_spec(record, written)
    e = load_ensemble(ens)
    assert len(e["sets"]) == 6 and all(s["I_max"] <= 1000.0 for s in e["sets"])
    assert e["record"]["seed"] == 7 and "wave_1_seconds" in e["record"]
    res = runner.invoke(app, args)  # never overwrites without --overwrite
    assert res.exit_code == 1 and "--overwrite" in res.output
    # the report shows the ensemble's range beside the default
    res = runner.invoke(app, ["calibration-report", str(rec), "--ensemble", str(ens)])
    assert res.exit_code == 0, res.output
    assert "Ensemble: 6 parameter sets" in res.output and "not yet measured" in res.output


_ENV_TABLE = """
[environment.stress]
parameter = "lam_stress"
change = 1.0  # a comment
onset_age = 11.0
peak_age = 14.5
rise_years = 1.5
decline_years = 3.0
evidence = ["Plener2015"]
"""


def _plain_text() -> str:
    """The shipped community spec without any [environment.<name>] table."""
    import re

    text = population_path("community").read_text(encoding="utf-8")
    return re.sub(r"\n\[environment\.[^\]]+\]\n(?:(?!\n\[).)*", "", text, flags=re.S)


def test_environment_shape_fitted_written_and_applied():
    plain = _plain_text()
    i = plain.index("\n[parameters]")
    text = plain[:i] + "\n" + _ENV_TABLE + plain[i:]
    spec = parse_population(tomllib.loads(text), "env.toml")
    for k, v in {"environment_change": 4.0, "environment_peak_age": 17.5, "environment_rise_years": 0.3,
                 "environment_decline_years": 8.0}.items():  # typical range ends pass the spec's own checks
        with_settings(spec, {k: v})
    x = {"act_bias": -3.5, "environment_change": 2.5, "environment_peak_age": 15.25, "environment_rise_years": 0.8,
         "environment_decline_years": 4.0}
    new = apply_to_spec(text, x, "test")
    data = tomllib.loads(new)
    env = data["environment"]["stress"]
    assert (env["change"], env["peak_age"], env["rise_years"], env["decline_years"]) == (2.5, 15.25, 0.8, 4.0)
    assert env["onset_age"] == 11.0 and env["parameter"] == "lam_stress"
    assert data["parameters"] == {**tomllib.loads(text)["parameters"], "act_bias": -3.5}
    written = parse_population(data, "new.toml")
    assert written.environment == with_settings(spec, x).environment
    with pytest.raises(ValueError, match="no \\[environment"):
        apply_to_spec(plain, {"environment_change": 1.0}, "x")
    with pytest.raises(ValueError, match="no \\[environment\\] table"):
        with_settings(parse_population(tomllib.loads(plain), "plain.toml"), {"environment_change": 1.0})


def test_record_matches_spec_knows_a_stale_record_from_a_current_one():
    from nssisim.population import record_matches_spec

    spec = load_population("community")
    current = {"parameters": {**spec.parameters, "correlation_scale": spec.correlation_scale}}
    assert record_matches_spec(current, spec)
    moved = dict(current, parameters={**current["parameters"], "act_bias": spec.parameters["act_bias"] + 0.1})
    assert not record_matches_spec(moved, spec)
    assert record_matches_spec(load_record("community"), spec)  # the shipped record is the spec's calibration
    # a record of another spec (the first joint calibration's, not shipped) is stale for this one
    first = load_record(str(Path(__file__).resolve().parents[1] / "docs" / "calibration_trials" / "course_v2_2026-12-01_record.toml"))
    assert not record_matches_spec(first, spec)


def test_persist_after_18_reads_the_decline_statement_as_a_lower_bound():
    """'falls ... through young adulthood': the fall is still under way at 22-24 (ratio >= PERSIST_MIN_RATIO),
    beside 'most stop' (decline_after_18, ratio <= DECLINE_MAX_RATIO); nobody self-injuring after 22 is implausible."""
    from nssisim.population.calibration import (DECLINE_MAX_RATIO, load_targets, observation, PERSIST_MIN_RATIO,
                                                TARGET_IDS, within_interval)

    t, d = TARGET_IDS["persist_after_18"], TARGET_IDS["decline_after_18"]
    entries = load_targets(required=("persist_after_18", "decline_after_18"))
    o = observation(t, entries["persist_after_18"])
    assert float(o.implausibility(0.0)) > 3.0
    assert float(o.implausibility(PERSIST_MIN_RATIO)) == 0.0 and float(o.implausibility(0.4)) == 0.0
    assert within_interval(t, entries["persist_after_18"], 0.0) is False
    assert within_interval(t, entries["persist_after_18"], 0.2) is True
    assert within_interval(d, entries["decline_after_18"], 0.2) is True
    assert within_interval(d, entries["decline_after_18"], DECLINE_MAX_RATIO + 0.1) is False


def test_young_adults_bound_reads_the_life_stages_as_few_onsets_after_adolescence():
    """Swannell2014's 'adolescents > young adults' as an upper bound on one cohort's lifetime NSSI at 18-25: the
    upper end of the adolescents' published lifetime interval, read from the targets file (not a second copy),
    with that interval's sd; the third calibration's default (0.538 by 18-25) is far outside."""
    from nssisim.population.calibration import (YOUNG_ADULTS_MAX_LIFETIME, YOUNG_ADULTS_SD, TARGET_IDS, _target_record,
                                                load_targets, observation, published, targets_path, within_interval)
    from nssisim.files import toml_file

    lifetime = toml_file(targets_path())["prevalence"]["lifetime_nssi_community_adolescents"]
    assert YOUNG_ADULTS_MAX_LIFETIME == lifetime["high"]
    assert YOUNG_ADULTS_SD == pytest.approx((lifetime["high"] - lifetime["low"]) / 3.92)
    t = TARGET_IDS["young_adults_bound"]
    assert t.measure == "life_stage_young_adults" and t.ages[1] >= 25.0
    entry = load_targets(required=("young_adults_bound",))["young_adults_bound"]
    assert published(t, entry) == (None, None, YOUNG_ADULTS_MAX_LIFETIME)
    o = observation(t, entry)
    assert float(o.implausibility(0.15)) == 0.0 and float(o.implausibility(YOUNG_ADULTS_MAX_LIFETIME)) == 0.0
    assert float(o.implausibility(YOUNG_ADULTS_MAX_LIFETIME + 2 * YOUNG_ADULTS_SD)) == pytest.approx(2.0)
    assert float(o.implausibility(0.538)) > 8.0
    assert within_interval(t, entry, 0.25) is True and within_interval(t, entry, 0.3) is False
    row = _target_record(t, entry, {"life_stage_young_adults": (0.3, 1e-4)}, fitted=True)
    assert row["high"] == YOUNG_ADULTS_MAX_LIFETIME and row["statement"].startswith("at most 0.284 (this model's reading of: ")
    assert "adolescents > young adults" in row["statement"]


@pytest.mark.parametrize("path", sorted((Path(__file__).resolve().parents[1] / "docs" / "calibration_trials").glob("*_record.toml")),
                         ids=lambda p: p.name)
def test_archived_records_load_and_report(path):
    """docs/population.md points readers at `nssisim calibration-report <archived record>`: every archived
    record must still load and print, with a row for each target it fitted."""
    from nssisim.population.calibration import format_report, load_record, report_rows

    rec = load_record(str(path))
    rows = report_rows(rec)
    assert [r["target"] for r in rows] == list(rec["targets"])
    assert set(rec["method"].get("fitted_targets", [])) <= set(rec["targets"])
    assert format_report(rec)
