"""The numbers behind the report: regimes, cohort, person and population summaries.

- :func:`classify_regimes`: each subject's regime (repetitive, sporadic, never);
- :func:`cohort_summary` / :func:`person_summary`: the numbers behind the cohort and
  person figures;
- :func:`population_summary`: headline numbers of a life-course population table;
- :func:`trajectory_table`: its trajectory classes under the published longitudinal designs;
- :func:`effective_threshold`: the affect level above which distress-driven urges arise.

Shares are fractions in [0, 1]. A research instrument, not a clinical tool.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..core.measures import REPETITIVE_ACTS, YEAR_HOURS
from ..core.model import urge_distress, urge_threshold
from ..core.parameters import HOURS_PER_DAY, HOURS_PER_YEAR
from ..population import load_targets, reported_table, simulated_measures, TARGETS as CALIBRATION_TARGETS
from ..population.survey import (BARROCAS_DESIGN, ONE_YEAR_DESIGN, trajectory_classes_1_year,
                                 trajectory_classes_8_waves)

#: The "past year" window and the repetitive bar are those of the virtual measurements
#: (core/measures.py), so the report and the measurement table define them once.
FINAL_WINDOW_DAYS = YEAR_HOURS / HOURS_PER_DAY
REPETITIVE_MIN_ACTS = REPETITIVE_ACTS


def _block_hours(ds: xr.Dataset) -> float:
    return float(ds.attrs.get("record_every", 1)) * float(ds.attrs.get("dt_hours", 1.0))


def _start_age(ds: xr.Dataset) -> float:
    return float(ds.attrs.get("start_age_years", float(ds["age"].values[0] - ds["time"].values[0] / HOURS_PER_YEAR)))


def _config(ds: xr.Dataset) -> dict[str, Any]:
    try:
        return json.loads(ds.attrs.get("config", "{}"))
    except (TypeError, ValueError):
        return {}


def _mechanisms_off(ds: xr.Dataset) -> set[str]:
    return {m for m in str(ds.attrs.get("mechanisms_off", "")).split(",") if m}


def _subject_events(ds: xr.Dataset, subject: int) -> dict[str, np.ndarray]:
    sel = ds["event_subject"].values == subject
    return {k: ds[f"event_{k}"].values[sel] for k in ("time", "kind", "habitual", "distress")}


def effective_threshold(ds: xr.Dataset, subject: int) -> tuple[np.ndarray, np.ndarray]:
    """Affect level above which distress-driven urges can arise, per recorded time (h).

    Mirrors the M5 block of :func:`nssisim.core.model.step`: the distress-tolerance threshold
    (lowered by allostatic load, raised by resilience) minus the depressive-mood term that
    is added to affect before the comparison. Mechanism switches in ``ds.attrs`` are
    honoured. Returns ``(time_h, level)``.
    """
    p = ds["parameter_value"].sel(subject=subject).to_series()
    off = _mechanisms_off(ds)
    m2, m4, m11 = ("M2" not in off), ("M4" not in off), ("M11" not in off)
    load = ds["allostatic_load"].sel(subject=subject).values * m2
    mood = ds["mood"].sel(subject=subject).values * m4
    thr = np.asarray(urge_threshold(load, p, float(m11)))
    mood_term = np.asarray(urge_distress(0.0, mood, p, float(m4), float(m11)))
    return ds["time"].values, np.clip(thr - mood_term, 0.0, 1.0)

def _final_window_mask(ds: xr.Dataset, window_days: float = FINAL_WINDOW_DAYS) -> np.ndarray:
    t = ds["time"].values
    block_h = _block_hours(ds)
    start = t[-1] - window_days * HOURS_PER_DAY
    return (t - block_h) >= start - 1e-9  # blocks that lie wholly inside the window


def classify_regimes(ds: xr.Dataset, window_days: float = FINAL_WINDOW_DAYS,
                     min_acts: int = REPETITIVE_MIN_ACTS) -> np.ndarray:
    """Label each subject ``repetitive`` (>= ``min_acts`` acts in the final ``window_days``
    of the run, or the whole run if shorter), ``sporadic`` (acted, but fewer) or ``never``."""
    acts = ds["acts"].values
    final = acts[:, _final_window_mask(ds, window_days)].sum(axis=1)
    total = acts.sum(axis=1)
    return np.where(final >= min_acts, "repetitive", np.where(total > 0, "sporadic", "never"))


def _act_days_final(ds: xr.Dataset, window_days: float = FINAL_WINDOW_DAYS) -> np.ndarray:
    """Distinct days with at least one act in the final window, per subject (event table)."""
    horizon = float(ds["time"].values[-1])
    start = horizon - window_days * HOURS_PER_DAY
    sel = (ds["event_kind"].values == 1) & (ds["event_time"].values > start)
    subj = ds["event_subject"].values[sel]
    day = np.floor((ds["event_time"].values[sel] - 1e-9) / HOURS_PER_DAY).astype(np.int64)
    ids = ds["subject"].values
    pos = {int(s): i for i, s in enumerate(ids)}
    out = np.zeros(ids.shape[0], dtype=np.int64)
    if subj.size:
        pairs = np.unique(np.stack([subj, day], axis=1), axis=0)
        np.add.at(out, [pos[int(s)] for s in pairs[:, 0]], 1)
    return out


def cohort_summary(ds: xr.Dataset) -> dict[str, Any]:
    """Cohort statistics (shares are fractions of the cohort in [0, 1])."""
    acts = ds["acts"].values
    total = acts.sum(axis=1)
    acted = total > 0
    regimes = classify_regimes(ds)
    n = int(total.shape[0])
    n_acts = float(acts.sum())
    first_age = np.full(n, np.nan)
    ages = ds["age"].values
    if acted.any():
        first_idx = np.argmax(np.cumsum(acts, axis=1) > 0, axis=1)
        first_age[acted] = ages[first_idx[acted]]
    window = min(FINAL_WINDOW_DAYS, float(ds["time"].values[-1]) / HOURS_PER_DAY)
    return {
        "n_subjects": n,
        "horizon_days": float(ds["time"].values[-1]) / HOURS_PER_DAY,
        "final_window_days": window,
        "share_any_act": float(acted.mean()),
        "share_repetitive": float((regimes == "repetitive").mean()),
        "share_act_days_ge5_final": float((_act_days_final(ds) >= 5).mean()),
        "median_acts_among_acted": float(np.median(total[acted])) if acted.any() else float("nan"),
        "iqr_acts_among_acted": (tuple(float(q) for q in np.percentile(total[acted], [25, 75]))
                                 if acted.any() else (float("nan"), float("nan"))),
        "max_acts": int(total.max()),
        "habit_share_of_acts": float(ds["habit_acts"].values.sum() / n_acts) if n_acts else float("nan"),
        "resisted_share_of_urges": (float(ds["resisted"].values.sum() / ds["urges"].values.sum())
                                    if ds["urges"].values.sum() else float("nan")),
        "median_age_first_act": float(np.nanmedian(first_age)) if acted.any() else float("nan"),
        "share_any_attempt": float((ds["attempts"].values.sum(axis=1) > 0).mean()),
        "events_dropped_total": int(ds["events_dropped"].values.sum()),
        "regime_counts": {k: int((regimes == k).sum()) for k in ("repetitive", "sporadic", "never")},
    }


def person_summary(ds: xr.Dataset, subject: int = 0) -> dict[str, Any]:
    """Counts and final slow states of one subject."""
    s = ds.sel(subject=subject)
    ev = _subject_events(ds, subject)
    acts = ev["kind"] == 1
    ages = ds["age"].values
    cum = np.cumsum(s["acts"].values)
    return {
        "acts": int(s["acts"].values.sum()),
        "habit_acts": int(s["habit_acts"].values.sum()),
        "urges_resisted": int(s["resisted"].values.sum()),
        "attempts": int(s["attempts"].values.sum()),
        "age_first_act": float(ages[np.argmax(cum > 0)]) if cum[-1] > 0 else float("nan"),
        "mean_distress_at_distress_acts": float(ev["distress"][acts & ~ev["habitual"]].mean()) if (acts & ~ev["habitual"]).any() else float("nan"),
        "mean_distress_at_habit_acts": float(ev["distress"][acts & ev["habitual"]].mean()) if (acts & ev["habitual"]).any() else float("nan"),
        "final_relief_value": float(s["relief_value"].values[-1]),
        "final_habit": float(s["habit"].values[-1]),
        "final_tolerance": float(s["tolerance"].values[-1]),
    }

def population_summary(table, recall_years: float | None = None) -> dict[str, Any]:
    """Headline numbers of a life-course population table (see ``nssisim.population``); the survey
    measures as reported with the population's ``recall_years`` (:func:`nssisim.population.reported_table`)."""
    m = simulated_measures(reported_table(table, recall_years))
    life_end = table["end_lifetime_nssi"].to_numpy(bool)
    out = dict(m)
    out.update({
        "n": len(table),
        "lifetime_by_end": float(life_end.mean()),
        "addictive_share": float(table["end_addictive"].mean()),
        "addictive_share_of_lifetime": float(table["end_addictive"].to_numpy()[life_end].mean()) if life_end.any() else math.nan,
        "cessation_share_of_lifetime": float(table["end_cessation"].to_numpy()[life_end].mean()) if life_end.any() else math.nan,
        "criterion_a_last_year": float(table["end_criterion_a"].mean()),
    })
    return out


#: The longitudinal designs of the trajectory-class calibration targets: (label, classifier, its design,
#: calibration-file entry, measure prefix: a class's target is the one measuring ``<prefix>_<class>``). The class
#: rules and designs live in ``nssisim.population.survey``.
TRAJECTORY_DESIGNS = (
    ("8 waves (Barrocas2015)", trajectory_classes_8_waves, BARROCAS_DESIGN, "course.trajectory_classes_8_waves", "traj8"),
    ("1 year, 3 waves", trajectory_classes_1_year, ONE_YEAR_DESIGN, "course.trajectory_classes_1_year", "traj1y"),
)


def trajectory_table(table) -> pd.DataFrame:
    """Trajectory-class shares of a life-course table under each design of :data:`TRAJECTORY_DESIGNS`,
    beside the published shares (calibration targets ``traj8_*`` / ``traj1y_*``).

    One row per class: ``design`` (label), ``waves``, ``months``, ``entry_low``, ``entry_high``,
    ``n`` (subjects the design includes), ``class``, ``simulated`` (share; each design's shares
    sum to 1, NaN if it includes nobody), ``published`` (NaN where the file has no share) and ``target``.
    """
    def class_targets(key: str, prefix: str) -> dict:
        return {t.field: t for t in CALIBRATION_TARGETS if t.key == key and t.measure == f"{prefix}_{t.field}"}

    ids = tuple(t.id for *_, key, prefix in TRAJECTORY_DESIGNS for t in class_targets(key, prefix).values())
    entries = load_targets(required=ids)
    rows = []
    for label, classify, design, key, prefix in TRAJECTORY_DESIGNS:
        shares = classify(table)
        by_class = class_targets(key, prefix)
        for cls, value in shares.items():
            if cls == "n":
                continue
            t = by_class.get(cls)
            entry = entries.get(t.id) if t is not None else None
            rows.append({"design": label, "waves": design.waves, "months": design.months,
                         "entry_low": design.baseline_ages[0], "entry_high": design.baseline_ages[1],
                         "n": int(shares["n"]), "class": cls, "simulated": float(value),
                         "published": float(entry[cls]) if entry is not None else math.nan,
                         "target": t.id if t is not None else ""})
    return pd.DataFrame(rows)


__all__ = ["TRAJECTORY_DESIGNS", "FINAL_WINDOW_DAYS", "REPETITIVE_MIN_ACTS", "classify_regimes", "cohort_summary", "effective_threshold",
           "person_summary", "population_summary", "trajectory_table"]
