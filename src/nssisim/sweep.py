"""Parameter sweeps: a manifest of parameter sets, run in shards, written as they finish.

A *sweep* is a manifest (a :class:`pandas.DataFrame`) with an integer ``run_id`` column and one
column per varied parameter (:func:`make_manifest` checks names and bounds against
:data:`nssisim.parameters.PARAMS`). :func:`run_sweep` simulates every run as a small cohort of
``n_subjects_per_run`` subjects on top of ``base_params`` (e.g. a preset) and reduces it to the
summary statistics in :data:`OUTPUTS`.

Keys: subject ``i`` of run ``r`` has the global id ``r * n_subjects_per_run + i`` and therefore
the random stream ``fold_in(PRNGKey(seed), r * n_subjects_per_run + i)`` (see
:mod:`nssisim.simulation`). A run's result depends on the seed, its ``run_id`` and its
parameters only, never on how runs are grouped into shards or which executor runs a shard.

Files in ``out_dir``: ``manifest.parquet`` and ``sweep.json`` (the settings) are written once
when a sweep starts; each shard (``shard-00000.nc``, ... netCDF, one ``run_id`` dimension with
the parameters as coordinates) is written atomically (a temporary file in ``out_dir``, then
``os.replace``) as soon as it is finished. ``resume=True`` checks that manifest and settings are
those on disk and skips the shards already there (never recomputing or overwriting them);
without it a non-empty ``out_dir`` is refused. :func:`load_sweep` concatenates the shards and
raises if any is missing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from . import __version__
from .parameters import HOURS_PER_DAY, HOURS_PER_YEAR, PARAMS, check_value

#: Per-run summary statistics written by :func:`run_sweep` (all are means or shares over the
#: run's subjects; ``habit_share`` is NaN for a run without any act).
OUTPUTS: dict[str, str] = {
    "any_act": "share of subjects with at least one act",
    "repetitive": "share with >= 5 acts in the final year (the whole run if shorter)",
    "acts_per_year": "mean number of acts per subject and year",
    "habit_share": "share of all acts that were habit-triggered (NaN without acts)",
    "mean_affect": "mean aversive arousal over subjects and recorded days",
    "ideation_peak": "share of subjects whose suicidal ideation ever exceeded 0.5",
}
#: Diagnostic per-run variables (not analysis outputs).
DIAGNOSTICS = ("invalid_share", "n_acts")
REPETITIVE_MIN_ACTS = 5
FINAL_WINDOW_DAYS = 365.0
IDEATION_PEAK_LEVEL = 0.5
MANIFEST_FILE = "manifest.parquet"
SETTINGS_FILE = "sweep.json"
#: Subjects per shard aimed for when ``shard_size`` is not given.
SHARD_SUBJECTS = 1024


class SweepError(RuntimeError):
    """A sweep cannot run, resume or load (the message says what is wrong or missing)."""


def make_manifest(samples: Mapping[str, np.ndarray | list[float]], run_ids: np.ndarray | None = None) -> pd.DataFrame:
    """A manifest: ``run_id`` (0..n-1 unless given) and one float column per parameter.

    Every name must be in the parameter table and every value within its bounds; errors name
    the parameter, the offending value and row, and the bound.
    """
    if not samples:
        raise ValueError("a manifest needs at least one parameter")
    cols: dict[str, np.ndarray] = {}
    n = None
    for name, values in samples.items():
        if name not in PARAMS:
            raise KeyError(f"manifest: unknown parameter '{name}'")
        if name == "run_id":
            raise ValueError("manifest: 'run_id' is reserved")
        arr = np.asarray(values, dtype=np.float64)
        if arr.ndim != 1:
            raise ValueError(f"manifest: parameter '{name}' must be one-dimensional, got shape {arr.shape}")
        if n is None:
            n = arr.shape[0]
        elif arr.shape[0] != n:
            raise ValueError(f"manifest: parameter '{name}' has {arr.shape[0]} values, expected {n}")
        p = PARAMS[name]
        bad = ~np.isfinite(arr) | (arr < p.low) | (arr > p.high)
        if bad.any():
            i = int(np.argmax(bad))
            bound = f"lower bound {p.low}" if arr[i] < p.low else f"upper bound {p.high}"
            raise ValueError(f"manifest: parameter '{name}' = {float(arr[i])!r} (row {i}) violates its {bound} "
                             f"(bounds [{p.low}, {p.high}] {p.unit})")
        cols[name] = arr
    if n == 0:
        raise ValueError("a manifest needs at least one run")
    rid = np.arange(n, dtype=np.int64) if run_ids is None else np.asarray(run_ids, dtype=np.int64)
    if rid.shape != (n,) or len(np.unique(rid)) != n or (rid < 0).any():
        raise ValueError("manifest: run_ids must be n distinct non-negative integers")
    return pd.DataFrame({"run_id": rid, **cols})


def _check_manifest(manifest: pd.DataFrame) -> list[str]:
    if "run_id" not in manifest.columns:
        raise ValueError("manifest: no 'run_id' column")
    names = [c for c in manifest.columns if c != "run_id"]
    make_manifest({c: manifest[c].to_numpy() for c in names}, manifest["run_id"].to_numpy())  # validates
    return names


def run_outputs(ds: xr.Dataset, n_runs: int, n_per_run: int) -> dict[str, np.ndarray]:
    """Reduce a cohort Dataset whose subjects are ``n_runs`` consecutive groups to per-run outputs."""
    acts = ds["acts"].values.astype(np.float64)
    t = ds["time"].values
    block_h = float(ds.attrs["record_every"]) * float(ds.attrs["dt_hours"])
    horizon_h = float(t[-1])
    start = horizon_h - FINAL_WINDOW_DAYS * HOURS_PER_DAY
    final_mask = (t - block_h) >= start - 1e-9  # blocks wholly inside the final window
    total = acts.sum(axis=1)
    final = acts[:, final_mask].sum(axis=1)

    def per_run(x):
        return np.asarray(x, dtype=np.float64).reshape(n_runs, n_per_run)

    habit = per_run(ds["habit_acts"].values.sum(axis=1)).sum(axis=1)
    run_acts = per_run(total).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        habit_share = np.where(run_acts > 0, habit / np.where(run_acts > 0, run_acts, 1.0), np.nan)
    return {
        "any_act": per_run(total > 0).mean(axis=1),
        "repetitive": per_run(final >= REPETITIVE_MIN_ACTS).mean(axis=1),
        "acts_per_year": per_run(total).mean(axis=1) / (horizon_h / HOURS_PER_YEAR),
        "habit_share": habit_share,
        "mean_affect": per_run(ds["affect"].values.mean(axis=1)).mean(axis=1),
        "ideation_peak": per_run(ds["ideation"].values.max(axis=1) > IDEATION_PEAK_LEVEL).mean(axis=1),
        "invalid_share": per_run(ds["invalid"].values).mean(axis=1),
        "n_acts": run_acts,
    }


def _settings(seed, base_params, n_subjects_per_run, days, dt, shard_size, n_runs) -> dict:
    return {
        "seed": int(seed),
        "base_params": {k: float(v) for k, v in sorted((base_params or {}).items())},
        "n_subjects_per_run": int(n_subjects_per_run),
        "days": int(days),
        "dt": float(dt),
        "shard_size": int(shard_size),
        "n_runs": int(n_runs),
        "n_shards": -(-int(n_runs) // int(shard_size)),
    }


def shard_path(out_dir: str | Path, index: int) -> Path:
    return Path(out_dir) / f"shard-{index:05d}.nc"


def _write_atomic(out_dir: Path, path: Path, write) -> None:
    tmp = out_dir / f".{path.name}.{os.getpid()}.tmp"
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _same_manifest(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    if list(a.columns) != list(b.columns) or len(a) != len(b):
        return False
    return all(np.array_equal(a[c].to_numpy(), b[c].to_numpy()) for c in a.columns)


def run_sweep(
    manifest: pd.DataFrame,
    out_dir: str | Path,
    *,
    seed: int = 1,
    base_params: Mapping[str, float] | None = None,
    n_subjects_per_run: int = 64,
    days: int = 365,
    dt: float = 1.0,
    shard_size: int | None = None,
    resume: bool = False,
    progress: bool = True,
    max_shards: int | None = None,
) -> Path:
    """Run every row of ``manifest`` and write one file per shard into ``out_dir``.

    Each shard is one :func:`~nssisim.simulation.simulate_cohort` call with per-subject
    parameter arrays (``base_params`` completed by the run's row). ``max_shards`` stops after
    computing that many shards (an interruption, for tests and for running a sweep in pieces).
    Returns ``out_dir``; read the results with :func:`load_sweep`.
    """
    from .simulation import simulate_cohort

    names = _check_manifest(manifest)
    manifest = manifest.reset_index(drop=True)
    n_runs = len(manifest)
    n_per = int(n_subjects_per_run)
    if n_per < 1:
        raise ValueError("n_subjects_per_run must be >= 1")
    if days < 1 or int(days) != days:
        raise ValueError(f"days must be a positive whole number, got {days}")
    steps_per_day = HOURS_PER_DAY / dt
    if not (dt > 0 and abs(steps_per_day - round(steps_per_day)) < 1e-9):
        raise ValueError(f"dt={dt} h must divide a day (24 h) into a whole number of steps")
    if (int(manifest["run_id"].max()) + 1) * n_per > 2**32:
        raise ValueError("run_id * n_subjects_per_run exceeds the 2**32 subject ids a seed can key")
    base = {k: check_value(k, v, "base parameters") for k, v in (base_params or {}).items()}
    out_dir = Path(out_dir)
    settings_path, manifest_path = out_dir / SETTINGS_FILE, out_dir / MANIFEST_FILE

    if resume and settings_path.exists():
        stored = json.loads(settings_path.read_text(encoding="utf-8"))
        if shard_size is None:
            shard_size = stored.get("shard_size")
    if shard_size is None:
        shard_size = max(1, SHARD_SUBJECTS // n_per)
    if int(shard_size) < 1:
        raise ValueError("shard_size must be >= 1")
    shard_size = int(shard_size)
    settings = _settings(seed, base, n_per, days, dt, shard_size, n_runs)

    if resume:
        if not manifest_path.exists() or not settings_path.exists():
            if out_dir.exists() and any(out_dir.iterdir()):
                raise SweepError(f"cannot resume in {out_dir}: it has no {MANIFEST_FILE} and {SETTINGS_FILE} "
                                 "but is not empty")
            resume = False  # nothing to resume: start a fresh sweep
        else:
            stored_manifest = pd.read_parquet(manifest_path)
            if not _same_manifest(stored_manifest, manifest):
                raise SweepError(f"cannot resume in {out_dir}: its {MANIFEST_FILE} differs from this sweep's manifest "
                                 "(use a new folder for a different sweep)")
            stored = json.loads(settings_path.read_text(encoding="utf-8"))
            diff = sorted(k for k in set(stored) | set(settings) if k != "nssisim_version"
                          and stored.get(k) != settings.get(k))
            if diff:
                raise SweepError(f"cannot resume in {out_dir}: settings differ from the stored {SETTINGS_FILE}: "
                                 + "; ".join(f"{k}: stored {stored.get(k)!r}, now {settings.get(k)!r}" for k in diff))
    if not resume:
        if out_dir.exists() and any(out_dir.iterdir()):
            raise SweepError(f"refusing to write into {out_dir}: it is not empty (pass resume=True / --resume to "
                             "continue a sweep there, or choose an empty folder)")
        out_dir.mkdir(parents=True, exist_ok=True)
        _write_atomic(out_dir, manifest_path, lambda p: manifest.to_parquet(p, index=False))
        _write_atomic(out_dir, settings_path, lambda p: p.write_text(
            json.dumps({**settings, "nssisim_version": __version__}, indent=2), encoding="utf-8"))

    n_shards = settings["n_shards"]
    missing = [i for i in range(n_shards) if not shard_path(out_dir, i).exists()]
    todo = missing if max_shards is None else missing[: max(0, int(max_shards))]
    bar = None
    if progress and todo:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_shards, initial=n_shards - len(missing), desc="sweep", unit="shard")
    horizon_hours = float(days) * HOURS_PER_DAY
    record_every = int(round(steps_per_day))
    for s in todo:
        rows = manifest.iloc[s * shard_size: (s + 1) * shard_size]
        k = len(rows)
        run_ids = rows["run_id"].to_numpy(dtype=np.int64)
        subject_ids = (run_ids[:, None] * n_per + np.arange(n_per)[None, :]).ravel()
        params = dict(base)
        for name in names:
            params[name] = np.repeat(rows[name].to_numpy(dtype=np.float64), n_per)
        ds = simulate_cohort(seed, params, subject_ids=subject_ids, horizon_hours=horizon_hours, dt=dt,
                             record_every=record_every, event_capacity=1)
        outs = run_outputs(ds, k, n_per)
        shard = xr.Dataset(
            {name: (("run_id",), v) for name, v in outs.items()},
            coords={"run_id": run_ids, **{name: (("run_id",), rows[name].to_numpy(dtype=np.float64)) for name in names}},
            attrs={"shard": s, "seed": int(seed), "nssisim_version": __version__,
                   "settings": json.dumps(settings, sort_keys=True)},
        )
        for name, meaning in OUTPUTS.items():
            shard[name].attrs["long_name"] = meaning
        _write_atomic(out_dir, shard_path(out_dir, s), lambda p: shard.to_netcdf(p, engine="h5netcdf"))
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return out_dir


def sweep_status(out_dir: str | Path) -> tuple[int, list[int]]:
    """``(n_shards, missing shard indices)`` of the sweep in ``out_dir``."""
    out_dir = Path(out_dir)
    settings_path = out_dir / SETTINGS_FILE
    if not settings_path.exists():
        raise SweepError(f"{out_dir} holds no sweep (no {SETTINGS_FILE})")
    n_shards = int(json.loads(settings_path.read_text(encoding="utf-8"))["n_shards"])
    return n_shards, [i for i in range(n_shards) if not shard_path(out_dir, i).exists()]


def load_sweep(out_dir: str | Path) -> xr.Dataset:
    """All shards of a finished sweep as one Dataset indexed by ``run_id`` (parameters as coordinates).

    Raises :class:`SweepError` naming the missing shards (and their run_ids) if any is absent,
    and if the shards do not hold exactly the manifest's runs.
    """
    out_dir = Path(out_dir)
    n_shards, missing = sweep_status(out_dir)
    manifest_path = out_dir / MANIFEST_FILE
    if not manifest_path.exists():
        raise SweepError(f"{out_dir} holds no {MANIFEST_FILE}")
    manifest = pd.read_parquet(manifest_path)
    settings = json.loads((out_dir / SETTINGS_FILE).read_text(encoding="utf-8"))
    size = int(settings["shard_size"])
    if missing:
        rids = manifest["run_id"].to_numpy()
        desc = ", ".join(f"{shard_path(out_dir, i).name} (run_id {rids[i * size]}..{rids[min(len(rids), (i + 1) * size) - 1]})"
                         for i in missing[:10])
        more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        raise SweepError(f"sweep in {out_dir} is incomplete: {len(missing)} of {n_shards} shard(s) missing: "
                         f"{desc}{more}; run it again with --resume")
    parts = []
    for i in range(n_shards):
        with xr.open_dataset(shard_path(out_dir, i), engine="h5netcdf") as d:
            parts.append(d.load())
    if not parts:
        raise SweepError(f"sweep in {out_dir} has no results")
    ds = xr.concat(parts, dim="run_id", combine_attrs="drop")
    if ds.sizes["run_id"] == 0 or not np.array_equal(ds["run_id"].values, manifest["run_id"].to_numpy()):
        raise SweepError(f"sweep in {out_dir}: the shards hold {ds.sizes['run_id']} run(s), not the manifest's "
                         f"{len(manifest)} runs in order")
    ds.attrs.update({k: (json.dumps(v) if isinstance(v, dict) else v) for k, v in settings.items()})
    return ds


def results_table(ds: xr.Dataset) -> pd.DataFrame:
    """A loaded sweep as a DataFrame indexed by ``run_id`` (parameters and outputs as columns)."""
    return ds.reset_coords().to_dataframe()


__all__ = ["OUTPUTS", "SweepError", "load_sweep", "make_manifest", "results_table", "run_sweep", "run_outputs",
           "sweep_status"]
