"""The explanatory targets on a parameter base (``run_targets(base=...)``, ``--base``): the experiments
run on the calibrated default (the community spec's ``[parameters]``), a base puts its values over it
in every experiment, the experiments' own settings and the persons' sampled factors win, bad input is
refused before any work, and every result names its base. Small: the simulations here are tiny or
replaced by a function that records what it was given."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from nssisim import targets
from nssisim.cli import app
from nssisim.core.parameters import PARAMS
from nssisim.files import SpecError
from nssisim.population import load_population
from nssisim.targets import (CALIBRATED_DEFAULT, TARGETS, Target, ablation, check_base, community_base, format_ablation,
                             format_results, load_base, model_parameters, run_targets)

runner = CliRunner()
SRC = Path(__file__).resolve().parents[1] / "src" / "nssisim"


class _Captured(Exception):
    """Raised by the recording stand-in of simulate_cohort: the experiment stops at its first run."""

    def __init__(self, params):
        super().__init__("captured")
        self.params = params


def _record(seed, params, **kw):
    raise _Captured({k: np.asarray(v) for k, v in params.items()})


def _first_run_params(monkeypatch, target_id: str, base=None) -> dict:
    monkeypatch.setattr(targets, "simulate_cohort", _record)
    with pytest.raises(_Captured) as got:
        TARGETS[target_id].run(base=base)
    return got.value.params


# ----------------------------------------------------------------------------- the merge
SPEC = load_population("community")


def test_outside_a_run_the_model_parameters_are_the_calibrated_default():
    assert model_parameters() == {k: float(v) for k, v in SPEC.parameters.items() if k in PARAMS}
    assert targets.current_base() == {}


def test_community_groups_stand_on_the_base_and_keep_their_design(monkeypatch):
    # P4: four groups that set relief_value_prior and reactive_inhibition themselves, and the community as drawn
    base = {"act_bias": -5.0, "relief_value_prior": 0.01, "reactive_inhibition": 0.3}
    p = _first_run_params(monkeypatch, "P4", base)
    assert np.all(p["act_bias"] == -5.0)  # the base over the calibrated value
    n = targets.N_COMMUNITY
    rvp = p["relief_value_prior"].reshape(5, n)[:, 0]
    inhib = p["reactive_inhibition"].reshape(5, n)[:, 0]
    np.testing.assert_allclose(rvp, [0.5, 0.5, 0.2, 0.2, 0.01])  # the design's values win; the drawn group takes the base
    np.testing.assert_allclose(inhib, [1.0, 2.5, 1.0, 2.5, 0.3])
    # the same persons in every group: their sampled factors repeat group after group
    lim = p["limbic_reactivity"].reshape(5, n)
    assert np.unique(lim[0]).size > n // 2 and all(np.array_equal(lim[0], lim[g]) for g in range(1, 5))


def test_a_parameter_set_by_one_group_only_takes_the_base_in_the_others(monkeypatch):
    # P5: groups 2 and 3 cut the threshold path (k_load_threshold = 0); groups 0 and 1 do not set it
    p = _first_run_params(monkeypatch, "P5", {"k_load_threshold": 0.123})
    k = p["k_load_threshold"].reshape(4, targets.N_COMMUNITY)[:, 0]
    np.testing.assert_allclose(k, [0.123, 0.123, 0.0, 0.0], rtol=1e-6)
    p0 = _first_run_params(monkeypatch, "P5")
    default = SPEC.parameters.get("k_load_threshold", PARAMS["k_load_threshold"].default)
    np.testing.assert_allclose(p0["k_load_threshold"].reshape(4, -1)[:, 0], [default] * 2 + [0.0, 0.0], rtol=1e-6)


def test_no_base_runs_the_calibrated_default(monkeypatch):
    for tid in ("P5", "P11"):
        p = _first_run_params(monkeypatch, tid)
        for k, v in SPEC.parameters.items():
            if k in PARAMS and k not in SPEC.factor_names and k not in ("k_hope_mood",):
                assert np.all(p[k] == np.float64(v)), (tid, k)
    assert np.all(_first_run_params(monkeypatch, "P11", {"act_bias": -5.0})["act_bias"] == -5.0)  # the spread design too


def test_a_sampled_factor_is_not_replaced_by_the_base(monkeypatch):
    p0 = _first_run_params(monkeypatch, "P6")
    p = _first_run_params(monkeypatch, "P6", {"rumination_trait": 0.01})
    np.testing.assert_array_equal(p["rumination_trait"], p0["rumination_trait"])


def test_every_simulation_of_targets_goes_through_the_base():
    src = (SRC / "targets.py").read_text()
    # one call of simulate_cohort (inside _simulate, over model_parameters); population draws use _population_spec
    assert len(re.findall(r"\bsimulate_cohort\(", src)) == 1
    assert "{**model_parameters(), **params}" in src
    assert len(re.findall(r"\bsample_population\(", src)) == len(re.findall(r"sample_population\(_population_spec\(\)", src))


# ----------------------------------------------------------------------------- the trials
def test_the_trial_targets_draw_their_patients_from_the_spec_with_the_base_over_it(monkeypatch):
    seen = []

    def fake_screen(design, stratum, needed, mechanisms_off=()):
        seen.append(dict(design.population_spec.parameters))
        raise _Captured({})

    monkeypatch.setattr(targets, "screen_patients", fake_screen)
    with pytest.raises(_Captured):
        TARGETS["P12"].run(base={"act_bias": -5.0, "limbic_reactivity": 0.5})
    with pytest.raises(_Captured):
        TARGETS["P13"].run()
    assert seen[0] == {**SPEC.parameters, "act_bias": -5.0}  # a sampled factor (limbic_reactivity) stays sampled
    assert seen[1] == dict(SPEC.parameters)


# ----------------------------------------------------------------------------- a real (tiny) run
def _tiny_target(days=60):
    def experiment(off):
        ds = targets._simulate(5, {}, n_subjects=24, horizon_hours=days * 24.0, mechanisms_off=off)
        return True, float(ds["acts"].values.sum()), ""

    return Target("P0", "tiny", (), "acts", "none", experiment)


def test_a_base_is_applied_in_a_real_run():
    t = _tiny_target()
    plain, again = t.run(), t.run(base={})
    shifted = t.run(base={"act_bias": 2.0, "distress_threshold": 0.2})
    assert plain.statistic == again.statistic
    assert shifted.statistic > plain.statistic  # a much higher act bias: more acts
    assert plain.base == again.base == CALIBRATED_DEFAULT
    assert "act_bias=2" in shifted.base
    assert targets.current_base() == {}  # reset after the run


def test_referred_patients_continue_the_screenings_histories(monkeypatch):
    """The clinical designs re-simulate the referred patients: their histories up to referral are the
    screening's, so the referral rule refers each of them again on the same day."""
    from nssisim.population.criteria import history_of
    from nssisim.population.referral import load_rule, referral_days

    monkeypatch.setattr(targets, "N_SCREEN", 512)
    monkeypatch.setattr(targets, "_SCREENS", {})
    ds, t0 = targets._referred((), n=16, follow_days=30)
    ids = ds["subject"].values
    assert ids.size >= 5 and (t0 > 0).all()
    again, _ = referral_days(load_rule(targets.REFERRAL_RULE), history_of(ds), targets.CLINICAL_SEED, ids)
    np.testing.assert_array_equal(again, t0)


# ----------------------------------------------------------------------------- bad input
def test_unknown_base_key_is_a_value_error_naming_it(monkeypatch):
    monkeypatch.setattr(targets, "simulate_cohort", _record)
    with pytest.raises(ValueError, match=r"unknown parameter 'act_bais' \(did you mean 'act_bias'\?\)"):
        run_targets(["P4"], base={"act_bais": -4.0})
    with pytest.raises(ValueError, match="act_bais"):
        ablation(["P4"], mechanisms=["M9"], base={"act_bais": -4.0})
    with pytest.raises(ValueError, match="act_bias.*outside its bounds"):
        check_base({"act_bias": 99.0})


def test_community_base_is_the_specs_parameters():
    b = community_base()
    spec = load_population("community")
    assert dict(b) == {k: v for k, v in spec.parameters.items() if k in PARAMS} and b
    assert "community" in b.label and "[parameters]" in b.label
    assert check_base(b).label == b.label


def test_load_base_from_a_toml_file(tmp_path):
    good = tmp_path / "base.toml"
    good.write_text("[parameters]\nact_bias = -3.5\n")
    b = load_base(good)
    assert dict(b) == {"act_bias": -3.5} and str(good) in b.label
    bad = tmp_path / "bad.toml"
    bad.write_text("[parameters]\nact_bais = -3.5\n")
    with pytest.raises(SpecError, match=rf"{re.escape(str(bad))}: parameters: unknown parameter 'act_bais'.*act_bias"):
        load_base(bad)
    none = tmp_path / "none.toml"
    none.write_text("[params]\nact_bias = -3.5\n")
    with pytest.raises(SpecError, match=r"none.toml: expected a \[parameters\] table"):
        load_base(none)
    with pytest.raises(SpecError, match="did you mean 'community'"):
        load_base("comunity")


# ----------------------------------------------------------------------------- output and CLI
def test_results_and_tables_name_their_base():
    r = targets.TargetResult("P7", True, 1.0, "bar", "detail")
    assert r.base == CALIBRATED_DEFAULT
    assert format_results([r]).splitlines()[0] == f"parameter base: {CALIBRATED_DEFAULT}"
    r2 = replace(r, base="community spec [parameters] (17 values)")
    assert "community spec [parameters]" in format_results([r2]).splitlines()[0]
    df = pd.DataFrame({"full": {"P7": True}})
    df.attrs["base"] = "community spec [parameters] (17 values)"
    assert "parameter base: community spec [parameters]" in format_ablation(df)
    df.attrs["statistics"] = pd.DataFrame({"full": {"P7": 1.0}})
    assert "Parameter base: community spec [parameters]" in targets.ablation_markdown(df)


def test_cli_base_is_loaded_before_any_work(monkeypatch, tmp_path):
    def never(*a, **k):
        raise AssertionError("ran before the base was checked")

    monkeypatch.setattr("nssisim.targets.run_targets", never)
    monkeypatch.setattr("nssisim.targets.ablation", never)
    bad = tmp_path / "bad.toml"
    bad.write_text("[parameters]\nact_bais = -3.5\n")
    for cmd in ("targets", "ablate"):
        res = runner.invoke(app, [cmd, "--id", "P7", "--base", str(bad)])
        assert res.exit_code == 2, res.output
        assert "bad.toml" in res.output and "act_bais" in res.output and "Traceback" not in res.output
        res = runner.invoke(app, [cmd, "--base", "nosuch"])
        assert res.exit_code == 2 and "nosuch" in res.output


def test_cli_base_reaches_the_targets(monkeypatch):
    got = {}

    def fake(ids=None, mechanisms_off=(), progress=False, base=None):
        got["base"] = base
        return [targets.TargetResult("P7", True, 1.0, "bar", "", (), check_base(base).label)]

    monkeypatch.setattr("nssisim.targets.run_targets", fake)
    res = runner.invoke(app, ["targets", "--id", "P7", "--base", "community", "--no-progress"])
    assert res.exit_code == 0, res.output
    assert dict(got["base"]) == dict(community_base())
    assert "parameter base: community spec [parameters]" in res.output
    res = runner.invoke(app, ["targets", "--id", "P7", "--no-progress"])
    assert got["base"] is None and f"parameter base: {CALIBRATED_DEFAULT}" in res.output


def test_targets_ensemble_runs_each_set_on_the_spec_with_the_sets_values(monkeypatch):
    seen = []

    def fake(ids=None, mechanisms_off=(), progress=False, base=None):
        seen.append(dict(base))
        return [targets.TargetResult("P7", base["act_bias"] > -5.0, base["act_bias"], "bar", "", (), base.label)]

    monkeypatch.setattr("nssisim.targets.run_targets", fake)
    sets = [{"act_bias": -4.0, "correlation_scale": 0.5}, {"act_bias": -5.5}, {"act_bias": -4.5}]
    per_set, summary = targets.run_targets_ensemble(sets, ["P7"], max_sets=2)
    assert list(per_set["set"]) == [1, 3]  # evenly spaced: first and last
    spec = dict(community_base())
    assert seen[0] == {**spec, "act_bias": -4.0}  # population settings do not enter the targets
    row = summary.set_index("target").loc["P7"]
    assert row["sets"] == 2 and row["holds_share"] == 1.0
    assert row["statistic_q05"] <= row["statistic_median"] <= row["statistic_q95"]
    per_set, summary = targets.run_targets_ensemble(sets, ["P7"])
    assert summary.set_index("target").loc["P7", "holds_share"] == pytest.approx(2 / 3)


def test_cli_targets_ensemble_needs_a_readable_ensemble(tmp_path):
    res = runner.invoke(app, ["targets", "--id", "P7", "--ensemble", str(tmp_path / "none.toml"), "--no-progress"])
    assert res.exit_code == 2 and "none.toml" in res.output
    res = runner.invoke(app, ["targets", "--id", "P7", "--ensemble-sets", "2", "--no-progress"])
    assert res.exit_code == 2 and "--ensemble" in res.output
    res = runner.invoke(app, ["targets", "--ensemble", "community", "--base", "community", "--no-progress"])
    assert res.exit_code == 2
