"""Virtual trials over the calibration's parameter ensemble: prediction intervals with parameter uncertainty.

:func:`run_trial_ensemble` runs a design once per parameter set of an ensemble
(:mod:`nssisim.population.ensemble`; each set is a spec-level override: model parameters plus
population settings such as ``correlation_scale``). Set ``i`` (its position in the ensemble,
from 0) runs with the design's seed ``+ i``, so the sampling noise and the parameter uncertainty
both enter, as :func:`nssisim.population.ensemble.run_ensemble` does for populations. A set means
the same as in the calibration: its population settings are applied to the design's population
spec (:func:`nssisim.population.calibration.with_settings`) and its model parameters replace the
sampled values after the factor mapping (:meth:`nssisim.trials.design.Design.on_population`, as
the calibration's ``overrides`` of :func:`nssisim.population.lifecourse.simulate_chunk`). With a
referral source the patients themselves change from set to set: screening is redone per set.

Outputs are two tidy tables: one row per set and quantity (arm means of the day outcomes per
stratum, arm and window; the effects of :func:`nssisim.trials.run.effects_table` per stratum,
contrast, outcome, window, measure and analysis), and a summary with the 5-50-95 % quantiles
across sets and the mean within-set 95 % interval width (what one set's interval would be).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..population.calibration import split, with_settings
from ..population.ensemble import ensemble_sets
from ..population.spec import load_population
from ..stats import wilson_interval
from .design import BINARY_OUTCOMES, Design, OUTCOMES
from .run import effects_table, run_trial

#: How :func:`pick_sets` chooses ``max_sets`` of an ensemble's sets.
PICKS = ("even", "first")
#: The files ``nssisim trial --ensemble`` writes.
ENSEMBLE_FILES = ("ensemble_per_set.csv", "ensemble_summary.csv")
#: Columns identifying one quantity (a row of the summary).
KEYS = ["stratum", "kind", "arm", "window", "outcome", "measure", "analysis"]
Z95 = 1.959963984540054


def pick_sets(n_sets: int, max_sets: int | None = None, pick: str = "even") -> list[int]:
    """Positions (from 0) of the sets to run: all, or ``max_sets`` of them, ``"even"``: evenly
    spaced over the ensemble (first and last included; the ensemble is in wave order, so the
    first sets would all come from the early waves), ``"first"``: the first ``max_sets``."""
    if pick not in PICKS:
        raise ValueError(f"pick must be one of {', '.join(PICKS)}, got {pick!r}")
    if max_sets is None or max_sets >= n_sets:
        return list(range(n_sets))
    if max_sets < 1:
        raise ValueError(f"max_sets must be >= 1, got {max_sets}")
    if pick == "first":
        return list(range(max_sets))
    if max_sets == 1:
        return [0]
    return sorted({int(round(v)) for v in np.linspace(0, n_sets - 1, max_sets)})


def design_for_set(design: Design, x: dict[str, float], index: int = 0) -> Design:
    """The design run on parameter set ``x`` with seed ``design.seed + index``: the set's population
    settings applied to the design's population spec, its model parameters as overrides after the
    factor mapping (the calibration's meaning of a set)."""
    from dataclasses import replace

    base = design.population_spec if design.population_spec is not None else load_population(design.population)
    params, _ = split(dict(x))
    return replace(design.on_population(with_settings(base, x), params), seed=int(design.seed) + int(index))


def _arm_rows(ds: xr.Dataset) -> list[dict]:
    """Per stratum, arm, window and outcome: the mean over every simulated patient (as
    :func:`nssisim.trials.run.arm_summary`) with its 95 % interval (Wilson for shares, normal for
    the rest)."""
    rows = []
    for s in ds["stratum"].values:
        for a in ds["arm"].values:
            for w in ds["window"].values:
                for o in OUTCOMES:
                    v = ds[o].sel(stratum=s, arm=a) if o == "completed" else ds[o].sel(stratum=s, arm=a, window=w)
                    x = np.asarray(v.values, dtype=np.float64).ravel()
                    n, m = x.size, float(x.mean())
                    if o in BINARY_OUTCOMES:
                        lo, hi = wilson_interval(float(x.sum()), float(n))
                    elif n > 1:
                        se = float(x.std(ddof=1)) / math.sqrt(n)
                        lo, hi = m - Z95 * se, m + Z95 * se
                    else:
                        lo = hi = math.nan
                    rows.append({"stratum": str(s), "kind": "arm_mean", "arm": str(a), "window": str(w), "outcome": o,
                                 "measure": "share" if o in BINARY_OUTCOMES else "mean", "analysis": "all patients",
                                 "estimate": m, "low": lo, "high": hi, "power": math.nan, "n": n})
    return rows


def _effect_rows(ds: xr.Dataset) -> list[dict]:
    """Per stratum and effect: the mean over the set's replicates of the estimate and of the 95 %
    interval's ends (one trial's interval), and the power (share of replicates significant)."""
    df = effects_table(ds)
    keys = ["stratum", "contrast", "outcome", "window", "measure", "analysis"]
    g = df.groupby(keys, sort=False)
    out = pd.DataFrame({"estimate": g["estimate"].mean(), "low": g["low"].mean(), "high": g["high"].mean(),
                        "power": g["significant"].mean(), "n": g["estimate"].size()}).reset_index()
    out = out.rename(columns={"contrast": "arm"})
    out.insert(1, "kind", "effect")
    return out.to_dict("records")


def trial_ensemble_tables(ds: xr.Dataset, set_id: int, seed: int) -> pd.DataFrame:
    """One set's rows of the per-set table from its trial Dataset."""
    df = pd.DataFrame(_arm_rows(ds) + _effect_rows(ds))
    df.insert(0, "seed", int(seed))
    df.insert(0, "set", int(set_id))
    return df


def ensemble_summary(per_set: pd.DataFrame) -> pd.DataFrame:
    """Per quantity: ``q05``, ``median``, ``q95`` of the estimate across sets (prediction interval:
    parameter uncertainty plus sampling noise), ``within_width`` (the mean width of a set's own
    95 % interval: what one parameter set's interval would be), ``sets`` (sets with a finite
    estimate)."""
    rows = []
    for key, g in per_set.groupby(KEYS, sort=False):
        v = g["estimate"].to_numpy(np.float64)
        v = v[np.isfinite(v)]
        q = np.quantile(v, [0.05, 0.5, 0.95]) if v.size else (math.nan,) * 3
        width = (g["high"] - g["low"]).to_numpy(np.float64)
        width = width[np.isfinite(width)]
        rows.append({**dict(zip(KEYS, key)), "q05": float(q[0]), "median": float(q[1]), "q95": float(q[2]),
                     "within_width": float(width.mean()) if width.size else math.nan, "sets": int(v.size)})
    return pd.DataFrame(rows)


def run_trial_ensemble(design: Design, sets: str | Path | Sequence[dict], replicates: int | None = None, *,
                       max_sets: int | None = None, pick: str = "even", progress: bool = False,
                       checkpoint: str | Path | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run ``design`` once per parameter set; (per-set table, summary across sets).

    ``sets``: an ensemble file or population name (:func:`nssisim.population.ensemble.ensemble_sets`)
    or a list of set dicts. ``max_sets``: run only that many (:func:`pick_sets`: ``pick="even"``
    evenly spaced, ``"first"`` the first ones); a set keeps its ensemble position ``i`` (column
    ``set`` = ``i + 1``, the file's ``id``) and seed ``design.seed + i`` whichever are picked.
    ``checkpoint``: a folder; each set's trial keeps its partial results in ``set_<id>/`` (see
    :func:`nssisim.trials.run.run_trial`), so an interrupted ensemble run resumes.

    Per-set table (tidy): ``set``, ``seed``, ``stratum``, ``kind`` (``arm_mean``: the mean of a day
    outcome over every simulated patient of an arm, as :func:`nssisim.trials.run.arm_summary`, with
    its 95 % interval; ``effect``: an effect of :func:`nssisim.trials.run.effects_table`, averaged
    over the set's replicates, with the mean single-trial 95 % interval and the power), ``arm`` (the
    arm, or the contrast of an effect), ``window``, ``outcome``, ``measure``, ``analysis``,
    ``estimate``, ``low``, ``high``, ``power``, ``n`` (patients pooled, or replicates).
    Summary: :func:`ensemble_summary`.
    """
    all_sets = list(ensemble_sets(sets) if isinstance(sets, (str, Path)) else sets)
    if not all_sets:
        raise ValueError("run_trial_ensemble: no parameter sets")
    chosen = pick_sets(len(all_sets), max_sets, pick)
    own = set(design.overrides).union(*[set(v) for v in design.strata.values()])
    shadowed = sorted(own & set(split(all_sets[0])[0]))
    if shadowed:
        warnings.warn(f"{design.source}: the design's [person]/[strata] overrides replace the parameter sets' "
                      f"values of {', '.join(shadowed)}: those parameters do not vary across sets", stacklevel=2)
    it = chosen
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(chosen, desc=f"ensemble trial {design.name}", unit="set")
    frames = []
    for i in it:
        d = design_for_set(design, all_sets[i], i)
        cp = None if checkpoint is None else Path(checkpoint) / f"set_{i + 1:04d}"
        ds = run_trial(d, replicates, checkpoint=cp)
        frames.append(trial_ensemble_tables(ds, i + 1, d.seed))
    per_set = pd.concat(frames, ignore_index=True)
    return per_set, ensemble_summary(per_set)


__all__ = ["ENSEMBLE_FILES", "KEYS", "PICKS", "design_for_set", "ensemble_summary", "pick_sets",
           "run_trial_ensemble", "trial_ensemble_tables"]
