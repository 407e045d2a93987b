"""Synthetic EMA studies: the simulator seen through prompts, rating noise and missed prompts.

A research instrument, not a clinical tool. Data flow: a preset or parameter overrides ->
:func:`nssisim.core.simulation.simulate_cohort` (burn-in, then the study window at dt = 0.25 h) ->
the observation model of :func:`simulate_study` (signal prompts in the waking window, compliance,
rounded noisy ratings, act/stressor reports, event reports) -> :class:`SyntheticStudy`: rows in
the long format of :mod:`.data` (write them with :func:`nssisim.ema.data.write_ema`) and the true
parameters, optionally with the study-window states (:data:`STUDY_STATE_COLUMNS`) that recovery
(:mod:`.recovery`) scores fits against.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
import pandas as pd
import xarray as xr

from ..core.model import urge_distress, urge_threshold
from ..core.presets import load_preset
from ..core.simulation import simulate_cohort
from .data import DEFAULT_SCALE, ITEMS, RATING_ITEMS, _check_scales

#: Time 0 of synthetic studies: Monday 2 March 2026, midnight, at UTC+01:00.
STUDY_START = datetime.fromisoformat("2026-03-02T00:00:00+01:00")


class SyntheticStudy(NamedTuple):
    """A synthetic study: the EMA rows (documented format) and the true parameters per participant."""

    data: pd.DataFrame
    truth: pd.DataFrame


#: Defaults of the observation model (see ``docs/ema.md``).
STUDY_DT = 0.25
NOISE_SD = 8.0
EVENT_REPORT_RATE = 0.5


def participant_ids(n: int) -> list[str]:
    """``p001``, ``p002``, ... (at least three digits)."""
    width = max(3, len(str(n)))
    return [f"p{i + 1:0{width}d}" for i in range(n)]


def simulate_study(
    seed: int,
    params: Mapping[str, float | np.ndarray] | str | None = "vulnerable",
    n_participants: int = 30,
    *,
    days: int = 14,
    prompts_per_day: int = 6,
    wake: tuple[float, float] = (9.0, 21.0),
    compliance: float = 0.75,
    noise_sd: float = NOISE_SD,
    event_report_rate: float = EVENT_REPORT_RATE,
    scales: Mapping[str, tuple[float, float]] | None = None,
    stressor_item: bool = True,
    burn_in_days: int = 90,
    event_capacity: int = 4096,
    start: datetime = STUDY_START,
    study_states: bool = False,
    progress: bool = False,
) -> SyntheticStudy:
    """Simulate an EMA study: the model at dt = 0.25 h seen through prompts, noise and missed prompts.

    ``params`` is a preset name or a mapping of parameter overrides (scalars, or arrays of length
    ``n_participants``). The model runs ``burn_in_days`` before the study (participants of EMA studies
    are recruited with a history, not at the first act); study time 0 is the end of the burn-in. Each day the waking window ``wake`` (hours after midnight) is split into
    ``prompts_per_day`` equal blocks with one signal prompt at a uniform random minute in each.
    A prompt is answered with probability ``compliance``. An answered prompt rates affect and urge
    intensity at the last recorded step at or before it: ``round(clip(lo + (hi - lo) * x + noise_sd
    * z, lo, hi))`` with ``z ~ N(0, 1)``; ``act`` (and ``stressor``) is 1 if at least one act
    (stressor) happened since the previous answered signal prompt (since time 0 for the first).
    Each act is also reported as an event row (``prompt_type=event``, time of the act, affect at the
    urge as ``negative_affect``) with probability ``event_report_rate``. Randomness of the
    observation model comes from ``numpy.random.default_rng([seed, 1])``; the simulation uses
    ``seed`` itself, so a study is reproducible from its seed.

    With ``study_states=True`` the ``truth`` table also holds, per participant, what the simulator's
    states were during the study window (columns :data:`STUDY_STATE_COLUMNS`): the window means of
    relief value, habit, tolerance, affect, mood and allostatic load, the effective urge threshold
    (``urge_threshold(load) - mood term``, see ``model.urge_threshold``/``urge_distress``, at the
    window means), the numbers of acts and habit-triggered acts in the window and over the whole run
    (burn-in included). Recovery (:mod:`.recovery`) compares fitted quantities with these.
    ``progress`` shows the simulator's progress bar (the study does not depend on it).
    """
    if isinstance(params, str):
        params = load_preset(params)
    n = int(n_participants)
    if n < 1:
        raise ValueError(f"n_participants must be >= 1, got {n_participants}")
    if days < 1 or prompts_per_day < 1:
        raise ValueError("days and prompts_per_day must be >= 1")
    w0, w1 = float(wake[0]), float(wake[1])
    if not 0.0 <= w0 < w1 <= 24.0:
        raise ValueError(f"wake must be (start, end) hours with 0 <= start < end <= 24, got {wake}")
    if not 0.0 <= compliance <= 1.0 or not 0.0 <= event_report_rate <= 1.0:
        raise ValueError("compliance and event_report_rate must lie in [0, 1]")
    if noise_sd < 0:
        raise ValueError("noise_sd must be >= 0")
    if burn_in_days < 0:
        raise ValueError("burn_in_days must be >= 0")
    sc = {k: (float(DEFAULT_SCALE[0]), float(DEFAULT_SCALE[1])) for k in RATING_ITEMS}
    sc.update(_check_scales(scales or {}))

    dt = STUDY_DT
    # every step is a record: keep only what the prompts (and, asked for, the study states) read
    recorded = ("affect", "urge_intensity") + (_STUDY_STATE_FIELDS if study_states else ())
    ds = simulate_cohort(seed, params, n_subjects=n, horizon_hours=(burn_in_days + days) * 24.0, dt=dt, record_every=1,
                         event_capacity=event_capacity, records=recorded, progress=progress)
    if int(ds.attrs["events_dropped_total"]):
        raise ValueError(f"{ds.attrs['events_dropped_total']} events did not fit event_capacity={event_capacity}: "
                         "raise event_capacity")
    rng = np.random.default_rng([int(seed), 1])
    affect = ds["affect"].values
    urge = ds["urge_intensity"].values
    acts_c = np.cumsum(ds["acts"].values, axis=1)
    stress_c = np.cumsum(ds["stressors"].values, axis=1)
    n_steps = affect.shape[1]
    offset = burn_in_days * 24.0  # model hours at study time 0
    first = int(round(offset / dt)) - 1  # last step before the study: acts up to it are not reported

    def cum_at(c, i, idx):  # events in steps 0..idx (idx = -1: none yet)
        return np.where(idx >= 0, c[i, np.clip(idx, 0, None)], 0)

    def rate(x, item, size):
        lo, hi = sc[item]
        return np.clip(np.round(lo + (hi - lo) * x + noise_sd * rng.standard_normal(size)), lo, hi)

    ids = participant_ids(n)
    block = (w1 - w0) / prompts_per_day
    block_min = int(round(block * 60))
    ev_subj, ev_time, ev_kind = ds["event_subject"].values, ds["event_time"].values, ds["event_kind"].values
    ev_dist = ds["event_distress"].values
    frames = []
    for i in range(n):
        # prompt times in whole minutes: day start + wake + block start + uniform minute within the block
        offs = rng.integers(0, max(block_min, 1), size=(days, prompts_per_day))
        minutes = (np.arange(days)[:, None] * 1440 + int(round(w0 * 60))
                   + np.round(np.arange(prompts_per_day) * block * 60).astype(int)[None, :] + offs).ravel()
        t = minutes / 60.0
        idx = np.minimum(np.floor((t + offset) / dt + 1e-9).astype(int) - 1, n_steps - 1)  # record j is at (j + 1) * dt
        answered = rng.random(t.size) < compliance
        na = rate(np.where(idx >= 0, affect[i, np.clip(idx, 0, None)], affect[i, 0]), "negative_affect", t.size)
        ur = rate(np.where(idx >= 0, urge[i, np.clip(idx, 0, None)], urge[i, 0]), "urge", t.size)
        a_idx = idx[answered]
        prev = np.concatenate([[first], a_idx[:-1]])
        act = np.full(t.size, np.nan)
        act[answered] = (cum_at(acts_c, i, a_idx) - cum_at(acts_c, i, prev)) > 0
        stress = np.full(t.size, np.nan)
        stress[answered] = (cum_at(stress_c, i, a_idx) - cum_at(stress_c, i, prev)) > 0
        na[~answered] = np.nan
        ur[~answered] = np.nan
        sig = pd.DataFrame({"t": t, "prompt_type": "signal", "answered": answered, "negative_affect": na,
                            "urge": ur, "act": act, "stressor": stress})
        sel = (ev_subj == i) & (ev_kind == 1) & (ev_time > offset)
        report = rng.random(int(sel.sum())) < event_report_rate
        et = np.round((ev_time[sel][report] - offset) * 60) / 60.0
        ev = pd.DataFrame({"t": et, "prompt_type": "event", "answered": True,
                           "negative_affect": rate(ev_dist[sel][report], "negative_affect", et.size),
                           "urge": np.nan, "act": 1.0, "stressor": np.nan}).drop_duplicates("t")
        both = pd.concat([sig, ev], ignore_index=True).sort_values(["t", "prompt_type"], kind="stable")
        both.insert(0, "participant", ids[i])
        frames.append(both)
    data = pd.concat(frames, ignore_index=True)
    data.insert(1, "timestamp", [(start + timedelta(minutes=int(round(x * 60)))).isoformat() for x in data["t"]])
    data = data.drop(columns="t")
    if not stressor_item:
        data = data.drop(columns="stressor")
    for k in ITEMS:
        if k in data.columns:
            data[k] = pd.array(data[k].round(), dtype="Int64")
    data = data.reset_index(drop=True)
    data.attrs.update({"seed": int(seed), "days": days, "prompts_per_day": prompts_per_day, "wake": [w0, w1],
                       "compliance": compliance, "noise_sd": noise_sd, "event_report_rate": event_report_rate,
                       "dt_hours": dt, "burn_in_days": burn_in_days, "scales": {k: list(v) for k, v in sc.items()}})
    truth = pd.DataFrame(ds["parameter_value"].values, index=pd.Index(ids, name="participant"),
                         columns=list(ds["parameter"].values))
    if study_states:
        truth = pd.concat([truth, _study_states(ds, first + 1, ids)], axis=1)
    return SyntheticStudy(data, truth)


#: Extra ``truth`` columns of :func:`simulate_study` with ``study_states=True``.
STUDY_STATE_COLUMNS = ("study_relief_value", "study_habit", "study_tolerance", "study_affect", "study_mood",
                       "study_allostatic_load", "study_threshold", "study_acts", "study_habit_acts", "run_acts",
                       "run_habit_acts")


#: The state fields whose window means :func:`_study_states` reports.
_STUDY_STATE_FIELDS = ("relief_value", "habit", "tolerance", "affect", "mood", "allostatic_load")


def _study_states(ds: xr.Dataset, first_step: int, ids: list[str]) -> pd.DataFrame:
    """Window means of the states that the EMA inference model estimates (see :func:`simulate_study`)."""
    win = slice(max(first_step, 0), None)
    mean = {f: ds[f].values[:, win].astype(np.float64).mean(axis=1) for f in _STUDY_STATE_FIELDS}
    names = list(ds["parameter"].values)
    p = {k: jnp.asarray(ds["parameter_value"].values[:, j]) for j, k in enumerate(names)}
    threshold = np.asarray(urge_threshold(jnp.asarray(mean["allostatic_load"]), p)
                           - urge_distress(0.0, jnp.asarray(mean["mood"]), p), dtype=np.float64)
    acts, habit_acts = ds["acts"].values, ds["habit_acts"].values
    out = {f"study_{k}": v for k, v in mean.items()}
    out.update(study_threshold=threshold, study_acts=acts[:, win].sum(axis=1), study_habit_acts=habit_acts[:, win].sum(axis=1),
               run_acts=acts.sum(axis=1), run_habit_acts=habit_acts.sum(axis=1))
    return pd.DataFrame({k: out[k] for k in STUDY_STATE_COLUMNS}, index=pd.Index(ids, name="participant"))


__all__ = ["STUDY_START", "STUDY_STATE_COLUMNS", "SyntheticStudy", "participant_ids", "simulate_study"]
