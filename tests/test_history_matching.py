"""The generic history-matching method on a toy stochastic simulator with a known answer."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import expit

from nssisim.population.history_matching import (Interrupted, Observation, Range, history_match,
                                                 non_implausible_cloud)

RANGES = [Range("a", 0.0, 1.0), Range("b", -1.0, 2.0), Range("rate", 0.1, 5.0, "log"), Range("c", 0.0, 1.0)]
TRUTH = {"a": 0.3, "b": 0.6, "rate": 0.8, "c": 0.7}
N = 500  # trials per binomial summary
T = 50.0  # exposure of the Poisson summary


def _means(x):
    return {"p1": expit(-1.0 + 2.0 * x["a"]), "p2": expit(x["b"] - x["a"]), "count": x["rate"],
            "p3": expit(2.0 * x["c"] - 1.0 + 0.5 * math.log(x["rate"]))}


def toy(x, seed):
    """Three binomial proportions and a Poisson rate; every parameter identifiable from the four."""
    rng = np.random.default_rng(seed)
    m = _means(x)
    return {"p1": rng.binomial(N, m["p1"]) / N, "p2": rng.binomial(N, m["p2"]) / N,
            "count": rng.poisson(T * m["count"]) / T, "p3": rng.binomial(N, m["p3"]) / N}


def _observations(shift=None):
    m = _means(TRUTH)
    if shift:
        m = {**m, **shift}
    obs = {}
    for k, v in m.items():
        var = v / T if k == "count" else v * (1 - v) / 2000  # an observed study of 2,000
        sim = v / T if k == "count" else v * (1 - v) / N
        obs[k] = Observation.point(v, var, var_sim=sim)
    return obs


def test_toy_region_contains_the_truth_and_shrinks():
    obs = _observations()
    res = history_match(toy, RANGES, obs, waves=3, wave_size=30, seed=3, cloud_size=8000, log=lambda s: None)
    cloud = non_implausible_cloud(res, obs, n=40_000, seed=1)
    assert len(cloud) > 0
    lo, hi = cloud.min(axis=0), cloud.max(axis=0)
    u_truth = np.array([r.to_unit(TRUTH[r.name]) for r in RANGES])
    assert np.all(lo <= u_truth) and np.all(u_truth <= hi), (lo, u_truth, hi)
    # the non-implausible share of the box (Monte Carlo) is small, and each parameter's span shrinks
    share = len(cloud) / 40_000
    assert share < 0.05, share
    assert np.all(hi - lo < 0.7), hi - lo
    # the truth itself is not implausible under the final emulators
    from nssisim.population.history_matching import emulated_implausibility

    for emus in res.all_emulators:
        assert emulated_implausibility(u_truth[None, :], emus, obs)[0] <= 3.0
    # simulated non-implausible runs exist and the best run is near the truth
    assert len(res.non_implausible()) > 5
    best = res.best()["params"]
    assert abs(best["a"] - 0.3) < 0.15 and abs(best["c"] - 0.7) < 0.2
    # emulator diagnostics: most leave-one-out standardised errors within +-2
    assert all(v["within_2"] >= 0.8 for v in res.waves[-1]["loo"].values()), res.waves[-1]["loo"]


def test_impossible_observation_leaves_nothing():
    # p1 = expit(-1 + 2a) <= 0.731 over the box: 0.95 cannot be reached, so no point may survive
    obs = _observations(shift={"p1": 0.95})
    res = history_match(toy, RANGES, obs, waves=2, wave_size=30, seed=3, cloud_size=8000, log=lambda s: None)
    assert res.non_implausible() == []
    assert len(non_implausible_cloud(res, obs, n=20_000, seed=1)) == 0
    assert len(res.waves) == 1  # wave 2 never ran: the emulators left no non-implausible point


def test_resume_after_interruption_equals_uninterrupted(tmp_path):
    obs = _observations()
    kw = dict(waves=2, wave_size=12, seed=5, cloud_size=2000, log=lambda s: None)
    full = history_match(toy, RANGES, obs, out_dir=tmp_path / "a", **kw)
    with pytest.raises(Interrupted):
        history_match(toy, RANGES, obs, out_dir=tmp_path / "b", stop_after=17, **kw)
    # a truncated last line (killed while writing) is ignored and that run is redone
    with open(tmp_path / "b" / "wave_02.jsonl", "a", encoding="utf-8") as fh:
        fh.write('{"wave": 2, "index": 5, "se')
    with pytest.raises(FileExistsError, match="resume"):
        history_match(toy, RANGES, obs, out_dir=tmp_path / "b", **kw)
    res = history_match(toy, RANGES, obs, out_dir=tmp_path / "b", resume=True, **kw)
    strip = lambda rs: [{k: v for k, v in r.items() if k != "seconds"} for r in rs]  # noqa: E731
    assert strip(res.runs) == strip(full.runs)
    with pytest.raises(ValueError, match="settings differ in seed"):
        history_match(toy, RANGES, obs, out_dir=tmp_path / "b", resume=True, **{**kw, "seed": 6})
    # more extra waves may be asked for on resumption: the runs so far are kept, fewer may not
    want = dict(kw, min_non_implausible=10_000)  # never enough: every extra wave runs
    first = history_match(toy, RANGES, obs, out_dir=tmp_path / "c", extra_waves=0, **want)
    more = history_match(toy, RANGES, obs, out_dir=tmp_path / "c", resume=True, extra_waves=1, **want)
    assert strip(more.runs[:len(first.runs)]) == strip(first.runs) and len(more.runs) > len(first.runs)
    with pytest.raises(ValueError, match="settings differ in extra_waves"):
        history_match(toy, RANGES, obs, out_dir=tmp_path / "c", resume=True, extra_waves=0, **want)


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="range 'x': a log range needs low > 0"):
        Range("x", 0.0, 1.0, "log")
    with pytest.raises(ValueError, match="range 'y': need finite low < high"):
        Range("y", 1.0, 1.0)
    with pytest.raises(ValueError, match="lower <= upper"):
        Observation(1.0, 0.0, 0.1)
    # a one-sided bound: inside costs nothing, outside counts in sds
    o = Observation(-math.inf, 0.5, 0.01)
    assert o.implausibility(0.3) == 0.0 and o.implausibility(0.8) == pytest.approx(3.0)
    assert o.implausibility(math.nan) == math.inf


class _Ball:
    """A stand-in emulator: the mean grows with the distance from ``c`` (``slope * d``), or jumps (``slope=None``)."""

    nugget = var_sim = 0.0

    def __init__(self, c, slope=None, r=0.08):
        self.c, self.slope, self.r = np.asarray(c), slope, r

    def predict(self, u):
        d = np.sqrt(((np.atleast_2d(u) - self.c) ** 2).sum(axis=1))
        mean = np.where(d < self.r, 0.0, 10.0) if self.slope is None else self.slope * d
        return mean, np.zeros(len(d))


def test_refocus_finds_a_tiny_region_that_uniform_clouds_miss():
    from nssisim.population.history_matching import refocus

    obs = {"y": Observation.point(0.0, 1.0)}
    c = np.full(6, 0.37)
    lo, hi = np.zeros(6), np.ones(6)
    # a ball of radius 0.08: 1.4e-6 of the 6-d box, so uniform clouds of 1,000 x 10 miss it
    flat = [{"y": _Ball(c)}]  # no slope to descend: only a non-implausible run shows the way
    ok, share, source, _ = refocus(flat, obs, lo, hi, 10, 1000, np.random.default_rng(0))
    assert len(ok) == 0 and share == 0.0 and source == "the box"
    ok, share, source, _ = refocus(flat, obs, lo, hi, 10, 1000, np.random.default_rng(0), centres=c[None, :])
    assert len(ok) > 50 and source == "a search from the least implausible points"
    assert np.all(np.sqrt(((ok - c) ** 2).sum(axis=1)) < 0.08)
    # a smooth implausibility (I = 37.5 d: I <= 3 inside d <= 0.08): the descent finds the region unaided
    smooth = [{"y": _Ball(c, slope=37.5)}]
    ok, share, source, _ = refocus(smooth, obs, lo, hi, 10, 1000, np.random.default_rng(0))
    assert share == 0.0 and len(ok) > 50 and source == "a search from the least implausible points"
    d = np.sqrt(((ok - c) ** 2).sum(axis=1))
    assert np.all(d <= 0.08 + 1e-9) and d.max() > 0.05  # inside, and spread through the region, not one point


def test_reported_variance_floors_the_nugget_of_a_constant_summary():
    """A share that is 0 in every small cohort: the nugget alone would claim an exact simulator."""
    from nssisim.population.history_matching import emulated_implausibility, fit_emulators

    rng = np.random.default_rng(2)
    u = rng.random((12, 2))
    y = {"share": np.zeros(12)}
    obs = {"share": Observation.point(0.1, 1e-4)}
    bare = fit_emulators(u, y)
    floored = fit_emulators(u, y, reported_var={"share": np.full(12, 0.01)})
    assert floored["share"].var_sim == pytest.approx(0.01) and bare["share"].var_sim < 1e-4
    at = np.array([[0.5, 0.5]])
    assert emulated_implausibility(at, bare, obs)[0] > 3.0
    assert emulated_implausibility(at, floored, obs)[0] < 1.1



def test_no_point_is_simulated_twice(monkeypatch):
    """The refocusing search starts from (and keeps) the non-implausible runs; none may be re-run.

    With common random numbers a repeated point repeats its run exactly, so it would count twice
    in the non-implausible set (and in an ensemble built from it). Found in a community calibration,
    where a wave's design repeated the previous wave's only non-implausible run.
    """
    import nssisim.population.history_matching as hm

    done = np.array([[0.1, 0.2], [0.3, 0.4]])
    pts = np.array([[0.1, 0.2], [0.5, 0.5], [0.3, 0.4 + 1e-9]])
    assert hm._not_run(pts, done).tolist() == [[0.5, 0.5], [0.3, 0.4 + 1e-9]]
    real = hm.refocus

    def refocus_with_old_runs(emulator_sets, observations, box_lo, box_hi, n_design, cloud_size, rng, cutoff, centres):
        ok, share, source, cloud = real(emulator_sets, observations, box_lo, box_hi, n_design, cloud_size, rng, cutoff, centres)
        return np.vstack([np.array(seen), ok]), share, source, cloud  # as the search does with its starts

    seen = []

    def sim(x, seed):
        seen.append([r.to_unit(x[r.name]) for r in RANGES])
        return toy(x, seed)

    monkeypatch.setattr(hm, "refocus", refocus_with_old_runs)
    res = hm.history_match(sim, RANGES, _observations(), waves=3, wave_size=20, seed=3, cloud_size=4000,
                           log=lambda s: None)
    us = [tuple(np.round(r["u"], 12)) for r in res.runs]
    assert len(us) == 60 and len(set(us)) == 60


def test_bounded_evaluation_gives_the_same_search(monkeypatch):
    """_imax with a bound stops evaluating a point once it exceeds its bound: the full value (to rounding) at or
    below it, above it otherwise; refocus, which uses it for the cut-off, the starts and the descent, returns the
    same points as with every emulator evaluated on every point."""
    from nssisim.population import history_matching as hm

    rng = np.random.default_rng(3)
    u = rng.random((40, 4))
    runs = [toy({r.name: r.from_unit(v) for r, v in zip(RANGES, x)}, i) for i, x in enumerate(u)]
    obs = _observations()
    sets = [hm.fit_emulators(u[:20], {k: np.array([r[k] for r in runs[:20]]) for k in obs}),
            hm.fit_emulators(u, {k: np.array([r[k] for r in runs]) for k in obs})]
    pts = rng.random((3000, 4))
    exact = hm._imax(pts, sets, obs)
    for bound in (3.0, np.quantile(exact, 0.2), rng.uniform(0.0, 2.0 * float(np.median(exact)), len(pts))):
        got = hm._imax(pts, sets, obs, bound=bound)
        b = np.broadcast_to(bound, pts.shape[:1])
        inside = exact <= b
        np.testing.assert_allclose(got[inside], exact[inside], rtol=1e-12, atol=0)  # a subset is predicted with other BLAS blocks
        assert (got[~inside] > b[~inside]).all() and (got <= exact + 1e-12).all()
    # the search itself, on stand-in emulators whose rows do not depend on one another (a Gaussian process
    # predicts a subset in other BLAS blocks, so an exact tie could fall either way on another CPU)
    balls = {"y1": Observation.point(0.0, 1.0), "y2": Observation.point(0.0, 1.0)}
    stand_in = [{"y1": _Ball(np.full(4, 0.3), slope=30.0), "y2": _Ball(np.full(4, 0.35), slope=20.0)},
                {"y1": _Ball(np.full(4, 0.32), slope=40.0)}]
    a = hm.refocus(stand_in, balls, np.zeros(4), np.ones(4), 30, 2000, np.random.default_rng(5), 3.0)
    bounded = hm._imax
    monkeypatch.setattr(hm, "_imax", lambda x, s, o, bound=None: bounded(x, s, o))  # every emulator on every point
    b = hm.refocus(stand_in, balls, np.zeros(4), np.ones(4), 30, 2000, np.random.default_rng(5), 3.0)
    assert a[2] == b[2] == "a search from the least implausible points" and len(a[0]) > 30
    np.testing.assert_array_equal(a[0], b[0])
