"""Interventions and virtual trials: schedules in the compiled simulator, common random numbers,
the null intervention, design and intervention errors, statistics, and a tiny CLI trial."""

from __future__ import annotations

import copy
import math
from dataclasses import replace

import numpy as np
import pytest
import xarray as xr
from typer.testing import CliRunner

from nssisim.cli import app
from nssisim.trials import (INTERVENTIONS, Arm, InterventionError, build_schedule, load_intervention, parse_intervention)
from nssisim.core import SCHEDULE_TARGETS, Schedule, effective_params, simulate_cohort, stack_params
from nssisim.trials import (DESIGNS, DesignError, load_design, parse_design, randomise, run_trial, screen, simulate_arms)
from nssisim.stats import hedges_g, odds_ratio_groups as odds_ratio, paired_difference, risk_difference

from conftest import AT_RISK, HORIZON_30D, N_SUBJECTS

#: A tiny design: short history, loose eligibility, a 30-day treatment.
TINY = {
    "name": "tiny", "seed": 5, "population": "clinical", "start_age_years": 14.0, "history_days": 60,
    "n_patients": 16, "screen_batch": 64, "max_screen": 640, "baseline_days": 30, "control": "placebo",
    "eligibility": {"age_min": 12, "age_max": 18, "min_lifetime_acts": 1, "recent_days": 30},
    "treatment": {"length_days": 30},
    "windows": [{"name": "treatment", "start_day": 0, "end_day": 30}],
    "arms": {"dbt_a": {"intervention": "dbt_a"}, "placebo": {"intervention": "placebo"}},
}
TINY_TOML = """\
name = "tiny"
seed = 5
population = "clinical"
start_age_years = 14.0
history_days = 60
n_patients = 16
screen_batch = 64
max_screen = 640
baseline_days = 30
control = "placebo"

[eligibility]
min_lifetime_acts = 1
recent_days = 30

[treatment]
length_days = 30

[[windows]]
name = "treatment"
start_day = 0
end_day = 30

[arms.dbt_a]
intervention = "dbt_a"

[arms.placebo]
intervention = "placebo"
"""


def _zero_schedule(n: int, c: int = 2) -> Schedule:
    t = len(SCHEDULE_TARGETS)
    mult, add = np.zeros((c, t)), np.zeros((c, t))
    mult[0, SCHEDULE_TARGETS.index("limbic_reactivity")] = -0.5
    add[1, SCHEDULE_TARGETS.index("skill")] = 0.6
    return Schedule(mult, add, np.zeros((n, c)), np.full((n, c), 24.0 * 5), np.full((n, c), np.inf),
                    np.full(c, 240.0), np.full(c, 240.0))


def test_schedule_of_zero_level_equals_the_unscheduled_simulator():
    """The scheduled path with every level 0 reproduces the original path bit for bit."""
    kw = dict(n_subjects=N_SUBJECTS, horizon_hours=HORIZON_30D, record_every=24)
    plain = simulate_cohort(3, AT_RISK, **kw)
    sched = simulate_cohort(3, AT_RISK, schedule=_zero_schedule(N_SUBJECTS), **kw)
    for v in ("affect", "habit", "relief_value", "pfc", "skill", "acts", "urges", "attempts", "event_time"):
        np.testing.assert_array_equal(sched[v].values, plain[v].values, err_msg=v)
    assert plain.attrs["config_hash"] != sched.attrs["config_hash"]  # the schedule is part of the record


def test_schedule_changes_the_run_after_its_start_only():
    n = N_SUBJECTS
    s = _zero_schedule(n)
    s = replace(s, level=np.ones((n, 2)))
    kw = dict(n_subjects=n, horizon_hours=HORIZON_30D, record_every=24)
    plain = simulate_cohort(3, AT_RISK, **kw)
    treated = simulate_cohort(3, AT_RISK, schedule=s, **kw)
    # The schedule starts at hour 120 (day 5) and is evaluated at the start of each daily block,
    # where its onset is still 0: the first 6 records are identical, later ones are not.
    np.testing.assert_array_equal(treated["affect"].values[:, :6], plain["affect"].values[:, :6])
    assert not np.array_equal(treated["affect"].values[:, 6:], plain["affect"].values[:, 6:])
    assert (treated["skill"].values[:, 6:] > 0).all() and (plain["skill"].values == 0).all()


def test_effective_params_follow_the_onset_and_offset_time_course():
    n = 2
    t = len(SCHEDULE_TARGETS)
    mult = np.zeros((1, t))
    i = SCHEDULE_TARGETS.index("limbic_reactivity")
    mult[0, i] = -0.4
    s = Schedule(mult, np.zeros((1, t)), np.array([[1.0], [0.5]]), np.full((n, 1), 100.0), np.full((n, 1), 1100.0),
                 np.array([50.0]), np.array([200.0]))
    base = stack_params({"limbic_reactivity": 2.0}, n)
    before, _ = effective_params(base, s, 50.0)
    np.testing.assert_array_equal(before["limbic_reactivity"], base["limbic_reactivity"])
    mid, _ = effective_params(base, s, 150.0)
    e = 1 - math.exp(-1.0)
    np.testing.assert_allclose(mid["limbic_reactivity"], [2.0 * (1 - 0.4 * e), 2.0 * (1 - 0.2 * e)], rtol=1e-6)
    after, _ = effective_params(base, s, 1300.0)
    e_end = (1 - math.exp(-1000.0 / 50.0)) * math.exp(-1.0)
    np.testing.assert_allclose(after["limbic_reactivity"], [2.0 * (1 - 0.4 * e_end), 2.0 * (1 - 0.2 * e_end)], rtol=1e-6)


def test_schedule_values_are_clipped_to_parameter_bounds():
    t = len(SCHEDULE_TARGETS)
    add = np.zeros((1, t))
    add[0, SCHEDULE_TARGETS.index("hope")] = 0.9
    add[0, SCHEDULE_TARGETS.index("skill")] = 2.0
    s = Schedule(np.zeros((1, t)), add, np.ones((1, 1)), np.zeros((1, 1)), np.full((1, 1), np.inf), np.array([1.0]),
                 np.array([1.0]))
    eff, skill = effective_params(stack_params({"hope": 0.5}, 1), s, 1e6)
    assert eff["hope"][0] == pytest.approx(1.0) and skill[0] == pytest.approx(1.0)


def test_bad_schedule_shapes_are_clear_errors():
    s = _zero_schedule(3)
    with pytest.raises(ValueError, match=r"schedule: level must have shape \(4, 2\)"):
        simulate_cohort(1, None, n_subjects=4, horizon_hours=48.0, schedule=s)


# ------------------------------------------------------------------------------ arms share streams
@pytest.fixture(scope="module")
def tiny_arms():
    """Patients of the tiny design in three arms: DBT-A, DBT-A at strength 0, placebo."""
    d = parse_design(copy.deepcopy(TINY), "tiny.toml")
    dbt, placebo = d.arms
    arms = (dbt, replace(dbt, name="dbt_a_null", strength=0.0), placebo)
    ids, _ = screen(d, {}, 16)
    return d, simulate_arms(d, {}, ids, arms)


def test_arms_share_random_streams(tiny_arms):
    """Common random numbers: identical histories before treatment in every arm, different after."""
    d, out = tiny_arms
    assert out["pre_identical"] and out["still_eligible"]  # and the screening history is reproduced
    m = out["monthly_nssi"]  # (arm, patient, month); month 0 is the baseline month
    np.testing.assert_array_equal(m[0, :, 0], m[2, :, 0])
    assert not np.array_equal(out["nssi_per_month"][0], out["nssi_per_month"][2])


def test_null_intervention_equals_control_exactly(tiny_arms):
    """A zero-strength DBT arm equals the placebo (control) arm exactly, in every outcome."""
    d, out = tiny_arms
    for o in ("nssi_per_month", "self_harm_per_month", "nssi_free", "remission", "limbic_change", "regulation_change",
              "monthly_nssi"):
        np.testing.assert_array_equal(out[o][1], out[o][2], err_msg=o)
    # and the real arm does move the stress probe's readings, against the same patients under placebo
    assert (out["limbic_change"][0] < out["limbic_change"][2]).mean() > 0.9
    assert (out["regulation_change"][0] > out["regulation_change"][2]).mean() > 0.9


def test_randomisation_is_balanced_and_reproducible():
    a = randomise(40, 3, seed=1, replicate=0, stratum=0)
    assert np.bincount(a, minlength=3).min() >= 12
    np.testing.assert_array_equal(a, randomise(40, 3, seed=1, replicate=0, stratum=0))
    assert not np.array_equal(a, randomise(40, 3, seed=1, replicate=1, stratum=0))


def test_adherence_and_dropout_are_per_person_and_common_across_arms():
    iv = load_intervention("dbt_a")
    arms = [Arm("a", iv), Arm("b", iv, adherence_mean=0.5)]
    ids = np.tile(np.arange(50), 2)
    arm_of = np.repeat([0, 1], 50)
    _, info = build_schedule(arms, arm_of, ids, seed=3, start_hours=0.0, length_days=182)
    adh = info["adherence"].reshape(2, 50)
    assert adh.std(axis=1).min() > 0.05 and (adh[0] > adh[1]).all()  # same propensity, lower mean
    assert np.corrcoef(adh[0], adh[1])[0, 1] > 0.9
    np.testing.assert_array_equal(info["dropout_days"][:50], info["dropout_days"][50:])


# ------------------------------------------------------------------------------ statistics
def test_effect_measures():
    x1, x0 = np.array([1] * 30 + [0] * 70), np.array([1] * 20 + [0] * 80)
    rd, lo, hi = risk_difference(x1, x0)
    assert rd == pytest.approx(0.1) and lo < 0.1 < hi
    se = math.sqrt(0.3 * 0.7 / 100 + 0.2 * 0.8 / 100)
    assert hi - rd == pytest.approx(1.959964 * se, rel=1e-5)
    orr, lo, hi = odds_ratio(x1, x0)
    assert orr == pytest.approx((30 * 80) / (70 * 20)) and lo < orr < hi
    assert odds_ratio(np.ones(5), np.zeros(5))[0] == pytest.approx((5.5 * 5.5) / (0.5 * 0.5))  # Haldane
    rng = np.random.default_rng(0)
    a, b = rng.normal(0.5, 1, 4000), rng.normal(0.0, 1, 4000)
    g, lo, hi = hedges_g(a, b)
    assert g == pytest.approx(0.5, abs=0.06) and lo < g < hi
    m, lo, hi = paired_difference(np.array([2.0, 3.0, 4.0]), np.array([1.0, 1.0, 1.0]))
    assert m == pytest.approx(2.0) and lo < 2.0 < hi


# ------------------------------------------------------------------------------ files and errors
@pytest.mark.parametrize("name", INTERVENTIONS)
def test_shipped_interventions_load_with_evidence(name):
    iv = load_intervention(name)
    for c in iv.components:
        assert c.evidence, f"{name}.{c.name} has no evidence keys"


@pytest.mark.parametrize("name", DESIGNS + ("calibrate_dbt",))
def test_shipped_designs_load(name):
    d = load_design(name)
    assert d.control in d.arm_names


def test_dbt_components_are_separable():
    d = load_design("dbt_components")
    arms = {a.name: a for a in d.arms}
    assert [c.name for c in arms["individual_only"].active()] == ["individual"]
    assert "individual" not in [c.name for c in arms["skills_only"].active()]


@pytest.mark.parametrize("mutate, match", [
    (lambda d: d.update(colour=1), r"tiny.toml: unknown key 'colour'"),
    (lambda d: d.pop("arms"), r"tiny.toml: arms: expected at least two"),
    (lambda d: d.update(control="nobody"), r"tiny.toml: control: 'nobody' is not an arm"),
    (lambda d: d["arms"]["dbt_a"].update(intervention="dbtt"), r"arms.dbt_a.intervention: .*did you mean 'dbt'"),
    (lambda d: d["arms"]["dbt_a"].update(components=["skils"]), r"arms.dbt_a.components: .*no component 'skils'"),
    (lambda d: d["windows"][0].update(end_day=0), r"windows\[0\].end_day: 0 must be >= 1"),
    (lambda d: d["eligibility"].update(age_min=16), r"eligibility: age at randomisation .* outside"),
    (lambda d: d.update(n_patients="many"), r"tiny.toml.n_patients: expected an integer"),
    (lambda d: d.update(person={"hope": 3.0}), r"person.hope: .*outside its bounds"),
    (lambda d: d["treatment"].update(length_days=99), r"treatment.length_days 99 extends past"),
    (lambda d: d.update(population="clinicl"), r"tiny.toml: population: .*did you mean 'clinical'"),
])
def test_design_errors_name_file_and_field(mutate, match):
    data = copy.deepcopy(TINY)
    mutate(data)
    with pytest.raises(DesignError, match=match):
        parse_design(data, "tiny.toml")


def test_design_file_errors_name_the_file(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text(TINY_TOML.replace("n_patients = 16", "n_patients = 1"))
    with pytest.raises(DesignError, match=r"bad.toml.n_patients: 1 must be >= 2"):
        load_design(p)
    p.write_text("name = [")
    with pytest.raises(DesignError, match="bad.toml: not valid TOML"):
        load_design(p)


@pytest.mark.parametrize("data, match", [
    ({"name": "x", "components": {"c": {"tau_on_days": 1, "tau_off_days": 1, "effects": {"hopee": {"add": 0.1}}}}},
     r"x.toml: components.c.effects.hopee: unknown target 'hopee' \(did you mean 'hope'\?\)"),
    ({"name": "x", "components": {"c": {"tau_on_days": 1, "tau_off_days": 1, "effects": {"skill": {"scale": 2}}}}},
     r"components.c.effects.skill: the skill input starts at 0"),
    ({"name": "x", "components": {"c": {"tau_on_days": 0, "tau_off_days": 1}}}, r"components.c.tau_on_days: 0.0 must be > 0"),
    ({"name": "x", "adherence": {"mean": 0.5, "sd": 0.6}}, r"adherence: sd=0.6 is too large"),
])
def test_intervention_errors_name_file_and_field(data, match):
    with pytest.raises(InterventionError, match=match):
        parse_intervention(data, "x.toml")


# ------------------------------------------------------------------------------ CLI
def test_tiny_cli_trial(tmp_path):
    design = tmp_path / "tiny.toml"
    design.write_text(TINY_TOML)
    out = tmp_path / "out"
    runner = CliRunner()
    res = runner.invoke(app, ["trial", "--design", str(design), "--out", str(out), "--replicates", "2"])
    assert res.exit_code == 0, res.output
    for f in ("trial.nc", "effects.csv", "summary.csv", "arms.csv", "forest.png", "trajectories.png", "trial.md"):
        assert (out / f).is_file(), f
    ds = xr.load_dataset(out / "trial.nc", engine="h5netcdf")
    assert ds.sizes["replicate"] == 2 and ds.sizes["patient"] == 16 and list(ds["arm"].values) == ["dbt_a", "placebo"]
    assert set(np.unique(ds["assigned"].values)) == {0, 1}
    # never overwrite without --overwrite
    res = runner.invoke(app, ["trial", "--design", str(design), "--out", str(out)])
    assert res.exit_code == 1 and "refusing to overwrite" in res.output
    # bad design: exit 2, naming the file and field
    bad = tmp_path / "bad.toml"
    bad.write_text(TINY_TOML.replace('control = "placebo"', 'control = "plac"'))
    res = runner.invoke(app, ["trial", "--design", str(bad), "--out", str(tmp_path / "o2")])
    assert res.exit_code == 2 and "bad.toml: control" in res.output


def test_run_trial_dataset_is_consistent(tiny_arms):
    d, _ = tiny_arms
    ds = run_trial(d)
    assert ds.sizes["effect"] > 0 and np.isfinite(ds["estimate"].sel(stratum="all", replicate=0).values).any()
    # the randomised analysis uses the assigned arm only; the paired one every patient
    assigned = ds["assigned"].sel(stratum="all", replicate=0).values
    assert 0 < (assigned == 0).sum() < 16


def test_report_gains_the_trial_section(tiny_arms, tmp_path):
    from nssisim.report import write_report

    d, _ = tiny_arms
    paths = write_report(tmp_path, None, None, trial_ds=run_trial(d))
    text = (tmp_path / "summary.md").read_text()
    assert "Virtual trial: tiny" in text and "dbt_a vs placebo" in text
    assert "Patients drawn from the" in text and ("provisional values" in text or "calibrated" in text)
    assert (tmp_path / "trial" / "forest.png").is_file() and "trial_trial.nc" in paths


def test_intervention_evidence_keys_resolve_in_references():
    from nssisim.modeldoc import load_references

    refs = load_references()
    missing = sorted({(n, k) for n in INTERVENTIONS for iv in [load_intervention(n)]
                      for k in iv.evidence + tuple(e for c in iv.components for e in c.evidence) if k not in refs})
    assert not missing, f"evidence keys missing from data/references.toml: {missing}"


def test_trial_resumes_from_its_checkpoint(tiny_arms, tmp_path, monkeypatch):
    import nssisim.trials.run as trial_mod

    d, _ = tiny_arms
    first = run_trial(d, checkpoint=tmp_path)
    assert len(list(tmp_path.rglob("*.npz"))) == 2  # screened ids and one group of replicates

    def refuse(*a, **k):
        raise AssertionError("a finished group was simulated again")

    monkeypatch.setattr(trial_mod, "simulate_arms", refuse)
    monkeypatch.setattr(trial_mod, "screen", refuse)
    again = run_trial(d, checkpoint=tmp_path)
    xr.testing.assert_identical(first.drop_attrs(), again.drop_attrs())


def test_docs_mapping_table_is_in_sync():
    from pathlib import Path

    from nssisim.trials import mapping_markdown

    text = (Path(__file__).resolve().parents[1] / "docs" / "trials.md").read_text(encoding="utf-8")
    assert mapping_markdown() in text, "docs/trials.md: regenerate the mapping table from nssisim.trials.interventions.mapping_markdown()"


@pytest.mark.slow
def test_calibrated_dbt_strength_reproduces_its_record():
    """The shipped strength's record (docs/trials.md §5, configs/interventions/dbt_a.toml): on referred
    patients of the shipped community, strength 0.5 has the smallest largest implausibility of its grid
    neighbours over every fitted DBT target, and that I_max is within the cut-off."""
    from nssisim.trials.calibration import calibrate_treatment

    strength = load_intervention("dbt_a").strength
    assert strength == load_intervention("dbt").strength == pytest.approx(0.5)
    result = calibrate_treatment([0.45, strength, 0.6])
    assert result["strength"] == pytest.approx(strength), result["table"].to_string()
    assert result["I_max"] <= 3.0, result["table"].to_string()


@pytest.mark.slow
def test_shipped_dbt_trial_keeps_attempts_at_a_clinical_scale():
    """The regression of 2026-12-03: with M13's history term as the lifetime act count, ideation stayed at its
    referral level and a third of the referred high-risk patients of dbt_vs_supportive attempted within the 6
    months of treatment in either arm (attempt-free 0.685 / 0.655). Guard: at most a fifth attempt in that window
    in either arm (2026-12-04: 0.885 / 0.885 attempt-free on these 200), and DBT-A still lowers NSSI."""
    ds = run_trial(load_design("dbt_vs_supportive"))
    free = ds["attempt_free"].sel(window="treatment").mean(("stratum", "replicate", "patient"))
    assert (free >= 0.8).all(), free.to_pandas().to_dict()
    monthly = ds["nssi_per_month"].sel(window="treatment").mean(("stratum", "replicate", "patient"))
    assert float(monthly.sel(arm="dbt_a")) < float(monthly.sel(arm="supportive")), monthly.to_pandas().to_dict()
