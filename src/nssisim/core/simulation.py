"""Simulation API: one person or a cohort, returning a labelled xarray Dataset.

Data flow: parameters (dict name -> value or per-subject array) -> :func:`stack_params`
(arrays of shape ``(n_subjects,)``) -> :func:`_run_segment` (jit: ``vmap`` over subjects of
a nested ``lax.scan`` over time, calling :func:`nssisim.core.model.step`) -> numpy -> Dataset.

Interventions (:class:`Schedule`): time-varying parameter modifiers evaluated inside the
compiled loop once per record block (:func:`schedule_effects`, :func:`apply_schedule`): the
base parameters are modified, clipped to their bounds and the step constants recomputed, so
one compiled simulator serves every trial arm (arms differ only in arrays). Without a
schedule the original code path runs unchanged.

Randomness: the key of subject ``i`` is ``fold_in(root_key, i)`` and the two uniforms of its
step ``t`` are one Threefry-2x32 hash of that key over the counter pair ``(t, 0)``
(:func:`step_uniforms`).
A subject's trajectory therefore does not depend on batch size, chunking, time segments, the
recording interval or which other subjects run beside it (the tests check each).
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
from jax.extend.random import threefry_2x32
import numpy as np
import pandas as pd
import xarray as xr

from .._version import __version__
from .model import MECHANISM_IDS, N_MECHANISMS, STATE_FIELDS, initial_state, step, step_constants
from .parameters import HOURS_PER_YEAR, PARAMS, check_value, defaults

#: Per-block counters recorded every ``record_every`` steps.
COUNT_FIELDS = ("acts", "urges", "habit_acts", "resisted", "attempts", "stressors", "severity_sum", "relief_sum",
                "intrapersonal_acts", "interpersonal_acts")
#: Columns of the event buffer (one row per urge, acted on or resisted, and per attempt).
EVENT_FIELDS = ("step", "kind", "habitual", "severity", "relief", "distress", "intrapersonal", "interpersonal")
EVENT_KINDS = {0: "resisted", 1: "act", 2: "attempt"}
#: Subjects per device are padded to a multiple of this (a multiple of any CPU SIMD width),
#: so a subject's arithmetic never depends on its batch; see :func:`simulate_cohort`.
SUBJECT_QUANTUM = 64
#: Inner-scan unroll factor. 1: with 2, XLA compiled a one-step block (record_every=1) with
#: different float rounding from longer blocks, so the recording interval changed trajectories.
UNROLL = 1


def mechanism_switches(off: Iterable[str] = ()) -> np.ndarray:
    """Switch vector (13,) with the named mechanisms ('M1'..'M13') off."""
    on = np.ones(N_MECHANISMS, dtype=np.float32)
    for m in off:
        if m not in MECHANISM_IDS:
            raise ValueError(f"unknown mechanism '{m}': expected one of {', '.join(MECHANISM_IDS)}")
        on[MECHANISM_IDS.index(m)] = 0.0
    return on


def stack_params(params: Mapping[str, float | np.ndarray] | None, n: int, where: str = "parameters") -> dict[str, np.ndarray]:
    """Complete ``params`` with defaults and broadcast every entry to shape ``(n,)`` float32.

    Values are checked against the bounds in the parameter table; errors name the field.
    """
    out = {k: np.full(n, v, dtype=np.float32) for k, v in defaults().items()}
    for name, value in (params or {}).items():
        arr = np.asarray(value, dtype=np.float64)
        if name not in PARAMS:
            raise KeyError(f"{where}: unknown parameter '{name}'")
        if arr.ndim > 1 or (arr.ndim == 1 and arr.shape[0] != n):
            raise ValueError(f"{where}: parameter '{name}' must be a scalar or have length {n}, got shape {arr.shape}")
        for v in np.atleast_1d(arr):
            check_value(name, v, where)
        out[name] = np.broadcast_to(arr, (n,)).astype(np.float32).copy()
    return out


# ----------------------------------------------------------------------------- schedules
#: What a schedule can change: every parameter of PARAMS (in table order), then the
#: ``skill`` state, an input set by the schedule (the strength of a learned alternative
#: response; it is 0 without a schedule and the step itself never changes it).
PARAM_NAMES: tuple[str, ...] = tuple(PARAMS)
SCHEDULE_TARGETS: tuple[str, ...] = PARAM_NAMES + ("skill",)


@dataclass(frozen=True)
class Schedule:
    """Time-varying parameter changes (interventions) as plain arrays.

    ``C`` components, ``T = len(SCHEDULE_TARGETS)`` targets, ``n`` subjects. The effect of
    component ``c`` on subject ``i`` at time ``t`` (hours since the start of the run) is
    ``e = level[i, c] * (1 - exp(-(min(t, end) - start) / tau_on)) * exp(-(t - end)+ / tau_off)``
    (0 before ``start``; ``end`` is the component's end or the person's dropout). At the start
    of each record block the parameters become
    ``clip(base * (1 + sum_c e_c mult[c]) + sum_c e_c add[c], low, high)``
    and the skill input ``clip(sum_c e_c add[c, skill], 0, 1)``. With every level 0 the
    parameters are the base parameters exactly, so a zero-strength arm equals the control arm.

    Attributes
    ----------
    mult, add : (C, T) float
        Relative change (factor - 1) and additive change at full effect.
    level, start, end : (n, C) float
        Per subject: strength x adherence, start and end time (h; ``inf`` = never ends).
    tau_on, tau_off : (C,) float
        Onset and offset time constants (h).
    """

    mult: np.ndarray
    add: np.ndarray
    level: np.ndarray
    start: np.ndarray
    end: np.ndarray
    tau_on: np.ndarray
    tau_off: np.ndarray

    def validated(self, n: int) -> "Schedule":
        """Float32 copies with their shapes checked against ``n`` subjects (clear errors)."""
        f = {k: np.asarray(getattr(self, k), dtype=np.float32) for k in
             ("mult", "add", "level", "start", "end", "tau_on", "tau_off")}
        if f["mult"].ndim != 2 or f["mult"].shape[1] != len(SCHEDULE_TARGETS):
            raise ValueError(f"schedule: mult must have shape (components, {len(SCHEDULE_TARGETS)}), got {f['mult'].shape}")
        c = f["mult"].shape[0]
        if c < 1:
            raise ValueError("schedule: needs at least one component (pass no schedule for an untreated run)")
        want = {"add": (c, len(SCHEDULE_TARGETS)), "level": (n, c), "start": (n, c), "end": (n, c), "tau_on": (c,),
                "tau_off": (c,)}
        for k, shape in want.items():
            if f[k].shape != shape:
                raise ValueError(f"schedule: {k} must have shape {shape}, got {f[k].shape}")
        for k in ("mult", "add", "level", "start", "tau_on", "tau_off"):
            if not np.isfinite(f[k]).all():
                raise ValueError(f"schedule: {k} has non-finite values")
        if np.isnan(f["end"]).any():
            raise ValueError("schedule: end has NaN values")
        if (f["tau_on"] <= 0).any() or (f["tau_off"] <= 0).any():
            raise ValueError("schedule: tau_on and tau_off must be positive (hours)")
        if (f["mult"] < -1).any():
            raise ValueError("schedule: mult (relative change) must be >= -1 (a parameter cannot turn negative by scaling)")
        return Schedule(**f)

    def take(self, idx: np.ndarray) -> "Schedule":
        """The schedule of the subjects ``idx`` (per-subject arrays indexed, the rest shared)."""
        return Schedule(self.mult, self.add, self.level[idx], self.start[idx], self.end[idx], self.tau_on, self.tau_off)


def schedule_effects(t, level, start, end, tau_on, tau_off, xp=jnp):
    """Effect of each component at time ``t`` (h): onset while in treatment, decay after ``end``.

    Works on JAX (``xp=jnp``, inside the jit) and NumPy arrays (``xp=np``, for analysis).
    """
    on_time = xp.maximum(xp.minimum(t, end) - start, 0.0)
    off_time = xp.maximum(t - xp.maximum(end, start), 0.0)
    return level * -xp.expm1(-on_time / tau_on) * xp.exp(-off_time / tau_off)


def _sum_components(eff, table):
    """``eff @ table`` over the component axis as multiply-adds in component order."""
    acc = eff[..., 0:1] * table[0]
    for c in range(1, table.shape[0]):
        acc = acc + eff[..., c:c + 1] * table[c]
    return acc


def apply_schedule(base, eff, mult, add, low, high, xp=jnp):
    """Modified parameter vector (clipped to bounds) and skill input from component effects ``eff``.

    ``base`` has the parameters in :data:`PARAM_NAMES` order along its last axis.
    """
    n_p = len(PARAM_NAMES)
    # The sum over components is written out in a fixed order instead of ``eff @ mult``: a dot
    # product's rounding depends on the BLAS kernel and the batch shape, and a subject's
    # parameters must not depend on who else is in the batch or on the CPU.
    factor = 1.0 + _sum_components(eff, mult)
    shift = _sum_components(eff, add)
    values = xp.clip(base * factor[..., :n_p] + shift[..., :n_p], low, high)
    skill = xp.clip(shift[..., n_p], 0.0, 1.0)
    return values, skill


def effective_params(params: Mapping[str, np.ndarray], schedule: Schedule, t: float) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """NumPy mirror of what the simulator uses at time ``t`` (h): per-subject parameters and skill.

    ``params`` as returned by :func:`stack_params` (arrays of shape ``(n,)``). The simulator
    evaluates the schedule at the start of each record block, so pass a block start time to
    get exactly the values it used.
    """
    low = np.array([PARAMS[k].low for k in PARAM_NAMES], np.float32)
    high = np.array([PARAMS[k].high for k in PARAM_NAMES], np.float32)
    base = np.stack([np.asarray(params[k], np.float32) for k in PARAM_NAMES], axis=-1)
    eff = schedule_effects(np.float32(t), schedule.level, schedule.start, schedule.end, schedule.tau_on,
                           schedule.tau_off, xp=np).astype(np.float32)
    values, skill = apply_schedule(base, eff, schedule.mult, schedule.add, low, high, xp=np)
    return {k: values[:, i] for i, k in enumerate(PARAM_NAMES)}, skill


#: Scale of the uniforms: a 31-bit integer times 2**-31.
_U_SCALE = 2.0 ** -31
#: The largest float32 below 1 (a uniform that rounds up to 1 is set to it).
_U_MAX = float(np.nextafter(np.float32(1.0), np.float32(0.0)))


def step_uniforms(subject_key: jax.Array, t: jax.Array) -> jax.Array:
    """The ``N_UNIFORMS`` (2) uniforms in [0, 1) of one person-step, from one hash.

    Counter-based: one Threefry-2x32 hash of the subject key over the counter pair ``(t, 0)``
    gives two 32-bit words, so step ``t`` of a subject always gets the same numbers, whatever
    else is simulated. Each word's 31 high bits, converted to float32 (correctly rounded, so
    the same on every CPU and GPU) and scaled by 2**-31, make one uniform: the resolution is
    2**-31 near 0 and float32's 24 bits relative elsewhere, so a rare hazard (an attempt
    probability of 1e-5 per step) and the marks rescaled from an event's interval keep
    full resolution. A word that rounds up to 1 gives the largest float32 below 1.
    """
    counters = jnp.stack([t.astype(jnp.uint32), jnp.zeros((), jnp.uint32)])
    bits = threefry_2x32(jax.random.key_data(subject_key), counters)
    x = (bits >> 1).astype(jnp.int32).astype(jnp.float32) * jnp.float32(_U_SCALE)
    return jnp.minimum(x, jnp.float32(_U_MAX))


#: Event-buffer columns on the device: step, flags (bits: :data:`_FLAG_BITS`), severity, relief,
#: distress. One row per step with an urge or an attempt (both in one row; the host splits it).
_BUF_COLS = 5
_FLAG_BITS = {"act": 1, "habitual": 2, "intrapersonal": 4, "interpersonal": 8, "urge": 16, "attempt": 32}
#: Record layouts by name (``records=``): every state field and the urge intensity per block
#: besides the counts, or the counts only. A tuple of names of STATE_FIELDS and "urge_intensity"
#: records just those.
RECORDS = ("full", "counts")
#: What a record block can hold besides the counts.
RECORDABLE = STATE_FIELDS + ("urge_intensity",)


def _recorded(records) -> tuple[str, ...]:
    """The recorded fields (in RECORDABLE order) of a ``records=`` value; a clear error otherwise."""
    if isinstance(records, str):
        if records not in RECORDS:
            raise ValueError(f"records must be one of {', '.join(RECORDS)} or a sequence of fields, got {records!r}")
        return RECORDABLE if records == "full" else ()
    names = tuple(records)
    bad = [f for f in names if f not in RECORDABLE]
    if bad:
        raise ValueError(f"records: unknown field(s) {', '.join(map(str, bad))}; choose among {', '.join(RECORDABLE)}")
    return tuple(f for f in RECORDABLE if f in names)


def _block(subject_key, p, const, on, dt, k, cap, keep, age0, carry, block_index):
    """Run ``k`` steps for one subject (aged ``age0`` years at step 0); return the new carry and the block's record.

    ``cap`` rows of event buffer (0: no buffer, nothing stored per step); ``keep``: the fields of
    :data:`RECORDABLE` recorded at the block's end (the state then, the last step's urge
    intensity), besides the counts.
    """
    f32 = jnp.float32
    years_per_step = dt / HOURS_PER_YEAR

    def inner(c, t):
        s, buf, n_row, n_ev, acc, _ = c
        u = step_uniforms(subject_key, t)
        s, ev = step(u, s, p, on, dt, const, age=age0 + t.astype(jnp.float32) * years_per_step)
        if cap:
            # one scatter per step: a row for an urge, an attempt or both (flags say which)
            flags = (ev.act * 1 + ev.habitual * 2 + ev.intrapersonal * 4 + ev.interpersonal * 8 + ev.urge * 16
                     + ev.attempt * 32)
            row = jnp.stack([t.astype(f32), flags.astype(f32), ev.severity, ev.relief, ev.distress])
            write = ev.urge | ev.attempt
            buf = buf.at[jnp.where(write, n_row, cap)].set(row, mode="drop")
            n_row = n_row + write
            n_ev = n_ev + ev.urge + ev.attempt
        acc = acc + jnp.stack([
            ev.act.astype(f32), ev.urge.astype(f32), (ev.act & ev.habitual).astype(f32), (ev.urge & ~ev.act).astype(f32),
            ev.attempt.astype(f32), ev.stressor.astype(f32), ev.severity, ev.relief, ev.intrapersonal.astype(f32),
            ev.interpersonal.astype(f32),
        ])
        return (s, buf, n_row, n_ev, acc, ev.urge_intensity), None

    s, buf, n_row, n_ev = carry
    acc0 = jnp.zeros(len(COUNT_FIELDS), f32)
    steps = block_index * k + jnp.arange(k, dtype=jnp.int32)
    # only the last step's urge intensity is recorded, so it rides in the carry
    (s, buf, n_row, n_ev, acc, urge_int), _ = jax.lax.scan(inner, (s, buf, n_row, n_ev, acc0, f32(0.0)), steps,
                                                           unroll=UNROLL)
    kept = {f: (urge_int if f == "urge_intensity" else getattr(s, f)) for f in keep}
    return (s, buf, n_row, n_ev), (kept, acc)


@partial(jax.jit, static_argnames=("cap",))
def _initial_carry(p, cap):
    """Per-subject loop carry at time 0: state, empty event buffer (None if ``cap`` is 0), rows, events."""
    def one(ps):
        buf = jnp.full((cap, _BUF_COLS), jnp.nan, jnp.float32) if cap else None
        return initial_state(ps), buf, jnp.int32(0), jnp.int32(0)

    return jax.vmap(one)(p)


@partial(jax.jit, static_argnames=("n_records", "k", "cap", "keep"))
def _run_segment(root_key, subject_ids, p, on, dt, carry, first_block, n_records, k, cap, age0, keep=RECORDABLE):
    """Advance a chunk of subjects by ``n_records`` blocks of ``k`` steps from block ``first_block``.

    Step ``t`` of a subject always draws the same numbers (they are keyed by ``t``), so a run
    split into segments equals the same run in one piece.
    """
    def one(sid, ps, c, a0):
        subject_key = jax.random.fold_in(root_key, sid)
        body = partial(_block, subject_key, ps, step_constants(ps, on, dt), on, dt, k, cap, keep, a0)
        return jax.lax.scan(body, c, first_block + jnp.arange(n_records, dtype=jnp.int32))

    return jax.vmap(one)(subject_ids, p, carry, age0)


@partial(jax.jit, static_argnames=("n_records", "k", "cap", "keep"))
def _run_segment_scheduled(root_key, subject_ids, p, on, dt, carry, first_block, n_records, k, cap, sched, low, high,
                           age0, keep=RECORDABLE):
    """As :func:`_run_segment`, with the parameters modified by a schedule once per record block.

    ``sched`` = (mult, add, level, start, end, tau_on, tau_off) as arrays (per-subject ones
    with a leading subject axis). Arms of a trial differ only in these arrays.
    """
    mult, add, level, start, end, tau_on, tau_off = sched

    def one(sid, ps, c, lv, st, en, a0):
        subject_key = jax.random.fold_in(root_key, sid)
        base = jnp.stack([ps[name] for name in PARAM_NAMES])

        def body(c, b):
            t = (b * k).astype(jnp.float32) * dt
            eff = schedule_effects(t, lv, st, en, tau_on, tau_off)
            values, skill = apply_schedule(base, eff, mult, add, low, high)
            pe = {name: values[i] for i, name in enumerate(PARAM_NAMES)}
            s, buf, n_row, n_ev = c
            c = (s._replace(skill=skill), buf, n_row, n_ev)
            return _block(subject_key, pe, step_constants(pe, on, dt), on, dt, k, cap, keep, a0, c, b)

        return jax.lax.scan(body, c, first_block + jnp.arange(n_records, dtype=jnp.int32))

    return jax.vmap(one)(subject_ids, p, carry, level, start, end, age0)


def _event_rows(buf: np.ndarray, n_ev: np.ndarray, cap: int, subject_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The event table from the device buffer: ``(subjects, rows)`` with the columns of EVENT_FIELDS.

    A buffer row with an urge and an attempt becomes two table rows (urge first); each subject
    keeps its first ``min(n_ev, cap)`` table rows (``cap`` buffer rows always hold them).
    """
    used = np.isfinite(buf[:, :, 0])  # rows never written are NaN
    b = buf[used]  # (rows, _BUF_COLS), subject-major, in time order
    subj = np.repeat(np.arange(buf.shape[0]), used.sum(axis=1))
    flags = b[:, 1].astype(np.int64)
    urge, attempt = (flags & _FLAG_BITS["urge"]) > 0, (flags & _FLAG_BITS["attempt"]) > 0
    per = urge.astype(np.int64) + attempt
    src = np.repeat(np.arange(b.shape[0]), per)
    # the second table row of a buffer row, and the only one of an attempt without an urge, is the attempt
    second = np.zeros(src.size, bool)
    starts = np.cumsum(per) - per
    second[starts[per == 2] + 1] = True
    is_att = second | np.repeat(~urge & attempt, per)
    f = flags[src]
    rows = np.zeros((src.size, len(EVENT_FIELDS)), np.float32)
    rows[:, 0] = b[src, 0]
    rows[:, 1] = np.where(is_att, 2.0, (f & _FLAG_BITS["act"]) > 0)
    keep_cols = ~is_att
    rows[:, 2] = keep_cols & ((f & _FLAG_BITS["habitual"]) > 0)
    rows[:, 3] = np.where(keep_cols, b[src, 2], 0.0)
    rows[:, 4] = np.where(keep_cols, b[src, 3], 0.0)
    rows[:, 5] = np.where(keep_cols, b[src, 4], 0.0)
    rows[:, 6] = keep_cols & ((f & _FLAG_BITS["intrapersonal"]) > 0)
    rows[:, 7] = keep_cols & ((f & _FLAG_BITS["interpersonal"]) > 0)
    s = subj[src]
    # position of each table row within its subject; keep the first min(n_ev, cap)
    first_of = np.searchsorted(s, np.arange(buf.shape[0]))
    pos = np.arange(s.size) - first_of[s]
    keep = pos < np.minimum(n_ev, cap)[s]
    return subject_ids[s[keep]], rows[keep]


#: With a progress bar, a chunk whose run exceeds this many person-steps is advanced in time
#: segments (of equal length, so one compilation), and the bar moves per segment.
SEGMENT_PERSON_STEPS = 20_000_000


def _segment_records(n_records: int, k: int, chunk: int, progress: bool) -> int:
    """Records per time segment: all of them, or a divisor giving about 10-40 segments."""
    if not progress or n_records * k * chunk <= SEGMENT_PERSON_STEPS:
        return n_records
    for n_seg in range(10, 41):
        if n_records % n_seg == 0:
            return n_records // n_seg
    return n_records


def config_hash(config: Mapping) -> str:
    """SHA-256 of the canonical JSON form of a config."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()


def _grid(horizon_hours: float, dt: float, record_every: int) -> tuple[int, int]:
    if not (dt > 0 and math.isfinite(dt)):
        raise ValueError(f"dt must be a positive number of hours, got {dt}")
    if not (horizon_hours > 0 and math.isfinite(horizon_hours)):
        raise ValueError(f"horizon_hours must be positive, got {horizon_hours}")
    if record_every < 1:
        raise ValueError(f"record_every must be >= 1, got {record_every}")
    n_steps = round(horizon_hours / dt)
    if n_steps < 1 or abs(horizon_hours / dt - n_steps) > 1e-6:
        raise ValueError(f"horizon_hours={horizon_hours} is not a whole number of steps of dt={dt} h")
    if n_steps % record_every:
        raise ValueError(
            f"the horizon has {n_steps} steps, not a multiple of record_every={record_every}: "
            f"choose record_every among the divisors of {n_steps}")
    if n_steps >= 2**24:
        raise ValueError(f"{n_steps} steps exceed the 2**24 steps a float32 event time can index exactly")
    return n_steps, n_steps // record_every


def simulate_cohort(
    seed: int,
    params: Mapping[str, float | np.ndarray] | None = None,
    *,
    n_subjects: int | None = None,
    horizon_hours: float = HOURS_PER_YEAR,
    dt: float = 1.0,
    record_every: int = 24,
    mechanisms_off: Iterable[str] = (),
    event_capacity: int = 512,
    subject_ids: np.ndarray | None = None,
    start_age_years: float | np.ndarray = 12.0,
    chunk_size: int = 16384,
    progress: bool = False,
    config: Mapping | None = None,
    schedule: Schedule | None = None,
    records: str = "full",
    events: bool = True,
) -> xr.Dataset:
    """Simulate a cohort and return a labelled Dataset.

    Parameters
    ----------
    seed : int
        Root seed; subject ``i`` uses ``fold_in(PRNGKey(seed), i)``.
    params : mapping, optional
        Parameter overrides: scalars (shared) or arrays of length ``n_subjects`` (per subject).
    n_subjects : int, optional
        Cohort size (defaults to the length of ``subject_ids``, else 1).
    horizon_hours, dt : float
        Simulated time and step, hours. ``horizon_hours`` must be a whole number of steps.
    record_every : int
        Record the state and per-block counts every this many steps.
    mechanisms_off : iterable of str
        Mechanisms ('M1'..'M13') to switch off (ablation).
    event_capacity : int
        Rows per subject of the event table (urges, acts, attempts); overflow is counted in
        ``events_dropped``, never silent.
    subject_ids : array of int, optional
        Global subject ids (keys derive from these); default ``0..n_subjects-1``.
    start_age_years : float or array of length ``n_subjects``
        Age (years) at time 0: the step's age input (M12 development) runs from it. A scalar
        is also recorded as the ``age`` coordinate; per-subject ages are recorded as the
        ``start_age`` variable.
    chunk_size : int
        Subjects per compiled call (memory bound); results do not depend on it.
    progress : bool
        Show a progress bar over chunks.
    config : mapping, optional
        The run's config, stored (with its hash) in ``attrs``.
    schedule : Schedule, optional
        Time-varying parameter changes (interventions; see :class:`Schedule`). ``None``
        runs the unscheduled simulator.
    records : "full", "counts" or a sequence of field names
        What each record block keeps besides the per-block counts: ``"full"``, every state field
        at its end and the last step's urge intensity; ``"counts"``, nothing else; a sequence of
        names from :data:`RECORDABLE`, just those. Fields not recorded come as ``final_<field>``
        (the state at the end of the run). A life-course survey needs only the counts, an EMA
        study affect and urge intensity; the trajectory does not depend on this choice.
    events : bool
        Keep the event table. ``False`` stores nothing per event on the device (the fastest
        loop); the Dataset then has no event variables and no ``events_dropped``.
    """
    # refuse before allocating anything a run cannot fit (the grid is checked first, its message is clearer)
    _grid(horizon_hours, dt, record_every)
    check_run_size(len(subject_ids) if subject_ids is not None else (1 if n_subjects is None else int(n_subjects)),
                   horizon_hours=horizon_hours, dt=dt, record_every=record_every, event_capacity=max(int(event_capacity), 1),
                   warn=False, records=records, events=events)
    if subject_ids is None:
        n = 1 if n_subjects is None else int(n_subjects)
        subject_ids = np.arange(n, dtype=np.int64)
    subject_ids = np.asarray(subject_ids, dtype=np.int64)
    n = subject_ids.shape[0]
    if n_subjects is not None and n_subjects != n:
        raise ValueError(f"n_subjects={n_subjects} but {n} subject_ids were given")
    if n < 1:
        raise ValueError("need at least one subject")
    if not (0 <= int(seed) < 2**32):
        raise ValueError(f"seed must be an integer in [0, 2**32), got {seed} (larger seeds would collide)")
    if event_capacity < 1:
        raise ValueError("event_capacity must be >= 1")
    keep = _recorded(records)
    cap = int(event_capacity) if events else 0
    mechanisms_off = tuple(mechanisms_off)
    on = mechanism_switches(mechanisms_off)
    n_steps, n_records = _grid(horizon_hours, dt, record_every)
    p = stack_params(params, n)
    age0_all = np.broadcast_to(np.asarray(start_age_years, dtype=np.float64), (n,)).astype(np.float32)
    if not np.isfinite(age0_all).all() or (age0_all < 0).any() or (age0_all > 120).any():
        raise ValueError("start_age_years must be finite ages in [0, 120] years")
    if schedule is not None:
        schedule = schedule.validated(n)
        low = jnp.asarray(np.array([PARAMS[k].low for k in PARAM_NAMES], np.float32))
        high = jnp.asarray(np.array([PARAMS[k].high for k in PARAM_NAMES], np.float32))

    devices = jax.local_devices()
    n_dev = len(devices)
    chunk = max(1, min(int(chunk_size), n))
    # Every device gets a whole number of SIMD-width groups: XLA's vectorised loops handle a
    # ragged tail with scalar code whose rounding differs in the last bit, which would make a
    # subject's trajectory depend on the batch it runs in. Padding rows are dropped below.
    quantum = SUBJECT_QUANTUM * n_dev
    chunk = -(-chunk // quantum) * quantum
    sharding = None
    if n_dev > 1:
        mesh = jax.sharding.Mesh(np.array(devices), ("subject",))
        sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("subject"))
    root = jax.random.PRNGKey(seed)
    outs = []
    starts = range(0, n, chunk)
    seg = _segment_records(n_records, record_every, chunk, progress)
    n_seg = n_records // seg
    bar = None
    if progress and len(starts) * n_seg > 1:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(starts) * n_seg * seg * record_every * chunk, desc="simulating", unit="person-step",
                   unit_scale=True)
    on_dev, dt_dev = jnp.asarray(on), jnp.float32(dt)
    for a in starts:
        b = min(a + chunk, n)
        idx = np.arange(a, a + chunk)
        idx = np.where(idx < n, idx, a)  # pad the last chunk with copies; dropped below
        ids = subject_ids[idx].astype(np.uint32)
        pc = {k: v[idx] for k, v in p.items()}
        a0 = age0_all[idx]
        sc = None
        if schedule is not None:
            s_sub = schedule.take(idx)
            sc = (s_sub.level, s_sub.start, s_sub.end)
        if sharding is not None:  # split subjects across devices (one per CPU core, or GPUs)
            ids, pc, a0 = jax.device_put((ids, pc, a0), sharding)
            if sc is not None:
                sc = jax.device_put(sc, sharding)
        carry = _initial_carry(pc, cap)
        pieces = []
        for g in range(n_seg):
            if schedule is None:
                carry, rec = _run_segment(root, ids, pc, on_dev, dt_dev, carry, jnp.int32(g * seg), seg, record_every,
                                          cap, a0, keep)
            else:
                sched = (schedule.mult, schedule.add, *sc, schedule.tau_on, schedule.tau_off)
                carry, rec = _run_segment_scheduled(root, ids, pc, on_dev, dt_dev, carry, jnp.int32(g * seg), seg,
                                                    record_every, cap, sched, low, high, a0, keep)
            pieces.append(jax.tree_util.tree_map(lambda x: np.asarray(x)[: b - a], rec))
            if bar is not None:
                bar.update(seg * record_every * chunk)
        kept, acc = (pieces[0] if n_seg == 1 else
                     jax.tree_util.tree_map(lambda *xs: np.concatenate(xs, axis=1), *pieces))
        final, buf, _, n_ev = jax.tree_util.tree_map(lambda x: np.asarray(x)[: b - a], carry)
        outs.append((kept, acc, final, buf, n_ev))
    if bar is not None:
        bar.close()
    if len(outs) == 1:
        kept, acc, final, buf, n_ev = outs[0]
    else:
        kept, acc, final, buf, n_ev = jax.tree_util.tree_map(lambda *xs: np.concatenate(xs, axis=0), *outs)

    # A run that left the finite numbers is flagged and counted, never passed on silently.
    invalid = ~np.isfinite(acc).all(axis=(1, 2))
    for f in STATE_FIELDS:
        invalid |= ~np.isfinite(getattr(final, f))
    for x in kept.values():
        invalid |= ~np.isfinite(x).all(axis=1)
    if invalid.any():
        warnings.warn(f"{int(invalid.sum())} of {n} subjects have non-finite states (see the 'invalid' variable)",
                      RuntimeWarning, stacklevel=2)
    # Times are products of step counts and dt, rounded to 1e-9 h so that decimal steps give the
    # decimal times a user asks for (7 x 0.1 h is 0.7 h, not 0.7000000000000001 h).
    time = np.round(np.arange(1, n_records + 1) * record_every * dt, 9)
    data_vars = {f: (("subject", "time"), x) for f, x in kept.items()}
    if keep != RECORDABLE:  # the state at the end of the run, for the fields not recorded
        data_vars.update({f"final_{f}": (("subject",), getattr(final, f)) for f in STATE_FIELDS if f not in kept})
    for i, f in enumerate(COUNT_FIELDS):
        data_vars[f] = (("subject", "time"), acc[..., i])
    names = list(PARAMS)
    data_vars["parameter_value"] = (("subject", "parameter"), np.stack([p[k] for k in names], axis=1))
    data_vars["invalid"] = (("subject",), invalid)
    if events:
        data_vars["events_dropped"] = (("subject",), np.maximum(n_ev - event_capacity, 0).astype(np.int64))
        # event table, flattened along an "event" dimension
        subj_rows, rows = _event_rows(buf, n_ev, event_capacity, subject_ids)
        ev_step = rows[:, 0].astype(np.int64)
        data_vars.update({
            "event_subject": (("event",), subj_rows),
            "event_time": (("event",), np.round((ev_step + 1) * float(dt), 9)),
            "event_kind": (("event",), rows[:, 1].astype(np.int8)),
            "event_habitual": (("event",), rows[:, 2].astype(bool)),
            "event_severity": (("event",), rows[:, 3]),
            "event_relief": (("event",), rows[:, 4]),
            "event_distress": (("event",), rows[:, 5]),
            "event_intrapersonal": (("event",), rows[:, 6].astype(bool)),
            "event_interpersonal": (("event",), rows[:, 7].astype(bool)),
        })
    coords = {
        "subject": subject_ids,
        "time": ("time", time, {"units": "hours", "long_name": "end of recording block"}),
        "parameter": names,
    }
    ages_vary = np.ndim(start_age_years) > 0 and not np.all(age0_all == age0_all[0])
    if ages_vary:
        data_vars["start_age"] = (("subject",), age0_all.astype(np.float64))
        age_attr = float(np.min(age0_all))
    else:
        age_attr = float(np.ravel(start_age_years)[0]) if np.ndim(start_age_years) else float(start_age_years)
        coords["age"] = ("time", age_attr + time / HOURS_PER_YEAR, {"units": "years"})
    ds = xr.Dataset(data_vars, coords=coords)
    if events:
        ds["event_time"].attrs["units"] = "hours"
        ds["event_kind"].attrs["flag_meanings"] = "0=resisted urge, 1=act, 2=suicide attempt"
    cfg = copy.deepcopy(dict(config or {}))
    cfg.setdefault("run", {}).update({
        "seed": seed, "horizon_hours": horizon_hours, "dt": dt, "record_every": record_every,
        "mechanisms_off": list(mechanisms_off), "event_capacity": event_capacity,
        "start_age_years": age0_all.tolist() if ages_vary else age_attr,
    })
    if keep != RECORDABLE or not events:  # only when not the defaults, so the hashes of earlier runs stand
        cfg["run"].update({"records": records if isinstance(records, str) else list(keep), "events": bool(events)})
    if schedule is not None:  # the schedule's arrays, by hash (the trial's design carries their meaning)
        h = hashlib.sha256()
        for k in ("mult", "add", "level", "start", "end", "tau_on", "tau_off"):
            h.update(np.ascontiguousarray(getattr(schedule, k)).tobytes())
        cfg["run"]["schedule"] = {"components": int(schedule.mult.shape[0]), "sha256": h.hexdigest()}
    ds.attrs.update({
        "title": "nssisim simulation (research instrument; severity is an abstract number)",
        "nssisim_version": __version__,
        "seed": int(seed),
        "dt_hours": float(dt),
        "horizon_hours": float(np.round(n_steps * dt, 9)),
        "record_every": int(record_every),
        "mechanisms_off": ",".join(mechanisms_off),
        "start_age_years": age_attr,  # the youngest start age when ages vary (see the start_age variable)
        "config": json.dumps(cfg, sort_keys=True, default=str),
        "config_hash": config_hash(cfg),
        "events_dropped_total": int(data_vars["events_dropped"][1].sum()) if events else 0,
        "invalid_subjects": int(invalid.sum()),
    })
    return ds


def simulate(seed: int, params: Mapping[str, float] | None = None, *, subject_id: int = 0, **kw) -> xr.Dataset:
    """Simulate one person (``subject_id`` fixes its random stream); see :func:`simulate_cohort`."""
    return simulate_cohort(seed, params, subject_ids=np.array([subject_id]), **kw)


def events_table(ds: xr.Dataset) -> pd.DataFrame:
    """The event table of a simulation as a tidy DataFrame (one row per urge, act or attempt)."""
    df = pd.DataFrame({
        "subject": ds["event_subject"].values,
        "time_h": ds["event_time"].values,
        "kind": pd.Categorical.from_codes(ds["event_kind"].values.astype(int), categories=[EVENT_KINDS[i] for i in range(3)]),
        "trigger": np.where(ds["event_habitual"].values, "habit", "distress"),
        "severity": ds["event_severity"].values,
        "relief": ds["event_relief"].values,
        "distress": ds["event_distress"].values,
        "function_intrapersonal": ds["event_intrapersonal"].values,
        "function_interpersonal": ds["event_interpersonal"].values,
    })
    df.loc[df["kind"] == "attempt", "trigger"] = ""
    return df


# ----------------------------------------------------------------------------- size check before a run
#: Person-steps per second assumed for the time estimate of :func:`check_run_size`: the rate
#: measured on 2 CPU cores (``nssisim bench --population-subjects``, docs/population.md: 9.9 M/s).
#: A GPU is about ten times faster, so the estimate errs on the long side there.
ESTIMATE_PERSON_STEPS_PER_S = 1.0e7
#: Runs estimated to take longer than this many hours get a :class:`LongRunWarning`.
LONG_RUN_HOURS = 1.0


class RunTooLargeError(ValueError):
    """A run whose results cannot fit in memory; the message names the setting and the estimate."""


class LongRunWarning(UserWarning):
    """A run estimated to take hours (it goes on)."""


def estimate_run(n_subjects: int, *, horizon_hours: float, dt: float, record_every: int,
                 event_capacity: int, records="full", events: bool = True) -> dict[str, float]:
    """Host memory (bytes) and person-steps of :func:`simulate_cohort` with these settings.

    Bytes count the recorded blocks (the per-block counts and the fields ``records`` keeps, float32),
    the event buffer (``event_capacity`` rows of the event fields per subject, float32; none with
    ``events=False``) and the parameter table (float64), each held twice at the peak (pieces and
    their concatenation). Computed from the run settings alone, before anything is allocated.
    """
    n = float(n_subjects)
    n_steps = float(round(float(horizon_hours) / float(dt)))
    n_records = n_steps / max(int(record_every), 1)
    record_bytes = n * n_records * (len(_recorded(records)) + len(COUNT_FIELDS)) * 4.0
    event_bytes = n * float(event_capacity) * len(EVENT_FIELDS) * 4.0 if events else 0.0
    params = n * len(PARAMS) * 8.0
    return {"bytes": 2.0 * (record_bytes + event_bytes + params), "records_bytes": record_bytes, "events_bytes": event_bytes,
            "person_steps": n * n_steps, "n_records": n_records}


def available_memory() -> int | None:
    """Memory this process may still use, in bytes (the smaller of the free memory and a cgroup
    limit), or ``None`` where the system does not say."""
    avail = None
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        pass
    if avail is None:
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            avail = None
    try:
        with open("/sys/fs/cgroup/memory.max", encoding="ascii") as fh:
            limit = fh.read().strip()
        if limit.isdigit():
            avail = int(limit) if avail is None else min(avail, int(limit))
    except OSError:
        pass
    return avail


def format_bytes(b: float) -> str:
    """``1.5 GiB``-style size."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(b) < 1024 or unit == "PiB":
            return f"{b:.0f} {unit}" if unit == "B" else f"{b:.1f} {unit}"
        b /= 1024.0
    return f"{b:.1f} PiB"  # pragma: no cover


def check_run_size(n_subjects: int, *, horizon_hours: float, dt: float, record_every: int, event_capacity: int,
                   field: str = "n_subjects", available: int | None = None, warn: bool = True, records="full",
                   events: bool = True) -> dict[str, float]:
    """Refuse a run whose results cannot fit in memory; warn on one estimated to take hours.

    Raises :class:`RunTooLargeError` naming ``field`` (the setting that sets the size, e.g.
    ``run.n_subjects`` of a scenario file) with the estimate and the memory available (from
    :func:`available_memory` unless ``available`` is given). Returns :func:`estimate_run`'s dict.
    """
    est = estimate_run(n_subjects, horizon_hours=horizon_hours, dt=dt, record_every=record_every,
                       event_capacity=event_capacity, records=records, events=events)
    avail = available_memory() if available is None else int(available)
    if avail is not None and est["bytes"] > avail:
        raise RunTooLargeError(
            f"{field} = {int(n_subjects):,}: the results need about {format_bytes(est['bytes'])} of memory "
            f"({est['n_records']:,.0f} records and {int(event_capacity) if events else 0:,} event rows per subject), more than the "
            f"{format_bytes(avail)} available; use fewer subjects, a larger record_every or a smaller "
            "event_capacity (a population run keeps one chunk in memory)")
    hours = est["person_steps"] / ESTIMATE_PERSON_STEPS_PER_S / 3600.0
    if warn and hours > LONG_RUN_HOURS:
        warnings.warn(f"{field} = {int(n_subjects):,}: {est['person_steps']:,.0f} person-steps, about {hours:,.1f} h "
                      f"at {ESTIMATE_PERSON_STEPS_PER_S / 1e6:g} M person-steps/s (2 CPU cores; a GPU is faster)",
                      LongRunWarning, stacklevel=2)
    return est


__all__ = ["apply_schedule", "available_memory", "check_run_size", "estimate_run", "ESTIMATE_PERSON_STEPS_PER_S",
           "format_bytes", "LONG_RUN_HOURS", "LongRunWarning", "RunTooLargeError", "config_hash", "COUNT_FIELDS", "effective_params", "EVENT_FIELDS", "EVENT_KINDS",
           "events_table", "mechanism_switches", "PARAM_NAMES", "Schedule", "schedule_effects", "SCHEDULE_TARGETS",
           "RECORDABLE", "RECORDS", "SEGMENT_PERSON_STEPS", "simulate", "simulate_cohort", "stack_params", "step_uniforms",
           "SUBJECT_QUANTUM", "UNROLL"]
