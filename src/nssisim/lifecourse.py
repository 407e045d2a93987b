"""Life course: a population run from a start age to an end age, in chunks reduced to measurements.

Data flow
---------
population spec (``population.py``; its ``[parameters]`` table holds shared overrides, e.g. the
calibrated values) -> for each chunk of subject ids: :func:`nssisim.population.sample_population`
-> :func:`nssisim.simulation.simulate_cohort` (daily record blocks, ``start_age_years``; the
prefrontal maturation of M12 runs from the start age) -> :func:`reduce_chunk` (one row per subject:
raw factors, the survey-age measures below, the end-of-run measures of
:func:`nssisim.measures.measure`, and acts per year of age) -> one Parquet file per chunk, written
atomically (temporary file, then rename) -> :func:`collect` (tidy table) and :func:`summarise`
(prevalence by age and population shares as an ``xarray`` Dataset).

Full trajectories are never kept: a chunk's Dataset is dropped once reduced, so memory is bounded by
the chunk size (about 0.3 GB per 1,000 subjects over 7 years of daily records) and 100,000 subjects
need only disk space for the measurements (a few tens of MB). :func:`run_population` writes a
manifest (the run's settings and the spec's text hash); ``resume=True`` re-uses the finished chunk
files of an interrupted run with the same manifest and simulates only the missing chunks. Results
do not depend on the chunk size: subject ``i``'s factors, random stream and survey age are keyed by
``(seed, i)`` only.

The survey (measures defined like the published ones)
------------------------------------------------------
Community surveys interview each adolescent once, at some age between 12 and 18, and ask about the
lifetime and the past 12 months. Each subject gets a *survey age* drawn uniformly in
[:data:`SURVEY_AGE_LOW`, :data:`SURVEY_AGE_HIGH`) from its own hash (reproducible, independent of
the chunking). At that age (daily resolution):

* ``survey_lifetime``: any act since the start age (Lim2019, Xiao2022: lifetime NSSI);
* ``survey_12m``, ``survey_five_plus``: any act / at least ``REPETITIVE_ACTS`` acts in the 365 days
  before the survey (Luo2024Survey);
* ``survey_intrapersonal``, ``survey_interpersonal``: among those with a lifetime history, an act
  that served the intrapersonal function / had an interpersonal consequence (Taylor2018);
* ``survey_attempt``, ``survey_nssi_and_attempt``: a suicide attempt / NSSI and an attempt by the
  survey (Ye2022, co-occurrence in the whole sample);
* ``onset_age_block``: age at the first act (midpoint of the first day with an act); among those
  with a history at the survey this is the retrospectively reported onset (Gillies2018).

``acts_age_<A>``: acts while aged ``A`` to ``A + 1`` (a day belongs to the year of age at its
midpoint) for every whole year of age the run covers for at least 365 days; prevalence by age and
the prospective odds ratio come from these columns.

Age-varying environment
-----------------------
A spec's optional ``[environment.<name>]`` components (``population.py``: a parameter, its relative
change at a peak age, onset age, rise and decline time constants, evidence keys) become one
:class:`nssisim.simulation.Schedule` (:func:`environment_schedule`): one component per
environment component (shared ``mult``, ``tau_on``, ``tau_off``), per-subject ``level``, ``start``
and ``end`` arrays broadcast from the shared ages (every subject starts at the same age). The
simulator evaluates it once per daily record block inside the compiled loop. Without the table no
schedule is passed and the run is exactly the constant-environment one.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from scipy import special

from .measures import REPETITIVE_ACTS, measure, wilson_interval
from .parameters import HOURS_PER_DAY, HOURS_PER_YEAR
from .population import FACTOR_PREFIX, PopulationSpec, load_population, params_of, sample_population, subject_normals

#: Default life course: start and end ages (years).
DEFAULT_START_AGE = 11.0
DEFAULT_END_AGE = 18.0
#: Survey ages: uniform in [low, high) per subject (community surveys of 12-18 year olds).
SURVEY_AGE_LOW, SURVEY_AGE_HIGH = 12.0, 18.0
#: Record interval (steps): daily blocks at dt = 1 h.
RECORD_HOURS = 24.0
#: Default subjects per chunk (memory ~0.3 GB per 1,000 subjects over 7 years).
DEFAULT_CHUNK = 1024
#: Event-table rows per subject in population runs (overflow is counted, onset stays exact).
POPULATION_EVENT_CAPACITY = 512
#: Salt of the survey-age hash (separate from the factor draws).
_SURVEY_SALT = 0x5EED_0A6E
#: Version of the chunk format (part of the manifest; a change invalidates resumption).
FORMAT_VERSION = 1

#: Survey-age columns of :func:`reduce_chunk`.
SURVEY_COLUMNS = ("survey_age", "survey_lifetime", "survey_12m", "survey_five_plus", "survey_intrapersonal",
                  "survey_interpersonal", "survey_attempt", "survey_nssi_and_attempt", "onset_age_block")


@dataclass(frozen=True)
class LifeCourse:
    """Ages and step of a life-course run."""

    start_age: float = DEFAULT_START_AGE
    end_age: float = DEFAULT_END_AGE
    dt: float = 1.0

    def __post_init__(self) -> None:
        if not (5.0 <= self.start_age < self.end_age <= 30.0):
            raise ValueError(f"life course: need 5 <= start_age < end_age <= 30, got {self.start_age}, {self.end_age}")
        if not (self.end_age - self.start_age) * 365.0 >= 365.0 - 1e-9:
            raise ValueError("life course: the run must cover at least one year")
        if RECORD_HOURS / self.dt != round(RECORD_HOURS / self.dt):
            raise ValueError(f"dt={self.dt} h must divide {RECORD_HOURS:g} h (daily records)")

    @property
    def n_days(self) -> int:
        """Whole days simulated (the span in years times 365.25, rounded down)."""
        return int(math.floor((self.end_age - self.start_age) * HOURS_PER_YEAR / HOURS_PER_DAY + 1e-9))

    @property
    def horizon_hours(self) -> float:
        return self.n_days * HOURS_PER_DAY

    @property
    def record_every(self) -> int:
        return int(round(RECORD_HOURS / self.dt))

    def whole_ages(self) -> list[int]:
        """Whole years of age with at least 365 days inside the run."""
        t_mid = (np.arange(self.n_days) + 0.5) * HOURS_PER_DAY
        year = np.floor(self.start_age + t_mid / HOURS_PER_YEAR + 1e-12).astype(int)
        return [int(a) for a in np.unique(year) if (year == a).sum() >= 365]


def survey_ages(seed: int, subject_ids: np.ndarray, low: float = SURVEY_AGE_LOW, high: float = SURVEY_AGE_HIGH) -> np.ndarray:
    """Each subject's survey age, uniform in [low, high), keyed by (seed, subject id) only."""
    z = subject_normals(int(seed) ^ _SURVEY_SALT, np.asarray(subject_ids, dtype=np.int64), 1)[:, 0]
    return low + (high - low) * special.ndtr(z)


def reduce_chunk(ds: xr.Dataset, survey_age: np.ndarray, course: LifeCourse, *, with_events: bool = True) -> pd.DataFrame:
    """One row per subject (in the Dataset's row order): survey-age measures, acts by age, end measures.

    Uses only per-block counts for the survey measures (row order, never the subject labels, so
    a calibration run may repeat subject ids across candidates); ``with_events`` adds the
    end-of-run measures of :func:`nssisim.measures.measure` (which need unique subject ids).
    """
    time = np.asarray(ds["time"].values, dtype=np.float64)  # block end times, hours
    block = float(time[1] - time[0]) if time.size > 1 else float(time[0])
    start = time - block
    mid_age = course.start_age + (start + block / 2) / HOURS_PER_YEAR
    acts = np.asarray(ds["acts"].values, dtype=np.float64)
    att = np.asarray(ds["attempts"].values, dtype=np.float64)
    intra = np.asarray(ds["intrapersonal_acts"].values, dtype=np.float64)
    inter = np.asarray(ds["interpersonal_acts"].values, dtype=np.float64)
    n = acts.shape[0]
    survey_t = (np.asarray(survey_age, dtype=np.float64) - course.start_age) * HOURS_PER_YEAR
    before = time[None, :] <= survey_t[:, None] + 1e-6
    past_year = before & (time[None, :] > survey_t[:, None] - 365.0 * HOURS_PER_DAY + 1e-6)
    life = (acts * before).sum(axis=1)
    yr = (acts * past_year).sum(axis=1)
    has = acts > 0
    first = np.where(has.any(axis=1), has.argmax(axis=1), -1)
    onset = np.where(first >= 0, mid_age[np.maximum(first, 0)], np.nan)
    attempt = (att * before).sum(axis=1) > 0
    out = {
        "survey_age": np.asarray(survey_age, dtype=np.float64),
        "survey_lifetime": life > 0,
        "survey_12m": yr > 0,
        "survey_five_plus": yr >= REPETITIVE_ACTS,
        "survey_intrapersonal": (intra * before).sum(axis=1) > 0,
        "survey_interpersonal": (inter * before).sum(axis=1) > 0,
        "survey_attempt": attempt,
        "survey_nssi_and_attempt": attempt & (life > 0),
        "onset_age_block": onset,
    }
    year = np.floor(mid_age + 1e-12).astype(int)
    for a in course.whole_ages():
        out[f"acts_age_{a}"] = acts[:, year == a].sum(axis=1).astype(np.int64)
    df = pd.DataFrame(out)
    if with_events:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # overflow is in the events_dropped column
            m = measure(ds).reset_index(drop=True)
        m.columns = [f"end_{c}" for c in m.columns]
        df = pd.concat([df, m], axis=1)
    df.insert(0, "subject", np.asarray(ds["subject"].values, dtype=np.int64))
    assert len(df) == n
    return df


def environment_schedule(spec: PopulationSpec, n: int, course: LifeCourse):
    """The spec's age-varying environment as a :class:`~nssisim.simulation.Schedule` for ``n`` subjects.

    Returns None for a spec without ``[environment]`` (the unscheduled simulator). Times are hours
    since the start age: ``start = (onset_age - start_age) h/yr`` (may be negative: the rise began
    before the run), ``end`` the peak age, ``tau_on``/``tau_off`` the rise/decline time constants;
    ``level`` normalises the effect to 1 at the peak age, so the parameter is ``base * (1 + change)``
    there.
    """
    from .simulation import SCHEDULE_TARGETS, Schedule

    comps = spec.environment
    if not comps:
        return None
    c_n, t_n = len(comps), len(SCHEDULE_TARGETS)
    mult, add = np.zeros((c_n, t_n)), np.zeros((c_n, t_n))
    start, end, level = np.zeros(c_n), np.zeros(c_n), np.zeros(c_n)
    tau_on, tau_off = np.zeros(c_n), np.zeros(c_n)
    for i, c in enumerate(comps):
        mult[i, SCHEDULE_TARGETS.index(c.parameter)] = c.change
        start[i] = (c.onset_age - course.start_age) * HOURS_PER_YEAR
        end[i] = (c.peak_age - course.start_age) * HOURS_PER_YEAR
        tau_on[i], tau_off[i] = c.rise_years * HOURS_PER_YEAR, c.decline_years * HOURS_PER_YEAR
        level[i] = 1.0 / -math.expm1(-(c.peak_age - c.onset_age) / c.rise_years)
    full = np.ones((int(n), 1))
    return Schedule(mult, add, full * level, full * start, full * end, tau_on, tau_off)


def simulate_chunk(spec: PopulationSpec, subject_ids: np.ndarray, seed: int, course: LifeCourse, *,
                   overrides: dict[str, float] | None = None, with_events: bool = True,
                   event_capacity: int = POPULATION_EVENT_CAPACITY, mechanisms_off=()) -> pd.DataFrame:
    """Sample, simulate and reduce one chunk of subjects; returns the chunk's measurement rows."""
    from .simulation import simulate_cohort

    ids = np.asarray(subject_ids, dtype=np.int64)
    pop = sample_population(spec, ids.size, seed, subject_ids=ids)
    params = params_of(pop)
    for k, v in (overrides or {}).items():
        params[k] = np.full(ids.size, float(v))
    ds = simulate_cohort(seed, params, subject_ids=ids, horizon_hours=course.horizon_hours, dt=course.dt,
                         record_every=course.record_every, event_capacity=event_capacity if with_events else 1,
                         start_age_years=course.start_age, chunk_size=max(ids.size, 1), mechanisms_off=mechanisms_off,
                         schedule=environment_schedule(spec, ids.size, course))
    # a survey age beyond the end of the run (a short run) is measured at the end
    df = reduce_chunk(ds, np.minimum(survey_ages(seed, ids), course.end_age), course, with_events=with_events)
    for k, v in pop.items():
        if k.startswith(FACTOR_PREFIX):
            df[k] = v
    df["invalid"] = np.asarray(ds["invalid"].values, dtype=bool)
    return df


# ----------------------------------------------------------------------------- chunked, resumable runs
def _spec_hash(spec: PopulationSpec) -> str:
    payload = {"name": spec.name, "factors": [(f.name, f.kind, list(f.args)) for f in spec.factors],
               "correlation": np.asarray(spec.correlation).round(12).tolist(), "mapping": spec.mapping,
               "parameters": spec.parameters}
    if spec.environment:  # only when present, so the hashes of constant-environment runs are unchanged
        payload["environment"] = [[c.name, c.parameter, c.change, c.onset_age, c.peak_age, c.rise_years,
                                   c.decline_years] for c in spec.environment]
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _atomic_parquet(df: pd.DataFrame, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    df.to_parquet(tmp, index=False)
    os.replace(tmp, path)


def _atomic_text(text: str, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def run_population(spec: PopulationSpec | str | Path, n_subjects: int, out_dir: str | Path, *, seed: int = 0,
                   course: LifeCourse = LifeCourse(), chunk_size: int = DEFAULT_CHUNK, resume: bool = False,
                   overwrite: bool = False, progress: bool = False) -> pd.DataFrame:
    """Run a population over the life course in chunks; return the tidy measurement table.

    ``out_dir/chunks/chunk_<k>.parquet`` holds subjects ``k*chunk_size ..`` (written atomically);
    ``out_dir/manifest.json`` the settings. An existing run directory is an error unless
    ``resume`` (same settings: finished chunks are kept, missing ones simulated) or ``overwrite``
    (its chunk files are deleted first).
    """
    if not isinstance(spec, PopulationSpec):
        spec = load_population(spec)
    if n_subjects < 1:
        raise ValueError(f"n_subjects must be >= 1, got {n_subjects}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    out = Path(out_dir)
    cdir = out / "chunks"
    manifest = {"format": FORMAT_VERSION, "population": spec.name, "spec_hash": _spec_hash(spec),
                "n_subjects": int(n_subjects), "seed": int(seed), "start_age": course.start_age,
                "end_age": course.end_age, "dt": course.dt, "chunk_size": int(chunk_size),
                "survey_ages": [SURVEY_AGE_LOW, SURVEY_AGE_HIGH], "event_capacity": POPULATION_EVENT_CAPACITY}
    mpath = out / "manifest.json"
    if mpath.exists():
        if resume:
            old = json.loads(mpath.read_text(encoding="utf-8"))
            diff = sorted(k for k in set(old) | set(manifest) if old.get(k) != manifest.get(k))
            if diff:
                raise ValueError(f"{mpath}: cannot resume, the run's settings differ in {', '.join(diff)} "
                                 f"(was {[old.get(k) for k in diff]}, now {[manifest.get(k) for k in diff]}); "
                                 "use another directory or --overwrite")
        elif overwrite:
            for f in cdir.glob("chunk_*.parquet"):
                f.unlink()
        else:
            raise FileExistsError(f"{out} already holds a population run: pass --resume to continue it or "
                                  "--overwrite to replace it")
    elif resume and cdir.exists() and any(cdir.iterdir()):
        raise ValueError(f"{out}: chunk files without a manifest; cannot tell which run they belong to")
    cdir.mkdir(parents=True, exist_ok=True)
    _atomic_text(json.dumps(manifest, indent=1, sort_keys=True), mpath)
    starts = list(range(0, int(n_subjects), int(chunk_size)))
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=int(n_subjects), desc=f"population {spec.name}", unit="subject")
    for k, a in enumerate(starts):
        b = min(a + chunk_size, n_subjects)
        path = cdir / f"chunk_{k:05d}.parquet"
        if not path.exists():
            df = simulate_chunk(spec, np.arange(a, b), seed, course)
            _atomic_parquet(df, path)
        if bar is not None:
            bar.update(b - a)
    if bar is not None:
        bar.close()
    return collect(out)


def run_in_memory(spec: PopulationSpec | str | Path, n_subjects: int, *, seed: int = 0,
                  course: LifeCourse = LifeCourse(), chunk_size: int = DEFAULT_CHUNK,
                  progress: bool = False) -> pd.DataFrame:
    """As :func:`run_population` without files (for small runs such as the demo); same table."""
    if not isinstance(spec, PopulationSpec):
        spec = load_population(spec)
    parts = []
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=int(n_subjects), desc=f"population {spec.name}", unit="subject")
    for a in range(0, int(n_subjects), int(chunk_size)):
        b = min(a + chunk_size, n_subjects)
        parts.append(simulate_chunk(spec, np.arange(a, b), seed, course))
        if bar is not None:
            bar.update(b - a)
    if bar is not None:
        bar.close()
    return pd.concat(parts, ignore_index=True)


def collect(out_dir: str | Path) -> pd.DataFrame:
    """Concatenate the chunk files of a run (in subject order); errors if any is missing."""
    out = Path(out_dir)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    n, c = manifest["n_subjects"], manifest["chunk_size"]
    paths = [out / "chunks" / f"chunk_{k:05d}.parquet" for k in range(-(-n // c))]
    missing = [p.name for p in paths if not p.exists()]
    if missing:
        raise FileNotFoundError(f"{out}: {len(missing)} chunk files missing ({', '.join(missing[:3])}...): "
                                "run again with --resume")
    return pd.concat([pd.read_parquet(p) for p in paths], ignore_index=True)


# ----------------------------------------------------------------------------- benchmark
def benchmark(n_subjects: int = 100_000, *, course: LifeCourse = LifeCourse(), chunk_size: int = DEFAULT_CHUNK,
              seed: int = 0, population: str | Path = "community", progress: bool = False) -> dict:
    """Cohort throughput over the life course: subject-years (and person-steps) per second, end to end.

    Times one warm-up chunk (compilation) separately, then the whole cohort (sampling, simulation,
    reduction to measurements; no files), and reports the machine.
    """
    import time as _time

    from .bench import machine_info

    spec = load_population(population)
    t0 = _time.perf_counter()
    simulate_chunk(spec, np.arange(min(chunk_size, n_subjects)), seed + 1, course)
    warm = _time.perf_counter() - t0
    t0 = _time.perf_counter()
    table = run_in_memory(spec, n_subjects, seed=seed, course=course, chunk_size=chunk_size, progress=progress)
    wall = _time.perf_counter() - t0
    years = course.n_days / 365.25
    steps = n_subjects * course.n_days * 24.0 / course.dt
    return {"n_subjects": int(n_subjects), "years": years, "start_age": course.start_age, "end_age": course.end_age,
            "dt": course.dt, "chunk_size": int(chunk_size), "first_chunk_s": warm, "wall_s": wall,
            "subject_years_per_s": n_subjects * years / wall, "person_steps_per_s": steps / wall,
            "lifetime_by_end": float(table["end_lifetime_nssi"].mean()), "machine": machine_info()}


def format_benchmark(r: dict) -> str:
    m = r["machine"]
    return (f"life-course population benchmark: {r['n_subjects']:,} subjects x {r['years']:.2f} years "
            f"(ages {r['start_age']:g}-{r['end_age']:g}, dt={r['dt']:g} h, chunks of {r['chunk_size']:,})\n"
            f"  wall {r['wall_s']:.1f} s (first chunk incl. compilation {r['first_chunk_s']:.1f} s, timed separately)\n"
            f"  {r['subject_years_per_s']:,.0f} subject-years/s = {r['person_steps_per_s'] / 1e6:.2f} M person-steps/s, "
            f"end to end (sampling, simulation, reduction)\n"
            f"  machine: {m['cpu_count']} CPUs, {m['platform']}, jax {m['jax_version']} on {m['jax_device']} "
            f"x{m['jax_device_count']}")


# ----------------------------------------------------------------------------- population statistics
def prevalence_by_age(table: pd.DataFrame) -> pd.DataFrame:
    """12-month prevalence (any act while aged A to A+1) for each whole year of age, with Wilson 95% CIs."""
    rows = []
    for col in [c for c in table.columns if c.startswith("acts_age_")]:
        a = int(col.rsplit("_", 1)[1])
        x = table[col].to_numpy()
        k, n = float((x > 0).sum()), float(x.size)
        lo, hi = wilson_interval(k, n)
        rows.append({"age": a, "n_subjects": int(n), "prevalence_12m": k / n, "ci_low": lo, "ci_high": hi,
                     "incidence": float(((x > 0) & (np.abs(table["onset_age_block"].to_numpy() - a - 0.5) <= 0.5)).sum() / n),
                     "mean_acts": float(x.mean())})
    return pd.DataFrame(rows)


def odds_ratio(exposed: np.ndarray, outcome: np.ndarray) -> tuple[float, float, float]:
    """Odds ratio with a Woolf 95% interval (0.5 added to every cell when one is empty)."""
    e, o = np.asarray(exposed, bool), np.asarray(outcome, bool)
    t = np.array([[np.sum(e & o), np.sum(e & ~o)], [np.sum(~e & o), np.sum(~e & ~o)]], float)
    if (t == 0).any():
        t += 0.5
    lor = math.log(t[0, 0] * t[1, 1] / (t[0, 1] * t[1, 0]))
    se = math.sqrt((1 / t).sum())
    return math.exp(lor), math.exp(lor - 1.96 * se), math.exp(lor + 1.96 * se)


def onset_histogram(table: pd.DataFrame) -> pd.DataFrame:
    """Onset ages (whole years) of everyone with an act during the run: counts and shares."""
    on = table["onset_age_block"].dropna().to_numpy()
    if on.size == 0:
        return pd.DataFrame({"age": [], "count": [], "share": []})
    a = np.floor(on).astype(int)
    ages = np.arange(a.min(), a.max() + 1)
    cnt = np.array([(a == x).sum() for x in ages])
    return pd.DataFrame({"age": ages, "count": cnt, "share": cnt / on.size})


def summarise(table: pd.DataFrame, manifest: dict | None = None) -> xr.Dataset:
    """Population summary as a Dataset: prevalence by age (dimension ``age``) and scalar shares."""
    prev = prevalence_by_age(table)
    ds = xr.Dataset({c: ("age", prev[c].to_numpy()) for c in prev.columns if c != "age"},
                    coords={"age": prev["age"].to_numpy()})
    hist = onset_histogram(table)
    ds["onset_count"] = ("onset_age", hist["count"].to_numpy().astype(np.int64))
    ds = ds.assign_coords(onset_age=hist["age"].to_numpy())
    from .calibration import simulated_measures

    for k, v in simulated_measures(table).items():
        ds.attrs[k] = float(v)
    for k in ("end_lifetime_nssi", "end_nssi_12m", "end_addictive", "end_cessation", "end_criterion_a"):
        if k in table:
            ds.attrs[k.replace("end_", "by_end_")] = float(table[k].mean())
    ds.attrs["n_subjects"] = int(len(table))
    ds.attrs["title"] = "nssisim population summary (research instrument; not a clinical tool)"
    if manifest:
        ds.attrs["manifest"] = json.dumps(manifest, sort_keys=True)
    return ds


__all__ = ["benchmark", "environment_schedule", "format_benchmark", "DEFAULT_CHUNK", "DEFAULT_END_AGE", "DEFAULT_START_AGE", "LifeCourse", "SURVEY_AGE_HIGH", "SURVEY_AGE_LOW",
           "collect", "odds_ratio", "onset_histogram", "prevalence_by_age", "reduce_chunk", "run_in_memory", "run_population",
           "simulate_chunk", "summarise", "survey_ages"]
