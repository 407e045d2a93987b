"""Virtual measurements: what a survey or interview would record of each simulated adolescent.

Every definition is stated once, as a named constant below, and mirrors the published measure
it is compared with (``MODEL.md`` section 7; ``targets/calibration.toml``). Time frames are
relative to the *end of the run* (the moment of the virtual interview):

* ``lifetime_nssi``: at least one act during the run. Acts before the run (a history set via
  ``tolerance_initial``/``habit_initial``) are not seen: "lifetime" means "since the start age".
* ``nssi_12m``: at least one act in the last :data:`YEAR_HOURS` (365 days) of the run. When the
  run is shorter than a year, the whole run is the window.
* ``five_plus_12m``: at least :data:`REPETITIVE_ACTS` acts in that window (Luo 2024's "5 or more").
* ``criterion_a``: acts on at least :data:`CRITERION_A_DAYS` distinct days in that window (DSM-5
  NSSI disorder criterion A; APA2013). A day is a calendar day of the run: step ``s`` lies in day
  ``floor(s * dt / 24)``.
* ``onset_age``: age (years) at the first act; NaN if none.
* ``n_acts``, ``n_acts_12m``: numbers of acts (from the per-block counts, complete even when the
  event table overflowed).
* ``n_episodes``: acts separated by at least :data:`EPISODE_GAP_HOURS` (24 h) start a new
  episode; acts closer together (a cluster within one night or crisis) are one episode.
* ``function_intrapersonal`` / ``function_interpersonal``: any act whose simulated relief served
  an intrapersonal function (relief above ``intrapersonal_relief_min``) / had an interpersonal
  consequence; from the simulated reinforcement, not assumed.
* the **addictive-features index** (0-4): the number of the four components of the Ottawa
  Self-Injury Inventory's addiction construct met, each from model states and history, all over
  the past-year window:

  - craving: urges (acted on or resisted) at :data:`CRAVING_URGES_PER_WEEK` per week or more
    (Nock, Prinstein & Sterba 2009 report about 5 NSSI thoughts a week in recent self-injurers;
    2 a week marks frequent thoughts without requiring the EMA sample's level);
  - tolerance: final opioid tolerance at least :data:`TOLERANCE_CUTOFF` (0.2: about ten recent
    acts at the default severity; the "needing more" item);
  - loss of control: at least :data:`LOSS_OF_CONTROL_SHARE` of the past year's acts were
    habit-triggered (urges from cues, deliberation largely bypassed; Zhu2024, CarenysAdan2025);
  - continuation despite harm: at least :data:`DESPITE_HARM_MIN_ACTS` acts made while the learned
    harm expectancy (state at the end of the previous record block) was at least
    :data:`HARM_CUTOFF`.

  ``addictive`` (the profile) requires **repetitive** NSSI (``five_plus_12m``) **and** at least
  :data:`ADDICTIVE_MIN_COMPONENTS` (3) of the 4 components. Rationale: the review's addictive
  subtype concerns severe, repetitive NSSI (ChenZhuo2026; BlascoFontecilla2016; CarenysAdan2025),
  so an occasional act never qualifies; and as in substance-use criteria, one or two features can
  arise from a single mechanism (e.g. tolerance from a burst of acts), so a profile needs most of
  them to co-occur.
* ``cessation``: a history (``lifetime_nssi``) and no act in the last 12 months. Only observable
  when the run is longer than a year (otherwise every act lies in the window and it is False).
* ``ideation``: peak recorded suicidal ideation above :data:`IDEATION_CUTOFF` (0.5); ``attempt``:
  at least one suicide attempt; ``nssi_and_attempt``: both NSSI and an attempt during the run.

Measures that use the event table (onset, episodes, days, despite-harm) are lower bounds when
the event table overflowed (``events_dropped > 0``, reported per subject); the first events are
always kept, so ``onset_age`` is exact. A RuntimeWarning says when this happens.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import xarray as xr

from ..stats import wilson_interval
from .parameters import HOURS_PER_DAY, HOURS_PER_YEAR

#: Length of the "past 12 months" window, hours (365 days).
YEAR_HOURS = 365.0 * HOURS_PER_DAY
#: Acts in the past year that make NSSI "repetitive" (Luo 2024: 5 or more).
REPETITIVE_ACTS = 5
#: Distinct days with acts in the past year for DSM-5 NSSI disorder criterion A (APA2013).
CRITERION_A_DAYS = 5
#: Minimal gap between two acts that makes them separate episodes, hours.
EPISODE_GAP_HOURS = 24.0
#: Craving: urges per week (past year) at or above which the component is met.
CRAVING_URGES_PER_WEEK = 2.0
#: Tolerance: final tolerance at or above which the component is met.
TOLERANCE_CUTOFF = 0.2
#: Loss of control: share of past-year acts that were habit-triggered.
LOSS_OF_CONTROL_SHARE = 0.25
#: Continuation despite harm: harm-expectancy level and number of past-year acts made above it.
HARM_CUTOFF = 0.4
DESPITE_HARM_MIN_ACTS = 2
#: Components (of 4) needed, on top of repetitive NSSI, for an "addictive" profile.
ADDICTIVE_MIN_COMPONENTS = 3
#: Peak suicidal ideation above which a subject counts as having ideation.
IDEATION_CUTOFF = 0.5
#: Event kinds in the event table.
KIND_ACT, KIND_ATTEMPT = 1, 2

#: Columns of :func:`measure`, in order.
COLUMNS = ("lifetime_nssi", "nssi_12m", "five_plus_12m", "criterion_a", "onset_age", "n_acts", "n_acts_12m",
           "n_episodes", "days_12m", "function_intrapersonal", "function_interpersonal", "urges_per_week_12m",
           "final_tolerance", "habit_share_12m", "acts_despite_harm_12m", "craving", "tolerance",
           "loss_of_control", "despite_harm", "addictive_index", "addictive", "cessation", "peak_ideation",
           "ideation", "attempt", "nssi_and_attempt", "events_dropped")


def _run_geometry(ds: xr.Dataset) -> tuple[np.ndarray, float, float, float, float]:
    """Block end times, block length, dt, run end and start age."""
    time = np.asarray(ds["time"].values, dtype=np.float64)
    if time.size == 0:
        raise ValueError("dataset has no recorded time points")
    block = float(time[0]) if time.size == 1 else float(time[1] - time[0])
    dt = float(ds.attrs.get("dt_hours", 1.0))
    start_age = float(ds.attrs.get("start_age_years", float(ds["age"].values[0]) - time[0] / HOURS_PER_YEAR))
    return time, block, dt, float(time[-1]), start_age


def addictive_features(n_acts_12m, urges_per_week, habit_acts_12m, final_tolerance, acts_despite_harm_12m) -> dict:
    """The addictive-features index and profile (module docstring) from past-year counts.

    Arguments are per-subject arrays over the past-year window: acts, urges per week, habit-triggered
    acts, the tolerance state at the end of the window, and acts made while the harm expectancy at
    the end of the previous record block was at least :data:`HARM_CUTOFF`. Returns the components
    (``craving``, ``tolerance``, ``loss_of_control``, ``despite_harm``), ``five_plus_12m``,
    ``habit_share_12m``, ``addictive_index`` (0-4) and ``addictive``. :func:`measure` and the
    referral profile (:mod:`nssisim.population.referral`) both use this one definition.
    """
    acts = np.asarray(n_acts_12m, dtype=np.float64)
    habit = np.asarray(habit_acts_12m, dtype=np.float64)
    five = acts >= REPETITIVE_ACTS
    habit_share = np.divide(habit, acts, out=np.zeros(acts.shape), where=acts > 0)
    craving = np.asarray(urges_per_week) >= CRAVING_URGES_PER_WEEK
    tol = np.asarray(final_tolerance) >= TOLERANCE_CUTOFF
    loc = (acts > 0) & (habit_share >= LOSS_OF_CONTROL_SHARE)
    dh = np.asarray(acts_despite_harm_12m) >= DESPITE_HARM_MIN_ACTS
    index = craving.astype(int) + tol + loc + dh
    return {"five_plus_12m": five, "habit_share_12m": habit_share, "craving": craving, "tolerance": tol,
            "loss_of_control": loc, "despite_harm": dh, "addictive_index": index,
            "addictive": five & (index >= ADDICTIVE_MIN_COMPONENTS)}


def measure(ds: xr.Dataset) -> pd.DataFrame:
    """One row per subject (index ``subject``) with the measures in :data:`COLUMNS`."""
    time, block, dt, end, start_age = _run_geometry(ds)
    subjects = np.asarray(ds["subject"].values)
    n = subjects.size
    win_start = end - min(YEAR_HOURS, end)
    in_win = (time - block) >= win_start - 1e-6  # record blocks wholly inside the window
    weeks = min(YEAR_HOURS, end) / (7 * HOURS_PER_DAY)

    acts = np.asarray(ds["acts"].values, dtype=np.float64)
    n_acts = acts.sum(axis=1)
    n_acts_12m = acts[:, in_win].sum(axis=1)
    urges_12m = np.asarray(ds["urges"].values, dtype=np.float64)[:, in_win].sum(axis=1)
    habit_12m = np.asarray(ds["habit_acts"].values, dtype=np.float64)[:, in_win].sum(axis=1)
    intra = np.asarray(ds["intrapersonal_acts"].values).sum(axis=1) > 0
    inter = np.asarray(ds["interpersonal_acts"].values).sum(axis=1) > 0
    attempts = np.asarray(ds["attempts"].values).sum(axis=1)
    harm = np.asarray(ds["harm"].values, dtype=np.float64)
    final_tol = np.asarray(ds["tolerance"].values, dtype=np.float64)[:, -1]
    peak_ide = np.asarray(ds["ideation"].values, dtype=np.float64).max(axis=1)
    dropped = (np.asarray(ds["events_dropped"].values, dtype=np.int64) if "events_dropped" in ds
               else np.zeros(n, np.int64))
    if dropped.any():
        warnings.warn(f"{int((dropped > 0).sum())} subjects overflowed the event table; onset is exact, episodes, "
                      "days and acts despite harm are lower bounds (raise event_capacity)", RuntimeWarning, stacklevel=2)

    # ---- event-table measures, acts only
    pos = {s: i for i, s in enumerate(subjects.tolist())}
    kind = np.asarray(ds["event_kind"].values)
    is_act = kind == KIND_ACT
    ev_sub = np.asarray(ds["event_subject"].values)[is_act]
    ev_t = np.asarray(ds["event_time"].values, dtype=np.float64)[is_act]
    row = np.fromiter((pos[s] for s in ev_sub.tolist()), dtype=np.int64, count=ev_sub.size)
    order = np.lexsort((ev_t, row))
    row, ev_t = row[order], ev_t[order]
    first = np.ones(row.size, bool)
    first[1:] = row[1:] != row[:-1]
    onset_t = np.full(n, np.nan)
    onset_t[row[first]] = ev_t[first]
    gap_new = first.copy()
    gap_new[1:] |= (ev_t[1:] - ev_t[:-1]) >= EPISODE_GAP_HOURS
    n_episodes = np.bincount(row[gap_new], minlength=n)
    w = ev_t > win_start + 1e-9
    day = np.floor((ev_t - dt) / HOURS_PER_DAY + 1e-9).astype(np.int64)
    days_df = pd.DataFrame({"row": row[w], "day": day[w]}).drop_duplicates()
    days_12m = np.bincount(days_df["row"].to_numpy(), minlength=n)
    # harm expectancy before each act: the state recorded at the end of the previous block
    b = np.searchsorted(time, ev_t - 1e-9, side="left")  # block that contains the act
    harm_before = np.where(b > 0, harm[row, np.maximum(b - 1, 0)], 0.0)
    if "parameter_value" in ds and "harm_prior" in list(ds["parameter"].values):
        prior = np.asarray(ds["parameter_value"].sel(parameter="harm_prior").values, dtype=np.float64)
        harm_before = np.where(b > 0, harm_before, prior[row])
    despite = np.bincount(row[w & (harm_before >= HARM_CUTOFF)], minlength=n)

    lifetime = n_acts > 0
    nssi_12m = n_acts_12m > 0
    urges_pw = urges_12m / weeks
    af = addictive_features(n_acts_12m, urges_pw, habit_12m, final_tol, despite)
    five, habit_share, craving, tol, loc, dh, index = (af[k] for k in (
        "five_plus_12m", "habit_share_12m", "craving", "tolerance", "loss_of_control", "despite_harm", "addictive_index"))
    out = pd.DataFrame({
        "lifetime_nssi": lifetime,
        "nssi_12m": nssi_12m,
        "five_plus_12m": five,
        "criterion_a": days_12m >= CRITERION_A_DAYS,
        "onset_age": start_age + onset_t / HOURS_PER_YEAR,
        "n_acts": n_acts.astype(np.int64),
        "n_acts_12m": n_acts_12m.astype(np.int64),
        "n_episodes": n_episodes.astype(np.int64),
        "days_12m": days_12m.astype(np.int64),
        "function_intrapersonal": intra,
        "function_interpersonal": inter,
        "urges_per_week_12m": urges_pw,
        "final_tolerance": final_tol,
        "habit_share_12m": habit_share,
        "acts_despite_harm_12m": despite.astype(np.int64),
        "craving": craving,
        "tolerance": tol,
        "loss_of_control": loc,
        "despite_harm": dh,
        "addictive_index": index.astype(np.int64),
        "addictive": af["addictive"],
        "cessation": lifetime & ~nssi_12m,
        "peak_ideation": peak_ide,
        "ideation": peak_ide > IDEATION_CUTOFF,
        "attempt": attempts > 0,
        "nssi_and_attempt": lifetime & (attempts > 0),
        "events_dropped": dropped,
    }, index=pd.Index(subjects, name="subject"))
    return out[list(COLUMNS)]


def prevalence_rows(ages, acts: np.ndarray) -> pd.DataFrame:
    """12-month prevalence for each year of age from acts per subject and year of age.

    ``acts`` has shape ``(n_subjects, len(ages))``. Each row: the share with at least one act
    in that year of age, its Wilson 95% interval, and the mean number of acts. Both the run
    measures (:func:`prevalence_by_age`) and the life-course survey tables use this one
    definition.
    """
    acts = np.asarray(acts, dtype=np.float64)
    n = acts.shape[0]
    rows = []
    for j, a in enumerate(ages):
        k = float((acts[:, j] > 0).sum())
        lo, hi = wilson_interval(k, float(n))
        rows.append({"age": int(a), "n_subjects": int(n), "prevalence_12m": k / n if n else math.nan, "ci_low": lo,
                     "ci_high": hi, "mean_acts": float(acts[:, j].mean()) if n else math.nan})
    return pd.DataFrame(rows, columns=["age", "n_subjects", "prevalence_12m", "ci_low", "ci_high", "mean_acts"])


def prevalence_by_age(ds: xr.Dataset) -> pd.DataFrame:
    """12-month NSSI prevalence for each whole year of age the run covers.

    Row ``age = A``: the share of subjects with at least one act while aged ``A`` to ``A + 1``
    (a record block belongs to the year of age at its midpoint), with a Wilson 95% interval and
    the mean number of acts. Only years with at least 365 days of record blocks are reported
    (a year of age is 365.25 days).
    """
    time, block, _, _, start_age = _run_geometry(ds)
    mid_age = start_age + (time - block / 2) / HOURS_PER_YEAR
    year = np.floor(mid_age + 1e-12).astype(np.int64)
    acts = np.asarray(ds["acts"].values, dtype=np.float64)
    ages = [int(a) for a in np.unique(year) if (year == a).sum() * block >= YEAR_HOURS - 1e-6]
    by_age = np.stack([acts[:, year == a].sum(axis=1) for a in ages], axis=1) if ages else np.zeros((acts.shape[0], 0))
    return prevalence_rows(ages, by_age)


def summary(m: pd.DataFrame) -> dict[str, float]:
    """Population shares of the main binary measures and the mean onset age."""
    keys = ("lifetime_nssi", "nssi_12m", "five_plus_12m", "criterion_a", "addictive", "cessation", "ideation",
            "attempt", "nssi_and_attempt")
    out = {k: float(m[k].mean()) for k in keys}
    out["onset_age_mean"] = float(m["onset_age"].mean()) if m["onset_age"].notna().any() else math.nan
    return out


__all__ = ["ADDICTIVE_MIN_COMPONENTS", "COLUMNS", "addictive_features", "CRAVING_URGES_PER_WEEK", "CRITERION_A_DAYS", "DESPITE_HARM_MIN_ACTS",
           "EPISODE_GAP_HOURS", "HARM_CUTOFF", "IDEATION_CUTOFF", "LOSS_OF_CONTROL_SHARE", "REPETITIVE_ACTS",
           "TOLERANCE_CUTOFF", "YEAR_HOURS", "measure", "prevalence_by_age", "prevalence_rows", "summary"]
