"""Life course: a population run from a start age to an end age, in chunks reduced to measurements.

Data flow
---------
population spec (``population/spec.py``; its ``[parameters]`` table holds shared overrides, e.g. the
calibrated values) -> for each chunk of subject ids: :func:`nssisim.population.spec.sample_population`
-> :func:`nssisim.core.simulation.simulate_cohort` (daily record blocks, ``start_age_years``; the
prefrontal maturation of M12 runs from the start age) -> :func:`reduce_chunk` (one row per subject:
raw factors, the survey-age measures below, the end-of-run measures of
:func:`nssisim.core.measures.measure`, and acts per year of age) -> one Parquet file per chunk, written
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
  survey (Ye2022, co-occurrence in the whole sample); ``survey_attempt_12m``: an attempt in the 365
  days before the survey (Lim2019, past-year attempts);
* ``onset_age_block``: age at the first act (midpoint of the first day with an act); among those
  with a history at the survey this is the retrospectively reported onset (Gillies2018).
* ``diary_windows``, ``diary_urges``, ``diary_acts``: the EMA diaries a subject takes part in (an
  act in the 14 days before a diary start between 12 and 19, starts every 30 days) and their urges
  and acts over the 14 diary days (NockPrinsteinSterba2009; :func:`diary_counts`).

``survey_recall_u`` (a uniform keyed by (seed, subject id)) and ``acts_before_quarters`` (acts before the
first quarter column) serve the lifetime report's recall (:func:`nssisim.population.survey.reported_table`): the
columns above are what happened; what a survey hears is derived from them.

``acts_age_<A>``: acts while aged ``A`` to ``A + 1`` (a day belongs to the year of age at its
midpoint) for every whole year of age the run covers for at least 365 days; prevalence by age and
the prospective odds ratio come from these columns. ``acts_q<k>``: acts while aged ``k/4`` to
``(k+1)/4`` (:data:`QUARTER_PREFIX`), for the longitudinal designs of the calibration targets
(trajectory classes, lifetime by a later survey age; ``population/survey.py``).

Age-varying environment
-----------------------
A spec's optional ``[environment.<name>]`` components (``population/spec.py``: a parameter, its relative
change at a peak age, onset age, rise and decline time constants, evidence keys) become one
:class:`nssisim.core.simulation.Schedule` (:func:`environment_schedule`): one component per
environment component (shared ``mult``, ``tau_on``, ``tau_off``), per-subject ``level``, ``start``
and ``end`` arrays broadcast from the shared ages (every subject starts at the same age). The
simulator evaluates it once per daily record block inside the compiled loop. Without the table no
schedule is passed and the run is exactly the constant-environment one.
"""

from __future__ import annotations

import hashlib
import json
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from scipy import special

from ..core.measures import measure, REPETITIVE_ACTS
from ..core.parameters import HOURS_PER_DAY, HOURS_PER_YEAR
from ..core.simulation import (available_memory, check_run_size, ESTIMATE_PERSON_STEPS_PER_S, format_bytes,
                               LONG_RUN_HOURS, LongRunWarning, RunTooLargeError, Schedule, SCHEDULE_TARGETS,
                               simulate_cohort)
from ..files import atomic_write, atomic_write_text
from .spec import FACTOR_PREFIX, load_population, params_of, PopulationSpec, sample_population, subject_normals

#: Default life course: start and end ages (years). It starts in late childhood, before the
#: pubertal rise (M12), and runs into young adulthood, where most self-injurers have stopped.
DEFAULT_START_AGE = 10.0
DEFAULT_END_AGE = 25.0
#: Default burn-in (years simulated before the start age, so that the slow states (mood,
#: allostatic load, stressful periods) have left their arbitrary initial values at the start age).
DEFAULT_BURN_IN = 1.0
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
#: Salt of the survey-recall uniform (``survey_recall_u``; the lifetime report's recall, population/survey.py).
_RECALL_SALT = 0x2EC0_A11E
#: Host bytes per subject assumed for the measurement table when a run's size is checked up front
#: (about 280 measured for the 53 columns of the community spec; tests/test_errors.py checks the bound).
TABLE_BYTES_PER_SUBJECT = 512
#: Version of the chunk format (part of the manifest; a change invalidates resumption).
FORMAT_VERSION = 4  # 2: survey_attempt_12m and quarter-year act counts; 3: the EMA diary columns;
#                      4: survey_recall_u and acts_before_quarters (the lifetime report's recall)

#: The EMA diary design (NockPrinsteinSterba2009: adolescents and young adults with recent NSSI,
#: a 14-day EMA): a diary may start every DIARY_EVERY_DAYS days between the ages DIARY_AGES; a subject
#: with an act in the DIARY_RECENT_DAYS days before a start is a participant of that diary, which
#: counts its urges (acted on or resisted) and acts over the next DIARY_DAYS days. "Recent NSSI" as
#: an act in the two weeks before is this model's reading of the study's inclusion (an assumption).
DIARY_AGES = (12.0, 19.0)
DIARY_EVERY_DAYS = 30
DIARY_RECENT_DAYS = 14
DIARY_DAYS = 14

#: Quarter-year act counts: column ``acts_q<k>`` holds the acts while aged ``k/4`` to ``(k+1)/4`` (a day
#: belongs to the quarter of its midpoint age), for every quarter with at least this many days in the run.
QUARTER_PREFIX = "acts_q"
QUARTER_MIN_DAYS = 91
#: Acts before the first quarter column (the burn-in and any partial first quarter); with the quarter columns
#: they account for every act of the run, as the lifetime report's recall needs (population/survey.py).
EARLY_ACTS = "acts_before_quarters"

#: Survey-age columns of :func:`reduce_chunk`.
SURVEY_COLUMNS = ("survey_age", "survey_lifetime", "survey_12m", "survey_five_plus", "survey_intrapersonal",
                  "survey_interpersonal", "survey_attempt", "survey_nssi_and_attempt", "survey_attempt_12m",
                  "onset_age_block", "diary_windows", "diary_urges", "diary_acts")


@dataclass(frozen=True)
class LifeCourse:
    """Ages and step of a life-course run."""

    start_age: float = DEFAULT_START_AGE
    end_age: float = DEFAULT_END_AGE
    dt: float = 1.0
    burn_in: float = DEFAULT_BURN_IN

    def __post_init__(self) -> None:
        if not (5.0 <= self.start_age < self.end_age <= 30.0):
            raise ValueError(f"life course: need 5 <= start_age < end_age <= 30, got {self.start_age}, {self.end_age}")
        if not (0.0 <= self.burn_in <= self.start_age - 5.0 + 1e-9):
            raise ValueError(f"life course: burn_in must be between 0 and start_age - 5 years, got {self.burn_in}")
        if not (self.end_age - self.start_age) * 365.0 >= 365.0 - 1e-9:
            raise ValueError("life course: the run must cover at least one year")
        if RECORD_HOURS / self.dt != round(RECORD_HOURS / self.dt):
            raise ValueError(f"dt={self.dt} h must divide {RECORD_HOURS:g} h (daily records)")

    @property
    def sim_start_age(self) -> float:
        """Age at which the simulation starts: the start age less the burn-in."""
        return self.start_age - self.burn_in

    @property
    def n_days(self) -> int:
        """Whole days simulated from :attr:`sim_start_age` (the span in years times 365.25, rounded down)."""
        return int(math.floor((self.end_age - self.sim_start_age) * HOURS_PER_YEAR / HOURS_PER_DAY + 1e-9))

    @property
    def horizon_hours(self) -> float:
        return self.n_days * HOURS_PER_DAY

    @property
    def record_every(self) -> int:
        return int(round(RECORD_HOURS / self.dt))

    def whole_ages(self) -> list[int]:
        """Whole years of age from the start age on with at least 365 days inside the run."""
        t_mid = (np.arange(self.n_days) + 0.5) * HOURS_PER_DAY
        age = self.sim_start_age + t_mid / HOURS_PER_YEAR
        year = np.floor(age + 1e-12).astype(int)
        inside = age >= self.start_age
        return [int(a) for a in np.unique(year[inside]) if ((year == a) & inside).sum() >= 365]


def survey_ages(seed: int, subject_ids: np.ndarray, low: float = SURVEY_AGE_LOW, high: float = SURVEY_AGE_HIGH) -> np.ndarray:
    """Each subject's survey age, uniform in [low, high), keyed by (seed, subject id) only."""
    z = subject_normals(int(seed) ^ _SURVEY_SALT, np.asarray(subject_ids, dtype=np.int64), 1)[:, 0]
    return low + (high - low) * special.ndtr(z)


def recall_uniforms(seed: int, subject_ids: np.ndarray) -> np.ndarray:
    """Each subject's uniform for the lifetime report's recall (``survey_recall_u``), keyed by (seed, subject id) only."""
    z = subject_normals(int(seed) ^ _RECALL_SALT, np.asarray(subject_ids, dtype=np.int64), 1)[:, 0]
    return special.ndtr(z)


def reduce_chunk(ds: xr.Dataset, survey_age: np.ndarray, course: LifeCourse, *, with_events: bool = True) -> pd.DataFrame:
    """One row per subject (in the Dataset's row order): survey-age measures, acts by age, end measures.

    Uses only per-block counts for the survey measures (row order, never the subject labels, so
    a calibration run may repeat subject ids across candidates); ``with_events`` adds the
    end-of-run measures of :func:`nssisim.core.measures.measure` (which need unique subject ids).
    """
    time = np.asarray(ds["time"].values, dtype=np.float64)  # block end times, hours
    block = float(time[1] - time[0]) if time.size > 1 else float(time[0])
    start = time - block
    mid_age = course.sim_start_age + (start + block / 2) / HOURS_PER_YEAR
    acts = np.asarray(ds["acts"].values, dtype=np.float64)
    att = np.asarray(ds["attempts"].values, dtype=np.float64)
    intra = np.asarray(ds["intrapersonal_acts"].values, dtype=np.float64)
    inter = np.asarray(ds["interpersonal_acts"].values, dtype=np.float64)
    n = acts.shape[0]
    survey_t = (np.asarray(survey_age, dtype=np.float64) - course.sim_start_age) * HOURS_PER_YEAR
    before = time[None, :] <= survey_t[:, None] + 1e-6
    past_year = before & (time[None, :] > survey_t[:, None] - 365.0 * HOURS_PER_DAY + 1e-6)
    life = (acts * before).sum(axis=1)
    yr = (acts * past_year).sum(axis=1)
    has = acts > 0
    first = np.where(has.any(axis=1), has.argmax(axis=1), -1)
    onset = np.where(first >= 0, mid_age[np.maximum(first, 0)], np.nan)
    attempt = (att * before).sum(axis=1) > 0
    attempt_12m = (att * past_year).sum(axis=1) > 0
    out = {
        "survey_age": np.asarray(survey_age, dtype=np.float64),
        "survey_lifetime": life > 0,
        "survey_12m": yr > 0,
        "survey_five_plus": yr >= REPETITIVE_ACTS,
        "survey_intrapersonal": (intra * before).sum(axis=1) > 0,
        "survey_interpersonal": (inter * before).sum(axis=1) > 0,
        "survey_attempt": attempt,
        "survey_nssi_and_attempt": attempt & (life > 0),
        "survey_attempt_12m": attempt_12m,
        "onset_age_block": onset,
        **diary_counts(acts, np.asarray(ds["urges"].values, dtype=np.float64), mid_age, block),
    }
    year = np.floor(mid_age + 1e-12).astype(int)
    inside = mid_age >= course.start_age
    for a in course.whole_ages():
        out[f"acts_age_{a}"] = acts[:, (year == a) & inside].sum(axis=1).astype(np.int64)
    quarter = np.floor(mid_age * 4 + 1e-9).astype(int)
    kept = [q for q in np.unique(quarter[inside]) if ((quarter == q) & inside).sum() >= QUARTER_MIN_DAYS]
    for q in kept:
        out[f"{QUARTER_PREFIX}{q}"] = acts[:, (quarter == q) & inside].sum(axis=1).astype(np.int32)
    early = quarter < kept[0] if kept else np.ones(mid_age.shape, bool)
    out[EARLY_ACTS] = acts[:, early].sum(axis=1).astype(np.int32)
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


def diary_counts(acts: np.ndarray, urges: np.ndarray, mid_age: np.ndarray, block_hours: float) -> dict[str, np.ndarray]:
    """Per subject, over the EMA diaries it takes part in (:data:`DIARY_AGES`, module docstring):
    ``diary_windows`` (how many), ``diary_urges`` and ``diary_acts`` (their totals over the diary days).
    Needs daily records; zeros where the run does not cover a whole diary and the days before it."""
    n, t = acts.shape
    zero = {"diary_windows": np.zeros(n, np.int32), "diary_urges": np.zeros(n), "diary_acts": np.zeros(n)}
    if abs(block_hours - HOURS_PER_DAY) > 1e-6 or t == 0:
        return zero
    starts = np.flatnonzero((mid_age >= DIARY_AGES[0]) & (mid_age < DIARY_AGES[1]))
    if starts.size == 0:
        return zero
    starts = np.arange(starts[0], starts[-1] + 1, DIARY_EVERY_DAYS)
    starts = starts[(starts >= DIARY_RECENT_DAYS) & (starts + DIARY_DAYS <= t)]
    if starts.size == 0:
        return zero
    ca = np.concatenate([np.zeros((n, 1)), np.cumsum(acts, axis=1)], axis=1)
    cu = np.concatenate([np.zeros((n, 1)), np.cumsum(urges, axis=1)], axis=1)
    recent = (ca[:, starts] - ca[:, starts - DIARY_RECENT_DAYS]) > 0
    u = cu[:, starts + DIARY_DAYS] - cu[:, starts]
    a = ca[:, starts + DIARY_DAYS] - ca[:, starts]
    return {"diary_windows": recent.sum(axis=1).astype(np.int32), "diary_urges": (u * recent).sum(axis=1),
            "diary_acts": (a * recent).sum(axis=1)}


def environment_schedule(spec: PopulationSpec, n: int, course: LifeCourse):
    """The spec's age-varying environment as a :class:`~nssisim.core.simulation.Schedule` for ``n`` subjects.

    Returns None for a spec without ``[environment]`` (the unscheduled simulator). Times are hours
    since the simulation start (``course.sim_start_age``): ``start = (onset_age - sim_start_age) h/yr`` (may be negative: the rise began
    before the run), ``end`` the peak age, ``tau_on``/``tau_off`` the rise/decline time constants;
    ``level`` normalises the effect to 1 at the peak age, so the parameter is ``base * (1 + change)``
    there.
    """
    comps = spec.environment
    if not comps:
        return None
    c_n, t_n = len(comps), len(SCHEDULE_TARGETS)
    mult, add = np.zeros((c_n, t_n)), np.zeros((c_n, t_n))
    start, end, level = np.zeros(c_n), np.zeros(c_n), np.zeros(c_n)
    tau_on, tau_off = np.zeros(c_n), np.zeros(c_n)
    for i, c in enumerate(comps):
        mult[i, SCHEDULE_TARGETS.index(c.parameter)] = c.change
        start[i] = (c.onset_age - course.sim_start_age) * HOURS_PER_YEAR
        end[i] = (c.peak_age - course.sim_start_age) * HOURS_PER_YEAR
        tau_on[i], tau_off[i] = c.rise_years * HOURS_PER_YEAR, c.decline_years * HOURS_PER_YEAR
        level[i] = 1.0 / -math.expm1(-(c.peak_age - c.onset_age) / c.rise_years)
    full = np.ones((int(n), 1))
    return Schedule(mult, add, full * level, full * start, full * end, tau_on, tau_off)


def simulate_chunk(spec: PopulationSpec, subject_ids: np.ndarray, seed: int, course: LifeCourse, *,
                   overrides: dict[str, float] | None = None, with_events: bool = True,
                   event_capacity: int = POPULATION_EVENT_CAPACITY, mechanisms_off=(),
                   on_dataset: Callable[[xr.Dataset, dict, np.ndarray], object] | None = None) -> pd.DataFrame:
    """Sample, simulate and reduce one chunk of subjects; returns the chunk's measurement rows.

    ``on_dataset(ds, population_draw, subject_ids)``, if given, sees the chunk's daily records before
    they are dropped (e.g. :class:`nssisim.population.referral.LifeCourseScreen` applies a referral rule).
    """
    ids = np.asarray(subject_ids, dtype=np.int64)
    pop = sample_population(spec, ids.size, seed, subject_ids=ids)
    params = params_of(pop)
    for k, v in (overrides or {}).items():  # a value for everyone, or one per subject
        params[k] = np.broadcast_to(np.asarray(v, dtype=np.float64), ids.shape).copy()
    ds = simulate_cohort(seed, params, subject_ids=ids, horizon_hours=course.horizon_hours, dt=course.dt,
                         record_every=course.record_every, event_capacity=event_capacity,
                         start_age_years=course.sim_start_age, chunk_size=max(ids.size, 1), mechanisms_off=mechanisms_off,
                         schedule=environment_schedule(spec, ids.size, course),
                         # the survey measures need only the daily counts: no states, no event table
                         records="full" if with_events else "counts", events=with_events)
    if on_dataset is not None:
        on_dataset(ds, pop, ids)
    # a survey age beyond the end of the run (a short run) is measured at the end
    df = reduce_chunk(ds, np.minimum(survey_ages(seed, ids), course.end_age), course, with_events=with_events)
    df["survey_recall_u"] = recall_uniforms(seed, ids)
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


def chunk_path(out_dir: str | Path, k: int) -> Path:
    """The file of chunk ``k`` of a population run in ``out_dir`` (subjects ``k*chunk_size ..``)."""
    return Path(out_dir) / "chunks" / f"chunk_{k:05d}.parquet"


def _atomic_parquet(df: pd.DataFrame, path: Path) -> None:
    atomic_write(path, lambda tmp: df.to_parquet(tmp, index=False))


def check_population_size(n_subjects: int, course: LifeCourse, chunk_size: int, *, available: int | None = None,
                          fields: tuple[str, str] = ("n_subjects", "chunk_size")) -> dict[str, float]:
    """Refuse, before anything is simulated, a population run that cannot fit in memory; warn on one
    estimated to take hours (it resumes chunk by chunk if stopped).

    Memory is one chunk's simulation (:func:`~nssisim.core.simulation.check_run_size`) plus the
    measurement table of all subjects (:data:`TABLE_BYTES_PER_SUBJECT` a subject, held twice when the
    chunks are joined). ``fields`` name the two settings in messages (the CLI passes its options).
    Raises :class:`~nssisim.core.simulation.RunTooLargeError`.
    """
    n, chunk = int(n_subjects), max(1, min(int(chunk_size), int(n_subjects)))
    est = check_run_size(chunk, horizon_hours=course.horizon_hours, dt=course.dt, record_every=course.record_every,
                         event_capacity=POPULATION_EVENT_CAPACITY, field=fields[1], available=available, warn=False)
    table = 2.0 * n * TABLE_BYTES_PER_SUBJECT
    avail = available_memory() if available is None else int(available)
    if avail is not None and table + est["bytes"] > avail:
        raise RunTooLargeError(
            f"{fields[0]} = {n:,}: the measurement table needs about {format_bytes(table)} of memory (and a chunk "
            f"{format_bytes(est['bytes'])}), more than the {format_bytes(avail)} available; use fewer subjects")
    steps = n * course.horizon_hours / course.dt
    hours = steps / ESTIMATE_PERSON_STEPS_PER_S / 3600.0
    if hours > LONG_RUN_HOURS:
        warnings.warn(f"{fields[0]} = {n:,}: {steps:,.0f} person-steps, about {hours:,.1f} h at "
                      f"{ESTIMATE_PERSON_STEPS_PER_S / 1e6:g} M person-steps/s (2 CPU cores; a GPU is faster); "
                      "finished chunks are kept, so a stopped run continues with --resume", LongRunWarning, stacklevel=2)
    return {"bytes": table + est["bytes"], "person_steps": steps}


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
    check_population_size(n_subjects, course, chunk_size)
    out = Path(out_dir)
    cdir = out / "chunks"
    manifest = {"format": FORMAT_VERSION, "population": spec.name, "spec_hash": _spec_hash(spec),
                "n_subjects": int(n_subjects), "seed": int(seed), "start_age": course.start_age,
                "end_age": course.end_age, "dt": course.dt, "burn_in": course.burn_in, "chunk_size": int(chunk_size),
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
    atomic_write_text(mpath, json.dumps(manifest, indent=1, sort_keys=True))
    starts = list(range(0, int(n_subjects), int(chunk_size)))
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=int(n_subjects), desc=f"population {spec.name}", unit="subject")
    for k, a in enumerate(starts):
        b = min(a + chunk_size, n_subjects)
        path = chunk_path(out, k)
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
                  progress: bool = False,
                  on_dataset: Callable[[xr.Dataset, dict, np.ndarray], object] | None = None) -> pd.DataFrame:
    """As :func:`run_population` without files (for small runs such as the demo); same table.

    ``on_dataset``: passed to :func:`simulate_chunk` (sees each chunk's daily records).
    """
    if not isinstance(spec, PopulationSpec):
        spec = load_population(spec)
    parts = []
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=int(n_subjects), desc=f"population {spec.name}", unit="subject")
    for a in range(0, int(n_subjects), int(chunk_size)):
        b = min(a + chunk_size, n_subjects)
        parts.append(simulate_chunk(spec, np.arange(a, b), seed, course, on_dataset=on_dataset))
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
    paths = [chunk_path(out, k) for k in range(-(-n // c))]
    missing = [p.name for p in paths if not p.exists()]
    if missing:
        raise FileNotFoundError(f"{out}: {len(missing)} chunk files missing ({', '.join(missing[:3])}...): "
                                "run again with --resume")
    return pd.concat([_read_chunk(p) for p in paths], ignore_index=True)


def _read_chunk(path: Path) -> pd.DataFrame:
    """One chunk file; a file that cannot be read is named with what to do about it."""
    try:
        return pd.read_parquet(path)
    except Exception as err:  # noqa: BLE001 - pyarrow raises several kinds for a damaged file
        raise CorruptChunkError(
            f"{path}: corrupt chunk file ({type(err).__name__}: {str(err).strip()[:200]}): delete it and run the same "
            "command with --resume to simulate that chunk again, or start over with --overwrite") from None


class CorruptChunkError(ValueError):
    """A chunk file of a population run that cannot be read (the message names it and what to do)."""




# ----------------------------------------------------------------------------- population statistics


__all__ = ["EARLY_ACTS", "recall_uniforms", "check_population_size", "chunk_path", "CorruptChunkError", "TABLE_BYTES_PER_SUBJECT", "QUARTER_MIN_DAYS", "QUARTER_PREFIX", "environment_schedule", "DEFAULT_CHUNK", "DEFAULT_END_AGE", "DEFAULT_START_AGE", "LifeCourse", "SURVEY_AGE_HIGH", "SURVEY_AGE_LOW",
           "collect", "reduce_chunk", "run_in_memory", "run_population",
           "simulate_chunk", "survey_ages"]
