"""The robustness check of the explanatory targets: seed replicates and key parameters moved by +-10 %
(nssisim.targets.stability). Fast: the experiments here are stand-ins or stop at their first simulation."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from nssisim import targets
from nssisim.cli import app
from nssisim.core.parameters import PARAMS
from nssisim.targets import (SEED_REPLICATE_STRIDE, TARGETS, Stability, Target, TargetResult, check_base,
                             format_results, stability)

runner = CliRunner()
SRC = Path(__file__).resolve().parents[1] / "src" / "nssisim"


def _seed_target(seed=5):
    return Target("PX", "stand-in", (), "the seed", "none", lambda off: (True, float(targets._seed(seed)), ""))


def test_replicate_zero_keeps_the_shipped_seed_and_others_shift_it():
    t = _seed_target()
    assert t.run().statistic == 5.0
    assert t.run(replicate=0).replicate == 0
    r = t.run(replicate=2)
    assert r.statistic == 5.0 + 2 * SEED_REPLICATE_STRIDE and r.replicate == 2
    assert targets._seed(5) == 5  # reset after the run


@pytest.mark.parametrize("bad", [-1, 1.5])
def test_a_bad_replicate_is_a_value_error(bad):
    with pytest.raises(ValueError, match="replicate"):
        _seed_target().run(replicate=bad)


def test_every_random_stream_of_targets_takes_its_seed_through_the_replicate():
    src = (SRC / "targets.py").read_text()
    assert "simulate_cohort(_seed(seed)," in src
    for call in ("sample_population(", "screen_chunk(", "default_rng("):
        n = len(re.findall(re.escape(call), src))
        assert n > 0
        # the seed argument of each call is mapped (the draw in _community and _patients, the screening, P11's spread)
        assert len(re.findall(re.escape(call) + r"[^\n]*_seed\(", src)) == n, call
    assert 'seed=_seed(TRIAL_TARGET_DESIGN["seed"])' in src


def test_a_replicate_redraws_the_community_persons(monkeypatch):
    seen = []

    def stop(seed, params, **kw):
        seen.append((seed, np.asarray(params["limbic_reactivity"])))
        raise RuntimeError("stop")

    monkeypatch.setattr(targets, "simulate_cohort", stop)
    for r in (0, 1):
        with pytest.raises(RuntimeError):
            TARGETS["P6"].run(replicate=r)
    (s0, a0), (s1, a1) = seen
    assert s1 == s0 + SEED_REPLICATE_STRIDE
    assert a0.shape == a1.shape and not np.allclose(a0, a1)  # other persons, not only other streams


def test_every_target_names_two_key_mechanism_parameters():
    for tid, t in TARGETS.items():
        assert len(t.key_parameters) == 2 and all(k in PARAMS for k in t.key_parameters), tid
        assert all(PARAMS[k].kind == "mechanism" for k in t.key_parameters), tid


def test_key_parameters_move_down_and_up_over_the_base_within_bounds():
    t = Target("PX", "stand-in", (), "s", "b", lambda off: (True, 0.0, ""), key_parameters=("eta_habit", "skill_habit_reach"))
    default = targets._param("eta_habit")
    got = dict(targets._perturbed_bases(t, check_base(None), 0.1))
    assert got["eta_habit x0.9"]["eta_habit"] == pytest.approx(0.9 * default)
    assert got["eta_habit x1.1"]["eta_habit"] == pytest.approx(1.1 * default)
    # skill_habit_reach sits at its upper bound 1: moved up it is clipped, and the condition says so
    assert PARAMS["skill_habit_reach"].high == targets._param("skill_habit_reach")
    assert got["skill_habit_reach x1.1 (at its bound)"]["skill_habit_reach"] == 1.0
    # over a base: the base's value moves, and the base's other values stay
    got = dict(targets._perturbed_bases(t, check_base({"eta_habit": 0.2, "lam_cue": 0.03}), 0.1))
    assert got["eta_habit x1.1"] == {"eta_habit": pytest.approx(0.22), "lam_cue": 0.03}
    assert "eta_habit x1.1" in got["eta_habit x1.1"].label


def test_stability_counts_the_conditions_in_which_the_verdict_holds(monkeypatch):
    # a stand-in whose verdict flips when eta_habit falls below its calibrated value, and in replicate 2
    default = targets._param("eta_habit")

    def exp(off):
        v = targets._param("eta_habit")
        return (v >= default and targets._REPLICATE.get() != 2), v, ""

    t = Target("PX", "stand-in", (), "s", "b", exp, key_parameters=("eta_habit", "tau_habit"))
    monkeypatch.setitem(TARGETS, "PX", t)
    s = stability("PX", replicates=3)
    assert [c for c, _, _ in s.runs] == ["seed replicate 0", "seed replicate 1", "seed replicate 2", "eta_habit x0.9",
                                         "eta_habit x1.1", "tau_habit x0.9", "tau_habit x1.1"]
    assert s.held == 5 and s.failed_conditions == ["seed replicate 2", "eta_habit x0.9"]
    assert s.text.startswith("5/7 [")
    first = TargetResult("PX", True, 9.0, "b")
    assert stability("PX", replicates=1, first=first).runs[0] == ("seed replicate 0", True, 9.0)
    text = format_results([first], {"PX": s})
    assert "stability" in text and "5/7" in text and "verdict fails with: seed replicate 2, eta_habit x0.9" in text


@pytest.mark.parametrize("kw, match", [({"replicates": 0}, "replicates"), ({"perturbation": 1.5}, "perturbation")])
def test_stability_rejects_bad_settings(kw, match):
    with pytest.raises(ValueError, match=match):
        stability("P7", **kw)
    with pytest.raises(KeyError, match="unknown target"):
        stability("P99")


def test_cli_stability_is_printed_and_excludes_an_ensemble(monkeypatch):
    def fake_run(ids=None, mechanisms_off=(), progress=False, base=None):
        return [TargetResult("P7", True, 2.0, "bar", "", (), check_base(base).label)]

    def fake_stab(results, base=None, progress=False):
        return {"P7": Stability("P7", (("seed replicate 0", True, 2.0), ("alpha_relief x0.9", False, 1.4)))}

    monkeypatch.setattr("nssisim.targets.run_targets", fake_run)
    monkeypatch.setattr("nssisim.targets.run_stability", fake_stab)
    res = runner.invoke(app, ["targets", "--id", "P7", "--stability", "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "1/2 [1.4, 2]" in res.output and "verdict fails with: alpha_relief x0.9" in res.output
    res = runner.invoke(app, ["targets", "--id", "P7", "--stability", "--json", "--no-progress"])
    assert res.exit_code == 0 and '"condition": "alpha_relief x0.9"' in res.output
    res = runner.invoke(app, ["targets", "--stability", "--ensemble", "community", "--no-progress"])
    assert res.exit_code == 2 and "--stability and --ensemble exclude each other" in res.output


def test_an_experiments_interval_reaches_the_result_and_the_table():
    t = Target("PX", "stand-in", (), "s", "b", lambda off: (True, 1.5, "d", (1.25, 1.75)))
    r = t.run()
    assert r.interval == (1.25, 1.75)
    assert Target("PX", "stand-in", (), "s", "b", lambda off: (True, 1.5, "d")).run().interval is None
    monkey = dict(TARGETS)
    try:
        TARGETS["PX"] = t
        assert "[1.25, 1.75]" in format_results([r])
    finally:
        TARGETS.clear()
        TARGETS.update(monkey)
