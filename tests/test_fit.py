"""EMA inference (nssisim.ema.inference): data preparation, diagnostics, phenotyping rule, forecast
calibration, recovery scoring, and the CLI round trip simulate -> validate -> fit -> recover."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from typer.testing import CliRunner

from nssisim.cli import app
from nssisim.ema import (
    INFERENCE_PARAMS,
    PARAM_NAMES,
    Fit,
    FitData,
    FitDiagnosticWarning,
    diagnostics,
    fit,
    forecast_calibration,
    hazards,
    model,
    phenotype,
    posterior_dataset,
    ppc,
    prepare,
    read_ema,
    recovery_scores,
    simulate_inference_data,
    simulate_study,
    summary_table,
    write_ema,
)
from nssisim.ema import inference as F
from nssisim.ema import recovery as R
from nssisim.core import LOSS_OF_CONTROL_SHARE

runner = CliRunner()


@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory):
    """3 clinical participants, 3 days x 4 prompts, all answered."""
    path = tmp_path_factory.mktemp("fit") / "study.csv"
    write_ema(simulate_study(5, "clinical", 3, days=3, prompts_per_day=4, compliance=1.0, burn_in_days=30).data, path)
    return path


def _fake_fit(data: FitData, values: dict[str, float], chains=2, draws=50, seed=0, diverging=0) -> Fit:
    """A Fit whose draws are given constants plus small noise (no sampling)."""
    rng = np.random.default_rng(seed)
    n = len(data.participants)
    d = {}
    for s in INFERENCE_PARAMS:
        v = values.get(s.name, s.prior_center)
        d[s.name] = np.clip(v + 1e-4 * rng.standard_normal((chains, draws, n)), s.low, s.high)
    for k in F._population_sites():
        d[k] = 0.1 + 1e-3 * rng.standard_normal((chains, draws))
    d["act_affect"] = 1e-3 * rng.standard_normal((chains, draws))
    d["affect_noise"] = np.zeros((chains, draws, *data.y.shape))
    div = np.zeros((chains, draws), bool)
    div.flat[:diverging] = True
    return Fit(data=data, draws=d, diverging=div, settings={}, seconds=0.0)


def test_prepare_keeps_answered_signal_prompts(tiny_study):
    data = read_ema(tiny_study)
    d = prepare(data)
    assert d.participants == ["p001", "p002", "p003"]
    assert d.present.sum(axis=1).tolist() == [12, 12, 12]
    assert (d.dt[:, 0] == 0).all() and (d.dt[:, 1:] > 0).all()
    assert not d.act_obs[:, 0].any()  # the first prompt's window is unknown
    assert d.y_obs.all() and ((d.y >= 0) & (d.y <= 1)).all()


def test_prepare_too_few_prompts_names_participant(tmp_path):
    p = tmp_path / "few.csv"
    p.write_text("participant,timestamp,prompt_type,answered,negative_affect,urge,act\n"
                 "p001,2026-03-02T09:30:00+01:00,signal,true,40,10,0\n"
                 "p001,2026-03-02T11:30:00+01:00,signal,false,,,\n"
                 "p002,2026-03-02T09:30:00+01:00,signal,true,40,10,0\n"
                 "p002,2026-03-02T11:30:00+01:00,signal,true,40,10,0\n")
    with pytest.raises(ValueError, match="participant 'p001' has 1 answered signal prompt"):
        prepare(read_ema(p))


def test_diagnostics_flag_disagreeing_chains_low_ess_and_divergences(tiny_study):
    d = prepare(read_ema(tiny_study))
    good = _fake_fit(d, {}, draws=400)
    assert diagnostics(good)["warnings"] == []
    bad = _fake_fit(d, {}, draws=400, diverging=3)
    bad.draws["habit"][1] += 0.2  # second chain elsewhere: R-hat far above 1
    bad.draws["affect_level"][:] = np.cumsum(np.random.default_rng(1).standard_normal(bad.draws["affect_level"].shape), axis=1)
    msgs = diagnostics(bad)["warnings"]
    assert any("R-hat above" in m and "habit" in m for m in msgs)
    assert any("effective sample size below" in m for m in msgs)
    assert any("3 divergent transition(s)" in m for m in msgs)
    one = _fake_fit(d, {}, chains=1, draws=400)
    assert any("single chain" in m for m in diagnostics(one)["warnings"])


def test_phenotype_rule_follows_hazards(tiny_study):
    d = prepare(read_ema(tiny_study))
    habitual = _fake_fit(d, {"habit": 0.8, "act_rate_habit": 0.05, "relief_value": 0.05, "act_rate_goal": 0.01})
    ph = phenotype(habitual)
    assert (ph["p_addictive"] == 1.0).all() and (ph["habit_share_mean"] >= LOSS_OF_CONTROL_SHARE).all()
    # forecast = 1 - exp(-168 h), h the time-averaged total hazard
    hg, hh = hazards(habitual)
    np.testing.assert_allclose(ph["p_act_next_7d"], (1 - np.exp(-168 * (hg + hh))).mean(axis=0), rtol=1e-5)
    relief = _fake_fit(d, {"habit": 0.0, "act_rate_habit": 1e-4, "relief_value": 0.9, "act_rate_goal": 5.0,
                           "distress_threshold": 0.05})
    ph = phenotype(relief)
    assert (ph["p_relief_driven"] == 1.0).all()
    quiet = _fake_fit(d, {"habit": 0.0, "act_rate_habit": 1e-4, "relief_value": 0.0, "act_rate_goal": 1e-3})
    assert (phenotype(quiet)["p_not_repetitive"] == 1.0).all()


def test_forecast_calibration_and_recovery_scores():
    cal = forecast_calibration(np.array([0.0, 0.1, 0.9, 1.0]), np.array([0, 0, 1, 1]))
    assert cal["brier"] == pytest.approx(0.005) and cal["brier_base_rate"] == pytest.approx(0.25)
    assert [r["n"] for r in cal["reliability"]] == [2, 0, 0, 0, 2]
    ids = pd.Index([f"p{i}" for i in range(20)], name="participant")
    t = np.linspace(0.2, 0.8, 20)
    summ = pd.DataFrame(index=ids)
    truth = pd.DataFrame({c: t for c, _ in R.RECOVERY_TRUTH.values()}, index=ids)
    for name in R.RECOVERY_TRUTH:
        summ[f"{name}_mean"] = t
        summ[f"{name}_q05"], summ[f"{name}_q95"] = t - 0.1, t + 0.1
        summ[f"{name}_q25"], summ[f"{name}_q75"] = t + 0.01, t + 0.1  # 50 % intervals miss
    sc = recovery_scores(summ, truth)
    assert sc.loc["habit", "correlation"] == pytest.approx(1.0)
    assert sc.loc["habit", "coverage90"] == 1.0 and sc.loc["habit", "coverage50"] == 0.0
    assert not sc.loc["habit", "goal_met"]  # 90 % coverage of 1.0 is above the 0.98 bar
    assert np.isnan(sc.loc["affect_level", "coverage90"]) and sc.loc["affect_level", "goal_met"]


def test_fit_warns_on_short_chains_and_is_deterministic(tiny_study):
    data = read_ema(tiny_study)
    with pytest.warns(FitDiagnosticWarning):
        a = fit(data, seed=3, num_warmup=20, num_samples=20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitDiagnosticWarning)
        b = fit(data, seed=3, num_warmup=20, num_samples=20)
    for k in PARAM_NAMES:
        np.testing.assert_array_equal(a.draws[k], b.draws[k])
    ds = posterior_dataset(a)
    assert ds["habit"].dims == ("chain", "draw", "participant") and ds.sizes["participant"] == 3
    s = summary_table(a)
    assert {"habit_mean", "habit_q05", "p_addictive", "p_act_next_7d"} <= set(s.columns)
    assert ((s["p_addictive"] + s["p_relief_driven"] + s["p_not_repetitive"]).round(6) == 1).all()


def test_cli_round_trip_simulate_validate_fit(tmp_path):
    study = tmp_path / "study.csv"
    r = runner.invoke(app, ["ema", "simulate", "--out", str(study), "--participants", "3", "--days", "3",
                            "--prompts-per-day", "4", "--preset", "clinical", "--compliance", "1.0"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["ema", "validate", str(study)])
    assert r.exit_code == 0 and "valid EMA data: 3 participant(s)" in r.output
    out = tmp_path / "fit"
    args = ["fit", str(study), "--out", str(out), "--warmup", "20", "--samples", "20", "--seed", "2"]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    assert "fitted 3 participant(s)" in r.output and "warning: effective sample size below" in r.output
    assert "NUTS (20 warm-up + 20 draws a chain)" in r.output  # the progress bar over the chains
    for name in ("posterior.nc", "summary.csv", "diagnostics.json", "ppc_act_rate.png", "ppc_act_rate.csv"):
        assert (out / name).stat().st_size > 0
    # the affect-around-acts check needs act reports: drawn if and only if a prompt reported one
    acts = read_ema(study).summary()["acts_reported_at_prompts"]
    assert (out / "ppc_affect_around_acts.png").exists() == (acts > 0)
    assert ("no prompt reported an act" in r.output) == (acts == 0)
    with xr.open_dataset(out / "posterior.nc") as ds:
        assert ds.attrs["source"] == "study.csv"  # the file name, not its path
    with xr.open_dataset(out / "posterior.nc") as ds:
        assert set(PARAM_NAMES) <= set(ds.data_vars) and ds.sizes["chain"] == 2
    assert len(pd.read_csv(out / "summary.csv")) == 3
    assert json.loads((out / "diagnostics.json").read_text())["warnings"]
    # outputs are not overwritten without --overwrite
    r = runner.invoke(app, args)
    assert r.exit_code == 1 and "--overwrite" in r.output


def test_cli_recover_tiny(tmp_path):
    rec = tmp_path / "rec"
    r = runner.invoke(app, ["recover", "--out", str(rec), "--participants", "3", "--days", "3", "--prompts-per-day", "4",
                            "--compliance", "1.0", "--burn-in-days", "30", "--heldout-days", "7", "--warmup", "20", "--samples", "20", "--seed", "4"])
    assert r.exit_code == 0, r.output
    res = json.loads((rec / "recovery.json").read_text())
    assert [row["parameter"] for row in res["recovery"]] == list(R.RECOVERY_TRUTH)
    assert res["forecast"]["n"] == 3 and "brier" in res["forecast"]
    assert read_ema(rec / "study.csv").summary()["participants"] == 3


def test_cli_fit_and_recover_bad_input(tmp_path):
    r = runner.invoke(app, ["fit", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "no such file" in r.output
    bad = tmp_path / "bad.csv"
    bad.write_text("participant,timestamp,prompt_type,answered,negative_affect,urge,act\n"
                   "p001,2026-03-02T09:30:00+01:00,signal,true,140,10,0\n")
    r = runner.invoke(app, ["fit", str(bad), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "row 2, column 'negative_affect'" in r.output
    few = tmp_path / "few.csv"
    few.write_text("participant,timestamp,prompt_type,answered,negative_affect,urge,act\n"
                   "p001,2026-03-02T09:30:00+01:00,signal,true,40,10,0\n")
    r = runner.invoke(app, ["fit", str(few), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "at least 2 are needed" in r.output
    r = runner.invoke(app, ["recover", "--out", str(tmp_path / "r"), "--preset", "nope"])
    assert r.exit_code == 2 and "unknown preset" in r.output
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("keep")
    r = runner.invoke(app, ["recover", "--out", str(tmp_path / "full")])
    assert r.exit_code == 1 and "--overwrite" in r.output
    assert (tmp_path / "full" / "x").read_text() == "keep"


def test_potential_matches_numpyro_model(tiny_study):
    """The hand-written density equals NumPyro's density of ``fit.model`` at a random point."""
    import jax
    import jax.numpy as jnp
    from numpyro.infer.util import potential_energy

    d = prepare(read_ema(tiny_study))
    arrays = {k: jnp.asarray(v) for k, v in d.arrays().items()}
    init = {k: jnp.asarray(v[0]) for k, v in F._unconstrained_init(3, 1, seed=5, prompts=d.y.shape[1]).items()}
    init = jax.tree_util.tree_map(lambda x: x + 0.3, init)
    ours = float(F.potential(init, arrays))
    theirs = float(potential_energy(model, (arrays,), {}, init))
    assert ours == pytest.approx(theirs, rel=1e-5)


def test_ppc_places_the_act_effect_at_replicated_acts(tiny_study):
    d = prepare(read_ema(tiny_study))
    f = _fake_fit(d, {"habit": 0.9, "act_rate_habit": 0.05, "affect_sd": 0.05, "affect_tau": 1.0, "affect_level": 0.6}, draws=40)
    f.draws["act_affect"][:] = -0.3
    f.draws["rating_sd"][:] = 0.01
    f.draws["affect_noise"] = np.random.default_rng(0).standard_normal(f.draws["affect_noise"].shape)
    checks = ppc(f, n_draws=40, seed=1, lags=1)
    rep = np.nanmean(checks["affect_replicated"], axis=0)
    assert rep[1] < rep[0] - 0.2 and rep[1] < rep[2] - 0.2  # the dip sits at the (replicated) act prompts
    assert checks["act_rate_replicated"].shape == (40, 3)


def test_simulate_inference_data_keeps_the_design(tiny_study):
    template = prepare(read_ema(tiny_study))
    d, truth = simulate_inference_data(template, seed=3)
    d2, truth2 = simulate_inference_data(template, seed=3)
    np.testing.assert_array_equal(d.y, d2.y)
    pd.testing.assert_frame_equal(truth, truth2)
    assert d.y.shape == template.y.shape and (d.present == template.present).all()
    assert ((d.y >= 0) & (d.y <= 1)).all() and np.allclose(d.y * 100, np.round(d.y * 100), atol=1e-4)
    assert set(np.unique(d.act)) <= {0.0, 1.0} and not d.act[~d.present].any()
    for name, (lo, hi) in R.SELF_RANGES.items():
        assert ((truth[name] >= lo) & (truth[name] <= hi)).all()
