"""The simulation API: batch invariance, recording, horizon, seeds, validation, outputs.

Runs share the canonical shape of ``conftest`` (10 subjects, 30 days, dt 1 h, a record per
day) wherever they can, so the suite compiles few programs.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import nssisim
from conftest import ACTIVE, AT_RISK, HORIZON_30D, N_SUBJECTS
from nssisim import events_table
from nssisim import simulate
from nssisim import simulate_cohort
from nssisim.core import MECHANISM_IDS, STATE_FIELDS
from nssisim.core import COUNT_FIELDS, mechanism_switches
from nssisim.core.simulation import _grid

SEED = 7
KW = dict(horizon_hours=HORIZON_30D, dt=1.0, record_every=24)
EVENT_VARS = ("event_time", "event_kind", "event_habitual", "event_severity", "event_relief", "event_distress",
              "event_intrapersonal", "event_interpersonal")


def subject_rows(ds: xr.Dataset, sid: int) -> dict[str, np.ndarray]:
    """The event rows of subject ``sid``."""
    m = ds["event_subject"].values == sid
    return {v: ds[v].values[m] for v in EVENT_VARS}


def subject_differences(a: xr.Dataset, b: xr.Dataset, sid: int) -> list[str]:
    """Where subject ``sid`` differs between two runs (exact comparison): states, counts, events."""
    out = []
    for f in (*STATE_FIELDS, "urge_intensity", *COUNT_FIELDS):
        x, y = a[f].sel(subject=sid).values, b[f].sel(subject=sid).values
        if not np.array_equal(x, y):
            out.append(f"{f} (max |diff| {np.abs(x - y).max():.3g})")
    ra, rb = subject_rows(a, sid), subject_rows(b, sid)
    for v in EVENT_VARS:
        if not np.array_equal(ra[v], rb[v]):
            out.append(f"{v} rows")
    if int(a["events_dropped"].sel(subject=sid)) != int(b["events_dropped"].sel(subject=sid)):
        out.append("events_dropped")
    return out


@pytest.fixture(scope="module")
def cohort() -> xr.Dataset:
    return simulate_cohort(SEED, ACTIVE, n_subjects=N_SUBJECTS, **KW)


# ------------------------------------------------------------------------ batch invariance

@pytest.fixture(scope="module")
def chunked_cohorts() -> dict[str, xr.Dataset]:
    return {
        "10 chunk 3": simulate_cohort(SEED, ACTIVE, n_subjects=10, chunk_size=3, **KW),
        "257 chunk 64": simulate_cohort(SEED, ACTIVE, n_subjects=257, chunk_size=64, **KW),
        "257 chunk 257": simulate_cohort(SEED, ACTIVE, n_subjects=257, chunk_size=257, **KW),
        "ids 9, 3, 0, 2": simulate_cohort(SEED, ACTIVE, subject_ids=np.array([9, 3, 0, 2]), **KW),
    }


def test_subject_in_cohort_independent_of_cohort_size_and_chunking(cohort, chunked_cohorts):
    """Subject i is the same in cohorts of 10 and 257, in chunks of 3, 64 or 257 subjects, and
    among other neighbours in another order (exact equality of states, counts and event rows)."""
    runs = {"10": cohort, **chunked_cohorts}
    for sid in (0, 2, 3, 9):
        for name, ds in runs.items():
            assert not subject_differences(cohort, ds, sid), f"subject {sid}: cohort {name} differs from cohort 10"
    a, b = chunked_cohorts["257 chunk 64"], chunked_cohorts["257 chunk 257"]
    for sid in (10, 63, 64, 127, 128, 200, 255, 256):
        assert not subject_differences(a, b, sid), f"subject {sid}: chunk 64 differs from chunk 257"


@pytest.fixture(scope="module")
def alone() -> dict[int, xr.Dataset]:
    return {sid: simulate(SEED, ACTIVE, subject_id=sid, **KW) for sid in (0, 3, 9)}


def test_subject_alone_matches_cohort_up_to_rounding(cohort, alone):
    """Same events (times, kinds, flags, counts) and states within float32 rounding (the exact
    version is the next test; this one bounds the damage should exactness ever be lost again)."""
    discrete = ("event_time", "event_kind", "event_habitual", "event_intrapersonal", "event_interpersonal")
    for sid, ds in alone.items():
        ra, rb = subject_rows(ds, sid), subject_rows(cohort, sid)
        for v in EVENT_VARS:
            if v in discrete:
                np.testing.assert_array_equal(ra[v], rb[v], err_msg=f"subject {sid}: {v}")
            else:
                np.testing.assert_allclose(ra[v], rb[v], rtol=1e-5, atol=1e-6, err_msg=f"subject {sid}: {v}")
        for f in ("acts", "urges", "habit_acts", "resisted", "attempts", "stressors"):
            np.testing.assert_array_equal(ds[f].sel(subject=sid).values, cohort[f].sel(subject=sid).values,
                                          err_msg=f"subject {sid}: {f}")
        for f in (*STATE_FIELDS, "urge_intensity", "severity_sum", "relief_sum"):
            np.testing.assert_allclose(ds[f].sel(subject=sid).values, cohort[f].sel(subject=sid).values,
                                       rtol=1e-5, atol=1e-6, err_msg=f"subject {sid}: {f}")


def test_subject_alone_equals_subject_in_cohort_exactly(cohort, alone):
    """``simulate(seed, subject_id=i)`` must reproduce subject i of a cohort bit for bit.

    Regression test. On x86 CPUs with FMA, XLA compiled the one-subject batch with different
    rounding from a batched one, so affect, rumination, mood and ideation differed by 1-2 float32
    ulps (none with ``XLA_FLAGS=--xla_cpu_max_isa=SSE4_2``), enough to flip an event decision
    ``u < p`` that falls within an ulp. Fixed in d2e75e4 by padding every per-device batch to a
    multiple of ``SUBJECT_QUANTUM``.
    """
    diffs = {sid: d for sid, ds in alone.items() if (d := subject_differences(ds, cohort, sid))}
    assert not diffs, f"subject alone differs from the same subject in a cohort of {N_SUBJECTS}: {diffs}"


# ------------------------------------------------------------------------------ recording

def test_record_every_does_not_change_the_trajectory(cohort):
    fine = simulate_cohort(SEED, ACTIVE, n_subjects=N_SUBJECTS, horizon_hours=HORIZON_30D, dt=1.0, record_every=1)
    assert fine.sizes["time"] == 720 and cohort.sizes["time"] == 30
    at = fine.sel(time=cohort["time"].values)
    for f in STATE_FIELDS:
        np.testing.assert_array_equal(at[f].values, cohort[f].values, err_msg=f)
    # counts are sums over the recording block
    for f in COUNT_FIELDS:
        blocks = fine[f].values.reshape(N_SUBJECTS, 30, 24).sum(axis=2)
        np.testing.assert_allclose(blocks, cohort[f].values, rtol=1e-6, atol=1e-5, err_msg=f)
    for v in ("event_subject", *EVENT_VARS):
        np.testing.assert_array_equal(fine[v].values, cohort[v].values, err_msg=v)


# -------------------------------------------------------------------------------- horizon

@pytest.mark.parametrize("horizon, dt, record_every", [
    (720.0, 1.0, 24), (180.0, 0.25, 24), (72.0, 0.1, 24), (1440.0, 2.0, 24),
    (720.0, 1.0, 1), (72.0, 0.1, 1), (4320.0, 6.0, 1),
])
def test_horizon_is_the_requested_one(horizon, dt, record_every):
    ds = simulate_cohort(1, n_subjects=N_SUBJECTS, horizon_hours=horizon, dt=dt, record_every=record_every)
    assert ds.attrs["horizon_hours"] == horizon
    assert float(ds["time"][-1]) == horizon
    assert ds.sizes["time"] == round(horizon / dt) // record_every
    np.testing.assert_allclose(np.diff(ds["time"].values), record_every * dt, rtol=1e-9)
    assert float(ds["time"][0]) == pytest.approx(record_every * dt, rel=1e-12)
    assert ds.attrs["dt_hours"] == dt and ds.attrs["record_every"] == record_every


def test_horizon_exact_for_a_decimal_step():
    """7 steps of 0.1 h are 0.7 h, not 0.7000000000000001 h.

    Known failure (found by this test): ``horizon_hours`` and the time coordinate are computed
    as ``n_steps * dt`` in floating point, so for decimal steps the recorded horizon is off by
    an ulp and ``ds.sel(time=0.7)`` fails.
    """
    ds = simulate(1, horizon_hours=0.7, dt=0.1, record_every=1)
    assert ds.attrs["horizon_hours"] == 0.7, repr(ds.attrs["horizon_hours"])
    assert float(ds["time"][-1]) == 0.7, repr(float(ds["time"][-1]))


@pytest.mark.parametrize("horizon, dt", [(10.05, 0.1), (100.5, 1.0), (24.0, 7.0), (8760.4, 1.0)])
def test_horizon_not_whole_number_of_steps_raises(horizon, dt):
    with pytest.raises(ValueError, match=r"not a whole number of steps"):
        simulate_cohort(0, horizon_hours=horizon, dt=dt)


@pytest.mark.parametrize("horizon, dt", [
    (87660.05, 0.1),  # ten years (876,600 steps of 6 minutes) plus half a step
    (8766.0 + 0.5 / 60, 1 / 60),  # a year (525,960 steps of 1 minute) plus half a step
    (8766.5 / 60, 1 / 60),  # six days (8,766 steps of 1 minute) plus half a step: short runs were always rejected
])
def test_half_a_step_too_long_is_rejected_for_long_runs(horizon, dt):
    """A horizon half a step away from the grid must raise, however many steps the run has.

    Regression test: the check in ``simulate._grid`` used to tolerate ``1e-6 * horizon_hours``,
    more than half a step once a run has over ~500,000 steps, so such a horizon was silently
    rounded (87660.05 h simulated as 87660 h); fixed in 864cfe2 (tolerance in steps). Tested on
    ``_grid`` directly because the run itself would be long.
    """
    with pytest.raises(ValueError, match=r"not a whole number of steps"):
        n_steps, _ = _grid(horizon, dt, 1)
        pytest.fail(f"horizon {horizon!r} h accepted as {n_steps} steps of {dt} h = {n_steps * dt!r} h")


def test_horizon_not_multiple_of_record_every_raises():
    with pytest.raises(ValueError, match=r"not a multiple of record_every=24.*divisors of 100"):
        simulate_cohort(0, horizon_hours=100.0, dt=1.0, record_every=24)
    for bad in (dict(dt=0.0), dict(dt=-1.0), dict(dt=float("nan")), dict(horizon_hours=0.0), dict(record_every=0)):
        with pytest.raises(ValueError):
            simulate_cohort(0, **{"horizon_hours": 24.0, "dt": 1.0, "record_every": 1, **bad})


# ---------------------------------------------------------------------------------- seeds

def test_same_seed_same_run_different_seed_different_run(cohort):
    again = simulate_cohort(SEED, ACTIVE, n_subjects=N_SUBJECTS, **KW)
    xr.testing.assert_identical(again, cohort)
    other = simulate_cohort(SEED + 1, ACTIVE, n_subjects=N_SUBJECTS, **KW)
    for f in ("stress", "affect", "urge_intensity"):
        assert not np.array_equal(other[f].values, cohort[f].values), f
    # every subject's trajectory changes, not just some
    assert (np.abs(other["stress"].values - cohort["stress"].values).max(axis=1) > 0).all()
    # different subjects of one cohort have different streams
    assert len({cohort["stress"].values[i].tobytes() for i in range(N_SUBJECTS)}) == N_SUBJECTS


# --------------------------------------------------------------------- mechanisms, params

def test_mechanisms_off_validation():
    with pytest.raises(ValueError, match=r"unknown mechanism 'M14'"):
        simulate_cohort(0, horizon_hours=24.0, mechanisms_off=["M14"])
    with pytest.raises(ValueError, match=r"unknown mechanism 'm3'"):
        mechanism_switches(["m3"])
    on = mechanism_switches(["M3", "M13"])
    assert on.shape == (13,) and on[2] == 0 and on[12] == 0 and on.sum() == 11
    assert list(MECHANISM_IDS) == [f"M{i}" for i in range(1, 14)]


def test_mechanisms_off_take_effect():
    ds = simulate_cohort(SEED, ACTIVE, n_subjects=N_SUBJECTS, mechanisms_off=["M1", "M5"], **KW)
    assert float(ds["stressors"].sum()) == 0 and float(ds["urges"].sum()) == 0
    assert set(np.unique(ds["event_kind"].values)) <= {2}, "urge rows with M5 off"  # attempts (M13) remain
    assert ds.attrs["mechanisms_off"] == "M1,M5"


def test_per_subject_parameters_reach_their_subjects():
    lam = np.where(np.arange(N_SUBJECTS) % 2 == 0, 0.0, 0.5)  # even subjects: no stressors
    limbic = np.linspace(0.5, 2.5, N_SUBJECTS)
    ds = simulate_cohort(SEED, dict(AT_RISK, lam_stress=lam, limbic_reactivity=limbic), n_subjects=N_SUBJECTS, **KW)
    np.testing.assert_array_equal(ds["parameter_value"].sel(parameter="lam_stress").values, lam.astype(np.float32))
    np.testing.assert_array_equal(ds["parameter_value"].sel(parameter="limbic_reactivity").values,
                                  limbic.astype(np.float32))
    np.testing.assert_array_equal(ds["parameter_value"].sel(parameter="pfc_adult").values, np.float32(AT_RISK["pfc_adult"]))
    stressors = ds["stressors"].sum("time").values
    assert (stressors[lam == 0] == 0).all() and (stressors[lam > 0] > 100).all(), stressors
    with pytest.raises(ValueError, match=r"lam_stress.*length 10"):
        simulate_cohort(0, dict(lam_stress=np.zeros(3)), n_subjects=N_SUBJECTS, **KW)
    with pytest.raises(ValueError, match=r"lam_stress.*outside its bounds"):
        simulate_cohort(0, dict(lam_stress=lam - 1), n_subjects=N_SUBJECTS, **KW)
    with pytest.raises(KeyError, match=r"no_such_parameter"):
        simulate_cohort(0, dict(no_such_parameter=1.0), n_subjects=N_SUBJECTS, **KW)


# ---------------------------------------------------------------------------------- attrs

def test_attrs_record_the_run(cohort):
    a = cohort.attrs
    assert a["nssisim_version"] == nssisim.__version__
    assert a["seed"] == SEED
    cfg = json.loads(a["config"])
    assert cfg["run"]["seed"] == SEED and cfg["run"]["dt"] == 1.0 and cfg["run"]["horizon_hours"] == HORIZON_30D
    assert a["config_hash"] == hashlib.sha256(json.dumps(cfg, sort_keys=True, default=str).encode()).hexdigest()
    user = simulate_cohort(SEED, ACTIVE, n_subjects=N_SUBJECTS, config={"study": "x"}, **KW)
    assert json.loads(user.attrs["config"])["study"] == "x"
    assert user.attrs["config_hash"] != a["config_hash"]


# --------------------------------------------------------------------------------- events

def test_event_rows_match_counts(cohort):
    assert (cohort["events_dropped"].values == 0).all() and cohort.attrs["events_dropped_total"] == 0
    kind, subj = cohort["event_kind"].values, cohort["event_subject"].values
    totals = cohort[["acts", "resisted", "attempts", "urges", "habit_acts", "interpersonal_acts"]].sum("time")
    assert totals["acts"].sum() >= 5 and totals["attempts"].sum() >= 1 and totals["resisted"].sum() >= 5, "too few events"
    for sid in cohort["subject"].values:
        m = subj == sid
        assert (kind[m] == 1).sum() == totals["acts"].sel(subject=sid)
        assert (kind[m] == 0).sum() == totals["resisted"].sel(subject=sid)
        assert (kind[m] == 2).sum() == totals["attempts"].sel(subject=sid)
        assert ((kind[m] == 1) & cohort["event_habitual"].values[m]).sum() == totals["habit_acts"].sel(subject=sid)
        assert ((kind[m] == 1) & cohort["event_interpersonal"].values[m]).sum() == totals["interpersonal_acts"].sel(subject=sid)
        t = cohort["event_time"].values[m]
        assert (np.diff(t) >= 0).all() and (t > 0).all() and (t <= HORIZON_30D).all()
    sev = cohort["event_severity"].values
    assert (sev[kind == 1] > 0).all() and (sev[kind != 1] == 0).all()
    assert (cohort["event_relief"].values[kind != 1] == 0).all()
    # acts per recording block: event times fall in the block whose count they add to
    block = np.ceil(cohort["event_time"].values / 24.0).astype(int) - 1
    for sid in (0, 5, 9):
        m = (subj == sid) & (kind == 1)
        np.testing.assert_array_equal(np.bincount(block[m], minlength=30), cohort["acts"].sel(subject=sid).values)


def test_events_dropped_counts_overflow(cohort):
    cap = 2
    small = simulate_cohort(SEED, ACTIVE, n_subjects=N_SUBJECTS, event_capacity=cap, **KW)
    n_events = (cohort["urges"] + cohort["attempts"]).sum("time").values.astype(int)
    assert (n_events > cap).any()
    np.testing.assert_array_equal(small["events_dropped"].values, np.maximum(n_events - cap, 0))
    assert small.attrs["events_dropped_total"] == int(np.maximum(n_events - cap, 0).sum())
    # the kept rows are the first ones of the full table
    for sid in range(N_SUBJECTS):
        full, kept = subject_rows(cohort, sid), subject_rows(small, sid)
        for v in EVENT_VARS:
            np.testing.assert_array_equal(kept[v], full[v][:cap], err_msg=f"subject {sid}: {v}")
    # the trajectory does not depend on the capacity
    for f in (*STATE_FIELDS, *COUNT_FIELDS):
        np.testing.assert_array_equal(small[f].values, cohort[f].values, err_msg=f)


def test_events_table_columns(cohort):
    df = events_table(cohort)
    assert list(df.columns) == ["subject", "time_h", "kind", "trigger", "severity", "relief", "distress",
                                "function_intrapersonal", "function_interpersonal"]
    assert len(df) == cohort.sizes["event"]
    assert isinstance(df["kind"].dtype, pd.CategoricalDtype)
    assert list(df["kind"].cat.categories) == ["resisted", "act", "attempt"]
    assert set(df["kind"]) == {"resisted", "act", "attempt"}
    assert set(df.loc[df["kind"] == "attempt", "trigger"]) == {""}
    assert set(df.loc[df["kind"] != "attempt", "trigger"]) <= {"habit", "distress"}
    np.testing.assert_array_equal(df["subject"].values, cohort["event_subject"].values)
    np.testing.assert_array_equal(df["time_h"].values, cohort["event_time"].values)
    assert (df.loc[df["kind"] == "act", "severity"] > 0).all()
    assert df["function_intrapersonal"].dtype == bool and df["function_interpersonal"].dtype == bool


def test_netcdf_round_trip(cohort, tmp_path):
    path = tmp_path / "run.nc"
    cohort.to_netcdf(path, engine="h5netcdf")
    with xr.open_dataset(path, engine="h5netcdf") as back:
        back = back.load()
    xr.testing.assert_identical(back, cohort)
    for v in cohort.variables:
        assert back[v].dtype == cohort[v].dtype, v
    pd.testing.assert_frame_equal(events_table(back), events_table(cohort))


# ------------------------------------------------------------------------------ validity

def test_valid_run_has_no_invalid_subjects(cohort):
    assert cohort.attrs["invalid_subjects"] == 0 and not cohort["invalid"].values.any()


def test_non_finite_states_are_flagged_not_silent(monkeypatch):
    """A step that produces NaN (injected here) must be flagged per subject and warned about."""
    import jax.numpy as jnp

    import nssisim.core.model as model_mod

    import nssisim.core.simulation as sim_mod
    real_step = model_mod.step

    def broken_step(u, s, p, on, dt, const=None, age=15.0):
        new, ev = real_step(u, s, p, on, dt, const, age=age)
        return new._replace(affect=jnp.where(p["hope"] > 0.9, jnp.nan, new.affect)), ev

    monkeypatch.setattr(sim_mod, "step", broken_step)
    sim_mod._run_segment.clear_cache()
    try:
        with pytest.warns(RuntimeWarning, match="1 of 3 subjects have non-finite states"):
            ds = simulate_cohort(1, {"hope": np.array([0.5, 0.95, 0.5])}, n_subjects=3, horizon_hours=48.0,
                                 record_every=24)
    finally:
        sim_mod._run_segment.clear_cache()
    assert ds["invalid"].values.tolist() == [False, True, False] and ds.attrs["invalid_subjects"] == 1


def test_time_segments_equal_one_piece(monkeypatch, cohort):
    """With a progress bar, long runs advance in time segments; the result must not change."""
    import nssisim.core.simulation as sim_mod
    monkeypatch.setattr(sim_mod, "SEGMENT_PERSON_STEPS", 1)
    assert sim_mod._segment_records(30, 24, 128, progress=True) == 3  # 10 segments of 3 days
    seg = simulate_cohort(SEED, ACTIVE, n_subjects=N_SUBJECTS, horizon_hours=HORIZON_30D, record_every=24,
                          progress=True)
    for f in [*nssisim.core.model.STATE_FIELDS, "acts", "urges", "event_time", "event_severity", "events_dropped"]:
        np.testing.assert_array_equal(seg[f].values, cohort[f].values, err_msg=f)


# ------------------------------------------------------------------- record layouts, no events

def test_records_and_events_options_do_not_change_the_run(cohort):
    """Counts only, a subset of fields, or no event table: the same counts, the same states."""
    counts = simulate_cohort(SEED, ACTIVE, n_subjects=N_SUBJECTS, records="counts", events=False, **KW)
    some = simulate_cohort(SEED, ACTIVE, n_subjects=N_SUBJECTS, records=("urge_intensity", "affect"), **KW)
    for f in COUNT_FIELDS:
        np.testing.assert_array_equal(counts[f].values, cohort[f].values, err_msg=f)
        np.testing.assert_array_equal(some[f].values, cohort[f].values, err_msg=f)
    for f in STATE_FIELDS:  # counts only: the state at the end of the run
        assert f not in counts and counts[f"final_{f}"].dims == ("subject",)
        np.testing.assert_array_equal(counts[f"final_{f}"].values, cohort[f].values[:, -1], err_msg=f)
    assert "event_kind" not in counts and "events_dropped" not in counts and counts.attrs["events_dropped_total"] == 0
    assert json.loads(counts.attrs["config"])["run"]["records"] == "counts"
    assert "records" not in json.loads(cohort.attrs["config"])["run"]  # defaults leave the config (and hash) as before
    for f in ("affect", "urge_intensity"):
        np.testing.assert_array_equal(some[f].values, cohort[f].values, err_msg=f)
    assert "mood" not in some and "final_mood" in some and "final_affect" not in some
    for v in ("event_subject", *EVENT_VARS):
        np.testing.assert_array_equal(some[v].values, cohort[v].values, err_msg=v)
    with pytest.raises(ValueError, match="records must be one of"):
        simulate_cohort(SEED, ACTIVE, n_subjects=N_SUBJECTS, records="states", **KW)
    with pytest.raises(ValueError, match="unknown field.*moods"):
        simulate_cohort(SEED, ACTIVE, n_subjects=N_SUBJECTS, records=("moods",), **KW)


def test_event_rows_with_an_urge_and_an_attempt_in_one_step():
    """The device stores an urge and an attempt of the same step in one row; the table has both, urge first."""
    ds = simulate_cohort(SEED, dict(ACTIVE, lam_attempt=0.01, ideation_bias=0.0, attempt_ideation_power=1.0), n_subjects=N_SUBJECTS, **KW)
    t, kind, subj = ds["event_time"].values, ds["event_kind"].values, ds["event_subject"].values
    both = [(s, x) for s, x in set(zip(subj[kind == 2], t[kind == 2])) if ((subj == s) & (t == x) & (kind != 2)).any()]
    assert both, "no step with an urge and an attempt: make the run busier"
    for s, x in both:
        k = kind[(subj == s) & (t == x)]
        assert list(k) == [k[0], 2] and k[0] in (0, 1)
    att = kind == 2
    assert (ds["event_severity"].values[att] == 0).all() and not ds["event_habitual"].values[att].any()
    assert (att.sum() == ds["attempts"].values.sum()) and ((kind == 1).sum() == ds["acts"].values.sum())
