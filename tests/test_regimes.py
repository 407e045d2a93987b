"""The regime map (nssisim.phenotype.regimes): its boundary on a planted surface, its known directions on the
model, its resumption, the history-dependence check (nothing found when nothing changes, found when planted),
its errors, and the command."""

import json

import numpy as np
import pytest
import xarray as xr
from typer.testing import CliRunner

from nssisim.cli.app import app
from nssisim.phenotype import (RegimeError, boundary, boundary_point, check_axis, hysteresis, parse_values,
                               regime_map)
from nssisim.stats import wilson_interval

runner = CliRunner()


def _planted(xv, yv, n=400, y0=lambda x: 1.0 - 0.3 * x):
    """A map with a known boundary: P = logistic(8 (y0(x) - y)), so P crosses 0.5 at y = y0(x)."""
    p = 1.0 / (1.0 + np.exp(-8.0 * (y0(xv)[:, None] - yv[None, :])))
    k = np.round(p * n)
    lohi = np.array([[wilson_interval(float(c), float(n)) for c in row] for row in k])
    data = {"p_addictive": (("x", "y"), k / n), "p_addictive_low": (("x", "y"), lohi[..., 0]),
            "p_addictive_high": (("x", "y"), lohi[..., 1])}
    return xr.Dataset(data, coords={"x": xv, "y": yv}, attrs={"x_parameter": "a", "y_parameter": "b", "level": 0.5})


def test_boundary_finds_a_planted_crossing_with_its_band():
    xv, yv = np.array([0.0, 1.0, 2.0]), np.linspace(0.0, 1.5, 16)
    table, sides = boundary(_planted(xv, yv))
    assert np.allclose(table["y_cross"], 1.0 - 0.3 * xv, atol=0.02), table
    # the interval's ends cross on either side of the crossing, close to it with 400 persons a cell
    assert (table["y_cross_upper"] > table["y_cross"]).all() and (table["y_cross_lower"] < table["y_cross"]).all()
    assert ((table["y_cross_upper"] - table["y_cross_lower"]) < 0.1).all()
    assert sides[0, 0] == "addictive" and sides[0, -1] == "sporadic"
    assert set(sides[:, 5:9].ravel()) >= {"boundary"}
    assert boundary_point(_planted(xv, yv)) == {"a": 1.0, "b": pytest.approx(0.7, abs=0.02)}


def test_boundary_without_a_crossing_says_so():
    xv, yv = np.array([0.0, 1.0]), np.linspace(2.0, 3.0, 5)  # P below 0.5 everywhere
    table, sides = boundary(_planted(xv, yv))
    assert table["y_cross"].isna().all() and (sides == "sporadic").all()
    assert boundary_point(_planted(xv, yv)) == {"a": 0.0, "b": 2.0}  # the cell closest to the level


def test_map_follows_the_known_directions_and_resumes(tmp_path):
    """On the calibrated community: more limbic reactivity and less prefrontal capacity raise the chance of reaching
    the addictive profile (P6's directions); the same settings give the same map; an interrupted map that lost a row
    resumes to the same numbers."""
    kw = dict(n_persons=48, seed=3, start_age=10.0, end_age=16.0)
    ds = regime_map("limbic_reactivity", [0.8, 2.6], "pfc_adult", [0.3, 1.6], checkpoint=tmp_path / "part", **kw)
    p = ds["p_addictive"].values
    assert p[1, 0] > p[0, 0] and p[1, 0] > p[1, 1], p
    assert (ds["p_sporadic"].values + ds["p_addictive"].values <= ds["p_nssi"].values + 1e-12).all()
    assert ds.attrs["judged_ages"] == "11,12,13,14,15,16" and ds.attrs["n_persons"] == 48
    rows = sorted((tmp_path / "part").glob("row-*.npz"))
    assert len(rows) == 2
    rows[1].unlink()
    again = regime_map("limbic_reactivity", [0.8, 2.6], "pfc_adult", [0.3, 1.6], checkpoint=tmp_path / "part", **kw)
    xr.testing.assert_identical(ds, again)
    other = regime_map("limbic_reactivity", [0.8, 2.6], "pfc_adult", [0.3, 1.6], checkpoint=tmp_path / "part",
                       **{**kw, "seed": 4})
    assert len(list((tmp_path / "part").glob("row-*.npz"))) == 4  # other settings: their own rows, none reused
    assert not np.array_equal(other["p_nssi"].values, ds["p_nssi"].values)


def test_hysteresis_finds_nothing_without_a_change_and_finds_a_planted_one():
    point = {"limbic_reactivity": 2.2, "pfc_adult": 0.6}
    none = hysteresis(point, n_persons=128, seed=1, end_age=16.0, pulse={"change": 0.0})
    assert none["difference_at_end"] == 0.0 and none["moved_in"] == none["moved_out"] == 0
    assert not none["history_dependent"]
    # a strong passing change: stressful periods 400x (about one a day) from 12 to 14, everyone pushed hard
    planted = hysteresis(point, n_persons=128, seed=1, end_age=16.0, pulse={"change": 400.0})
    assert planted["addictive_pulse"][1] > planted["addictive_base"][1]  # during the change
    assert planted["history_dependent"] and planted["difference_low"] > 0, planted


def test_bad_requests_are_clear_errors():
    with pytest.raises(RegimeError, match="unknown model parameter 'limbic'.*limbic_reactivity"):
        check_axis("limbic", [1, 2], "x")
    with pytest.raises(RegimeError, match=r"outside the parameter's bounds \[0.3, 3\]"):
        check_axis("limbic_reactivity", [0.1, 1.0], "x")
    with pytest.raises(RegimeError, match="at least two distinct"):
        check_axis("limbic_reactivity", [1.0, 1.0], "x")
    with pytest.raises(RegimeError, match="LOW:HIGH:N"):
        parse_values("1:2", "--x-values")
    assert parse_values("1:2:3", "v") == [1.0, 1.5, 2.0] and parse_values("0.5,1", "v") == [0.5, 1.0]
    with pytest.raises(RegimeError, match="both 'pfc_adult'"):
        regime_map("pfc_adult", [0.5, 1], "pfc_adult", [0.5, 1])
    with pytest.raises(RegimeError, match="pulse"):
        hysteresis({}, end_age=14.5)


def test_regimes_command_writes_its_files_and_refuses_to_overwrite(tmp_path):
    out = tmp_path / "rg"
    args = ["regimes", "--x-values", "1.0,2.4", "--y-values", "0.4,1.4", "-n", "16", "--end-age", "16",
            "--hysteresis-subjects", "16", "--no-progress", "--out", str(out)]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "P(addictive profile reached by 16)" in res.output and "History dependence" in res.output
    for f in ("regimes.nc", "regimes.csv", "boundary.csv", "regimes.png", "regimes.json"):
        assert (out / f).exists(), f
    payload = json.loads((out / "regimes.json").read_text())
    assert len(payload["cells"]) == 4 and payload["hysteresis"]["n_persons"] == 16
    assert not (out / ".regimes_partial").exists()
    again = runner.invoke(app, args)
    assert again.exit_code == 1 and "refusing to overwrite" in again.output
    bad = runner.invoke(app, ["regimes", "--x", "nope"])
    assert bad.exit_code == 2 and "unknown model parameter 'nope'" in bad.output


# ----------------------------------------------------------------------------- the forecast of the transition
def _synthetic_cohort(n=2000, seed=5):
    """A cohort whose outcome a planted feature predicts (logit 3 x), beside pure noise."""
    from nssisim.phenotype import OBSERVABLE, ORACLE, WARNING_SIGNS

    rng = np.random.default_rng(seed)
    import pandas as pd

    cols = {c: rng.normal(size=n) for c in (*OBSERVABLE, *ORACLE, *WARNING_SIGNS)}
    signal = rng.normal(size=n)
    cols["log_acts_12m"] = signal
    enters = rng.random(n) < 1 / (1 + np.exp(-(3 * signal - 2)))
    return pd.DataFrame({"subject": np.arange(n), **cols, "enters": enters,
                         "months_to_entry": np.where(enters, rng.integers(1, 13, n), np.nan)})


def test_forecast_evaluation_finds_a_planted_predictor_and_not_noise():
    from nssisim.phenotype import evaluate

    table = _synthetic_cohort()
    metrics, reliability = evaluate(table)
    m = metrics.set_index("features")
    assert m.loc["frequency", "auc_low"] > 0.85 and m.loc["observable", "auc_low"] > 0.85
    assert m.loc["frequency", "brier"] < m.loc["frequency", "brier_reference"]
    assert abs(m.loc["frequency", "calibration_slope"] - 1) < 0.3 and abs(m.loc["frequency", "calibration_intercept"]) < 0.3
    # the early-warning indicators are noise here: their intervals contain 0.5
    for w in ("variance_rise", "autocorrelation_rise"):
        assert m.loc[w, "auc_low"] < 0.5 < m.loc[w, "auc_high"], m.loc[w]
    assert m["n_test"].iloc[0] == 1000 and set(reliability["fifth"]) == {1, 2, 3, 4, 5}
    rel = reliability[reliability["features"] == "frequency"].sort_values("fifth")
    assert rel["observed"].is_monotonic_increasing


def test_forecast_cohort_holds_sporadic_self_injurers_followed_a_year_and_resumes(tmp_path):
    from nssisim.phenotype import forecast_cohort, lead_time

    kw = dict(n_persons=1024 + 64, seed=2, index_age=12.0, overrides={"limbic_reactivity": 2.4, "pfc_adult": 0.5})
    table = forecast_cohort(checkpoint=tmp_path / "part", **kw)
    assert len(table) > 50 and (table["log_acts_12m"] > 0).all()
    assert (table["enters"] == table["months_to_entry"].between(1, 12)).all()
    assert table["enters"].sum() > 5
    assert np.allclose(table["limbic_reactivity"], 2.4) and table[["habit", "relief_value", "affect_sd"]].notna().all().all()
    assert 1 <= lead_time(table)["median"] <= 12
    parts = sorted((tmp_path / "part").glob("chunk-*.parquet"))
    assert len(parts) == 2
    parts[0].unlink()
    again = forecast_cohort(checkpoint=tmp_path / "part", **kw)
    import pandas as pd

    pd.testing.assert_frame_equal(table, again)


def test_forecast_command_says_when_there_are_too_few_transitions(tmp_path):
    res = runner.invoke(app, ["forecast", "-n", "64", "--index-age", "11", "--no-progress", "--out", str(tmp_path / "f")])
    assert res.exit_code == 2 and "transitions" in res.output, res.output
    bad = runner.invoke(app, ["forecast", "--set", "nope=1"])
    assert bad.exit_code == 2 and "unknown model parameter 'nope'" in bad.output
