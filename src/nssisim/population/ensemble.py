"""The calibration's parameter ensemble: parameter sets that are all non-implausible, and runs over them.

``nssisim calibrate --write-ensemble configs/ensemble_<population>.toml`` writes every non-implausible
candidate of a calibration (at least :data:`~nssisim.population.calibration.ENSEMBLE_SIZE`; the
calibration runs extra waves until it has them), one ``[[sets]]`` table each (its parameters, the
simulated values it was accepted on, its wave, index, seed and largest implausibility), under a
``[record]`` table saying how they were found (method settings, waves, seeds, times).

Consumers:

* :func:`ensemble_sets` ``(path) -> list[dict]``: the parameter sets, for trials and explanatory
  targets (each dict is a spec-level override: model parameters plus population settings such as
  ``correlation_scale``; apply with :func:`nssisim.population.calibration.with_settings` and
  :func:`nssisim.population.calibration.split`).
* :func:`run_ensemble`: one population run per set (set ``i`` with seed ``seed + i``, so both the
  parameter uncertainty and the sampling noise at ``n_subjects`` enter), reduced to every
  calibration measure; the 5-50-95 % quantiles across sets are prediction intervals, reported beside
  the mean within-set sampling sd (what a single parameter set's interval would be).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from ..files import atomic_write_text, resource, toml_file, toml_value
from .calibration import ENSEMBLE_SIZE, split, with_settings
from .lifecourse import DEFAULT_CHUNK, LifeCourse, simulate_chunk
from .spec import load_population, PopulationSpec
from .survey import calibration_measures

#: Measures of :func:`calibration_measures` on the log scale (ratios), reported back on the natural scale.
LOG_MEASURES = ("maltreatment_or", "bullying_or", "sex_ratio")


def ensemble_path(population: str) -> Path:
    return resource("configs", f"ensemble_{population}.toml")


def ensemble_toml(record: dict) -> str:
    """The ensemble of a calibration record as TOML text."""
    m = record["method"]
    lines = ["# Parameter ensemble written by `nssisim calibrate --write-ensemble`: every set is non-implausible",
             f"# (largest implausibility <= {m['cutoff']:g}) for the fitted targets. Research instrument, not a clinical tool.",
             "", f"population = {toml_value(record['population'])}", "", "[record]",
             f"date = {toml_value(record['date'])}", f"setup = {toml_value(record.get('setup', ''))}"]
    lines += [f"{k} = {toml_value(v)}" for k, v in m.items()]
    lines += [f"wave_{w['wave']}_runs = {w['runs']}" for w in record.get("waves", [])]
    lines += [f"wave_{w['wave']}_seconds = {toml_value(float(w['seconds']))}" for w in record.get("waves", [])]
    lines.append("")
    for i, s in enumerate(record["ensemble"], start=1):
        lines += ["[[sets]]", f"id = {i}"] + [f"{k} = {toml_value(s[k])}" for k in ("wave", "index", "seed", "I_max")]
        lines.append("[sets.parameters]")
        lines += [f"{k} = {toml_value(float(v))}" for k, v in s["parameters"].items()]
        lines.append("[sets.simulated]")
        lines += [f"{k} = {toml_value(float(v))}" for k, v in s["simulated"].items()]
        lines.append("")
    return "\n".join(lines)


def write_ensemble(path: str | Path, record: dict, *, min_sets: int = ENSEMBLE_SIZE, overwrite: bool = False) -> Path:
    """Write the record's ensemble; refuses fewer than ``min_sets`` sets, an implausible set, or overwriting."""
    p = Path(path)
    if p.exists() and not overwrite:
        raise FileExistsError(f"{p} exists; pass --overwrite to replace it")
    sets = record["ensemble"]
    cut = record["method"]["cutoff"]
    if len(sets) < min_sets:
        raise ValueError(f"the calibration found {len(sets)} non-implausible parameter sets, fewer than the {min_sets} "
                         "an ensemble needs: run more waves (or --resume with more extra waves)")
    bad = [i for i, s in enumerate(sets, start=1) if not s["I_max"] <= cut]
    if bad:
        raise ValueError(f"ensemble sets {bad[:5]} are implausible (I_max > {cut:g})")
    return atomic_write_text(p, ensemble_toml(record))


def load_ensemble(path_or_population: str | Path = "community") -> dict:
    """Read and check an ensemble file; errors name the file and the set."""
    s = str(path_or_population)
    p = Path(s) if (s.endswith(".toml") or Path(s).is_file()) else ensemble_path(s)
    if not p.is_file():
        raise FileNotFoundError(f"{s}: no ensemble file (expected a TOML path or a population with "
                                "configs/ensemble_<population>.toml; write one with `nssisim calibrate --write-ensemble`)")
    data = toml_file(p)
    sets = data.get("sets")
    if not isinstance(sets, list) or not sets:
        raise ValueError(f"{p}: no [[sets]] tables (an ensemble needs at least one parameter set)")
    for i, st in enumerate(sets, start=1):
        par = st.get("parameters") if isinstance(st, dict) else None
        if not isinstance(par, dict) or not par:
            raise ValueError(f"{p}: set {i}: missing [sets.parameters]")
        for k, v in par.items():
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ValueError(f"{p}: set {i}: parameters.{k}: expected a finite number, got {v!r}")
        if set(par) != set(sets[0]["parameters"]):
            raise ValueError(f"{p}: set {i}: parameters {sorted(par)} differ from set 1's {sorted(sets[0]['parameters'])}")
    return {"path": str(p), **data}


def ensemble_sets(path: str | Path = "community") -> list[dict]:
    """The parameter sets of an ensemble file, one dict each (for trials and targets)."""
    return [{k: float(v) for k, v in s["parameters"].items()} for s in load_ensemble(path)["sets"]]


def run_ensemble(spec: PopulationSpec | str | Path, ensemble: str | Path | list[dict], n_subjects: int, *,
                 seed: int = 0, course: LifeCourse = LifeCourse(), chunk_size: int = DEFAULT_CHUNK,
                 progress: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run the population once per parameter set; (per-set measures, prediction intervals across sets).

    The summary has one row per measure: ``q05``, ``median``, ``q95`` across sets (parameter
    uncertainty plus sampling noise at ``n_subjects``), and ``sampling_sd`` (the mean within-set
    sampling sd, for comparison). Ratios are on their natural scale.
    """
    if not isinstance(spec, PopulationSpec):
        spec = load_population(spec)
    sets = ensemble if isinstance(ensemble, list) else ensemble_sets(ensemble)
    if not sets:
        raise ValueError("run_ensemble: no parameter sets")
    if n_subjects < 1:
        raise ValueError(f"n_subjects must be >= 1, got {n_subjects}")
    it = range(len(sets))
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(it, desc=f"ensemble {spec.name}", unit="set")
    rows, sds = [], []
    for i in it:
        x = sets[i]
        params, _ = split(x)
        sp = with_settings(spec, x)
        parts = [simulate_chunk(sp, np.arange(a, min(a + chunk_size, n_subjects)), seed + i, course, overrides=params,
                                with_events=False) for a in range(0, n_subjects, chunk_size)]
        m = calibration_measures(pd.concat(parts, ignore_index=True), sp.recall_years)
        rows.append({"set": i + 1, **{k: (math.exp(v) if k in LOG_MEASURES and math.isfinite(v) else v)
                                      for k, (v, _) in m.items()}})
        sds.append({k: (math.sqrt(var) * (math.exp(v) if k in LOG_MEASURES else 1.0)
                        if math.isfinite(var) and math.isfinite(v) else math.nan) for k, (v, var) in m.items()})
    per_set = pd.DataFrame(rows)
    sd = pd.DataFrame(sds)
    summary = []
    for k in per_set.columns[1:]:
        v = per_set[k].to_numpy(np.float64)
        v = v[np.isfinite(v)]
        q = np.quantile(v, [0.05, 0.5, 0.95]) if v.size else (math.nan,) * 3
        summary.append({"measure": k, "q05": q[0], "median": q[1], "q95": q[2], "sets": int(v.size),
                        "sampling_sd": float(np.nanmean(sd[k])) if np.isfinite(sd[k]).any() else math.nan})
    return per_set, pd.DataFrame(summary)


__all__ = ["LOG_MEASURES", "ensemble_path", "ensemble_sets", "ensemble_toml", "load_ensemble", "run_ensemble",
           "write_ensemble"]
