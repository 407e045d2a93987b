"""Every shipped config and trial design, run at tiny size.

The files are discovered by walking the package's ``configs`` folder, so a newly shipped config is
covered without editing this module; a file of a kind this module does not know (a new folder, a
new name pattern, a non-TOML file) fails :func:`test_every_shipped_file_is_of_a_known_kind`, so
whoever ships a new kind adds its tiny exercise here. Each kind's shipped names must also be those
its loader knows by name (``DESIGNS``, ``INTERVENTIONS``, ...).

Tiny means: 2 patients per arm and screening batches of 64 candidates for the trial designs (their
windows, arms, strata, eligibility, referral rule and population as shipped), a pool of 64 for the
referral rules and their calibration setup, 32 subjects over one year of age for the population
specs, 10 subjects over 30 days for the presets and the example scenario, and one candidate on 64
subjects over the setup's life course for the calibration setup and record.

Compile time dominates. The simulator compiles once per run shape: the padded batch (every batch of
at most 64 subjects is padded to 64), the number of records, ``record_every``, the event capacity
and, with a schedule, the number of intervention components. So the referral designs' screening,
the referral rules and the referral calibration share one shape (the life course from 10 to 18),
the population-source designs' screening another (3 years of history), the intervention cohort and
the intervention trial a third (the same arms), the presets and the scenario a fourth. The arms of
each trial design have a shape of their own (7-18 s each on a loaded 2-core machine, about 110 s for
the nine): the default run runs every design end to end, so a shipped design cannot rot unseen.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import replace
from pathlib import Path, PurePosixPath

import numpy as np
import pytest

from nssisim.core import PARAMS, STATE_FIELDS, defaults, simulate_cohort, stack_params
from nssisim.core.presets import PRESETS, load_preset
from nssisim.core.scenario import load_config, to_simulation_kwargs, validate_config
from nssisim.core.simulation import effective_params
from nssisim.files import resource
from nssisim.population import (LifeCourse, load_population, load_record, load_rule, load_setup, load_targets,
                                POPULATIONS, profile_table, record_matches_spec, refer, RULES, run_in_memory)
from nssisim.population.calibration import evaluate, TARGET_IDS
from nssisim.population.referral import check_days, SCREEN_START_AGE
from nssisim.population.referral_calibration import calibrate_referral, grid_points
from nssisim.population.referral_calibration import load_setup as load_referral_setup
from nssisim.population.referral_calibration import SETUPS as REFERRAL_SETUPS
from nssisim.trials import (Arm, arm_summary, build_schedule, BINARY_OUTCOMES, DESIGNS, effects_table, INTERVENTIONS,
                            load_design, load_intervention, OUTCOMES, parse_design, run_trial, screen_patients,
                            strength_curve, trial_markdown)

from conftest import ACTIVE, HORIZON_30D, N_SUBJECTS, domain_violations

CONFIGS = resource("configs")

#: Kinds by folder (``configs/<folder>/<name>.toml``).
FOLDERS = {"trials": "trial", "interventions": "intervention", "referral": "referral"}
#: Kinds of top-level files by name prefix (``configs/<prefix><name>.toml``), longest prefix first.
PREFIXES = (("calibrate_referral_", "referral_calibration"), ("calibrate_", "calibration_setup"),
            ("calibration_", "calibration_record"), ("population_", "population"))


def kind_of(rel: PurePosixPath) -> str | None:
    """The kind of the shipped file ``configs/<rel>``, or None if this module does not know it.

    A top-level file is a preset (named in ``PRESETS``), a population spec, a calibration setup or
    record, a referral calibration setup (by prefix), or a scenario (any other TOML with a ``[run]``
    table). A calibration ensemble (``ensemble_<population>.toml``) is not shipped yet: when it is,
    it is an unknown kind here until its tiny exercise is added.
    """
    if rel.suffix != ".toml":
        return None
    if len(rel.parts) == 2:
        return FOLDERS.get(rel.parts[0])
    if len(rel.parts) != 1:
        return None
    for prefix, kind in PREFIXES:
        if rel.stem.startswith(prefix) and len(rel.stem) > len(prefix):
            return kind
    if rel.stem in PRESETS:
        return "preset"
    if "run" in tomllib.loads((CONFIGS / rel).read_text(encoding="utf-8")):
        return "scenario"
    return None


def _discover() -> dict[PurePosixPath, str | None]:
    return {PurePosixPath(p.relative_to(CONFIGS).as_posix()): kind_of(PurePosixPath(p.relative_to(CONFIGS).as_posix()))
            for p in sorted(CONFIGS.rglob("*")) if p.is_file() and "__pycache__" not in p.parts}


SHIPPED = _discover()


def shipped(kind: str) -> list[Path]:
    return [CONFIGS / rel for rel, k in SHIPPED.items() if k == kind]


def name_of(path: Path, kind: str) -> str:
    """The name a loader knows the file by (``population_clinical.toml`` -> ``clinical``)."""
    prefix = dict((k, p) for p, k in PREFIXES).get(kind, "")
    return path.stem[len(prefix):]


def ids(paths: list[Path]) -> list[str]:
    return [p.relative_to(CONFIGS).as_posix() for p in paths]


def read(path: Path) -> dict:
    return tomllib.loads(path.read_text(encoding="utf-8"))


# ------------------------------------------------------------------------------ discovery
def test_every_shipped_file_is_of_a_known_kind():
    unknown = [str(rel) for rel, k in SHIPPED.items() if k is None]
    assert not unknown, (f"configs/ holds files of a kind tests/test_shipped_configs.py does not know: {unknown}; "
                         "add the kind to kind_of() and a tiny exercise of it")
    # every kind this module exercises is shipped (a rename that emptied one would go unnoticed)
    kinds = {"trial", "intervention", "referral", "population", "calibration_setup", "calibration_record",
             "referral_calibration", "preset", "scenario"}
    assert set(SHIPPED.values()) == kinds, f"no shipped file of the kind(s) {kinds - set(SHIPPED.values())}"


def test_kind_of_knows_only_the_shipped_patterns():
    assert kind_of(PurePosixPath("trials/demo.toml")) == "trial"
    assert kind_of(PurePosixPath("calibrate_referral_inpatient.toml")) == "referral_calibration"
    assert kind_of(PurePosixPath("calibrate_community.toml")) == "calibration_setup"
    assert kind_of(PurePosixPath("example_scenario.toml")) == "scenario"
    for rel in ("README.md", "trials/old/demo.toml", "cohorts/demo.toml", "trials/demo.json"):
        assert kind_of(PurePosixPath(rel)) is None, rel


@pytest.mark.parametrize("kind, registry", [
    ("trial", DESIGNS), ("intervention", INTERVENTIONS), ("referral", RULES), ("population", POPULATIONS),
    ("referral_calibration", REFERRAL_SETUPS), ("preset", PRESETS),
])
def test_shipped_files_are_the_names_their_loader_knows(kind, registry):
    """A shipped file missing from its loader's tuple cannot be loaded by name (and a name without a
    file fails only when used)."""
    assert sorted(name_of(p, kind) for p in shipped(kind)) == sorted(registry)


@pytest.mark.parametrize("kind", ["calibration_setup", "calibration_record"])
def test_calibration_files_belong_to_shipped_populations(kind):
    names = [name_of(p, kind) for p in shipped(kind)]
    assert names and set(names) <= set(POPULATIONS)


# ------------------------------------------------------------------------------ presets and scenarios
def _check_run(ds, n: int, expect: dict[str, float | np.ndarray], where: str) -> None:
    """A finite run in the state domain, every parameter as given (the rest at the table defaults)."""
    assert ds.sizes["subject"] == n and not ds["invalid"].any(), where
    pfc_max = ds["parameter_value"].sel(parameter="pfc_adult").values[:, None]
    assert not domain_violations({f: ds[f].values for f in STATE_FIELDS}, pfc_max), where
    assert (ds["acts"].values >= 0).all() and (ds["acts"].values <= ds["urges"].values).all(), where
    d = defaults()
    for k in PARAMS:
        want = np.broadcast_to(np.asarray(expect.get(k, d[k]), np.float32), (n,))
        np.testing.assert_array_equal(ds["parameter_value"].sel(parameter=k).values, want, err_msg=f"{where}: {k}")


@pytest.mark.parametrize("path", shipped("preset"), ids=ids(shipped("preset")))
def test_preset_runs_for_30_days(path):
    person = read(path).get("person", {})
    values = load_preset(path.stem)
    assert values == pytest.approx(person)  # the loader gives exactly the file's [person] table
    ds = simulate_cohort(3, values, n_subjects=N_SUBJECTS, horizon_hours=HORIZON_30D, record_every=24)
    _check_run(ds, N_SUBJECTS, values, str(path))


@pytest.mark.parametrize("path", shipped("scenario"), ids=ids(shipped("scenario")))
def test_scenario_runs_for_30_days(path):
    """The shipped scenario validates at its own size, and runs with its run table shrunk (10 subjects,
    30 days) and everything else as shipped: preset, [person] and [person_ranges]."""
    full = load_config(path)
    data = read(path)
    data["run"] = dict(data.get("run", {}), n_subjects=N_SUBJECTS, horizon_days=30)
    cfg = validate_config(data, source=str(path))
    kw = to_simulation_kwargs(cfg)
    ds = simulate_cohort(**kw)
    expect = dict(kw["params"])
    _check_run(ds, N_SUBJECTS, expect, str(path))
    for k, v in data.get("person", {}).items():
        assert expect[k] == v, k
    if full.preset is not None:
        for k, v in load_preset(full.preset).items():
            if k not in data.get("person", {}) and k not in data.get("person_ranges", {}):
                assert expect[k] == pytest.approx(v), k
    for k, (lo, hi) in data.get("person_ranges", {}).items():
        x = ds["parameter_value"].sel(parameter=k).values
        assert (x >= np.float32(lo)).all() and (x <= np.float32(hi)).all() and np.unique(x).size > 1, k
    assert ds.attrs["start_age_years"] == pytest.approx(full.run.start_age_years)


# ------------------------------------------------------------------------------ population specs
@pytest.mark.parametrize("path", shipped("population"), ids=ids(shipped("population")))
def test_population_spec_runs_a_tiny_life_course(path):
    """32 subjects of the spec over one year of age (12-13, no burn-in): every factor drawn within its
    support, every subject's run finite, the measurement table complete."""
    spec = load_population(str(path))
    assert spec.name == name_of(path, "population")
    table = run_in_memory(spec, 32, seed=3, course=LifeCourse(12.0, 13.0, burn_in=0.0))
    assert len(table) == 32 and list(table["subject"]) == list(range(32))
    assert not table["invalid"].any()
    for f in spec.factors:
        x = table[f"factor.{f.name}"].to_numpy(float)
        assert np.isfinite(x).all(), f.name
        if f.kind == "binary":
            assert set(np.unique(x)) <= {0.0, 1.0}, f.name
        elif f.kind == "beta":
            assert ((x >= 0) & (x <= 1)).all(), f.name
    for col in ("end_n_acts", "end_n_acts_12m", "end_days_12m", "diary_urges", "diary_acts", "acts_age_12"):
        x = table[col].to_numpy(float)
        assert np.isfinite(x).all() and (x >= 0).all(), col
    assert (table["end_n_acts_12m"] <= table["end_n_acts"]).all()
    assert table["survey_lifetime"].isin([True, False]).all()


# ------------------------------------------------------------------------------ calibration setups and records
@pytest.fixture(scope="module")
def setups():
    """The shipped calibration setups, by population."""
    return {name_of(p, "calibration_setup"): load_setup(str(p)) for p in shipped("calibration_setup")}


@pytest.mark.parametrize("path", shipped("calibration_setup"), ids=ids(shipped("calibration_setup")))
def test_calibration_setup_evaluates_one_candidate(path, setups):
    """The setup validates, its fitted targets have entries in the shipped targets file, and one
    candidate (the middle of every range) is simulated on 64 subjects over the setup's life course:
    every fitted target gets an implausibility. A full run (waves of candidates) has a tiny mode only
    through the method settings; it is the slow test below."""
    setup = setups[name_of(path, "calibration_setup")]
    assert setup.source == str(path)
    spec = load_population(setup.population)
    entries = load_targets(setup.targets_file, required=setup.fit)
    x = {r.name: r.from_unit(0.5) for r in setup.ranges}
    for r in setup.ranges:
        assert r.low <= x[r.name] <= r.high
    m, imp = evaluate(spec, x, 64, setup.method["seed"], setup.course, entries)
    missing = [t for t in setup.fit if t not in imp or math.isnan(imp[t])]
    assert not missing, f"fitted targets without an implausibility: {missing}"


@pytest.mark.parametrize("path", shipped("calibration_record"), ids=ids(shipped("calibration_record")))
def test_calibration_record_is_its_spec_and_its_default_is_plausible(path, setups):
    """The record holds what its population spec ships (fitted values and the unfitted entries it ran
    on), and its default parameter set, simulated on 64 subjects over its setup's course, gives a
    finite implausibility for every target it fitted."""
    pop = name_of(path, "calibration_record")
    record = load_record(str(path))
    spec = load_population(pop)
    assert record["population"] == spec.name and record_matches_spec(record, spec)
    fitted = record["method"]["fitted_targets"]
    assert fitted and set(fitted) <= set(TARGET_IDS) and set(record["parameters"]) == set(record["ranges"])
    setup = setups.get(pop) or load_setup(pop)
    assert (record["method"]["start_age"], record["method"]["end_age"]) == (setup.course.start_age, setup.course.end_age)
    entries = load_targets(setup.targets_file, required=tuple(fitted))
    _, imp = evaluate(spec, dict(record["parameters"]), 64, setup.method["seed"], setup.course, entries)
    bad = {t: imp.get(t) for t in fitted if not math.isfinite(imp.get(t, math.nan))}
    assert not bad, f"{path}: the default's implausibility is not finite for {bad}"


@pytest.mark.slow
@pytest.mark.parametrize("path", shipped("calibration_setup"), ids=ids(shipped("calibration_setup")))
def test_calibration_setup_runs_one_tiny_wave(path, tmp_path):
    """The whole calibration of the shipped setup in its tiny mode (one wave of 6 candidates on 64
    subjects, one confirmed): a record with every fitted target and every range."""
    from nssisim.population import calibrate

    setup = load_setup(str(path)).with_method(waves=1, wave_size=6, subjects=64, confirm_subjects=64, ensemble_size=1,
                                              extra_waves=0, cloud_size=500, confirm_candidates=1, cutoff=1000.0)
    rec = calibrate(setup, out_dir=tmp_path / "run", log=lambda m: None)
    assert rec["method"]["candidates"] == 6 and set(rec["parameters"]) == {r.name for r in setup.ranges}
    for tid in setup.fit:
        assert rec["targets"][tid]["status"] == "fitted" and math.isfinite(rec["targets"][tid]["implausibility"]), tid


@pytest.mark.parametrize("path", shipped("referral_calibration"), ids=ids(shipped("referral_calibration")))
def test_referral_calibration_setup_runs_on_a_tiny_pool(path):
    """The whole referral calibration on a pool of 64 (the shipped one screens 16,384): one row per
    grid point, the chosen point on the grid, and, the pool and its uniforms being common to every
    point, raising a pathway's probability never refers fewer."""
    setup = load_referral_setup(str(path))
    res = calibrate_referral(setup, subjects=64)
    t = res["table"]
    points = grid_points(setup)
    assert len(t) == len(points) and res["screened"] == 64
    cols = [f"p_{pw}" for pw, _ in setup.grid]
    assert [dict(zip(cols, r)) for r in t[cols].itertuples(index=False)] == [
        {f"p_{k}": v for k, v in p.items()} for p in points]
    assert {f"p_{k}": v for k, v in res["best"].items()} in [{c: r[c] for c in cols} for _, r in t.iterrows()]
    assert (t["sample"] <= t["referred"]).all() and (t["referred"] <= 64).all()
    assert not t["I_max"].isna().any()
    for c in cols:
        others = [o for o in cols if o != c]
        for _, g in (t.groupby(others) if others else [((), t)]):
            assert g.sort_values(c)["referred"].is_monotonic_increasing, c


# ------------------------------------------------------------------------------ referral rules
@pytest.mark.parametrize("path", shipped("referral"), ids=ids(shipped("referral")))
def test_referral_rule_draws_a_tiny_sample(path):
    """The rule screens 64 adolescents of the clinical population (a high-risk pool, so that a pool this
    small is referred through every rule; the referral designs below screen the community) from age
    10: someone is referred, on a check day within the rule's ages, through one of its pathways, and
    the sample's profile is finite."""
    rule = load_rule(str(path))
    s = refer(rule, 64, seed=2, population="clinical", chunk_size=64)
    t = s.table
    assert s.screened == 64 and 0 < len(t) <= 64 and t["subject"].is_unique
    assert set(t["referral_day"]) <= set(check_days(rule, SCREEN_START_AGE).tolist())
    assert ((t["referral_age"] >= rule.age_min) & (t["referral_age"] <= rule.age_max)).all()
    assert set(t["pathway"]) <= {p.name for p in rule.pathways}
    prof = profile_table(s)
    sim = prof["simulated"].to_numpy(float)
    assert np.isfinite(sim).all(), prof[~np.isfinite(sim)]["measure"].tolist()


# ------------------------------------------------------------------------------ interventions
#: History (the population-source designs' 3 years: their screening's compiled shape) and treatment, days.
HISTORY_DAYS, FOLLOW_DAYS = 1095, 182
#: Patients per arm (12 arms x 4 = 48 subjects: one padded batch of 64).
PER_ARM = 4
INTERVENTION_PATHS = shipped("intervention")
#: The inert arm beside the shipped interventions: DBT-A at strength 0 (every level 0, so exactly the
#: unscheduled parameters). The cohort and the trial below have the same arms, hence the same schedule
#: shape and one compilation.
NULL_ARM = "null_arm"


def _arms() -> list[Arm]:
    arms = [Arm(name_of(p, "intervention"), load_intervention(str(p))) for p in INTERVENTION_PATHS]
    assert NULL_ARM not in [a.name for a in arms]
    return arms + [Arm(NULL_ARM, load_intervention("dbt_a"), strength=0.0)]


@pytest.fixture(scope="module")
def intervention_cohort():
    """4 busy adolescents (conftest.ACTIVE) in every shipped intervention and the inert arm, treated
    for 6 months from day 30: one compiled run, the same subject ids in every arm."""
    arms = _arms()
    k = len(arms)
    sid = np.tile(np.arange(PER_ARM), k)
    arm_of = np.repeat(np.arange(k), PER_ARM)
    start = 30 * 24.0
    sched, info = build_schedule(arms, arm_of, sid, 11, start, FOLLOW_DAYS)
    ds = simulate_cohort(11, ACTIVE, subject_ids=sid, schedule=sched, horizon_hours=(HISTORY_DAYS + FOLLOW_DAYS) * 24.0,
                         record_every=24, event_capacity=1, start_age_years=12.0)
    return arms, sched, info, ds, start


@pytest.mark.parametrize("path", INTERVENTION_PATHS, ids=ids(INTERVENTION_PATHS))
def test_intervention_changes_its_targets_and_the_course(path, intervention_cohort):
    """Before treatment every arm's course is the inert arm's (common random numbers); an intervention
    with components moves each parameter it names (during treatment, for a patient with adherence)
    and changes the course after its start; one without components changes nothing."""
    arms, sched, info, ds, start = intervention_cohort
    names = [a.name for a in arms]
    a, null = names.index(name_of(path, "intervention")), names.index(NULL_ARM)
    iv = arms[a].intervention
    rows = slice(a * PER_ARM, (a + 1) * PER_ARM)
    ref = slice(null * PER_ARM, (null + 1) * PER_ARM)
    day0 = int(start // 24)
    assert not ds["invalid"].any()
    pfc_max = ds["parameter_value"].sel(parameter="pfc_adult").values[rows, None]
    assert not domain_violations({f: ds[f].values[rows] for f in STATE_FIELDS}, pfc_max), iv.source
    for f in STATE_FIELDS:
        np.testing.assert_array_equal(ds[f].values[rows, :day0], ds[f].values[ref, :day0], err_msg=f)
    adh = info["adherence"][rows]
    assert ((adh >= 0) & (adh <= 1)).all()
    np.testing.assert_array_equal(info["completed"][rows], info["dropout_days"][rows] >= FOLLOW_DAYS)
    changed = [f for f in STATE_FIELDS if not np.array_equal(ds[f].values[rows], ds[f].values[ref])]
    if not iv.components:
        assert not changed, f"{iv.source} has no components but changed {changed}"
        return
    assert changed, f"{iv.source}: the course after treatment start equals the inert arm's"
    base = stack_params(ACTIVE, len(names) * PER_ARM)
    # the first record block after the components' onset: the slowest onset has had 2 time constants
    t = start + 24.0 * math.ceil(2 * max(c.tau_on_days for c in iv.components) + max(c.delay_days for c in iv.components))
    t = min(t, start + FOLLOW_DAYS * 24.0)
    eff, skill = effective_params(base, sched, t)
    took = adh > 0.05
    assert took.any()
    for c in iv.components:
        for target in (*c.scale, *c.add):
            if target == "skill":
                assert (skill[rows][took] > 0).all(), f"{iv.source}: {c.name}.skill"
                continue
            lo, hi = PARAMS[target].low, PARAMS[target].high
            b = base[target][rows][took]
            moved = eff[target][rows][took] != b
            fixed = (b <= lo) | (b >= hi) | ((b == 0) & (target in c.scale))  # at a bound, or 0 scaled
            assert (moved | fixed).all() and moved.any(), f"{iv.source}: {c.name}.{target} does not move"


@pytest.fixture(scope="module")
def intervention_trial():
    """A tiny population-source trial with one arm per shipped intervention and the inert arm: 4
    patients, each simulated in every arm; the control is the placebo where shipped."""
    arms = {name_of(p, "intervention"): {"intervention": str(p)} for p in INTERVENTION_PATHS}
    arms[NULL_ARM] = {"intervention": "dbt_a", "strength": 0.0}  # as in _arms()
    data = {"name": "every_intervention", "seed": 13, "population": "clinical", "start_age_years": 12.0,
            "history_days": HISTORY_DAYS, "n_patients": PER_ARM, "screen_batch": 64, "max_screen": 1024,
            "baseline_days": 90, "control": "placebo" if "placebo" in arms else next(iter(arms)),
            "eligibility": {"min_lifetime_acts": 1},
            "treatment": {"length_days": FOLLOW_DAYS},
            "windows": [{"name": "treatment", "start_day": 0, "end_day": FOLLOW_DAYS}], "arms": arms}
    return data, run_trial(parse_design(data, "every_intervention.toml"))


def test_every_intervention_runs_as_a_trial_arm(intervention_trial):
    data, ds = intervention_trial
    assert list(ds["arm"].values) == list(data["arms"]) and ds.sizes["patient"] == data["n_patients"]
    _check_outcomes(ds, data, balanced=False)  # 4 patients cannot fill 12 arms
    s = arm_summary(ds)
    assert set(s["arm"]) == set(data["arms"]) and np.isfinite(s.drop(columns=["stratum", "arm", "window"]).to_numpy()).all()


# ------------------------------------------------------------------------------ trial designs
#: Candidates per screening batch of a tiny trial (one padded batch) and the most screened.
SCREEN_BATCH, MAX_SCREEN = 64, 1024
TRIAL_PATHS = shipped("trial")


def tiny_design(path: Path):
    """The shipped design with 2 patients per arm (one permuted block: exactly 2 randomised to each
    arm), 1 replicate and screening batches of 64; everything else as shipped. Returns (design, data)."""
    data = read(path)
    data.update(n_patients=2 * len(data["arms"]), replicates=1, screen_batch=SCREEN_BATCH, max_screen=MAX_SCREEN)
    return parse_design(data, str(path)), data


def _check_outcomes(ds, data: dict, balanced: bool = True) -> None:
    """Every outcome finite and of its kind; completion follows dropout; distinct patients; with
    ``balanced``, the same number randomised to every arm."""
    for o in OUTCOMES:
        x = ds[o].values
        assert np.isfinite(x.astype(float)).all(), o
        if o in BINARY_OUTCOMES:
            assert x.dtype == bool, o
    for o in ("nssi_per_month", "nssi_days", "self_harm_per_month"):
        assert (ds[o].values >= 0).all(), o
    assert (ds["nssi_per_month"].values <= ds["self_harm_per_month"].values).all()
    np.testing.assert_array_equal(ds["completed"].values, ds["dropout_days"].values >= data["treatment"]["length_days"])
    adh = ds["adherence"].values
    assert ((adh >= 0) & (adh <= 1)).all()
    k = len(data["arms"])
    for st in ds["stratum"].values:
        a = ds["assigned"].sel(stratum=st, replicate=0).values
        assert ((a >= 0) & (a < k)).all()
        if balanced:
            assert np.bincount(a, minlength=k).tolist() == [data["n_patients"] // k] * k
        assert np.unique(ds["subject_id"].sel(stratum=st).values).size == data["n_patients"]
    assert (ds["screened"].values >= ds["eligible_found"].values).all()
    assert (ds["eligible_found"].values >= data["n_patients"]).all()


@pytest.mark.parametrize("path", TRIAL_PATHS, ids=ids(TRIAL_PATHS))
def test_trial_design_screens_and_schedules_at_tiny_size(path):
    """The design validates at its shipped size; at its tiny size every stratum finds its patients in
    screening batches of 64 (referral designs: on a check day of the rule, at an age in the design's
    eligibility range), and the arms' schedule gives each arm's components to its patients only."""
    full = load_design(str(path))
    d, data = tiny_design(path)
    assert d.arm_names == full.arm_names and d.windows == full.windows and d.strata == full.strata
    el = data.get("eligibility", {})
    k = len(d.arms)
    for name, stratum in d.strata.items():
        pid, t0, screened = screen_patients(d, stratum, d.n_patients)
        assert pid.size == d.n_patients and np.unique(pid).size == pid.size, name
        assert d.n_patients <= screened <= d.max_screen and (t0 >= d.baseline_days).all(), name
        if d.patients_from == "referral":
            assert set(t0.tolist()) <= set(check_days(d.rule, d.start_age_years).tolist()), name
        else:
            assert (t0 == d.history_days).all(), name
        age = d.start_age_years + t0 / 365.25
        assert ((age >= el.get("age_min", 0)) & (age <= el.get("age_max", 100))).all(), (name, age)
        arm_of = np.repeat(np.arange(k), pid.size)
        sched, info = build_schedule(d.arms, arm_of, np.tile(pid, k), d.seed, np.tile(t0, k) * 24.0, d.length_days)
        owner = np.concatenate([[a] * len(arm.active()) for a, arm in enumerate(d.arms)]).astype(int)
        if owner.size:
            assert sched.level.shape == (k * pid.size, owner.size)
            mine = arm_of[:, None] == owner[None, :]
            assert (sched.level[~mine] == 0).all() and (sched.level[mine] >= 0).all()
            for a, arm in enumerate(d.arms):  # an arm with a strength and adherence acts on its patients
                if arm.level > 0 and arm.active():
                    assert (sched.level[arm_of == a][:, owner == a] > 0).any(), arm.name
        np.testing.assert_array_equal(info["completed"], info["dropout_days"] >= d.length_days)


@pytest.mark.parametrize("path", TRIAL_PATHS, ids=ids(TRIAL_PATHS))
def test_trial_design_runs_at_tiny_size(path):
    """At 2 patients per arm the design runs end to end: every arm, window and stratum of the file,
    the patients asked for, finite outcomes, every contrast in the effects table, the arm means and
    the trial's Markdown summary."""
    d, data = tiny_design(path)
    ds = run_trial(d)
    arms = list(data["arms"])
    windows = [w["name"] for w in data["windows"]]
    strata = list(data.get("strata", {})) or ["all"]
    assert list(ds["arm"].values) == arms and list(ds["window"].values) == windows
    assert list(ds["stratum"].values) == strata
    assert ds.sizes["patient"] == data["n_patients"] and ds.sizes["replicate"] == 1
    assert ds.attrs["control_arm"] == data["control"]
    source = data.get("source", "population")
    assert ds.attrs["patients_from"] == source
    if source == "referral":
        assert ds.attrs["referral_rule"] == load_rule(data["referral"]["rule"]).name
    _check_outcomes(ds, data)
    age = ds["randomisation_age"].values
    el = data.get("eligibility", {})
    assert (age >= el.get("age_min", 0)).all() and (age <= el.get("age_max", 100)).all()
    if source == "population":
        np.testing.assert_allclose(age, data["start_age_years"] + data["history_days"] / 365.25)
    # the tables: every contrast of every non-control arm, every outcome and window; paired estimates finite
    e = effects_table(ds)
    assert set(e["contrast"]) == {f"{a} vs {data['control']}" for a in arms if a != data["control"]}
    assert set(e["window"]) == set(windows) and set(e["outcome"]) == set(OUTCOMES)
    assert np.isfinite(e.loc[e["analysis"] == "paired", "estimate"]).all()
    s = arm_summary(ds)
    assert len(s) == len(strata) * len(arms) * len(windows)
    assert list(s.columns) == ["stratum", "arm", "window", *[o for o in OUTCOMES if o != "completed"], "completed"]
    assert np.isfinite(s.drop(columns=["stratum", "arm", "window"]).to_numpy(float)).all()
    text = trial_markdown(ds)
    assert all(f"| {a} |" in text for a in arms)


def _trial(name: str) -> Path:
    path = CONFIGS / "trials" / f"{name}.toml"
    assert path in TRIAL_PATHS, f"{name}.toml is no longer shipped"
    return path


@pytest.mark.slow  # its strength arms compile runs of their own (about 30 s on a shared 2-core machine)
def test_treatment_calibration_runs_on_the_tiny_designs(monkeypatch):
    """The treatment calibration (nssisim.trials.calibration: designs calibrate_dbt and
    dbta_routine_care) on a grid of 2 strengths, with its designs at their tiny size (screening
    batches of 64 instead of 1024): every DBT target measured at each strength."""
    import nssisim.trials.calibration as tc

    designs = {name: tiny_design(_trial(name))[0] for name in (tc.BETWEEN_DESIGN, tc.WITHIN_DESIGN)}
    monkeypatch.setattr(tc, "load_design", lambda name: designs[name])
    n_b, n_w = designs[tc.BETWEEN_DESIGN].n_patients, designs[tc.WITHIN_DESIGN].n_patients
    res = tc.calibrate_treatment([0.0, 1.0], between_patients=n_b, within_patients=n_w)
    t = res["table"]
    assert list(t["strength"]) == [0.0, 1.0] and res["strength"] in (0.0, 1.0)
    assert res["info"][tc.BETWEEN_DESIGN]["patients"] == n_b and res["info"][tc.WITHIN_DESIGN]["patients"] == n_w
    for tid in tc.FITTED + tc.REPORTED:
        assert tid in t and f"I_{tid}" in t, tid
    assert not t[[f"I_{tid}" for tid in tc.FITTED]].isna().any().any() and not math.isnan(res["I_max"])


@pytest.mark.slow  # a run of its own (3 arms), 10-15 s
def test_clinical_dbt_calibration_design_gives_a_strength_curve():
    """calibrate_dbt_clinical, the design the old strength was fitted on (nssisim.trials.run.calibrate_strength):
    its curve of Hedges' g over 2 strengths on the tiny design's patients (strength 0 is DBT without its
    specific effect), finite, on the patients asked for."""
    d, data = tiny_design(_trial("calibrate_dbt_clinical"))
    arm = next(a for a in data["arms"] if a != data["control"])
    curve = strength_curve(d, arm, [0.0, 1.0])
    assert list(curve["strength"]) == [0.0, 1.0] and (curve["patients"] == d.n_patients).all()
    assert np.isfinite(curve[["hedges_g", "mean_arm", "mean_control"]].to_numpy()).all()
    assert curve["mean_control"].nunique() == 1  # one control arm, the same patients at every strength


def test_tiny_design_keeps_the_shipped_design_but_its_size():
    """The tiny versions differ from the shipped designs only in the size keys."""
    for path in TRIAL_PATHS:
        d, _ = tiny_design(path)
        full = load_design(str(path))
        assert replace(d, n_patients=full.n_patients, replicates=full.replicates, screen_batch=full.screen_batch,
                       max_screen=full.max_screen, raw=full.raw, source=full.source) == full, path.name
