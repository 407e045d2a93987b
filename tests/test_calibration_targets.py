"""Calibration targets on a hand-made survey table, the setup file's errors, hooks, and the ensemble file."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from nssisim.population import (ensemble_sets, format_report, load_ensemble, load_setup, record_toml, register_measure,
                                write_ensemble)
from nssisim.population.calibration import MEASURE_HOOKS, TARGET_IDS, calibrate
from nssisim.population.survey import calibration_measures

#: Quarter-year acts of the hand-made subjects: {name: (survey age, girl, {quarter k: acts})}; quarter k is age k/4.
SUBJECTS = {
    "A": (13.1, True, {}),
    "B": (13.1, True, {53: 1}),
    "C": (13.1, True, {53: 6}),
    "D": (13.1, True, {53: 1, 57: 1}),
    "E": (13.1, True, {51: 1, 53: 1, 55: 1, 57: 1, 59: 1}),
    "F": (16.5, False, {64: 6, 68: 6}),
    "G": (16.5, False, {64: 3}),
    "H": (16.5, False, {68: 1}),
    "I": (13.1, False, {90: 1}),
}


def _table() -> pd.DataFrame:
    rows = []
    for name, (age, girl, acts) in SUBJECTS.items():
        q = {f"acts_q{k}": acts.get(k, 0) for k in range(40, 100)}
        by_age = {f"acts_age_{a}": sum(acts.get(k, 0) for k in range(4 * a, 4 * a + 4)) for a in range(10, 25)}
        first = min(acts) / 4 if acts else math.nan
        life = bool(acts) and min(acts) / 4 < age
        rows.append({"subject": len(rows), "survey_age": age, "survey_lifetime": life, "survey_12m": life,
                     "survey_five_plus": False, "survey_intrapersonal": life, "survey_interpersonal": False,
                     "survey_attempt": name == "F", "survey_nssi_and_attempt": name == "F",
                     "survey_attempt_12m": name == "F", "onset_age_block": first if life else first,
                     "factor.sex_female": float(girl), "factor.maltreatment": 0.0, "factor.peer_victimisation": 0.0,
                     **by_age, **q})
    return pd.DataFrame(rows)


def test_measures_on_a_hand_made_table():
    m = calibration_measures(_table())
    v = {k: x[0] for k, x in m.items()}
    # 8 waves 6 months apart from entry (12-16): A-E and I (F-H enter at 16.5, outside)
    assert v["traj8_low"] == pytest.approx(3 / 6) and v["traj8_moderate"] == pytest.approx(2 / 6)
    assert v["traj8_chronic"] == pytest.approx(1 / 6)
    # 1 year, 3 waves (13-17): everyone; F high-fluctuating, G moderate-decreasing, A and I negligible
    assert v["traj1y_negligible"] == pytest.approx(2 / 9) and v["traj1y_experimental"] == pytest.approx(5 / 9)
    assert v["traj1y_moderate_decreasing"] == pytest.approx(1 / 9)
    assert v["traj1y_high_fluctuating"] == pytest.approx(1 / 9)
    # lifetime at a young-adult survey age (18 + 7 (s - 12) / 6): I's act at 22.5 comes after its 19.3
    assert v["life_stage_young_adults"] == pytest.approx(7 / 9)
    assert math.isnan(v["life_stage_adults"])  # the quarters end at 25: adults (25-30) are not measurable
    # decline: 12-month prevalence 22-25 (1/9, 0, 0) over the peak (age 13: B, C, D, E)
    assert v["decline_ratio"] == pytest.approx((1 / 27) / (4 / 9))
    # sex, lifetime at the survey: of the girls A-E only E acted before 13.1; of the boys F and G before 16.5
    assert v["lifetime_female"] == pytest.approx(1 / 5) and v["lifetime_male"] == pytest.approx(2 / 4)
    assert v["sex_ratio"] == pytest.approx(math.log(0.2 / 0.5))
    assert m["sex_ratio"][1] == pytest.approx(0.8 / (5 * 0.2) + 0.5 / (4 * 0.5))
    assert v["attempt_12m"] == pytest.approx(1 / 9) and m["attempt_12m"][1] == pytest.approx((2 / 11) * (9 / 11) / 9)
    assert m["traj1y_high_fluctuating"][1] > 0 and calibration_measures(_table().iloc[:1])["attempt_12m"][1] > 0


def test_measures_missing_columns_are_nan():
    t = _table().drop(columns=[c for c in _table().columns if c.startswith("acts_q") or c == "survey_attempt_12m"])
    m = calibration_measures(t)
    assert math.isnan(m["traj8_low"][0]) and math.isnan(m["life_stage_young_adults"][0])
    assert math.isnan(m["attempt_12m"][0])


_SETUP = """
population = "community"
[course]
start_age = 11.0
end_age = 18.0
[method]
waves = 1
[fit]
targets = ["lifetime"]
[ranges]
act_bias = [-4.0, -2.0, "linear"]
"""


@pytest.mark.parametrize("edit, message", [
    (("act_bias = [-4.0, -2.0, \"linear\"]", "act_bais = [-4.0, -2.0]"), r"\[ranges\] act_bais: not a parameter.*did you mean 'act_bias'"),
    (("act_bias = [-4.0, -2.0, \"linear\"]", "act_bias = [-40.0, -2.0]"), r"\[ranges\] act_bias: \[-40, -2\] lies outside the bounds"),
    (("act_bias = [-4.0, -2.0, \"linear\"]", "act_bias = [-4.0, -2.0, \"cubic\"]"), r"\[ranges\] act_bias: range 'act_bias': scale must be"),
    (("act_bias = [-4.0, -2.0, \"linear\"]", "act_bias = \"wide\""), r"\[ranges\] act_bias: expected \[low, high\]"),
    (('targets = ["lifetime"]', 'targets = ["lifetme"]'), r"\[fit\] targets: unknown target 'lifetme'"),
    (('targets = ["lifetime"]', 'targets = ["decline_after_18"]'), r"target 'decline_after_18' needs ages 12-25 but the life course runs 11-18"),
    (("waves = 1", "waves = \"many\""), r"\[method\] waves: expected int"),
    (("waves = 1", "wave = 1"), r"\[method\] wave: unknown setting"),
    (("end_age = 18.0", "end_age = 9.0"), r"\[course\]: life course: need"),
])
def test_bad_setup_is_named(tmp_path, edit, message):
    p = tmp_path / "setup.toml"
    p.write_text(_SETUP.replace(*edit))
    with pytest.raises(ValueError, match=message) as err:
        load_setup(p)
    assert str(p) in str(err.value)


def test_setup_reads_ranges_as_data(tmp_path):
    p = tmp_path / "setup.toml"
    p.write_text(_SETUP + "lam_attempt = [2e-5, 3e-3, \"log\"]\ncorrelation_scale = [0.0, 0.5]\n")
    s = load_setup(p)
    assert [r.name for r in s.ranges] == ["act_bias", "lam_attempt", "correlation_scale"]
    assert s.ranges[1].scale == "log" and s.method["waves"] == 1 and s.method["wave_size"] == 40


def test_hook_targets_need_a_registered_measure(tmp_path):
    p = tmp_path / "setup.toml"
    p.write_text(_SETUP.replace('targets = ["lifetime"]', 'targets = ["lifetime", "dbta_completed"]'))
    with pytest.raises(ValueError, match="'dbta_completed' is not yet measured"):
        calibrate(p, log=lambda s: None)
    with pytest.raises(KeyError, match="unknown calibration target 'nope'"):
        register_measure("nope", lambda *a: (0.0, 0.0))
    with pytest.raises(ValueError, match="no hook needed"):
        register_measure("lifetime", lambda *a: (0.0, 0.0))
    register_measure("dbta_completed", lambda spec, x, seed, course: (0.78, 0.001))
    try:
        from nssisim.population.calibration import is_measured

        assert is_measured(TARGET_IDS["dbta_completed"])
    finally:
        MEASURE_HOOKS.pop("dbta_completed")


def _record(n_sets=21, cutoff=3.0):
    sets = [{"wave": 1, "index": i, "seed": 100 + i, "I_max": 1.0 + i / 100,
             "parameters": {"act_bias": -3.0 + i / 100, "correlation_scale": 0.5},
             "simulated": {"lifetime": 0.1 + 0.01 * i}} for i in range(n_sets)]
    return {"population": "community", "date": "2026-12-01T00:00:00Z", "setup": "x.toml",
            "method": {"name": "history matching", "cutoff": cutoff, "seed": 1, "candidates": n_sets, "subjects": 16,
                       "confirm_subjects": 32, "waves": 1},
            "waves": [{"wave": 1, "runs": n_sets, "seconds": 2.5}],
            "parameters": sets[0]["parameters"], "ranges": {"act_bias": [-4.0, -2.0, "linear"]},
            "targets": {"lifetime": {"key": "prevalence.lifetime_nssi_community_adolescents", "value": 0.221,
                                     "low": 0.169, "high": 0.284, "simulated": 0.2, "implausibility": 0.5,
                                     "within_interval": True, "fitted": True, "status": "fitted",
                                     "definition": "any act"}},
            "ensemble": sets}


def test_ensemble_file_round_trip(tmp_path):
    rec = _record()
    p = write_ensemble(tmp_path / "ens.toml", rec, min_sets=20)
    e = load_ensemble(p)
    assert e["record"]["seed"] == 1 and e["record"]["wave_1_runs"] == 21
    assert ensemble_sets(p) == [s["parameters"] for s in rec["ensemble"]]
    assert [s["simulated"]["lifetime"] for s in e["sets"]] == [s["simulated"]["lifetime"] for s in rec["ensemble"]]
    with pytest.raises(FileExistsError, match="--overwrite"):
        write_ensemble(p, rec, min_sets=20)
    with pytest.raises(ValueError, match="found 21 non-implausible parameter sets, fewer than the 50"):
        write_ensemble(tmp_path / "b.toml", rec, min_sets=50)
    bad = _record()
    bad["ensemble"][3]["I_max"] = 4.0
    with pytest.raises(ValueError, match=r"sets \[4\] are implausible"):
        write_ensemble(tmp_path / "c.toml", bad, min_sets=1)
    q = tmp_path / "d.toml"
    q.write_text(p.read_text().replace("correlation_scale = 0.5", "correlation_scale = \"half\"", 1))
    with pytest.raises(ValueError, match=r"d.toml: set 1: parameters.correlation_scale: expected a finite number"):
        load_ensemble(q)
    with pytest.raises(FileNotFoundError, match="no ensemble file"):
        load_ensemble(tmp_path / "none.toml")


def test_report_shows_the_ensemble_range(tmp_path):
    import tomllib

    rec = _record()
    ens = load_ensemble(write_ensemble(tmp_path / "ens.toml", rec, min_sets=1))
    text = format_report(tomllib.loads(record_toml(rec)), ens)
    vals = np.array([0.1 + 0.01 * i for i in range(21)])
    lo, hi = np.quantile(vals, [0.05, 0.95])
    line = next(ln for ln in text.splitlines() if ln.startswith("lifetime"))
    assert f"{lo:.3f}-{hi:.3f}" in line and "0.221 [0.169, 0.284]" in line and " yes " in line
    md = format_report(rec, ens, markdown=True)
    assert f"| lifetime | 0.221 [0.169, 0.284] | 0.200 | {lo:.3f}-{hi:.3f} | yes | yes |" in md


def test_population_ensemble_cli(tmp_path):
    """--ensemble runs one population per set and reports quantiles across sets beside the sampling sd."""
    from typer.testing import CliRunner

    from nssisim.cli import app

    rec = _record(n_sets=3)
    # a much riskier set (acts on urges far more readily, urges at far lower distress): the interval must widen
    from nssisim.population import load_population

    threshold = load_population("community").parameters.get("distress_threshold", 0.6)
    for k, st in enumerate(rec["ensemble"]):  # every set names the same parameters
        st["parameters"]["distress_threshold"] = 0.3 if k == 2 else threshold
    rec["ensemble"][2]["parameters"]["act_bias"] = 0.0
    ens = write_ensemble(tmp_path / "ens.toml", rec, min_sets=1)
    out = tmp_path / "run"
    args = ["population", "--out", str(out), "-n", "48", "--start-age", "12", "--end-age", "14", "--ensemble", str(ens),
            "--no-progress"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    per_set = pd.read_csv(out / "ensemble_per_set.csv")
    summ = pd.read_csv(out / "ensemble_summary.csv").set_index("measure")
    assert len(per_set) == 3
    life = per_set["lifetime_nssi"].to_numpy()
    assert summ.loc["lifetime_nssi", "q05"] == pytest.approx(np.quantile(life, 0.05))
    assert summ.loc["lifetime_nssi", "q95"] == pytest.approx(np.quantile(life, 0.95))
    assert life[2] > life[:2].max()  # act_bias 0 and threshold 0.3 against -3.0 and the spec's
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 1 and "--overwrite" in res.output


def test_trajectory_groups_recover_known_groups_and_order_them():
    """The 8-wave GBTM reading: EM on binary waves recovers simulated group shares and curves, groups in order
    of their mean probability, and the same answer when fitted again (deterministic)."""
    from nssisim.population.survey import trajectory_groups

    rng = np.random.default_rng(1)
    g = rng.choice(3, size=4000, p=[0.25, 0.05, 0.70])  # listed out of order on purpose
    curves = np.array([np.linspace(0.35, 0.15, 8), [0.85] * 8, [0.01] * 8])
    y = (rng.random((4000, 8)) < curves[g]).astype(float)
    ww = y.sum(axis=1)
    fit = trajectory_groups(y, [np.digitize(ww, [1, 4]), np.digitize(ww, [1, 2])])
    np.testing.assert_allclose(fit["pi"], [0.70, 0.25, 0.05], atol=0.025)
    assert fit["p"][2].mean() == pytest.approx(0.85, abs=0.03)  # 200 subjects: sd of the mean about 0.01
    assert fit["p"][0].max() < 0.03
    assert fit["p"][1, 0] > fit["p"][1, -1] + 0.1  # the decreasing middle group is found as decreasing
    again = trajectory_groups(y, [np.digitize(ww, [1, 4]), np.digitize(ww, [1, 2])])
    assert (again["pi"] == fit["pi"]).all()


def test_gbtm_classes_on_the_hand_made_table_sum_to_one_and_nobody_acting_is_low():
    m = calibration_measures(_table())
    shares = [m[f"traj8g_{c}"][0] for c in ("low", "moderate", "chronic")]
    assert sum(shares) == pytest.approx(1.0) and all(0.0 <= s <= 1.0 for s in shares)
    t = _table()
    for c in [c for c in t.columns if c.startswith("acts_q")]:
        t[c] = 0
    quiet = calibration_measures(t)
    assert (quiet["traj8g_low"][0], quiet["traj8g_moderate"][0], quiet["traj8g_chronic"][0]) == (1.0, 0.0, 0.0)


def test_gbtm_classes_when_nobody_acts_in_four_waves():
    """A start may leave a group empty (no subject with acts in 4+ waves): still three shares (a run of the sixth
    calibration stopped on this before the fix)."""
    from nssisim.population.survey import trajectory_groups

    y = np.zeros((60, 8))
    y[:10, 0] = 1.0
    y[10:15, [1, 5]] = 1.0
    ww = y.sum(axis=1)
    fit = trajectory_groups(y, [np.digitize(ww, [1, 4]), np.digitize(ww, [1, 2])])
    assert fit["pi"].shape == (3,) and fit["pi"].sum() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="start labels"):
        trajectory_groups(y, [np.full(60, 3)])


def test_chronic_share_is_chronic_among_those_who_repeat():
    """traj8_chronic_share: of the hand-made traj8 sample (moderate D and C, chronic E) a third locks in; its
    variance is a share's among the three who repeat; when nobody repeats it is not measurable."""
    m = calibration_measures(_table())
    assert m["traj8_chronic_share"][0] == pytest.approx(1 / 3)
    q = (1 + 1) / (3 + 2)
    assert m["traj8_chronic_share"][1] == pytest.approx(q * (1 - q) / 3)
    t = _table()
    for c in [c for c in t.columns if c.startswith("acts_q")]:
        t[c] = 0
    assert math.isnan(calibration_measures(t)["traj8_chronic_share"][0])


def test_chronic_share_target_reads_its_published_value_from_two_fields(tmp_path):
    from nssisim.files import resource, toml_file
    from nssisim.population.calibration import TARGETS, load_targets, published

    t = next(t for t in TARGETS if t.id == "traj8_chronic_share")
    e = load_targets()
    cls = toml_file(resource("data", "calibration_targets.toml"))["course"]["trajectory_classes_8_waves"]
    assert published(t, e[t.id])[0] == pytest.approx(cls["chronic"] / (cls["moderate"] + cls["chronic"]))
    text = resource("data", "calibration_targets.toml").read_text()
    bad = tmp_path / "targets.toml"
    bad.write_text(text.replace("moderate = 0.261", "moderate = \"many\""))
    with pytest.raises(ValueError, match=r"targets.toml: \[course.trajectory_classes_8_waves\].*'chronic' and 'moderate'"):
        load_targets(bad, required=("traj8_chronic_share",))
