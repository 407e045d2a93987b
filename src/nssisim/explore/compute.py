"""The numbers behind the explorer: one call from widget settings to everything the page draws.

:func:`run_explorer` turns :class:`ExploreSettings` (a preset, a few traits and environment
scores, an intervention, the horizon, the seed) into one :func:`nssisim.core.simulate_cohort`
run of :data:`COHORT` adolescents who share those settings and differ only in their random life
events. Subject 0 is the adolescent whose trajectory is drawn; the cohort's outcomes are the
package's own measurements (:func:`nssisim.core.measure`, :func:`nssisim.core.summary`) and regimes
(:func:`nssisim.report.classify_regimes`). The view (``explore/app.py``) only draws what this
returns, so the numbers can be checked without a browser.

Fixed shapes, one compilation: the cohort is :data:`COHORT` = the simulator's subject quantum (one
person costs as much as 64), the recording interval is fixed, and every run goes through the
scheduled simulator with one component list holding the components of every intervention on
offer (:data:`EXPLORE_INTERVENTIONS`); the chosen one gets its level, the others level 0, which
leaves the parameters exactly as they are (``tests/test_trial.py``). Changing any widget but the
horizon therefore reuses the compiled simulator.

A research instrument, not a clinical tool: injury severity is an abstract number, and nothing
here is advice.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

import numpy as np

from ..core.measures import measure, summary, YEAR_HOURS
from ..core.parameters import check_value, HOURS_PER_DAY, PARAMS
from ..core.presets import load_preset, PRESETS
from ..core.simulation import SUBJECT_QUANTUM, simulate_cohort
from ..files import did_you_mean
from ..report.summaries import classify_regimes
from ..trials.interventions import Arm, build_schedule, DAYS_PER_MONTH, load_intervention

#: Person traits offered as widgets (names and bounds from the parameter table).
EXPLORE_TRAITS: tuple[str, ...] = ("limbic_reactivity", "pfc_adult", "alexithymia", "rumination_trait", "resilience")
#: Environment scores offered as widgets (risk factors of the person's surroundings, M1).
EXPLORE_ENVIRONMENT: tuple[str, ...] = ("maltreatment", "parental_control", "peer_victimisation", "stress_baseline")
#: Interventions offered ("none" and shipped files of ``configs/interventions``).
EXPLORE_INTERVENTIONS: tuple[str, ...] = ("none", "dbt_a", "supportive", "ssri", "naltrexone", "family",
                                          "anti_bullying")
#: Horizons offered, in years of 365 days (the measurements' "past 12 months" is the last of them).
EXPLORE_YEARS: tuple[int, ...] = (1, 2, 3)
#: Cohort size: the simulator pads subjects to this quantum anyway, so the cohort costs what one person does.
COHORT = SUBJECT_QUANTUM
#: Step (h) and recording interval (steps): the fast states are drawn as 6-hourly snapshots;
#: acts and urges are drawn at their exact times from the event table.
DT_HOURS = 1.0
RECORD_EVERY = 6
#: Event rows per subject (urges, acts, attempts): enough for three years of the clinical preset.
EVENT_CAPACITY = 4096
#: Start ages offered (years).
START_AGE_RANGE = (10.0, 18.0)
#: Treatment timing offered: start month after the run's start, and length in months.
TREATMENT_START_RANGE = (0.0, 24.0)
TREATMENT_MONTHS_RANGE = (1.0, 24.0)

SEED_MAX = 2**32 - 1


class ExploreError(ValueError):
    """A setting of the explorer is invalid; the message names the field."""


@dataclass(frozen=True)
class ExploreSettings:
    """What the explorer's widgets set. ``values`` overrides the preset for the traits of
    :data:`EXPLORE_TRAITS` and the scores of :data:`EXPLORE_ENVIRONMENT`."""

    preset: str = "vulnerable"
    values: Mapping[str, float] = field(default_factory=dict)
    intervention: str = "none"
    treatment_start_month: float = 1.0
    treatment_months: float = 6.0
    years: int = 1
    seed: int = 1
    start_age: float = 12.0

    def with_preset(self, preset: str) -> "ExploreSettings":
        """The same settings on another preset, with the widget values set to that preset's."""
        return replace(self, preset=preset, values=preset_values(preset))


def preset_values(preset: str) -> dict[str, float]:
    """The widget values of a preset: its overrides, else the parameter table's defaults."""
    _check_choice("preset", preset, PRESETS)
    base = load_preset(preset)
    return {k: float(base.get(k, PARAMS[k].default)) for k in EXPLORE_TRAITS + EXPLORE_ENVIRONMENT}


def _check_choice(name: str, value: Any, options) -> None:
    if value not in options:
        raise ExploreError(f"{name}: unknown value {value!r}{did_you_mean(str(value), options)}: expected one of "
                           f"{', '.join(map(str, options))}")


def _check_number(name: str, value: Any, low: float, high: float, *, integer: bool = False) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ExploreError(f"{name}: expected a number, got {value!r}") from None
    if not math.isfinite(v) or not (low <= v <= high):
        raise ExploreError(f"{name}: {value!r} is outside [{low:g}, {high:g}]")
    if integer and v != int(v):
        raise ExploreError(f"{name}: expected a whole number, got {value!r}")
    return v


def check_settings(s: ExploreSettings) -> ExploreSettings:
    """Return ``s`` if every field is valid; else raise :class:`ExploreError` naming the field."""
    _check_choice("preset", s.preset, PRESETS)
    _check_choice("intervention", s.intervention, EXPLORE_INTERVENTIONS)
    _check_choice("years", s.years, EXPLORE_YEARS)
    _check_number("seed", s.seed, 0, SEED_MAX, integer=True)
    _check_number("start_age", s.start_age, *START_AGE_RANGE)
    _check_number("treatment_start_month", s.treatment_start_month, *TREATMENT_START_RANGE)
    _check_number("treatment_months", s.treatment_months, *TREATMENT_MONTHS_RANGE)
    allowed = EXPLORE_TRAITS + EXPLORE_ENVIRONMENT
    for name, value in s.values.items():
        _check_choice("values", name, allowed)
        try:
            check_value(name, value, "explorer")
        except ValueError as err:  # the parameter table's message names the bounds
            raise ExploreError(f"{name}: {err}") from None
    return s


def explorer_params(s: ExploreSettings) -> dict[str, float]:
    """The parameter overrides of a run: the preset's, then the widget values."""
    params = dict(load_preset(s.preset))
    params.update({k: float(v) for k, v in s.values.items()})
    return params


@lru_cache(maxsize=1)
def _arms() -> tuple[Arm, ...]:
    return tuple(Arm(name, load_intervention(name)) for name in EXPLORE_INTERVENTIONS if name != "none")


def explorer_schedule(s: ExploreSettings, subject_ids: np.ndarray):
    """The schedule of a run: the components of every offered intervention, the chosen one's at
    its level (strength x adherence), the others at 0; with ``none`` every level is 0.

    Returns ``(schedule, info)`` as :func:`nssisim.trials.build_schedule` does.
    """
    arms = _arms()
    names = [a.name for a in arms]
    arm = names.index(s.intervention) if s.intervention != "none" else -1
    start_h = s.treatment_start_month * DAYS_PER_MONTH * HOURS_PER_DAY
    return build_schedule(arms, np.full(len(subject_ids), arm), subject_ids, int(s.seed), start_h,
                          s.treatment_months * DAYS_PER_MONTH)


def simulation_kwargs(s: ExploreSettings) -> dict[str, Any]:
    """The keyword arguments of :func:`nssisim.core.simulate_cohort` for a run (without the schedule)."""
    return {"seed": int(s.seed), "params": explorer_params(s), "n_subjects": COHORT,
            "horizon_hours": int(s.years) * YEAR_HOURS, "dt": DT_HOURS, "record_every": RECORD_EVERY,
            "event_capacity": EVENT_CAPACITY, "start_age_years": float(s.start_age)}


def run_explorer(s: ExploreSettings) -> dict[str, Any]:
    """Simulate the settings and return everything the page draws.

    Returns a dict: ``settings``; ``params`` (the overrides); ``dataset`` (the run);
    ``person`` (subject 0: ``time_days`` and the states ``affect``, ``urge_intensity``,
    ``relief_value``, ``habit``, ``tolerance``, ``harm``; ``acts``, ``resisted`` and ``attempts`` as
    dicts of ``time_days``, ``distress`` and, for acts, ``habitual``); ``person_measures`` (its row of
    :func:`nssisim.core.measure`) and ``person_regime``; ``cohort`` (``measures``, the table of all
    subjects; ``summary``, :func:`nssisim.core.summary`; ``regime_counts``; ``acts_per_month`` per
    subject); ``treatment`` (start and end day, or ``None``; ``adherence`` of subject 0);
    ``warnings`` (messages of the run's warnings) and ``seconds`` (wall time of this call).
    """
    t0 = time.perf_counter()
    check_settings(s)
    kw = simulation_kwargs(s)
    ids = np.arange(COHORT, dtype=np.int64)
    schedule, info = explorer_schedule(s, ids)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = simulate_cohort(**kw, schedule=schedule, config={"explorer": _settings_dict(s)})
        m = measure(ds)
    regimes = classify_regimes(ds)
    days = ds["time"].values / HOURS_PER_DAY
    person_states = {f: ds[f].sel(subject=0).values.astype(float)
                     for f in ("affect", "urge_intensity", "relief_value", "habit", "tolerance", "harm")}
    sel = ds["event_subject"].values == 0
    kind = ds["event_kind"].values[sel]
    ev_days = ds["event_time"].values[sel] / HOURS_PER_DAY
    distress = ds["event_distress"].values[sel].astype(float)
    habitual = ds["event_habitual"].values[sel]

    def events(mask):
        return {"time_days": ev_days[mask], "distress": distress[mask], "habitual": habitual[mask]}

    months = float(ds.attrs["horizon_hours"]) / HOURS_PER_DAY / DAYS_PER_MONTH
    treatment = None
    if s.intervention != "none":
        start = s.treatment_start_month * DAYS_PER_MONTH
        treatment = {"start_day": start, "end_day": start + s.treatment_months * DAYS_PER_MONTH,
                     "adherence": float(info["adherence"][0]), "dropout_day": float(info["dropout_days"][0]) + start}
    return {
        "settings": s,
        "params": kw["params"],
        "dataset": ds,
        "person": {"time_days": days, **person_states, "acts": events(kind == 1), "resisted": events(kind == 0),
                   "attempts": events(kind == 2)},
        "person_measures": m.iloc[0].to_dict(),
        "person_regime": str(regimes[0]),
        "cohort": {
            "measures": m,
            "summary": summary(m),
            "regime_counts": {k: int((regimes == k).sum()) for k in ("never", "sporadic", "repetitive")},
            "acts_per_month": m["n_acts"].to_numpy(float) / months,
            "months": months,
        },
        "treatment": treatment,
        "warnings": [str(w.message) for w in caught],
        "seconds": time.perf_counter() - t0,
    }


def _settings_dict(s: ExploreSettings) -> dict[str, Any]:
    return {"preset": s.preset, "values": dict(s.values), "intervention": s.intervention,
            "treatment_start_month": s.treatment_start_month, "treatment_months": s.treatment_months,
            "years": s.years, "seed": s.seed, "start_age": s.start_age}


__all__ = ["COHORT", "DT_HOURS", "EVENT_CAPACITY", "EXPLORE_ENVIRONMENT", "EXPLORE_INTERVENTIONS", "EXPLORE_TRAITS",
           "EXPLORE_YEARS", "ExploreError", "ExploreSettings", "RECORD_EVERY", "SEED_MAX", "START_AGE_RANGE",
           "TREATMENT_MONTHS_RANGE", "TREATMENT_START_RANGE", "check_settings", "explorer_params", "explorer_schedule",
           "preset_values", "run_explorer", "simulation_kwargs"]
