"""Sweeps: shard-size independence, atomic shards, resume semantics, refusals, manifest checks."""

from __future__ import annotations

import os

import numpy as np
import pytest
import xarray as xr

from nssisim.core import load_preset
from nssisim.sweeps import OUTPUTS, SweepError, load_sweep, make_manifest, run_sweep
from nssisim.sweeps import shard_path

BASE = load_preset("vulnerable")
#: Tiny runs: 8 subjects x 30 days each (one compilation shared by every test here: the
#: simulator pads a shard's subjects to a multiple of 64, so shards of 2..5 runs compile once).
KW = dict(seed=3, base_params=BASE, n_subjects_per_run=8, days=30, progress=False)


def _manifest(n=7):
    return make_manifest({"limbic_reactivity": np.linspace(0.6, 2.8, n), "pfc_adult": np.linspace(1.8, 0.3, n)})


def _shards(d):
    return sorted(p for p in d.iterdir() if p.name.startswith("shard-"))


def test_results_do_not_depend_on_shard_size(tmp_path):
    m = _manifest()
    run_sweep(m, tmp_path / "a", shard_size=2, **KW)
    run_sweep(m, tmp_path / "b", shard_size=5, **KW)
    a, b = load_sweep(tmp_path / "a"), load_sweep(tmp_path / "b")
    assert len(_shards(tmp_path / "a")) == 4 and len(_shards(tmp_path / "b")) == 2
    for v in [*OUTPUTS, "invalid_share", "n_acts"]:
        np.testing.assert_array_equal(a[v].values, b[v].values)  # exact, NaN == NaN
    np.testing.assert_array_equal(a["run_id"].values, np.arange(7))
    np.testing.assert_array_equal(a["limbic_reactivity"].values, m["limbic_reactivity"].to_numpy())
    assert set(a.coords) >= {"run_id", "limbic_reactivity", "pfc_adult"}
    assert a["acts_per_year"].values.max() > 0  # the runs are not all empty
    assert ((a["any_act"] >= 0) & (a["any_act"] <= 1)).all()


def test_interrupted_sweep_resumes_identically_without_rewriting(tmp_path):
    m = _manifest()
    full, part = tmp_path / "full", tmp_path / "part"
    run_sweep(m, full, shard_size=2, **KW)
    run_sweep(m, part, shard_size=2, max_shards=2, **KW)  # "interrupted" after two of four shards
    done = _shards(part)
    assert len(done) == 2
    with pytest.raises(SweepError, match="incomplete.*2 of 4.*shard-00002.nc \\(run_id 4..5\\)"):
        load_sweep(part)
    old = {p.name: p.stat().st_mtime_ns for p in done}
    for p in done:  # make any rewrite visible in the mtime, however coarse the clock
        os.utime(p, ns=(1_000_000_000, 1_000_000_000))
    run_sweep(m, part, resume=True, **KW)  # shard size comes from the stored settings
    assert {p.name: p.stat().st_mtime_ns for p in done} == dict.fromkeys(old, 1_000_000_000)
    assert len(_shards(part)) == 4
    xr.testing.assert_identical(load_sweep(full), load_sweep(part))
    # a deleted shard is recomputed on resume, identically
    shard_path(part, 1).unlink()
    run_sweep(m, part, resume=True, **KW)
    xr.testing.assert_identical(load_sweep(full), load_sweep(part))
    assert not [p for p in part.iterdir() if p.name.endswith(".tmp")]


def test_non_empty_out_dir_is_refused_without_resume(tmp_path):
    (tmp_path / "note.txt").write_text("x")
    with pytest.raises(SweepError, match="not empty"):
        run_sweep(_manifest(2), tmp_path, shard_size=2, **KW)
    assert [p.name for p in tmp_path.iterdir()] == ["note.txt"]


def test_resume_with_another_manifest_or_settings_is_an_error(tmp_path):
    run_sweep(_manifest(2), tmp_path, shard_size=2, **KW)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(SweepError, match="manifest.parquet differs"):
        run_sweep(_manifest(3), tmp_path, resume=True, **KW)
    with pytest.raises(SweepError, match="settings differ.*seed: stored 3, now 4"):
        run_sweep(_manifest(2), tmp_path, resume=True, **{**KW, "seed": 4})
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_manifest_checks_names_and_bounds():
    with pytest.raises(ValueError, match="'pfc_adult' = 2.5 \\(row 1\\) violates its upper bound 2.0"):
        make_manifest({"pfc_adult": [1.0, 2.5]})
    with pytest.raises(ValueError, match="'limbic_reactivity' = 0.1 \\(row 0\\) violates its lower bound 0.3"):
        make_manifest({"limbic_reactivity": [0.1]})
    with pytest.raises(KeyError, match="unknown parameter 'nope'"):
        make_manifest({"nope": [1.0]})
    with pytest.raises(ValueError, match="has 1 values, expected 2"):
        make_manifest({"pfc_adult": [1.0, 1.5], "hope": [0.5]})


def test_load_sweep_of_an_empty_folder_names_what_is_missing(tmp_path):
    with pytest.raises(SweepError, match="holds no sweep"):
        load_sweep(tmp_path)


def test_outputs_are_the_measures_of_the_runs_subjects(tmp_path):
    from nssisim.core import measure
    from nssisim.core import simulate_cohort

    m = _manifest(2)
    run_sweep(m, tmp_path, shard_size=2, **KW)
    ds = load_sweep(tmp_path)
    # the same 16 subjects simulated directly (ids r * 8 + i) and measured with nssisim.core.measures
    ids = np.arange(16)
    params = {**BASE, **{k: np.repeat(m[k].to_numpy(), 8) for k in ("limbic_reactivity", "pfc_adult")}}
    cohort = simulate_cohort(KW["seed"], params, subject_ids=ids, horizon_hours=30 * 24.0, record_every=24,
                             event_capacity=ds.attrs["event_capacity"])
    meas = measure(cohort)
    run = np.repeat([0, 1], 8)
    for out, col in (("any_act", "lifetime_nssi"), ("repetitive", "five_plus_12m"), ("addictive", "addictive"),
                     ("cessation", "cessation"), ("ideation_peak", "ideation")):
        expected = meas[col].groupby(run).mean().to_numpy()
        np.testing.assert_array_equal(ds[out].values, expected, err_msg=out)
    assert (ds["addictive"] <= ds["repetitive"]).all()
    assert ds.attrs["event_capacity"] == 85  # 1024 rows per year, for 30 days
    # P14's statistic per run, from the same measures (NaN where nobody or everybody has NSSI or ideation)
    expected = []
    for r in (0, 1):
        x, y = meas["lifetime_nssi"].to_numpy()[run == r], meas["ideation"].to_numpy()[run == r]
        if x.all() or not x.any() or y.all() or not y.any():
            expected.append(np.nan)
        else:
            a, b, c, d = (np.sum(x & y) + 0.5, np.sum(x & ~y) + 0.5, np.sum(~x & y) + 0.5, np.sum(~x & ~y) + 0.5)
            expected.append(np.log(a * d / (b * c)))
    np.testing.assert_allclose(ds["nssi_ideation_log_or"].values, expected, rtol=1e-12)


def test_the_p14_odds_ratio_and_its_undefined_cases():
    from nssisim.sweeps.sweep import _odds_ratio

    nssi = np.array([1, 1, 1, 0, 0, 0, 0, 0], bool)
    ideation = np.array([1, 1, 0, 1, 0, 0, 0, 0], bool)
    assert _odds_ratio(nssi, ideation) == pytest.approx(2.5 * 4.5 / (1.5 * 1.5))  # cells 2, 1, 1, 4 (+0.5)
    for x, y in ((np.zeros(8, bool), ideation), (np.ones(8, bool), ideation), (nssi, np.zeros(8, bool)),
                 (nssi, np.ones(8, bool))):
        assert np.isnan(_odds_ratio(x, y))


def test_an_overflowing_event_table_is_recorded_not_warned(tmp_path):
    run_sweep(_manifest(2), tmp_path, shard_size=2, event_capacity=1, **KW)  # warnings are errors here
    ds = load_sweep(tmp_path)
    assert (ds["events_overflow_share"] > 0).any()
    assert ((ds["events_overflow_share"] >= 0) & (ds["events_overflow_share"] <= 1)).all()


def test_read_manifest_errors_name_file_column_and_row(tmp_path):
    from nssisim.files import SpecError
    from nssisim.sweeps import read_manifest

    good = tmp_path / "good.csv"
    good.write_text("limbic_reactivity,pfc_adult\n0.5,0.6\n0.7,0.8\n", encoding="utf-8")
    m = read_manifest(good)
    assert list(m["run_id"]) == [0, 1] and m["limbic_reactivity"].tolist() == [0.5, 0.7]

    cases = {
        "nan.csv": ("limbic_reactivity\n0.5\nnan\n", "column 'limbic_reactivity', row 3: 'nan' is not a finite number"),
        "empty.csv": ("limbic_reactivity\n0.5\n\n0.6\n", None),
        "blank.csv": ("limbic_reactivity,pfc_adult\n0.5,\n", "column 'pfc_adult', row 2: is empty"),
        "dup.csv": ("limbic_reactivity,limbic_reactivity\n0.5,0.6\n", "column 'limbic_reactivity' appears more than once"),
        "bound.csv": ("limbic_reactivity\n0.5\n99\n", "(row 3) violates its upper bound"),
        "unknown.csv": ("limbic_reactivty\n0.5\n", "unknown parameter 'limbic_reactivty'"),
    }
    for name, (text, expected) in cases.items():
        p = tmp_path / name
        p.write_text(text, encoding="utf-8")
        if expected is None:  # pandas skips blank lines: the file holds two valid runs
            assert len(read_manifest(p)) == 2
            continue
        with pytest.raises(SpecError) as e:
            read_manifest(p)
        msg = str(e.value)
        assert msg.startswith(str(p)) and expected in msg, msg
    with pytest.raises(SpecError, match="expected a .csv or .parquet file"):
        read_manifest(tmp_path / "runs.txt")
