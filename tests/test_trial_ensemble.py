"""Virtual trials over a parameter ensemble (trials/ensemble.py, `nssisim trial --ensemble`): tiny
population-source design, a hand-made 2-set ensemble written in the ensemble format."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from nssisim.cli import app
from nssisim.core.parameters import PARAMS
from nssisim.population.ensemble import ensemble_sets, ensemble_toml
from nssisim.trials import (arm_summary, design_for_set, effects_table, OUTCOMES, parse_design, pick_sets,
                            run_trial, run_trial_ensemble)

from test_trial import TINY, TINY_TOML

DEFAULT_BIAS = PARAMS["act_bias"].default


def _record(sets: list[dict]) -> dict:
    """A minimal calibration record with these parameter sets as its ensemble."""
    return {"population": "clinical", "date": "2026-12-01", "method": {"cutoff": 3.0},
            "ensemble": [{"wave": 1, "index": i, "seed": 0, "I_max": 1.0, "parameters": p, "simulated": {"x": 0.0}}
                         for i, p in enumerate(sets)]}


def _write(tmp_path, sets, name="ens.toml"):
    p = tmp_path / name
    p.write_text(ensemble_toml(_record(sets)))
    return p


@pytest.fixture(scope="module")
def tiny():
    return parse_design(copy.deepcopy(TINY), "tiny.toml")


@pytest.fixture(scope="module")
def strong(tiny, tmp_path_factory):
    """Two sets far apart in act_bias (the first equal to the spec's own values)."""
    path = _write(tmp_path_factory.mktemp("ens"), [{"act_bias": DEFAULT_BIAS, "correlation_scale": 1.0},
                                                   {"act_bias": 1.0, "correlation_scale": 1.0}])
    return path, run_trial_ensemble(tiny, path)


def test_the_ensemble_file_round_trips(strong):
    path, _ = strong
    assert ensemble_sets(path) == [{"act_bias": DEFAULT_BIAS, "correlation_scale": 1.0},
                                   {"act_bias": 1.0, "correlation_scale": 1.0}]


def test_one_row_per_set_arm_window_and_outcome(tiny, strong):
    _, (per_set, summary) = strong
    arms = per_set[per_set.kind == "arm_mean"]
    assert sorted(arms["set"].unique()) == [1, 2] and sorted(per_set["seed"].unique()) == [tiny.seed, tiny.seed + 1]
    n_cells = len(tiny.arms) * len(tiny.windows) * len(OUTCOMES)
    assert len(arms) == 2 * n_cells
    assert not arms.duplicated(["set", "stratum", "arm", "window", "outcome"]).any()
    assert set(arms["outcome"]) >= {"nssi_free", "remission", "response", "attempt_free", "self_harm_per_month",
                                    "completed"}
    eff = per_set[per_set.kind == "effect"]
    assert len(eff) > 0 and not eff.duplicated(["set", "stratum", "arm", "window", "outcome", "measure",
                                                 "analysis"]).any()
    # the summary: one row per quantity, quantiles ordered, the within-set width positive where defined
    assert len(summary) == len(per_set) // 2 and (summary["sets"] <= 2).all()
    ok = summary.dropna(subset=["q05", "q95"])
    assert (ok["q05"] <= ok["median"]).all() and (ok["median"] <= ok["q95"]).all()
    assert (summary["within_width"].dropna() >= 0).all()


def test_a_sets_parameters_reach_the_simulation(strong):
    _, (per_set, _) = strong
    x = per_set[(per_set.kind == "arm_mean") & (per_set.outcome == "nssi_per_month")].pivot_table(
        index=["arm", "window"], columns="set", values="estimate")
    assert (x[2] > x[1]).all(), x  # a much higher act bias: more acts in every arm


def test_set_equal_to_the_spec_reproduces_the_plain_trial(tiny, strong):
    """Set 1 (position 0, seed + 0) holds the spec's own values: the plain run_trial's outcomes."""
    _, (per_set, _) = strong
    ds = run_trial(tiny)
    plain = arm_summary(ds).melt(id_vars=["stratum", "arm", "window"], var_name="outcome", value_name="estimate")
    got = per_set[(per_set.set == 1) & (per_set.kind == "arm_mean")]
    m = got.merge(plain, on=["stratum", "arm", "window", "outcome"], suffixes=("", "_plain"))
    assert len(m) == len(got)
    np.testing.assert_array_equal(m["estimate"].to_numpy(), m["estimate_plain"].to_numpy())
    eff = effects_table(ds)
    mine = per_set[(per_set.set == 1) & (per_set.kind == "effect")]
    np.testing.assert_array_equal(mine["estimate"].to_numpy(), eff["estimate"].to_numpy())


def test_design_for_set_applies_the_set_as_the_calibration_does(tiny):
    d = design_for_set(tiny, {"act_bias": 0.5, "correlation_scale": 0.5}, 3)
    assert d.seed == tiny.seed + 3 and dict(d.population_overrides) == {"act_bias": 0.5}
    assert d.population_spec.correlation_scale == 0.5 and d.population == tiny.population
    with pytest.raises(Exception, match="act_bais.*did you mean 'act_bias'"):
        design_for_set(tiny, {"act_bais": 0.5})


def test_pick_sets():
    assert pick_sets(10) == list(range(10)) and pick_sets(10, 20) == list(range(10))
    assert pick_sets(10, 3, "first") == [0, 1, 2]
    assert pick_sets(10, 3) == [0, 4, 9] and pick_sets(10, 1) == [0]
    with pytest.raises(ValueError, match="pick"):
        pick_sets(10, 3, "random")


def test_cli_trial_ensemble(tmp_path):
    design = tmp_path / "tiny.toml"
    design.write_text(TINY_TOML)
    ens = _write(tmp_path, [{"act_bias": DEFAULT_BIAS}, {"act_bias": -2.0}, {"act_bias": -1.5}])
    out = tmp_path / "out"
    runner = CliRunner()
    res = runner.invoke(app, ["trial", "--design", str(design), "--out", str(out), "--ensemble", str(ens),
                              "--ensemble-sets", "2", "--no-progress"])
    assert res.exit_code == 0, res.output
    per_set = pd.read_csv(out / "ensemble_per_set.csv")
    summary = pd.read_csv(out / "ensemble_summary.csv")
    assert sorted(per_set["set"].unique()) == [1, 3]  # evenly spaced: first and last
    assert {"q05", "median", "q95", "within_width", "sets"} <= set(summary.columns)
    assert "prediction interval" in res.output
    assert not (out / "trial.nc").exists() and not (out / ".trial_ensemble_partial").exists()
    # existing outputs are refused before any work
    res = runner.invoke(app, ["trial", "--design", str(design), "--out", str(out), "--ensemble", str(ens)])
    assert res.exit_code == 1 and "refusing to overwrite" in res.output
    # a bad ensemble path: exit 2, naming the file
    res = runner.invoke(app, ["trial", "--design", str(design), "--out", str(tmp_path / "o2"), "--ensemble",
                              str(tmp_path / "missing.toml")])
    assert res.exit_code == 2 and "missing.toml" in res.output and "no ensemble file" in res.output
    # an ensemble option without --ensemble
    res = runner.invoke(app, ["trial", "--design", str(design), "--out", str(tmp_path / "o3"), "--ensemble-sets", "2"])
    assert res.exit_code == 2 and "need --ensemble" in res.output


def test_bad_ensemble_file_is_a_clear_error(tiny, tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.toml"):
        run_trial_ensemble(tiny, tmp_path / "nowhere.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text('population = "clinical"\n[[sets]]\nid = 1\n[sets.parameters]\nact_bias = "x"\n')
    with pytest.raises(ValueError, match="bad.toml: set 1: parameters.act_bias"):
        run_trial_ensemble(tiny, bad)


def test_design_overrides_that_shadow_the_sets_are_named(tiny, tmp_path):
    d = parse_design({**copy.deepcopy(TINY), "person": {"act_bias": -2.5}}, "person.toml")
    with pytest.warns(UserWarning, match="person.toml.*act_bias"):
        per_set, _ = run_trial_ensemble(d, [{"act_bias": 1.0}])
    assert sorted(per_set["set"].unique()) == [1]


def test_an_interrupted_ensemble_resumes_from_its_checkpoint(tiny, tmp_path, monkeypatch):
    import nssisim.trials.run as trial_mod

    sets = [{"act_bias": DEFAULT_BIAS}, {"act_bias": -2.0}]
    first, _ = run_trial_ensemble(tiny, sets, checkpoint=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["set_0001", "set_0002"]

    def refuse(*a, **k):
        raise AssertionError("a finished set was simulated again")

    monkeypatch.setattr(trial_mod, "simulate_arms", refuse)
    monkeypatch.setattr(trial_mod, "screen_patients", refuse)
    again, _ = run_trial_ensemble(tiny, sets, checkpoint=tmp_path)
    pd.testing.assert_frame_equal(first, again)


@pytest.mark.slow  # 30-40 s on the shared machine (the referral life course compiles anew)
def test_a_referral_design_screens_again_under_every_set(tmp_path):
    """Referral source: the patients come from the life course under each set's parameters."""
    from nssisim.trials import screen_patients
    from test_referral import _design

    rule = tmp_path / "tiny_rule.toml"
    rule.write_text("\n".join(['name = "tiny"', "age_min = 10.05", "age_max = 10.5", "check_every_days = 10",
                               "[help_seeking]", "mean = 1.0", "sd = 0.0", "[[pathways]]", 'name = "nssi"',
                               "probability = 1.0", "help_seeking = true",
                               'criteria = { all = [ { measure = "nssi_days", window_days = 20, min = 1 } ] }'])
                    + "\n")
    d = parse_design(_design(rule), str(tmp_path / "ref.toml"))
    sets = [{"act_bias": -2.0}, {"act_bias": 0.0}]
    a = screen_patients(design_for_set(d, sets[0], 0), {}, 6)
    b = screen_patients(design_for_set(d, sets[1], 0), {}, 6)  # same seed, other parameters
    # other patients, or the same ones referred on other days
    assert not (np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])), (a, b)
    per_set, summary = run_trial_ensemble(d, sets)  # the run reproduces each set's screening (checked inside)
    assert sorted(per_set["set"].unique()) == [1, 2] and len(summary) == len(per_set) // 2
