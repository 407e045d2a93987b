"""Global sensitivity analysis: SALib's Sobol and Morris methods, sampling bound to analysis.

A design object (:class:`SobolDesign`, :class:`MorrisDesign`) draws its sample once (fixed
seed) and keeps it; ``.sample()`` returns it as a sweep manifest (``run_id`` = row of the
sample) and ``.analyze(results)`` matches the results to that sample *by run_id* (and checks
any parameter columns in the results against the sample), so the order that SALib's analysis
needs can never be mixed up. Ranges come from the parameter table
(:data:`nssisim.core.parameters.PARAMS` low/high) or from user sub-ranges within those bounds.

Sobol: Saltelli's scheme with first- and total-order indices (``calc_second_order=False``:
``N * (D + 2)`` runs), ``N`` a power of two. Morris: ``N`` trajectories of ``D + 1`` runs on a
4-level grid. Confidence intervals are SALib's bootstrap intervals (``conf_level``, 95 % by
default, ``num_resamples`` resamples, seeded).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..core.parameters import PARAMS
from ..files import write_csv
from ..plotting import figure, save, style
from .sweep import make_manifest, OUTPUTS

SOBOL_COLUMNS = ("parameter", "output", "S1", "S1_conf", "ST", "ST_conf")
MORRIS_COLUMNS = ("parameter", "output", "mu_star", "mu_star_conf", "sigma", "mu")


def parse_param_spec(spec: str) -> tuple[str, tuple[float, float] | None]:
    """``'NAME'`` or ``'NAME:low:high'`` -> ``(name, None | (low, high))``."""
    parts = spec.split(":")
    if len(parts) == 1:
        return parts[0].strip(), None
    if len(parts) != 3:
        raise ValueError(f"--param '{spec}': expected NAME or NAME:low:high")
    try:
        return parts[0].strip(), (float(parts[1]), float(parts[2]))
    except ValueError:
        raise ValueError(f"--param '{spec}': low and high must be numbers") from None


def param_ranges(params: Sequence[str] | Mapping[str, tuple[float, float] | None]) -> dict[str, tuple[float, float]]:
    """Ranges of the named parameters: the table's bounds, or sub-ranges checked against them."""
    items = params.items() if isinstance(params, Mapping) else [(p, None) for p in params]
    out: dict[str, tuple[float, float]] = {}
    for name, rng in items:
        if name not in PARAMS:
            raise KeyError(f"unknown parameter '{name}' (see `nssisim params`)")
        if name in out:
            raise ValueError(f"parameter '{name}' given twice")
        p = PARAMS[name]
        if rng is None:
            lo, hi = p.low, p.high
        else:
            lo, hi = float(rng[0]), float(rng[1])
            if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
                raise ValueError(f"parameter '{name}': range [{lo}, {hi}] must have low < high")
            if lo < p.low:
                raise ValueError(f"parameter '{name}': low {lo} is below its lower bound {p.low}")
            if hi > p.high:
                raise ValueError(f"parameter '{name}': high {hi} is above its upper bound {p.high}")
        if not lo < hi:
            raise ValueError(f"parameter '{name}' has an empty range [{lo}, {hi}]")
        out[name] = (lo, hi)
    return out


class _Design:
    """A sample of a SALib problem, kept together with the analysis that needs its order."""

    method = ""

    def __init__(self, ranges, n: int, *, seed: int = 1, num_resamples: int = 200, conf_level: float = 0.95,
                 check_params: bool = True):
        if check_params:
            ranges = param_ranges(ranges)
        else:  # a generic problem (e.g. a test function): explicit ranges, no parameter table
            ranges = {k: (float(v[0]), float(v[1])) for k, v in dict(ranges).items()}
        if len(ranges) < 2:
            raise ValueError(f"{self.method} needs at least 2 parameters, got {len(ranges)}")
        if int(n) != n or n < 1:
            raise ValueError(f"N must be a positive integer, got {n}")
        if not 0 < conf_level < 1:
            raise ValueError(f"conf_level must be in (0, 1), got {conf_level}")
        self.ranges = ranges
        self.names = list(ranges)
        self.n = int(n)
        self.seed = int(seed)
        self.num_resamples = int(num_resamples)
        self.conf_level = float(conf_level)
        self.check_params = check_params
        self.problem = {"num_vars": len(ranges), "names": self.names, "bounds": [list(ranges[k]) for k in self.names]}
        self.X = self._draw()
        # Sobol points are scaled in float arithmetic; clip the ulp-level overshoot at the bounds.
        lo = np.array([r[0] for r in ranges.values()])
        hi = np.array([r[1] for r in ranges.values()])
        self.X = np.clip(self.X, lo, hi)
        self.run_ids = np.arange(self.X.shape[0], dtype=np.int64)

    @property
    def n_runs(self) -> int:
        return int(self.X.shape[0])

    def _draw(self) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _analyze_one(self, y: np.ndarray) -> dict[str, np.ndarray]:  # pragma: no cover - abstract
        raise NotImplementedError

    def sample(self) -> pd.DataFrame:
        """The sample as a manifest: ``run_id`` and one column per parameter."""
        cols = {name: self.X[:, j] for j, name in enumerate(self.names)}
        if self.check_params:
            return make_manifest(cols, self.run_ids)
        return pd.DataFrame({"run_id": self.run_ids, **cols})

    def _results_frame(self, results) -> pd.DataFrame:
        if isinstance(results, xr.Dataset):
            results = results.reset_coords().to_dataframe()
        df = pd.DataFrame(results)
        if "run_id" in df.columns:
            df = df.set_index("run_id")
        if df.index.has_duplicates:
            raise ValueError("results: duplicate run_id(s)")
        missing = np.setdiff1d(self.run_ids, df.index.to_numpy())
        if missing.size:
            raise ValueError(f"results lack {missing.size} of the design's {self.n_runs} run(s), "
                             f"e.g. run_id {', '.join(map(str, missing[:5]))}")
        df = df.loc[self.run_ids]
        for j, name in enumerate(self.names):  # results that carry parameters must carry *this* sample
            if name in df.columns and not np.allclose(df[name].to_numpy(dtype=np.float64), self.X[:, j],
                                                      rtol=1e-6, atol=0.0):
                raise ValueError(f"results: column '{name}' does not match this design's sample "
                                 "(the results come from another design)")
        return df

    def analyze(self, results, outputs: Sequence[str] | None = None) -> pd.DataFrame:
        """Indices per (parameter, output) as a tidy DataFrame, ranked within each output.

        ``results``: a DataFrame indexed by (or with a column) ``run_id``, or a loaded sweep
        (:func:`nssisim.sweeps.sweep.load_sweep`). ``outputs``: columns to analyse (default: every
        column that is not a parameter). An output with a non-finite value is an error naming
        it; a constant output gets NaN indices (nothing to apportion).
        """
        df = self._results_frame(results)
        if outputs is None:
            outputs = [c for c in df.columns if c not in self.names]
        rows = []
        for out in outputs:
            if out not in df.columns:
                raise KeyError(f"results have no output '{out}'")
            y = df[out].to_numpy(dtype=np.float64)
            bad = ~np.isfinite(y)
            if bad.any():
                raise ValueError(f"output '{out}' has {int(bad.sum())} non-finite value(s) "
                                 f"(e.g. run_id {df.index[bad][0]}); it cannot be analysed")
            if np.ptp(y) == 0:
                res = {c: np.full(len(self.names), np.nan) for c in self.columns[2:]}
            else:
                res = self._analyze_one(y)
            for j, name in enumerate(self.names):
                rows.append({"parameter": name, "output": out, **{c: float(res[c][j]) for c in self.columns[2:]}})
        tidy = pd.DataFrame(rows, columns=list(self.columns))
        key = self.columns[4] if self.method == "sobol" else "mu_star"
        order = {o: i for i, o in enumerate(outputs)}
        tidy["_o"] = tidy["output"].map(order)
        tidy = tidy.sort_values(["_o", key], ascending=[True, False], na_position="last", kind="stable")
        return tidy.drop(columns="_o").reset_index(drop=True)


class SobolDesign(_Design):
    """Sobol indices (S1, ST) with Saltelli sampling; ``n`` must be a power of two."""

    method = "sobol"
    columns = SOBOL_COLUMNS

    def __init__(self, ranges, n: int = 64, **kw):
        if int(n) != n or n < 2 or (int(n) & (int(n) - 1)):
            raise ValueError(f"Sobol N must be a power of two (>= 2), got {n}: e.g. {2 ** max(1, round(np.log2(max(n, 2))))}")
        super().__init__(ranges, n, **kw)

    def _draw(self) -> np.ndarray:
        from SALib.sample import sobol

        return sobol.sample(self.problem, self.n, calc_second_order=False, scramble=True, seed=self.seed)

    def _analyze_one(self, y):
        from SALib.analyze import sobol

        d = len(self.names)
        blocks = y.reshape(self.n, d + 2)  # Saltelli rows per base point: A, AB_1 .. AB_D, B
        if np.ptp(blocks[:, [0, d + 1]]) == 0:
            # the estimators normalise by the variance of the A and B rows: undefined when those are
            # constant even though some AB rows vary (SALib would return 0 for every index)
            return {c: np.full(d, np.nan) for c in ("S1", "S1_conf", "ST", "ST_conf")}
        with warnings.catch_warnings():
            # A bootstrap resample can draw only base points with equal outputs (a rare outcome, small N):
            # SALib warns and counts that resample's indices as 0, which widens the interval. The
            # estimate itself uses the full sample, checked above.
            warnings.filterwarnings("ignore", message="Constant values encountered", category=UserWarning)
            r = sobol.analyze(self.problem, y, calc_second_order=False, num_resamples=self.num_resamples,
                              conf_level=self.conf_level, print_to_console=False, seed=self.seed)
        return {c: np.asarray(r[c], dtype=np.float64) for c in ("S1", "S1_conf", "ST", "ST_conf")}


class MorrisDesign(_Design):
    """Morris elementary effects (mu*, its interval, sigma, mu): ``n`` trajectories on a grid."""

    method = "morris"
    columns = MORRIS_COLUMNS

    def __init__(self, ranges, n: int = 16, *, num_levels: int = 4, **kw):
        if num_levels < 2 or num_levels % 2:
            raise ValueError(f"Morris num_levels must be an even number >= 2, got {num_levels}")
        self.num_levels = int(num_levels)
        super().__init__(ranges, n, **kw)

    def _draw(self) -> np.ndarray:
        from SALib.sample import morris

        return morris.sample(self.problem, self.n, num_levels=self.num_levels, seed=self.seed)

    def _analyze_one(self, y):
        from SALib.analyze import morris

        r = morris.analyze(self.problem, self.X, y, num_resamples=self.num_resamples, conf_level=self.conf_level,
                           print_to_console=False, num_levels=self.num_levels, seed=self.seed)
        return {c: np.ma.filled(np.ma.asarray(r[c], dtype=np.float64), np.nan)
                for c in ("mu_star", "mu_star_conf", "sigma", "mu")}


def make_design(method: str, ranges, n: int, **kw) -> _Design:
    if method == "sobol":
        return SobolDesign(ranges, n, **kw)
    if method == "morris":
        return MorrisDesign(ranges, n, **kw)
    raise ValueError(f"unknown method '{method}': expected 'sobol' or 'morris'")


def format_indices(tidy: pd.DataFrame) -> str:
    """The ranked table as text (one block per output)."""
    sobol = "ST" in tidy.columns
    head = (("rank", "parameter", "ST", "+/-", "S1", "+/-") if sobol
            else ("rank", "parameter", "mu*", "+/-", "sigma", "mu"))
    cols = ("ST", "ST_conf", "S1", "S1_conf") if sobol else ("mu_star", "mu_star_conf", "sigma", "mu")
    width = max([len("parameter")] + [len(p) for p in tidy["parameter"]])
    lines = []
    for out, g in tidy.groupby("output", sort=False):
        lines.append(f"output: {out}")
        lines.append(f"  {head[0]:>4}  {head[1]:<{width}}  " + "  ".join(f"{h:>8}" for h in head[2:]))
        for i, r in enumerate(g.itertuples(index=False), 1):
            vals = "  ".join(f"{getattr(r, c):8.3f}" for c in cols)
            lines.append(f"  {i:>4}  {r.parameter:<{width}}  {vals}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


#: Why an output can be undefined in a run (shown when it is skipped).
_UNDEFINED_WHY = {"habit_share": "a run without acts",
                  "nssi_ideation_log_or": "nobody or everybody in a run had NSSI or ideation"}


def write_sensitivity_outputs(ds: xr.Dataset, design: _Design, out_dir: str | Path, *, days: float | None = None,
                              log: Callable[[str], object] = lambda message: None,
                              warn: Callable[[str], object] | None = None) -> dict:
    """Indices of a finished sweep: ``indices.csv`` and one ``<method>_<output>.png`` per usable output.

    Outputs undefined in some run (not finite) or constant over all runs are skipped, and ``log``
    says why (``days``, the simulated days per run, lets it add that cessation needs longer runs); ``warn`` (default ``log``) is told when the event table overflowed in some run.
    Returns ``{"indices": DataFrame, "outputs": usable outputs, "csv": path, "plots": [paths]}``.
    """
    warn = log if warn is None else warn
    out = Path(out_dir)
    overflow = int((ds["events_overflow_share"].values > 0).sum())
    if overflow:
        warn(f"note: the event table overflowed in {overflow} run(s); their 'addictive' share is a lower bound "
             "(raise --event-capacity)")
    usable = []
    for o in OUTPUTS:
        v = ds[o].values
        if not np.isfinite(v).all():
            why = _UNDEFINED_WHY.get(o, "a non-finite value")
            log(f"skipping output '{o}': undefined in {int((~np.isfinite(v)).sum())} of {v.size} runs ({why})")
        elif np.ptp(v) == 0:
            why = " (cessation needs runs longer than a year)" if o == "cessation" and days is not None and days <= 365 else ""
            log(f"skipping output '{o}': the same value ({v[0]:g}) in every run, nothing to apportion{why}")
        else:
            usable.append(o)
    tidy = design.analyze(ds, outputs=usable)
    key = "ST" if design.method == "sobol" else "mu_star"
    for o in usable:
        if tidy.loc[tidy["output"] == o, key].isna().all():
            log(f"output '{o}': indices undefined (it does not vary over the base samples; use a larger --base-samples)")
    out.mkdir(parents=True, exist_ok=True)
    write_csv(tidy, out / "indices.csv", index=False)
    plots = [plot_indices(tidy, o, out / f"{design.method}_{o}.png") for o in usable]
    return {"indices": tidy, "outputs": usable, "csv": out / "indices.csv", "plots": plots}


def plot_indices(tidy: pd.DataFrame, output: str, path: str | Path) -> Path:
    """Ranked horizontal bars of ST (Sobol) or mu* (Morris) with their intervals, for one output."""
    g = tidy[tidy["output"] == output]
    if g.empty:
        raise KeyError(f"no indices for output '{output}'")
    sobol = "ST" in g.columns
    key, conf = ("ST", "ST_conf") if sobol else ("mu_star", "mu_star_conf")
    g = g.sort_values(key, ascending=True, na_position="first")
    with style():
        return _draw_indices(g, output, sobol, key, conf, path)


def _draw_indices(g: pd.DataFrame, output: str, sobol: bool, key: str, conf: str, path: str | Path) -> Path:
    fig = figure(6.0, 0.6 + 0.32 * len(g))
    ax = fig.add_subplot()
    y = np.arange(len(g))
    ax.barh(y, g[key].to_numpy(), xerr=g[conf].to_numpy(), color="#4477AA", ecolor="#333333", capsize=2,
            label="total-order ST" if sobol else "mu*")
    if sobol:
        ax.plot(g["S1"].to_numpy(), y, "o", color="#D55E00", markersize=4, label="first-order S1")
        ax.legend(loc="lower right", fontsize=7, frameon=False)
    ax.set_yticks(y, g["parameter"].to_list(), fontsize=8)
    ax.set_xlabel(("Sobol index (bars: 95 % bootstrap interval)" if sobol
                   else "mu* (mean |elementary effect|, bootstrap interval)"), fontsize=8)
    ax.set_title(f"{output}: parameters ranked by {'ST' if sobol else 'mu*'}", loc="left", fontsize=9)
    ax.grid(axis="x", color="#E6E6E6", linewidth=0.5)
    ax.set_axisbelow(True)
    return save(fig, path)


__all__ = ["MorrisDesign", "SobolDesign", "format_indices", "make_design", "param_ranges", "parse_param_spec",
           "plot_indices", "write_sensitivity_outputs"]
