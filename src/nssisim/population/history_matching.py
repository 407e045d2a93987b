"""History matching with Gaussian-process emulators for a stochastic simulator (generic; no model inside).

The method (Craig et al. 1997; Vernon, Goldstein & Bower 2010; Andrianakis et al. 2015)
--------------------------------------------------------------------------------------
A simulator maps a parameter set ``x`` (a dict of named numbers inside a box of :class:`Range`) to
named summaries, with noise. For each observed summary ``j`` the *implausibility* of ``x`` is::

    I_j(x) = d_j(E[f_j(x)]) / sqrt(V_obs,j + V_md,j + V_em,j(x) + V_sim,j)

``d_j`` is the distance of the (emulated or simulated) value to the observation: ``|f - z|`` for a
point, the distance to the nearest end for an interval or a one-sided bound (:class:`Observation`);
``V_obs`` the observation variance, ``V_md`` the model-discrepancy variance, ``V_em`` the
emulator's variance at ``x`` (zero for a simulated value) and ``V_sim`` the simulator's noise (the
Gaussian process's nugget, or the simulator's own variance estimate for a simulated value). ``x``
is *implausible* when ``max_j I_j(x) > cutoff`` (3, the three-sigma rule for unimodal
distributions, Pukelsheim 1994).

Waves: wave 1 is a Latin hypercube over the box (unit-scaled parameters; ``log`` ranges on the log
scale). After each wave one Gaussian process per summary (scikit-learn's
``GaussianProcessRegressor``: a linear mean fitted by least squares, then an anisotropic squared
exponential kernel on the residuals plus a white-noise nugget for the simulator's noise) is fitted
to every run so far. A cloud of points, drawn in the bounding box of the previous wave's
non-implausible cloud (enlarged by :data:`BOX_MARGIN`) is screened with the emulators of every wave
so far (a point must pass them all); the next wave's design is drawn from the surviving points
(maximin subsample). When no point survives, the space is empty: the run says so and stops.
Emulator diagnostics: leave-one-out standardised errors (closed form for fixed hyperparameters,
Rasmussen & Williams 2006, section 5.4.2); about 95 % should lie within +-2.

Files and resumption: with ``out_dir``, each wave's design is written (atomically) before it is
run, and each finished run is appended to ``wave_<w>.jsonl`` (one JSON line, flushed and synced),
so an interrupted run continues with ``resume=True`` where it stopped; the history is always read
back from those files, so a resumed run and an uninterrupted one compute the same next designs
(floats round-trip exactly through JSON). ``settings.json`` must match on resumption.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Mapping

import numpy as np

from ..files import atomic_write_text

#: Implausibility cut-off (three-sigma rule).
CUTOFF = 3.0
#: Points screened by the emulators per wave.
CLOUD_SIZE = 20_000
#: The next wave's sampling box: the non-implausible cloud's bounding box, enlarged by this share of its width.
BOX_MARGIN = 0.1
#: Runs (at least) needed to fit an emulator for a summary.
MIN_RUNS = 6
#: Format of the run folder (a change invalidates resumption).
FORMAT = 1

class Interrupted(RuntimeError):
    """Raised by ``stop_after`` (a test of resumption): the finished runs are on disk."""


Simulator = Callable[[dict, int], Mapping[str, float | tuple[float, float]]]


@dataclass(frozen=True)
class Range:
    """A parameter's search range; ``log`` ranges are scaled on the log axis."""

    name: str
    low: float
    high: float
    scale: str = "linear"

    def __post_init__(self) -> None:
        if self.scale not in ("linear", "log"):
            raise ValueError(f"range '{self.name}': scale must be 'linear' or 'log', got {self.scale!r}")
        if not (math.isfinite(self.low) and math.isfinite(self.high) and self.low < self.high):
            raise ValueError(f"range '{self.name}': need finite low < high, got [{self.low}, {self.high}]")
        if self.scale == "log" and self.low <= 0:
            raise ValueError(f"range '{self.name}': a log range needs low > 0, got {self.low}")

    def from_unit(self, u: float) -> float:
        u = min(max(float(u), 0.0), 1.0)
        if self.scale == "log":
            return math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
        return self.low + u * (self.high - self.low)

    def to_unit(self, v: float) -> float:
        if self.scale == "log":
            return (math.log(v) - math.log(self.low)) / (math.log(self.high) - math.log(self.low))
        return (v - self.low) / (self.high - self.low)


@dataclass(frozen=True)
class Observation:
    """An observed summary: a point (``lower == upper``), an interval, or a one-sided bound (an infinite end).

    ``var_obs``: observation variance; ``var_md``: model discrepancy; ``var_sim``: a known simulator
    variance (a floor under the emulator's nugget).
    """

    lower: float
    upper: float
    var_obs: float
    var_md: float = 0.0
    var_sim: float = 0.0

    def __post_init__(self) -> None:
        if math.isnan(self.lower) or math.isnan(self.upper) or self.lower > self.upper:
            raise ValueError(f"observation: need lower <= upper, got [{self.lower}, {self.upper}]")
        if min(self.var_obs, self.var_md, self.var_sim) < 0 or self.var_obs + self.var_md + self.var_sim <= 0:
            raise ValueError("observation: variances must be >= 0 and not all zero")

    @classmethod
    def point(cls, value: float, var_obs: float, **kw) -> "Observation":
        return cls(float(value), float(value), float(var_obs), **kw)

    def distance(self, f: np.ndarray) -> np.ndarray:
        f = np.asarray(f, dtype=np.float64)
        return np.maximum(np.maximum(self.lower - f, f - self.upper), 0.0)

    def implausibility(self, f: np.ndarray, var: np.ndarray | float = 0.0) -> np.ndarray:
        """``I`` at values ``f`` with extra variance ``var`` (emulator + simulator); NaN values give inf."""
        f = np.asarray(f, dtype=np.float64)
        d = self.distance(f) / np.sqrt(self.var_obs + self.var_md + np.asarray(var, dtype=np.float64))
        return np.where(np.isfinite(f), d, np.inf)


def latin_hypercube(n: int, k: int, seed: int) -> np.ndarray:
    """``n`` points of a Latin hypercube in ``[0, 1]^k`` (scipy's, seeded)."""
    from scipy.stats import qmc

    return qmc.LatinHypercube(d=k, seed=np.random.default_rng(seed)).random(n)


# ----------------------------------------------------------------------------- emulators
@dataclass
class Emulator:
    """A Gaussian process for one summary on unit-scaled parameters (linear mean, ARD RBF + nugget)."""

    name: str
    gp: object
    coef: np.ndarray  # linear mean: intercept, slopes
    y_scale: float
    nugget: float  # simulator noise variance, on the summary's scale
    loo: np.ndarray  # leave-one-out standardised errors at the training points
    var_reported: float = 0.0  # median sampling variance the simulator reported for its runs (a floor under the nugget)

    @property
    def var_sim(self) -> float:
        """The simulator's noise used in emulated implausibilities: the nugget, at least the reported variance."""
        return max(self.nugget, self.var_reported)

    def predict(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and the emulator's (latent) variance at ``u``; the nugget is separate (:attr:`nugget`)."""
        u = np.atleast_2d(u)
        mu, sd = self.gp.predict(u, return_std=True)
        var = np.maximum(sd**2 - self.nugget / self.y_scale**2, 0.0) * self.y_scale**2
        return self.coef[0] + u @ self.coef[1:] + mu * self.y_scale, var


def fit_emulator(name: str, u: np.ndarray, y: np.ndarray, seed: int = 0, restarts: int = 2) -> Emulator:
    """Fit one summary's emulator to runs ``(u, y)`` (finite ``y`` only)."""
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import ConstantKernel, RBF, WhiteKernel

    ok = np.isfinite(y)
    u, y = np.asarray(u, dtype=np.float64)[ok], np.asarray(y, dtype=np.float64)[ok]
    if len(y) < MIN_RUNS:
        raise ValueError(f"emulator '{name}': {len(y)} finite runs, need at least {MIN_RUNS}")
    k = u.shape[1]
    X = np.hstack([np.ones((len(y), 1)), u])
    coef = np.linalg.lstsq(X, y, rcond=None)[0] if len(y) > k + 2 else np.r_[y.mean(), np.zeros(k)]
    r = y - X @ coef
    scale = float(r.std()) or float(abs(y).mean()) or 1.0
    kernel = (ConstantKernel(1.0, (1e-3, 1e2)) * RBF(np.full(k, 0.5), (2e-2, 1e2))
              + WhiteKernel(0.1, (1e-8, 1e1)))
    gp = GaussianProcessRegressor(kernel, normalize_y=False, n_restarts_optimizer=restarts, random_state=seed)
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # hyperparameters at a bound are fine here
        gp.fit(u, r / scale)
    nugget = float(gp.kernel_.k2.noise_level) * scale**2
    # leave-one-out standardised errors for the fitted hyperparameters (Rasmussen & Williams 2006, eq. 5.12)
    K = gp.kernel_(u)
    Kinv = np.linalg.inv(K)
    alpha = Kinv @ (r / scale)
    loo = alpha / np.sqrt(np.diag(Kinv))
    return Emulator(name, gp, coef, scale, nugget, loo)


def fit_emulators(u: np.ndarray, runs: Mapping[str, np.ndarray], seed: int = 0,
                  reported_var: Mapping[str, np.ndarray] | None = None) -> dict[str, Emulator]:
    """One emulator per summary with enough finite runs (others are skipped).

    ``reported_var``: the sampling variances the simulator reported per run; their median floors
    the emulator's simulator noise (a nugget fitted to a summary that never varies, such as a share
    that is 0 in every small cohort, would otherwise claim an exact simulator).
    """
    out = {}
    for name, y in runs.items():
        y = np.asarray(y, dtype=np.float64)
        if np.isfinite(y).sum() >= MIN_RUNS:
            out[name] = fit_emulator(name, u, y, seed)
            v = np.asarray((reported_var or {}).get(name, []), dtype=np.float64)
            v = v[np.isfinite(v)]
            if v.size:
                out[name].var_reported = float(np.median(v))
    return out


def emulated_implausibilities(u: np.ndarray, emulators: Mapping[str, Emulator],
                              observations: Mapping[str, Observation]) -> dict[str, np.ndarray]:
    """Each summary's emulated implausibility at the rows of ``u`` (summaries with an emulator)."""
    return {name: _summary_implausibility(emulators[name], obs, u)
            for name, obs in observations.items() if name in emulators}


def _summary_implausibility(em: Emulator, obs: Observation, u: np.ndarray) -> np.ndarray:
    """One summary's emulated implausibility at the rows of ``u``: emulator and simulator variance together."""
    mu, var = em.predict(u)
    return obs.implausibility(mu, var + max(em.var_sim, obs.var_sim))


def emulated_implausibility(u: np.ndarray, emulators: Mapping[str, Emulator],
                            observations: Mapping[str, Observation]) -> np.ndarray:
    """Largest emulated implausibility at each row of ``u`` over the summaries that have an emulator."""
    imax = np.zeros(len(u))
    for i in emulated_implausibilities(u, emulators, observations).values():
        imax = np.maximum(imax, i)
    return imax


def loo_summary(emulators: Mapping[str, Emulator]) -> dict[str, dict[str, float]]:
    """Per emulator: share of leave-one-out standardised errors within +-2, the largest, the nugget."""
    return {n: {"within_2": float(np.mean(np.abs(e.loo) <= 2.0)), "max_abs": float(np.max(np.abs(e.loo))),
                "nugget": e.nugget} for n, e in emulators.items()}


# ----------------------------------------------------------------------------- runs and waves
def simulated_implausibility(summaries: Mapping, observations: Mapping[str, Observation],
                             nuggets: Mapping[str, float] | None = None) -> dict[str, float]:
    """``I_j`` of one simulated run: its own variance estimate if it gives one, else the emulator's nugget."""
    out = {}
    for name, obs in observations.items():
        v = summaries.get(name, math.nan)
        f, var = (v if isinstance(v, (tuple, list)) else (v, math.nan))
        var = var if var is not None and math.isfinite(var) else (nuggets or {}).get(name, 0.0)
        out[name] = float(obs.implausibility(float(f), max(var, obs.var_sim)))
    return out


@dataclass
class Result:
    """Every run (one dict each: wave, index, seed, seconds, params, summaries, I) and the waves' diagnostics."""

    ranges: list[Range]
    runs: list[dict]
    waves: list[dict] = field(default_factory=list)
    emulators: dict = field(default_factory=dict)  # the last wave's
    all_emulators: list = field(default_factory=list)  # every wave's (a point must pass them all)
    cutoff: float = CUTOFF

    def non_implausible(self) -> list[dict]:
        return [r for r in self.runs if r["I_max"] <= self.cutoff]

    def best(self) -> dict:
        """The run with the smallest largest implausibility (ties: root-mean-square implausibility)."""
        return min(self.runs, key=lambda r: (round(r["I_max"], 2), r["I_rms"]))


#: Stream tags of the seeds that are not a run's.
_CLOUD, _EMULATOR = 2**31 - 1, 2**31 - 2


def _seed(seed: int, wave: int, i: int) -> int:
    """A run's (or a stream's) seed from the root seed, the wave and the index (31 bits)."""
    return int(np.random.SeedSequence([int(seed), int(wave), int(i)]).generate_state(1)[0]) % (2**31)


def _maximin(points: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` rows of ``points`` spread out: greedy farthest-point selection from a random start."""
    if len(points) <= n:
        return points
    idx = [int(rng.integers(len(points)))]
    d = np.sum((points - points[idx[0]]) ** 2, axis=1)
    for _ in range(n - 1):
        j = int(np.argmax(d))
        idx.append(j)
        d = np.minimum(d, np.sum((points - points[j]) ** 2, axis=1))
    return points[idx]


#: Uniform clouds tried (at most) before the search for a small non-implausible region starts.
REFOCUS_ROUNDS = 10
#: Search for a small region: starting points (the least implausible sampled points and the
#: non-implausible runs), greedy random-walk descent of the emulated implausibility (steps, initial step
#: sd on the unit scale), then random walks inside the non-implausible region (steps, step sd).
SEARCH_STARTS = 200
DESCENT_STEPS = 200
DESCENT_SD = 0.1
WALK_STEPS = 60
WALK_SD = 0.05


def _imax(u: np.ndarray, emulator_sets, observations, bound: np.ndarray | float | None = None) -> np.ndarray:
    """Largest emulated implausibility over every wave's emulators.

    With ``bound`` (per point, or one number), a point stops being evaluated once one summary's
    implausibility exceeds its bound: its value is then that partial maximum, a lower bound of the
    true one that already exceeds ``bound``. Points that stay at or below their bound get the exact
    maximum, to rounding: a subset of rows is predicted in other BLAS blocks, so values can differ in
    the last bits and a point exactly on a bound could fall either way. The callers need only that
    comparison (the cut-off; "better than the current point"), so they see the same answers, and most
    points of a refocused cloud are ruled out by the first few emulators (the latest wave's first:
    it is the most informed).
    """
    u = np.atleast_2d(u)
    out = np.zeros(len(u))
    if bound is None:
        for emus in emulator_sets:
            out = np.maximum(out, emulated_implausibility(u, emus, observations))
        return out
    lim = np.broadcast_to(np.asarray(bound, dtype=np.float64), (len(u),))
    live = np.arange(len(u))
    for emus in reversed(list(emulator_sets)):
        for name, obs in observations.items():
            if name not in emus or live.size == 0:
                continue
            out[live] = np.maximum(out[live], _summary_implausibility(emus[name], obs, u[live]))
            live = live[out[live] <= lim[live]]
    return out


def _search(starts: np.ndarray, emulator_sets, observations, cutoff: float, n_chains: int,
            rng: np.random.Generator) -> np.ndarray:
    """Points of a small non-implausible region: descend from ``starts``, then walk inside the region.

    Descent: each start takes normal steps (sd :data:`DESCENT_SD`, shrinking by 0.6 every 40 steps)
    kept only when they lower the emulated implausibility. Walk: chains started at the points that
    reached the region take normal steps (sd :data:`WALK_SD`) kept only when they stay inside (a
    random-walk Metropolis chain for the uniform distribution on the region); every 5th state is kept.
    """
    k = starts.shape[1]
    u = starts.copy()
    f = _imax(u, emulator_sets, observations)
    sd = DESCENT_SD
    for step in range(DESCENT_STEPS):
        if (f <= cutoff).sum() >= min(len(u), n_chains):
            break
        prop = np.clip(u + sd * rng.standard_normal(u.shape), 0.0, 1.0)
        fp = _imax(prop, emulator_sets, observations, bound=f)
        better = fp < f
        u[better], f[better] = prop[better], fp[better]
        if step % 40 == 39:
            sd *= 0.6
    inside = u[f <= cutoff]
    if len(inside) == 0:
        return np.zeros((0, k))
    x = inside[rng.integers(len(inside), size=n_chains)]
    kept = [inside]
    for step in range(WALK_STEPS):
        prop = np.clip(x + WALK_SD * rng.standard_normal(x.shape), 0.0, 1.0)
        ok = _imax(prop, emulator_sets, observations, bound=cutoff) <= cutoff
        x[ok] = prop[ok]
        if step % 5 == 4:
            kept.append(x.copy())
    return np.unique(np.vstack(kept), axis=0)


def refocus(emulator_sets, observations: Mapping[str, Observation], box_lo: np.ndarray, box_hi: np.ndarray,
            n_design: int, cloud_size: int, rng: np.random.Generator, cutoff: float = CUTOFF,
            centres: np.ndarray | None = None) -> tuple[np.ndarray, float, str, np.ndarray]:
    """Non-implausible points (for every emulator set) from which the next design is drawn.

    Uniform clouds of ``cloud_size`` in the box, up to :data:`REFOCUS_ROUNDS` of them until
    ``n_design`` points survive. In many dimensions a small non-implausible region escapes uniform
    clouds; when fewer than ``n_design`` points survive, :func:`_search` descends from the
    :data:`SEARCH_STARTS` least implausible sampled points, the survivors and the non-implausible
    runs (``centres``, unit scale) and walks inside the region it reaches. Returns (points, the
    uniform clouds' estimate of the non-implausible share of the unit box, where the points came
    from, the first cloud).
    """
    k = len(box_lo)
    kept, tried, first, best, best_f = [], 0, None, np.zeros((0, k)), np.zeros(0)
    for _ in range(REFOCUS_ROUNDS):
        cloud = box_lo + (box_hi - box_lo) * rng.random((cloud_size, k))
        first = cloud if first is None else first
        # a point above both the cut-off and the current SEARCH_STARTS-th best cannot be kept or become a start
        worst_start = best_f[-1] if len(best_f) >= SEARCH_STARTS else np.inf
        f = _imax(cloud, emulator_sets, observations, bound=max(cutoff, worst_start))
        kept.append(cloud[f <= cutoff])
        tried += cloud_size
        cand, cf = np.vstack([best, cloud]), np.concatenate([best_f, f])
        order = np.argsort(cf, kind="stable")[:SEARCH_STARTS]
        best, best_f = cand[order], cf[order]
        if sum(len(x) for x in kept) >= n_design:
            break
    ok = np.vstack(kept)
    share = len(ok) / tried * float(np.prod(box_hi - box_lo))
    if len(ok) >= n_design:
        return ok, share, "the box", first
    starts = np.vstack([ok, best] + ([centres] if centres is not None and len(centres) else []))
    found = _search(starts, emulator_sets, observations, cutoff, max(n_design, 50), rng)
    if len(found) > len(ok):
        return found, share, "a search from the least implausible points", first
    return ok, share, "the box", first


def _not_run(points: np.ndarray, done: np.ndarray) -> np.ndarray:
    """Rows of ``points`` (unit scale) that are not rows of ``done`` (points already simulated)."""
    if len(done) == 0 or len(points) == 0:
        return points
    seen = {tuple(np.round(r, 12)) for r in np.asarray(done, dtype=np.float64)}
    keep = np.array([tuple(np.round(r, 12)) not in seen for r in points], dtype=bool)
    return points[keep]


def _read_runs(path: Path) -> list[dict]:
    """Finished runs of a wave file; a truncated last line (an interruption while writing) is ignored."""
    out = []
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                break
    return out


def history_match(simulator: Simulator, ranges: list[Range], observations: Mapping[str, Observation], *,
                  waves: int = 3, wave_size: int = 40, seed: int = 0, cutoff: float = CUTOFF,
                  cloud_size: int = CLOUD_SIZE, out_dir: str | Path | None = None, resume: bool = False,
                  settings: Mapping | None = None, progress: bool = False, log: Callable[[str], None] = print,
                  stop_after: int | None = None, min_non_implausible: int = 0, extra_waves: int = 0) -> Result:
    """Run the waves (module docstring). ``simulator(x, seed)`` returns ``{summary: value or (value, var)}``.

    ``settings``: extra entries of the run folder's ``settings.json`` (what must match to resume).
    ``stop_after``: stop after that many new runs (to test interruption). ``min_non_implausible``,
    ``extra_waves``: after ``waves``, run up to ``extra_waves`` more while fewer simulated runs than
    ``min_non_implausible`` are non-implausible (an ensemble of that size).
    """
    names = [r.name for r in ranges]
    if len(set(names)) != len(names):
        raise ValueError(f"history matching: duplicate parameter names in {names}")
    if not observations:
        raise ValueError("history matching: no observations")
    k = len(ranges)
    out = Path(out_dir) if out_dir is not None else None
    manifest = {"format": FORMAT, "ranges": [asdict(r) for r in ranges], "waves": waves, "wave_size": wave_size,
                "seed": seed, "cutoff": cutoff, "cloud_size": cloud_size,
                "min_non_implausible": min_non_implausible, "extra_waves": extra_waves,
                "observations": {n: asdict(o) for n, o in observations.items()}, **dict(settings or {})}
    manifest = json.loads(json.dumps(manifest))
    if out is not None:
        mpath = out / "settings.json"
        if mpath.exists():
            if not resume:
                raise FileExistsError(f"{out} already holds a calibration run: pass resume (--resume) to continue it "
                                      "or choose another folder")
            old = json.loads(mpath.read_text(encoding="utf-8"))
            diff = sorted(k2 for k2 in set(old) | set(manifest) if old.get(k2) != manifest.get(k2))
            # more extra waves may be asked for on resumption (the waves already run are unchanged)
            grow = "extra_waves" in diff and int(manifest["extra_waves"]) > int(old.get("extra_waves", 0))
            diff = [k2 for k2 in diff if not (k2 == "extra_waves" and grow)]
            if diff:
                raise ValueError(f"{mpath}: cannot resume, settings differ in {', '.join(diff)}")
            if grow:
                atomic_write_text(mpath, json.dumps(manifest, indent=1, sort_keys=True))
        else:
            out.mkdir(parents=True, exist_ok=True)
            atomic_write_text(mpath, json.dumps(manifest, indent=1, sort_keys=True))
    result = Result(list(ranges), [], cutoff=cutoff)
    history_emulators: list[dict[str, Emulator]] = []
    box_lo, box_hi = np.zeros(k), np.ones(k)
    new_runs = 0
    for w in range(1, waves + extra_waves + 1):
        if w > waves and len(result.non_implausible()) >= min_non_implausible:
            break
        dpath = out / f"wave_{w:02d}_design.json" if out is not None else None
        if dpath is not None and dpath.exists():
            design = np.array(json.loads(dpath.read_text(encoding="utf-8"))["design"], dtype=np.float64)
        elif w == 1:
            design = latin_hypercube(wave_size, k, _seed(seed, 0, 0))
        else:
            design = None
        if design is None:  # refocus on the non-implausible space of every wave's emulators
            rng = np.random.default_rng(_seed(seed, w, _CLOUD))
            centres = np.array([r["u"] for r in result.runs if r["I_max"] <= cutoff]).reshape(-1, k)
            ok, share, source, cloud = refocus(history_emulators, observations, box_lo, box_hi, wave_size, cloud_size,
                                               rng, cutoff, centres)
            # which summaries rule the space out (share of the sampled points each one alone makes implausible)
            ruled = {n: float(np.mean(i > cutoff)) for n, i in
                     emulated_implausibilities(cloud, history_emulators[-1], observations).items()}
            result.waves[-1]["non_implausible_share_of_box"] = share
            result.waves[-1]["ruled_out_by"] = ruled
            result.waves[-1]["next_design_from"] = source
            top = sorted(ruled.items(), key=lambda kv: -kv[1])[:5]
            log(f"  emulated non-implausible share of the box: {share:.3g}; ruled out most by: "
                + ", ".join(f"{n} {v:.2f}" for n, v in top) + f"; next design from {source}")
            if len(ok) == 0:
                log(f"wave {w}: the emulators leave no non-implausible point; stopping")
                break
            span = ok.max(axis=0) - ok.min(axis=0)
            box_lo = np.clip(ok.min(axis=0) - BOX_MARGIN * span, 0, 1)
            box_hi = np.clip(ok.max(axis=0) + BOX_MARGIN * span, 0, 1)
            # the search starts from the non-implausible runs and keeps them: a point already
            # simulated is not run again (with common random numbers it would repeat its run exactly)
            ok = _not_run(ok, np.array([r["u"] for r in result.runs]))
            if len(ok) == 0:
                log(f"wave {w}: every non-implausible point has been simulated already; stopping")
                break
            design = _maximin(ok, wave_size, rng)
        if dpath is not None and not dpath.exists():
            atomic_write_text(dpath, json.dumps({"wave": w, "design": design.tolist()}))
        rpath = out / f"wave_{w:02d}.jsonl" if out is not None else None
        done = {r["index"]: r for r in _read_runs(rpath)} if rpath is not None else {}
        if rpath is not None and rpath.exists():  # drop a truncated last line before appending
            atomic_write_text(rpath, "".join(json.dumps(done[i], allow_nan=True) + "\n" for i in sorted(done)))
        todo = [i for i in range(len(design)) if i not in done]
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(design), initial=len(design) - len(todo), desc=f"wave {w}/{waves}" + ("+" if w > waves else ""), unit="run")
        fh = open(rpath, "a", encoding="utf-8") if rpath is not None else None
        try:
            for i in todo:
                if stop_after is not None and new_runs >= stop_after:
                    raise Interrupted(f"stopped after {new_runs} new runs (stop_after)")
                x = {r.name: r.from_unit(v) for r, v in zip(ranges, design[i])}
                s = _seed(seed, w, i)
                t0 = time.perf_counter()
                summ = simulator(x, s)
                secs = time.perf_counter() - t0
                row = {"wave": w, "index": i, "seed": s, "seconds": round(secs, 4), "u": design[i].tolist(),
                       "params": x, "summaries": {n: (list(v) if isinstance(v, (tuple, list)) else v)
                                                  for n, v in summ.items()}}
                done[i] = json.loads(json.dumps(row, allow_nan=True))
                new_runs += 1
                if fh is not None:
                    fh.write(json.dumps(row, allow_nan=True) + "\n")
                    fh.flush()
                    os.fsync(fh.fileno())
                if bar is not None:
                    bar.update(1)
        finally:
            if fh is not None:
                fh.close()
            if bar is not None:
                bar.close()
        # the history, as read back from the files (a resumed run sees exactly what an uninterrupted one does)
        wave_runs = [json.loads(json.dumps(done[i])) for i in range(len(design))]
        if rpath is not None:
            wave_runs = sorted(_read_runs(rpath), key=lambda r: r["index"])
        result.runs.extend(wave_runs)
        u_all = np.array([r["u"] for r in result.runs])
        y = {n: np.array([_value(r["summaries"].get(n, math.nan)) for r in result.runs]) for n in observations}
        rv = {n: np.array([_variance(r["summaries"].get(n, math.nan)) for r in result.runs]) for n in observations}
        emus = fit_emulators(u_all, y, seed=_seed(seed, w, _EMULATOR), reported_var=rv)
        nuggets = {n: e.nugget for n, e in emus.items()}
        for r in result.runs:
            if r["wave"] == w:
                imp = simulated_implausibility(r["summaries"], observations, nuggets)
                r["I"] = imp
                r["I_max"] = max(imp.values())
                r["I_rms"] = float(np.sqrt(np.mean(np.square(np.clip(list(imp.values()), 0, 1e6)))))
        history_emulators.append(emus)
        result.emulators, result.all_emulators = emus, list(history_emulators)
        n_ok = sum(r["I_max"] <= cutoff for r in wave_runs)
        loo = loo_summary(emus)
        result.waves.append({"wave": w, "runs": len(wave_runs), "non_implausible_runs": n_ok,
                             "seconds": round(sum(r["seconds"] for r in wave_runs), 2),
                             "best_I_max": min(r["I_max"] for r in wave_runs), "loo": loo})
        log(f"wave {w}: {len(wave_runs)} runs, {n_ok} non-implausible (I_max <= {cutoff:g}); best I_max "
            f"{min(r['I_max'] for r in wave_runs):.2f}; emulators {len(emus)}, LOO within +-2: "
            + ", ".join(f"{n} {v['within_2']:.2f}" for n, v in loo.items()))
    return result


def _variance(v) -> float:
    return float(v[1]) if isinstance(v, (tuple, list)) and v[1] is not None else math.nan


def _value(v) -> float:
    v = v[0] if isinstance(v, (tuple, list)) else v
    return float(v) if v is not None else math.nan


def non_implausible_cloud(result: Result, observations: Mapping[str, Observation], n: int = CLOUD_SIZE,
                          seed: int = 0) -> np.ndarray:
    """Uniform points of the unit box that every wave's emulators leave non-implausible."""
    rng = np.random.default_rng(seed)
    cloud = rng.random((n, len(result.ranges)))
    keep = np.ones(n, bool)
    for emus in result.all_emulators:
        keep &= emulated_implausibility(cloud, emus, observations) <= result.cutoff
    return cloud[keep]


__all__ = ["BOX_MARGIN", "CLOUD_SIZE", "CUTOFF", "Emulator", "Interrupted", "Observation", "Range", "Result", "Simulator",
           "emulated_implausibilities", "emulated_implausibility", "fit_emulator", "fit_emulators", "history_match", "latin_hypercube",
           "loo_summary", "non_implausible_cloud", "refocus", "simulated_implausibility"]
