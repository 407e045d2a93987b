"""Parameter sweeps: a manifest of parameter sets, run in shards, written as they finish.

A *sweep* is a manifest (a :class:`pandas.DataFrame`) with an integer ``run_id`` column and one
column per varied parameter (:func:`make_manifest` checks names and bounds against
:data:`nssisim.core.parameters.PARAMS`). :func:`run_sweep` simulates every run as a small cohort of
``n_subjects_per_run`` subjects on top of ``base_params`` (e.g. a preset) and reduces it to the
summary statistics in :data:`OUTPUTS` (per-subject measures from :mod:`nssisim.core.measures`,
averaged per run, in :func:`run_outputs`).

Data flow of one shard: manifest rows -> :func:`simulate_shard` (plain-data task -> cohort
Dataset -> :func:`run_outputs`: one value per run and output) -> :func:`_write_shard` on the
client (netCDF, atomic). ``nssisim sensitivity`` and ``nssisim sweep`` (a manifest file) call
:func:`run_sweep`; :func:`load_sweep` and :func:`results_table` read the results back.

Keys: subject ``i`` of run ``r`` has the global id ``r * n_subjects_per_run + i`` and therefore
the random stream ``fold_in(PRNGKey(seed), r * n_subjects_per_run + i)`` (see
:mod:`nssisim.core.simulation`). A run's result depends on the seed, its ``run_id`` and its
parameters only, never on how runs are grouped into shards or which executor runs a shard.

Files in ``out_dir``: ``manifest.parquet`` and ``sweep.json`` (the settings) are written once
when a sweep starts; each shard (``shard-00000.nc``, ... netCDF, one ``run_id`` dimension with
the parameters as coordinates) is written atomically (a temporary file in ``out_dir``, then
``os.replace``) as soon as it is finished. ``resume=True`` checks that manifest and settings are
those on disk and skips the shards already there (never recomputing or overwriting them), and
removes temporary files left by a killed writer (the writer's pid is in their name); without it
a non-empty ``out_dir`` is refused. :func:`load_sweep` concatenates the shards and
raises if any is missing.

Executors (``run_sweep(executor=...)``): ``None``/``"local"`` runs the shards one after another
in this process (each shard is one vectorised call that uses every XLA host device, i.e. every
core); a :class:`distributed.Client` runs each shard as a Dask task (:func:`dask_client` makes
one for a running scheduler or a local cluster). Either way a shard is computed by the same
function, :func:`simulate_shard`, from plain data (numbers and arrays, never a compiled
function: the JIT happens inside each worker), and the *client* writes every finished shard
atomically as it arrives, so ``resume`` and the files are the same for both executors, and so
are the results, bit for bit (the keys derive from ``run_id``; the simulator's padding makes a
subject's arithmetic independent of its batch and of the number of XLA devices).

Workers: a local cluster (:func:`dask_client` with ``n_workers``) starts one single-threaded
worker process per requested worker and gives each **one** XLA CPU device
(:data:`WORKER_ENV`), so N workers use N cores; without that, each worker would split its
shard over one XLA device per core (see :mod:`nssisim`), oversubscribing the machine N-fold.
Workers of an external cluster should be started the same way (``docs/sensitivity.md``).
"""

from __future__ import annotations

import csv
import json
import os
import re
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from .._version import __version__
from ..core.measures import measure
from ..core.parameters import check_value, HOURS_PER_DAY, HOURS_PER_YEAR, PARAMS
from ..core.simulation import simulate_cohort
from ..files import SpecError, atomic_write
from ..stats import odds_ratio

#: Per-run summary statistics written by :func:`run_sweep`: shares and means over the run's
#: subjects. The per-subject definitions are those of :mod:`nssisim.core.measures` (named in brackets),
#: evaluated at the end of the run; ``habit_share`` is NaN for a run without any act,
#: ``nssi_ideation_log_or`` for a run in which nobody or everybody self-injured or had ideation,
#: and ``cessation`` is 0 for runs of a year or less (every act lies in the past-year window).
OUTPUTS: dict[str, str] = {
    "any_act": "lifetime NSSI: share of subjects with at least one act during the run [lifetime_nssi]",
    "repetitive": "share with >= 5 acts in the final 365 days (the whole run if shorter) [five_plus_12m]",
    "acts_per_year": "mean number of acts per subject and year",
    "habit_share": "share of all acts that were habit-triggered (NaN without acts)",
    "mean_affect": "mean aversive arousal over subjects and recorded days",
    "ideation_peak": "share of subjects whose suicidal ideation ever exceeded 0.5 [ideation]",
    "addictive": "share with the addictive profile: repetitive NSSI and >= 3 of 4 addictive features [addictive]",
    "cessation": "share with a history of NSSI but no act in the final 365 days [cessation]",
    "nssi_ideation_log_or": "natural log of target P14's statistic within the run: odds ratio of ideation given "
                            "lifetime NSSI (0.5 added to every cell); NaN when a margin is empty",
}
#: Diagnostic per-run variables (not analysis outputs): subjects with non-finite states, the
#: number of acts, and subjects whose event table overflowed (their ``addictive`` feature
#: "continuation despite harm" is then a lower bound; raise ``event_capacity``).
DIAGNOSTICS = ("invalid_share", "n_acts", "events_overflow_share")
#: Event-table rows per subject and simulated year (a subject of the ``vulnerable`` preset has
#: about 40 urges a year, the busiest of 512 had 122; overflow is recorded, never silent).
EVENTS_PER_YEAR = 1024
MANIFEST_FILE = "manifest.parquet"
SETTINGS_FILE = "sweep.json"
#: Subjects per shard aimed for when ``shard_size`` is not given.
SHARD_SUBJECTS = 1024
#: Defaults of a sweep (and of ``nssisim sweep`` / ``nssisim sensitivity``): root seed, subjects
#: simulated per parameter set, simulated days per run.
SWEEP_SEED = 1
SUBJECTS_PER_RUN = 64
SWEEP_DAYS = 365


class SweepError(RuntimeError):
    """A sweep cannot run, resume or load (the message says what is wrong or missing)."""


def read_manifest(path: str | Path) -> pd.DataFrame:
    """Read a manifest file (``.csv`` or ``.parquet``) and validate it with :func:`make_manifest`.

    Columns are parameter names and optionally ``run_id``. Errors are :class:`~nssisim.files.SpecError`
    and name the file, the column and the row. Rows are counted as in the other readers: in a CSV
    file the header is row 1, so the first run is row 2; in a Parquet table the first run is row 1.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise SpecError(f"{path}: expected a .csv or .parquet file")
    if not path.is_file():
        raise SpecError(f"{path}: no such file")
    first_row = 2 if suffix == ".csv" else 1
    try:
        if suffix == ".csv":
            with path.open(encoding="utf-8", newline="") as f:
                header = next(csv.reader(f), [])
            dup = sorted({c for c in header if header.count(c) > 1})
            if dup:
                raise SpecError(f"{path}: column '{dup[0]}' appears more than once in the header (row 1)")
            table = pd.read_csv(path, dtype=str, keep_default_na=False)
        else:
            table = pd.read_parquet(path)
    except SpecError:
        raise
    except UnicodeDecodeError:
        raise SpecError(f"{path}: not a UTF-8 text file") from None
    except (OSError, ValueError) as err:
        raise SpecError(f"{path}: cannot read it: {err}") from None
    if len(table.columns) != len(set(map(str, table.columns))):
        raise SpecError(f"{path}: a column name appears more than once")
    cols: dict[str, np.ndarray] = {}
    for c in table.columns:
        raw = table[c]
        values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
        bad = ~np.isfinite(values)
        if bad.any():
            i = int(bad.argmax())
            given = raw.iloc[i]
            what = "is empty" if str(given).strip() == "" else f"{str(given)!r} is not a finite number"
            raise SpecError(f"{path}: column '{c}', row {i + first_row}: {what}")
        cols[str(c)] = values
    run_ids = cols.pop("run_id", None)
    if run_ids is not None and not (run_ids == np.round(run_ids)).all():
        raise SpecError(f"{path}: column 'run_id' must hold whole numbers")
    try:
        return make_manifest(cols, None if run_ids is None else run_ids.astype(np.int64), first_row=first_row)
    except (KeyError, ValueError) as err:
        raise SpecError(f"{path}: {err.args[0] if err.args else err}") from None


def make_manifest(samples: Mapping[str, np.ndarray | list[float]], run_ids: np.ndarray | None = None, *,
                  first_row: int = 0) -> pd.DataFrame:
    """A manifest: ``run_id`` (0..n-1 unless given) and one float column per parameter.

    Every name must be in the parameter table and every value within its bounds; errors name
    the parameter, the offending value and row (counted from ``first_row``: 0 for arrays, the
    file's own numbering for :func:`read_manifest`), and the bound.
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
            raise ValueError(f"manifest: parameter '{name}' = {float(arr[i])!r} (row {i + first_row}) violates its {bound} "
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


def _odds_ratio(exposed: np.ndarray, outcome: np.ndarray) -> float:
    """Odds ratio of ``outcome`` given ``exposed`` with 0.5 added to every cell (as target P14).

    NaN when a margin is empty (nobody or everybody exposed, or with the outcome): the odds
    ratio is then undefined, and the corrected formula would only echo the other margin.
    """
    if exposed.all() or not exposed.any() or outcome.all() or not outcome.any():
        return float("nan")
    return odds_ratio(exposed, outcome, correction="always")[0]


def run_outputs(ds: xr.Dataset, n_runs: int, n_per_run: int) -> dict[str, np.ndarray]:
    """Reduce a cohort Dataset whose subjects are ``n_runs`` consecutive groups to per-run outputs.

    Per-subject measures come from :func:`nssisim.core.measures.measure`; an overflowing event table
    is recorded in ``events_overflow_share`` instead of warning (measure's warning says the same).
    """
    with warnings.catch_warnings():
        # recorded per run in events_overflow_share (see DIAGNOSTICS)
        warnings.filterwarnings("ignore", message=r".*overflowed the event table", category=RuntimeWarning)
        m = measure(ds)
    acts = ds["acts"].values.astype(np.float64)
    horizon_h = float(ds["time"].values[-1])
    total = acts.sum(axis=1)

    def per_run(x):
        return np.asarray(x, dtype=np.float64).reshape(n_runs, n_per_run)

    def share(col):
        return per_run(m[col].to_numpy()).mean(axis=1)

    habit = per_run(ds["habit_acts"].values.sum(axis=1)).sum(axis=1)
    run_acts = per_run(total).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        habit_share = np.where(run_acts > 0, habit / np.where(run_acts > 0, run_acts, 1.0), np.nan)
    nssi = m["lifetime_nssi"].to_numpy().reshape(n_runs, n_per_run)
    ideation = m["ideation"].to_numpy().reshape(n_runs, n_per_run)
    return {
        "any_act": share("lifetime_nssi"),
        "repetitive": share("five_plus_12m"),
        "acts_per_year": per_run(total).mean(axis=1) / (horizon_h / HOURS_PER_YEAR),
        "habit_share": habit_share,
        "mean_affect": per_run(ds["affect"].values.mean(axis=1)).mean(axis=1),
        "ideation_peak": share("ideation"),
        "addictive": share("addictive"),
        "cessation": share("cessation"),
        # on the log scale: a ratio of small counts is heavy-tailed, which variance-based indices handle badly
        "nssi_ideation_log_or": np.log([_odds_ratio(nssi[r], ideation[r]) for r in range(n_runs)]),
        "invalid_share": per_run(ds["invalid"].values).mean(axis=1),
        "n_acts": run_acts,
        "events_overflow_share": per_run(m["events_dropped"].to_numpy() > 0).mean(axis=1),
    }


def simulate_shard(task: Mapping) -> dict[str, np.ndarray]:
    """Simulate one shard and reduce it to per-run outputs; the unit of work of every executor.

    ``task`` is plain data (so that it travels to a Dask worker as it is): ``seed``,
    ``base_params`` (name -> float), ``names`` (varied parameters), ``values`` (runs x names),
    ``run_ids``, ``n_subjects_per_run``, ``days``, ``dt`` and ``event_capacity``. Subject ``i``
    of run ``r`` gets the global id ``r * n_subjects_per_run + i``. Returns the arrays of
    :data:`OUTPUTS` and :data:`DIAGNOSTICS`, one value per run.
    """
    run_ids = np.asarray(task["run_ids"], dtype=np.int64)
    values = np.asarray(task["values"], dtype=np.float64).reshape(len(run_ids), len(task["names"]))
    n_per = int(task["n_subjects_per_run"])
    dt = float(task["dt"])
    subject_ids = (run_ids[:, None] * n_per + np.arange(n_per)[None, :]).ravel()
    params = dict(task["base_params"])
    for j, name in enumerate(task["names"]):
        params[name] = np.repeat(values[:, j], n_per)
    ds = simulate_cohort(int(task["seed"]), params, subject_ids=subject_ids,
                         horizon_hours=float(task["days"]) * HOURS_PER_DAY, dt=dt,
                         record_every=int(round(HOURS_PER_DAY / dt)), event_capacity=int(task["event_capacity"]))
    return run_outputs(ds, len(run_ids), n_per)


def _settings(seed, base_params, n_subjects_per_run, days, dt, shard_size, n_runs, event_capacity) -> dict:
    return {
        "seed": int(seed),
        "base_params": {k: float(v) for k, v in sorted((base_params or {}).items())},
        "n_subjects_per_run": int(n_subjects_per_run),
        "days": int(days),
        "dt": float(dt),
        "shard_size": int(shard_size),
        "n_runs": int(n_runs),
        "n_shards": -(-int(n_runs) // int(shard_size)),
        "event_capacity": int(event_capacity),
    }


def shard_path(out_dir: str | Path, index: int) -> Path:
    return Path(out_dir) / f"shard-{index:05d}.nc"


_TMP_NAME = re.compile(r"^\.shard-\d+\.nc\.(\d+)\.tmp$")


def _remove_stale_temporaries(out_dir: Path) -> None:
    """Delete half-written shard files left by a killed writer (its pid, in the name, is gone)."""
    for p in out_dir.iterdir():
        m = _TMP_NAME.match(p.name)
        if m is None or int(m.group(1)) == os.getpid():
            continue
        try:
            os.kill(int(m.group(1)), 0)
        except ProcessLookupError:  # the writer no longer exists
            p.unlink(missing_ok=True)
        except PermissionError:  # a live process of another user
            pass


def _same_manifest(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    if list(a.columns) != list(b.columns) or len(a) != len(b):
        return False
    return all(np.array_equal(a[c].to_numpy(), b[c].to_numpy()) for c in a.columns)


def run_sweep(
    manifest: pd.DataFrame,
    out_dir: str | Path,
    *,
    seed: int = SWEEP_SEED,
    base_params: Mapping[str, float] | None = None,
    n_subjects_per_run: int = SUBJECTS_PER_RUN,
    days: int = SWEEP_DAYS,
    dt: float = 1.0,
    shard_size: int | None = None,
    resume: bool = False,
    progress: bool = True,
    max_shards: int | None = None,
    event_capacity: int | None = None,
    executor=None,
) -> Path:
    """Run every row of ``manifest`` and write one file per shard into ``out_dir``.

    Each shard is one :func:`simulate_shard` call: a :func:`~nssisim.core.simulation.simulate_cohort`
    call with per-subject parameter arrays (``base_params`` completed by the run's row).
    ``max_shards`` stops after computing that many shards (an interruption, for tests and for
    running a sweep in pieces). ``event_capacity``: event-table rows per subject (default
    :data:`EVENTS_PER_YEAR` per simulated year). ``executor``: ``None`` or ``"local"`` (this
    process), or a :class:`distributed.Client` (each shard a Dask task; see
    :func:`dask_client`); the results are the same. Returns ``out_dir``; read the results
    with :func:`load_sweep`.
    """
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
    if not (0 <= int(seed) < 2**32):
        raise ValueError(f"seed must be an integer in [0, 2**32), got {seed}")
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
    if event_capacity is None:
        event_capacity = -(-int(days) * EVENTS_PER_YEAR // 365)
    if int(event_capacity) < 1:
        raise ValueError("event_capacity must be >= 1")
    settings = _settings(seed, base, n_per, days, dt, shard_size, n_runs, event_capacity)

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
        atomic_write(manifest_path, lambda p: manifest.to_parquet(p, index=False))
        atomic_write(settings_path, lambda p: p.write_text(
            json.dumps({**settings, "nssisim_version": __version__}, indent=2), encoding="utf-8"))

    if resume:
        _remove_stale_temporaries(out_dir)
    n_shards = settings["n_shards"]
    missing = [i for i in range(n_shards) if not shard_path(out_dir, i).exists()]
    todo = missing if max_shards is None else missing[: max(0, int(max_shards))]
    client = _executor_client(executor)
    bar = None
    if progress and todo:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_shards, initial=n_shards - len(missing), desc="sweep", unit="shard")

    def task(s: int) -> dict:
        rows = manifest.iloc[s * shard_size: (s + 1) * shard_size]
        return {"seed": int(seed), "base_params": dict(base), "names": list(names),
                "values": rows[names].to_numpy(dtype=np.float64), "run_ids": rows["run_id"].to_numpy(dtype=np.int64),
                "n_subjects_per_run": n_per, "days": int(days), "dt": float(dt),
                "event_capacity": int(settings["event_capacity"])}

    def finish(s: int, t: dict, outs: Mapping[str, np.ndarray]) -> None:
        _write_shard(out_dir, s, t, outs, settings)
        if bar is not None:
            bar.update(1)

    try:
        if client is None:
            for s in todo:
                t = task(s)
                finish(s, t, simulate_shard(t))
        else:
            _run_on_dask(client, {s: task(s) for s in todo}, finish)
    finally:
        if bar is not None:
            bar.close()
    return out_dir


def _write_shard(out_dir: Path, s: int, task: Mapping, outs: Mapping[str, np.ndarray], settings: Mapping) -> None:
    """Write shard ``s`` atomically (called by the client, whatever executor computed it)."""
    run_ids = np.asarray(task["run_ids"], dtype=np.int64)
    expected = [*OUTPUTS, *DIAGNOSTICS]
    if sorted(outs) != sorted(expected) or any(np.shape(outs[k]) != run_ids.shape for k in expected):
        raise SweepError(f"shard {s}: the executor returned {sorted(outs)} with shapes "
                         f"{[np.shape(v) for v in outs.values()]}, expected {expected} with {run_ids.size} "
                         "value(s) each")
    values = np.asarray(task["values"], dtype=np.float64)
    shard = xr.Dataset(
        {name: (("run_id",), np.asarray(outs[name])) for name in expected},
        coords={"run_id": run_ids, **{name: (("run_id",), values[:, j]) for j, name in enumerate(task["names"])}},
        attrs={"shard": s, "seed": int(task["seed"]), "nssisim_version": __version__,
               "settings": json.dumps(dict(settings), sort_keys=True)},
    )
    for name, meaning in OUTPUTS.items():
        shard[name].attrs["long_name"] = meaning
    atomic_write(shard_path(out_dir, s), lambda p: shard.to_netcdf(p, engine="h5netcdf"))


# ------------------------------------------------------------------------------------ Dask
#: Environment of the workers of a local cluster (:func:`dask_client`): one XLA CPU device
#: and one BLAS/OpenMP thread per worker process, so that N workers use N cores.
WORKER_ENV = {"NSSISIM_HOST_DEVICES": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
              "OPENBLAS_NUM_THREADS": "1"}


def _worker_xla_flags() -> str:
    """This process's XLA_FLAGS with the host-device count set to 1 (the package sets it per core)."""
    flags = re.sub(r"--xla_force_host_platform_device_count=\S+", "", os.environ.get("XLA_FLAGS", ""))
    return " ".join([*flags.split(), "--xla_force_host_platform_device_count=1"])


def worker_info() -> dict:
    """What a worker computes with (run it on workers with ``client.run(worker_info)``)."""
    import jax

    return {"pid": os.getpid(), "jax_devices": len(jax.local_devices()), "xla_flags": os.environ.get("XLA_FLAGS", "")}


@contextmanager
def dask_client(scheduler: str | None = None, n_workers: int | None = None, *, timeout: float = 30.0) -> Iterator:
    """A :class:`distributed.Client` for :func:`run_sweep`, closed (and its cluster shut down) on exit.

    ``scheduler``: address of a running scheduler (``tcp://host:8786``); its workers must be
    able to import this version of nssisim. ``n_workers``: start a local cluster of that many
    single-threaded worker processes, each with one XLA device (:data:`WORKER_ENV`), no
    dashboard, on this machine only. Give exactly one of the two.
    """
    if (scheduler is None) == (n_workers is None):
        raise ValueError("give either a scheduler address or a number of local workers")
    from distributed import Client, LocalCluster

    if scheduler is not None:
        try:
            client = Client(scheduler, timeout=timeout)
        except OSError as err:
            raise SweepError(f"cannot connect to the Dask scheduler at {scheduler}: {err}") from None
        with client:
            yield client
        return
    if int(n_workers) < 1:
        raise ValueError(f"a local cluster needs at least 1 worker, got {n_workers}")
    env = {**WORKER_ENV, "XLA_FLAGS": _worker_xla_flags()}
    # No dashboard; the scheduler's small HTTP server (health, metrics) on a free port, so that
    # clusters of several users on one machine never compete for the default port 8787.
    with LocalCluster(n_workers=int(n_workers), threads_per_worker=1, processes=True, dashboard_address=None,
                      scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"}, host="127.0.0.1",
                      env=env) as cluster, Client(cluster, timeout=timeout) as client:
        yield client


def _executor_client(executor):
    if executor is None or executor == "local":
        return None
    try:
        from distributed import Client
    except ImportError:  # pragma: no cover - dask is a dependency
        Client = ()
    if isinstance(executor, Client):
        return executor
    raise ValueError(f"executor must be None, 'local' or a distributed.Client, got {executor!r}")


def _run_on_dask(client, tasks: Mapping[int, dict], finish) -> None:
    """Submit every shard as a task; hand each result to ``finish`` as it arrives (any order)."""
    from distributed import as_completed

    if not tasks:
        return
    token = os.urandom(4).hex()
    futures = {client.submit(simulate_shard, t, key=f"nssisim-shard-{s:05d}-{token}", pure=False): s
               for s, t in tasks.items()}
    try:
        for fut in as_completed(list(futures)):
            s = futures[fut]
            try:
                outs = fut.result()
            except Exception as err:
                raise SweepError(f"shard {s} failed on a Dask worker: {type(err).__name__}: {err} (finished shards are "
                                 "kept; fix the cause and resume)") from err
            finish(s, tasks[s], outs)
            fut.release()
    finally:  # an error or an interrupt: stop what is still queued (finished shards are on disk)
        pending = [f for f in futures if not f.done()]
        if pending:
            client.cancel(pending)


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


__all__ = ["read_manifest", "shard_path", "DIAGNOSTICS", "OUTPUTS", "SweepError", "WORKER_ENV", "dask_client", "load_sweep", "make_manifest",
           "results_table", "run_outputs", "run_sweep", "simulate_shard", "sweep_status", "worker_info"]
