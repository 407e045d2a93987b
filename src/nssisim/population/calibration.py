"""Calibration of a population to published numbers (``nssisim calibrate``): the NSSI side.

The method is generic and lives in :mod:`nssisim.population.history_matching` (history matching
with Gaussian-process emulators, waves, implausibility cut-off 3, leave-one-out diagnostics,
resumable run folder). This module says what is matched:

* **Targets** (:data:`TARGETS`): each names its entry (and field) in ``targets/calibration.toml``
  (a copy ships as ``data/calibration_targets.toml``) and the exact simulated measure
  (:func:`nssisim.population.survey.calibration_measures`, defined like the published one), the ages
  the life course must cover to measure it, and how the published number becomes an
  :class:`~nssisim.population.history_matching.Observation` (:func:`observation`). Targets that need a
  referral rule, a trial or an EMA study (clinical frequency, EMA rates, DBT-A in practice) have no
  measure here: :func:`register_measure` plugs one in; until then they are reported as "not yet
  measured".
* **The setup** (``configs/calibrate_<population>.toml``, :func:`load_setup`): the population, the
  life course, the method settings, which targets are fitted, and the parameters to fit with their
  ranges (``[ranges]``: any row of the parameter table, the correlation scale, or the shape of the
  spec's age-varying environment), so a new mechanism parameter needs no code change.
* **Outputs**: the calibration record (:func:`record_toml`; the default parameter set, written into
  the spec's ``[parameters]`` table by :func:`apply_to_spec`) and an ensemble of non-implausible
  parameter sets (:mod:`nssisim.population.ensemble`).

Observation variances: a published 95 % interval becomes a normal sd ``(high - low) / 3.92`` (on
the log scale for ratios); a value without an interval gets :data:`POINT_REL_SD` of the value; the
onset age :data:`ONSET_SD_YEARS`; the peak-age range 14-16 is an interval (matched anywhere inside,
:data:`PEAK_SD_YEARS` outside); the decline after 18 is the stated inequality
``decline_ratio <= DECLINE_MAX_RATIO`` (sd :data:`DECLINE_SD`), and its "through young adulthood"
half ``decline_ratio >= PERSIST_MIN_RATIO`` (sd :data:`PERSIST_SD`; target ``persist_after_18``). Model discrepancy: an sd of
:data:`MODEL_DISCREPANCY_REL` of the target (on the log scale: that value itself). Simulator
variance: each measure's own sampling variance at the cohort size (binomial, Woolf, delta method),
or the emulator's nugget where a measure has none (the peak age, the decline ratio).

Common random numbers: every candidate is simulated on the same subjects with the same seed
(``common_random_numbers = true``), so differences between candidates are not sampling noise.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..core.parameters import HOURS_PER_DAY, HOURS_PER_YEAR, PARAMS
from ..files import did_you_mean, resource, toml_file, toml_value
from .history_matching import CUTOFF, Observation, Range, emulated_implausibility, history_match
from .lifecourse import DIARY_AGES, DIARY_DAYS, LifeCourse, simulate_chunk
from .spec import RECALL_YEARS_BOUNDS, PopulationSpec, load_population
from .survey import (BARROCAS_DESIGN, BULLYING_EXPOSED, DECLINE_AGES, GBTM_GROUPS, LIFE_STAGES, MALTREATMENT_EXPOSED,
                     ONE_YEAR_DESIGN, calibration_measures, simulated_measures)

#: Observation sd of a published value without an interval, relative to the value.
POINT_REL_SD = 0.10
#: Observation sd of the mean onset age (years): the meta-analytic mean has no interval here.
ONSET_SD_YEARS = 0.5
#: Outside the published peak-age range 14-16, one sd is half a year.
PEAK_SD_YEARS = 0.5
#: The decline after 18 as an inequality: 12-month prevalence at 22-25 at most this share of the peak.
DECLINE_MAX_RATIO = 0.5
DECLINE_SD = 0.05
#: The same statement's other half, "falls ... through young adulthood": the fall is still under way at 22-24,
#: so 12-month NSSI there is not zero. This model's reading (not a published number): at least a tenth of the
#: peak, with sd 0.03 below it (a course in which nobody self-injures after 22 has I >= 3.3).
PERSIST_MIN_RATIO = 0.1
PERSIST_SD = 0.03


def interval_sd(low: float, high: float) -> float:
    """A published 95 % interval as a normal sd."""
    return (high - low) / 3.92


#: Swannell2014's "adolescents > young adults" (lifetime NSSI 17.2 % and 13.4 %, cross-sectional samples). One
#: simulated cohort's lifetime measure cannot fall with age, so the nearest it can come is few new onsets after
#: adolescence. This model's reading (target ``young_adults_bound``): lifetime NSSI at a survey age of 18-25 at
#: most the upper end of the adolescents' published lifetime interval (Lim2019), with that interval's sd above
#: it; both read from the shipped targets file, the numbers' one home.
_ADOLESCENT_LIFETIME = toml_file(resource("data", "calibration_targets.toml"))["prevalence"]["lifetime_nssi_community_adolescents"]
YOUNG_ADULTS_MAX_LIFETIME = float(_ADOLESCENT_LIFETIME["high"])
YOUNG_ADULTS_SD = interval_sd(float(_ADOLESCENT_LIFETIME["low"]), YOUNG_ADULTS_MAX_LIFETIME)
#: Model discrepancy sd, relative to the target.
MODEL_DISCREPANCY_REL = 0.05

#: Default method settings (a setup file may change them).
WAVES = 4
WAVE_SIZE = 40
CAL_SUBJECTS = 320
CONFIRM_SUBJECTS = 2048
#: Candidates (the best by the emulators) re-simulated on independent subjects; the default is the best of them.
CONFIRM_CANDIDATES = 4
CAL_SEED = 20261126
ENSEMBLE_SIZE = 50
EXTRA_WAVES = 3
CLOUD = 20_000


@dataclass(frozen=True)
class CalTarget:
    """A published number and the simulated measure defined like it."""

    id: str
    key: str  # "<section>.<entry>" in calibration.toml
    measure: str | None  # key of calibration_measures(); None: needs a registered measure (register_measure)
    definition: str
    field: str = "value"  # the entry's field holding the number ("female", "chronic", ...)
    scale: str = "linear"  # "log": ratios, compared on the log scale
    kind: str = "estimate"  # "estimate", "range" (matched inside low-high), "upper"/"lower" (an inequality)
    ages: tuple[float, float] = (12.0, 18.0)  # ages the life course must cover to measure it
    bound: float | None = None  # "upper"/"lower": the inequality's bound (this model's reading of a statement)
    bound_sd: float | None = None  # ... and its sd beyond the bound
    among: tuple[str, ...] = ()  # a share within classes: the published value is field / sum of these fields


_SURVEY = "at a survey age uniform in 12-18 (each subject's own draw)"
_T8 = (f"{BARROCAS_DESIGN.waves} waves {BARROCAS_DESIGN.months} months apart, entry at "
       f"{BARROCAS_DESIGN.baseline_ages[0]:g}-{BARROCAS_DESIGN.baseline_ages[1]:g} (first quarter at or after the survey age), "
       "each wave counting the acts since the previous one; chronic: acts in >= 5 waves; moderate: acts in 2-4 waves or "
       ">= 5 acts in one; low: the rest (spacing and entry ages assumed)")
_T8G = (f"the waves of the traj8 targets; the shares of a {GBTM_GROUPS}-group trajectory model (logit in a quadratic of "
        "time, of whether a wave reports any act; EM; groups ordered by their mean probability) fitted to them, as "
        "the study estimated its groups (survey.trajectory_classes_8_waves_gbtm)")
_T1 = (f"{ONE_YEAR_DESIGN.waves} waves {ONE_YEAR_DESIGN.months} months apart, entry at "
       f"{ONE_YEAR_DESIGN.baseline_ages[0]:g}-{ONE_YEAR_DESIGN.baseline_ages[1]:g}; negligible: no act; high_fluctuating: "
       ">= 10 acts and an act in the last wave; moderate_decreasing: else >= 3 acts and fewer in the last wave than "
       "the first; experimental: any other pattern with acts")
_END_T8 = BARROCAS_DESIGN.baseline_ages[1] + 0.25 + BARROCAS_DESIGN.waves * BARROCAS_DESIGN.months / 12
_END_T1 = ONE_YEAR_DESIGN.baseline_ages[1] + 0.25 + ONE_YEAR_DESIGN.waves * ONE_YEAR_DESIGN.months / 12
_HOOK = "needs the referral rule / trial / EMA study: not yet measured unless a measure is registered (register_measure)"
_DIARY = ("{what} per week in 14-day EMA diaries of community participants with recent NSSI (an act in the "
          "14 days before a diary start; starts every 30 days between 12 and 19; lifecourse.diary_counts)")
#: Ages the life course must cover for the diaries: the first start to the last start's end.
_DIARY_SPAN = (DIARY_AGES[0], DIARY_AGES[1] + DIARY_DAYS * HOURS_PER_DAY / HOURS_PER_YEAR)
_REFERRAL = ("share of the inpatient-referred adolescents with repetitive NSSI (criterion A at referral) meeting the "
             "profile criterion at referral (population.PROFILE_CRITERIA); measured by the inpatient rule's calibration "
             "(nssisim calibrate-referral --setup inpatient, population.referral_calibration; its setup fits or "
             "reports it), not by the community calibration")
_OUTPATIENT = ("{what} of the outpatient-referred adolescents{who} (population.PROFILE_{table}); measured by the "
               "outpatient rule's calibration (nssisim calibrate-referral --setup outpatient, "
               "population.referral_calibration; its setup fits or reports it), not by the community calibration")

TARGETS: tuple[CalTarget, ...] = (
    CalTarget("lifetime", "prevalence.lifetime_nssi_community_adolescents", "lifetime_nssi",
              f"any act between the start age and the survey, {_SURVEY}, whole sample"),
    CalTarget("lifetime_nonclinical", "prevalence.lifetime_nssi_nonclinical_adolescents", "lifetime_nssi",
              "same measure as 'lifetime', compared with the non-clinical meta-analysis"),
    CalTarget("china_pooled", "prevalence.nssi_china_middle_school_pooled", "lifetime_nssi",
              "same measure as 'lifetime' (the published value pools time frames)"),
    CalTarget("past_year", "prevalence.past_year_any", "nssi_12m",
              f"any act in the 365 days before the survey, {_SURVEY}, whole sample"),
    CalTarget("five_plus", "prevalence.past_year_five_or_more", "five_plus_12m",
              f">= 5 acts in the 365 days before the survey, {_SURVEY}, whole sample"),
    CalTarget("onset", "course.onset_mean_age_years", "onset_mean",
              "mean age at the first act among those with a history at the survey"),
    CalTarget("peak_age", "course.peak_age_years", "peak_age",
              "whole year of age A with the highest 12-month prevalence (any act while aged A to A+1), over the run's ages",
              kind="range", ages=(12.0, 18.0)),
    CalTarget("life_stage_adolescents", "course.prevalence_by_life_stage", "life_stage_adolescents",
              f"lifetime NSSI {_SURVEY}", field="adolescents"),
    CalTarget("life_stage_young_adults", "course.prevalence_by_life_stage", "life_stage_young_adults",
              "lifetime NSSI at a survey age uniform in {:g}-{:g} (quarter-year resolution)".format(*LIFE_STAGES["young_adults"]),
              field="young_adults", ages=(12.0, LIFE_STAGES["young_adults"][1])),
    CalTarget("life_stage_adults", "course.prevalence_by_life_stage", "life_stage_adults",
              "lifetime NSSI at a survey age uniform in {:g}-{:g} (quarter-year resolution)".format(*LIFE_STAGES["adults"]),
              field="adults", ages=(12.0, LIFE_STAGES["adults"][1])),
    CalTarget("decline_after_18", "course.decline_after_18", "decline_ratio",
              f"mean 12-month prevalence over ages {DECLINE_AGES[0]}-{DECLINE_AGES[-1] + 1} divided by the highest "
              f"12-month prevalence by age; the stated inequality: at most {DECLINE_MAX_RATIO:g}",
              field="statement", kind="upper", ages=(12.0, DECLINE_AGES[-1] + 1.0), bound=DECLINE_MAX_RATIO,
              bound_sd=DECLINE_SD),
    CalTarget("persist_after_18", "course.decline_after_18", "decline_ratio",
              f"as decline_after_18; the statement's 'through young adulthood': the fall is still under way at "
              f"{DECLINE_AGES[0]}-{DECLINE_AGES[-1] + 1}, at least {PERSIST_MIN_RATIO:g} of the peak (this model's reading)",
              field="statement", kind="lower", ages=(12.0, DECLINE_AGES[-1] + 1.0), bound=PERSIST_MIN_RATIO,
              bound_sd=PERSIST_SD),
    CalTarget("young_adults_bound", "course.prevalence_by_life_stage", "life_stage_young_adults",
              "lifetime NSSI at a survey age uniform in {:g}-{:g}; the entry's 'adolescents > young adults', which one "
              "cohort's lifetime measure can meet only by few onsets after adolescence: at most {:g}, the upper end of "
              "the adolescents' published lifetime interval (this model's reading)".format(
                  *LIFE_STAGES["young_adults"], YOUNG_ADULTS_MAX_LIFETIME),
              field="young_adults", kind="upper", ages=(12.0, LIFE_STAGES["young_adults"][1]),
              bound=YOUNG_ADULTS_MAX_LIFETIME, bound_sd=YOUNG_ADULTS_SD),
    *(CalTarget(f"traj8_{c}", "course.trajectory_classes_8_waves", f"traj8_{c}", f"share '{c}': {_T8}", field=c,
                ages=(BARROCAS_DESIGN.baseline_ages[0] - 0.5, _END_T8)) for c in ("low", "moderate", "chronic")),
    CalTarget("traj8_chronic_share", "course.trajectory_classes_8_waves", "traj8_chronic_share",
              f"chronic / (moderate + chronic) of the traj8 classes ({_T8}): how many of those who repeat lock in, "
              "whatever the prevalence (the published value: chronic / (moderate + chronic) of the entry)",
              field="chronic", among=("moderate", "chronic"), ages=(BARROCAS_DESIGN.baseline_ages[0] - 0.5, _END_T8)),
    *(CalTarget(f"traj8_gbtm_{c}", "course.trajectory_classes_8_waves", f"traj8g_{c}", f"share '{c}': {_T8G}",
                field=c, ages=(BARROCAS_DESIGN.baseline_ages[0] - 0.5, _END_T8)) for c in ("low", "moderate", "chronic")),
    *(CalTarget(f"traj1y_{c}", "course.trajectory_classes_1_year", f"traj1y_{c}", f"share '{c}': {_T1}", field=c,
                ages=(ONE_YEAR_DESIGN.baseline_ages[0] - 0.5, _END_T1))
      for c in ("negligible", "experimental", "moderate_decreasing", "high_fluctuating")),
    CalTarget("sex_ratio", "sex.self_harm_girls_vs_boys_rr", "sex_ratio",
              f"lifetime NSSI in girls / in boys (factor sex_female), {_SURVEY} (published: self-harm)", scale="log"),
    CalTarget("lifetime_female", "sex.nssi_girls_boys_community", "lifetime_female",
              f"lifetime NSSI among girls, {_SURVEY}", field="female"),
    CalTarget("lifetime_male", "sex.nssi_girls_boys_community", "lifetime_male",
              f"lifetime NSSI among boys, {_SURVEY}", field="male"),
    CalTarget("china_female", "sex.nssi_china_middle_school", "lifetime_female",
              "as lifetime_female (Chinese samples)", field="female"),
    CalTarget("china_male", "sex.nssi_china_middle_school", "lifetime_male", "as lifetime_male (Chinese samples)",
              field="male"),
    CalTarget("attempt_lifetime", "attempts.community_adolescents", "attempt_lifetime",
              f"a suicide attempt between the start age and the survey, {_SURVEY}, whole sample", field="lifetime"),
    CalTarget("attempt_12m", "attempts.community_adolescents", "attempt_12m",
              f"a suicide attempt in the 365 days before the survey, {_SURVEY}, whole sample", field="past_year"),
    CalTarget("intrapersonal", "functions.emotion_regulation_share", "intrapersonal_share",
              "share with an act whose relief served the intrapersonal function, among those with a history at the survey"),
    CalTarget("interpersonal", "functions.interpersonal_share", "interpersonal_share",
              "share with an act that had an interpersonal consequence, among those with a history at the survey"),
    CalTarget("nssi_attempt", "cooccurrence.nssi_and_suicide_attempt_mixed", "nssi_and_attempt",
              "NSSI and a suicide attempt both by the survey, whole sample (published: mixed samples)"),
    CalTarget("maltreatment_or", "risk.childhood_maltreatment_odds_ratio", "maltreatment_or",
              f"odds ratio of lifetime NSSI at the survey, maltreatment score >= {MALTREATMENT_EXPOSED} vs below",
              scale="log"),
    CalTarget("bullying_or", "risk.bullying_victimisation_odds_ratio", "bullying_or",
              f"odds ratio of lifetime NSSI at the survey, peer victimisation >= {BULLYING_EXPOSED} vs below", scale="log"),
    # measured by other wings (referral rule, trials, EMA): hooks
    CalTarget("nssi_attempt_mental", "cooccurrence.nssi_and_suicide_attempt_mental_disorders", None,
              _OUTPATIENT.format(what="share with lifetime NSSI and a lifetime attempt at referral", who="",
                                 table="CRITERIA")),
    CalTarget("ema_thoughts_week", "ema.nssi_thoughts_per_week", "ema_urges_week", _DIARY.format(what="urges (acted on or resisted)"),
              ages=_DIARY_SPAN),
    CalTarget("ema_acts_week", "ema.nssi_acts_per_week", "ema_acts_week", _DIARY.format(what="acts"),
              ages=_DIARY_SPAN),
    CalTarget("ema_thought_minutes", "ema.thought_duration_minutes", None, _HOOK, kind="range"),
    CalTarget("clinical_more_than_weekly", "clinical.inpatient_frequency", None, _REFERRAL, field="more_than_weekly"),
    CalTarget("clinical_daily_urges", "clinical.inpatient_frequency", None, _REFERRAL, field="almost_daily_urges"),
    CalTarget("clinical_ema_acts", "clinical.ema_acts_and_urges_per_participant", None,
              _OUTPATIENT.format(what=f"mean acts in the {DIARY_DAYS} days before referral", who=" with an act in the past year",
                                 table="COUNTS"), field="acts"),
    CalTarget("clinical_ema_urges", "clinical.ema_acts_and_urges_per_participant", None,
              _OUTPATIENT.format(what=f"mean urges in the {DIARY_DAYS} days before referral", who=" with an act in the past year",
                                 table="COUNTS"), field="urges"),
    CalTarget("dbt_d", "treatment.dbt_vs_control_self_directed_violence_d", None, _HOOK),
    CalTarget("dbta_completed", "treatment.dbta_open_trial", None, _HOOK, field="completed"),
    CalTarget("dbta_no_self_harm", "treatment.dbta_open_trial", None, _HOOK, field="no_self_harm_at_follow_up"),
    *(CalTarget(f"dbta_d_{w}", "treatment.dbta_routine_care_time_course", None, _HOOK, field=f"d_weeks_{w}")
      for w in ("1_5", "6_10", "11_15")),
)
TARGET_IDS = {t.id: t for t in TARGETS}

#: Measure hooks: target id -> ``fn(spec, x, seed, course) -> (value, variance)`` (see :func:`register_measure`).
MEASURE_HOOKS: dict[str, Callable] = {}


def register_measure(target_id: str, fn: Callable) -> None:
    """Plug in the measure of a target this module cannot measure (clinical, EMA, DBT-A).

    ``fn(spec, x, seed, course)`` simulates what it needs for candidate ``x`` (a dict of fitted
    values) and returns ``(value, sampling variance)`` on the target's scale (log for ratios).
    """
    t = TARGET_IDS.get(target_id)
    if t is None:
        raise KeyError(f"unknown calibration target '{target_id}': expected one of {', '.join(TARGET_IDS)}")
    if t.measure is not None:
        raise ValueError(f"calibration target '{target_id}' is measured on the survey table ({t.measure}); no hook needed")
    MEASURE_HOOKS[target_id] = fn


def is_measured(t: CalTarget) -> bool:
    return t.measure is not None or t.id in MEASURE_HOOKS


#: Fitted entries that are population-spec settings, not model parameters.
ENVIRONMENT_FIELD = {"environment_change": "change", "environment_peak_age": "peak_age",
                     "environment_rise_years": "rise_years", "environment_decline_years": "decline_years"}
#: Fitted spreads of trait factors: the ``scale`` of a truncnorm factor (the dual-systems traits; how much
#: adolescents differ in prefrontal capacity and limbic reactivity is not pinned by the evidence).
FACTOR_SCALE_FIELD = {"pfc_adult_scale": "pfc_adult", "limbic_reactivity_scale": "limbic_reactivity"}
POPULATION_SETTINGS = ("correlation_scale", *ENVIRONMENT_FIELD, "recall_years", *FACTOR_SCALE_FIELD)
#: Bounds of the population settings (a range must lie inside).
SETTING_BOUNDS = {"correlation_scale": (0.0, 1.0), "environment_change": (0.0, 10.0),
                  "environment_peak_age": (10.0, 25.0), "environment_rise_years": (0.05, 20.0),
                  "environment_decline_years": (0.05, 20.0), "recall_years": RECALL_YEARS_BOUNDS,
                  "pfc_adult_scale": (0.01, 1.0), "limbic_reactivity_scale": (0.01, 1.0)}


def with_settings(spec: PopulationSpec, x: dict[str, float]) -> PopulationSpec:
    """``spec`` with the fitted population settings of ``x`` (correlation scale, environment shape, the
    lifetime reports' recall, trait factors' spreads) applied."""
    if "correlation_scale" in x:
        spec = spec.with_correlation_scale(x["correlation_scale"])
    if "recall_years" in x:
        spec = spec.with_recall(float(x["recall_years"]))
    for k, name in FACTOR_SCALE_FIELD.items():
        if k in x:
            spec = spec.with_factor_scale(name, float(x[k]))
    env = {f: float(x[k]) for k, f in ENVIRONMENT_FIELD.items() if k in x}
    if env:
        if not spec.environment:
            raise ValueError(f"{spec.source}: environment settings given but the spec has no [environment] table")
        spec = spec.with_environment(spec.environment[0].name, **env)
    return spec


# ----------------------------------------------------------------------------- the setup file
#: Method settings a setup file may give, with their defaults and types.
METHOD_DEFAULTS: dict[str, object] = {
    "waves": WAVES, "wave_size": WAVE_SIZE, "subjects": CAL_SUBJECTS, "confirm_subjects": CONFIRM_SUBJECTS,
    "seed": CAL_SEED, "ensemble_size": ENSEMBLE_SIZE, "extra_waves": EXTRA_WAVES, "cloud_size": CLOUD,
    "cutoff": CUTOFF, "common_random_numbers": True, "confirm_candidates": CONFIRM_CANDIDATES,
}


@dataclass(frozen=True)
class Setup:
    """A calibration setup (``configs/calibrate_<population>.toml``), validated."""

    source: str
    population: str
    course: LifeCourse
    method: dict
    fit: tuple[str, ...]
    ranges: tuple[Range, ...]
    targets_file: str | None = None

    def with_method(self, **kw) -> "Setup":
        from dataclasses import replace

        bad = sorted(set(kw) - set(METHOD_DEFAULTS))
        if bad:
            raise ValueError(f"unknown method setting(s) {', '.join(bad)}: expected {', '.join(METHOD_DEFAULTS)}")
        return replace(self, method={**self.method, **{k: v for k, v in kw.items() if v is not None}})


def setup_path(population: str) -> Path:
    return resource("configs", f"calibrate_{population}.toml")


def load_setup(path_or_population: str | Path = "community") -> Setup:
    """Read and check a calibration setup; every error names the file, the table and the entry."""
    s = str(path_or_population)
    p = Path(s) if (s.endswith(".toml") or Path(s).is_file()) else setup_path(s)
    data = toml_file(p)
    src = str(p)

    def bad(where: str, msg: str) -> ValueError:
        return ValueError(f"{src}: {where}: {msg}")

    known = {"population", "targets_file", "course", "method", "fit", "ranges", "description"}
    extra = sorted(set(data) - known)
    if extra:
        raise bad(extra[0], f"unknown entry; expected one of {', '.join(sorted(known))}")
    pop = data.get("population")
    if not isinstance(pop, str) or not pop:
        raise bad("population", "expected the name of a shipped population or a spec TOML path")
    c = data.get("course", {})
    try:
        course = LifeCourse(float(c.get("start_age", 10.0)), float(c.get("end_age", 25.0)))
    except (TypeError, ValueError) as err:
        raise bad("[course]", str(err)) from None
    m = dict(METHOD_DEFAULTS)
    for k, v in data.get("method", {}).items():
        if k not in METHOD_DEFAULTS:
            raise bad(f"[method] {k}", f"unknown setting; expected one of {', '.join(METHOD_DEFAULTS)}")
        want = type(METHOD_DEFAULTS[k])
        if want is float and isinstance(v, int) and not isinstance(v, bool):
            v = float(v)
        if type(v) is not want:
            raise bad(f"[method] {k}", f"expected {want.__name__}, got {v!r}")
        if want in (int, float) and (v < 0 if k in ("extra_waves", "seed") else v <= 0):
            raise bad(f"[method] {k}", f"expected a {'non-negative' if k in ('extra_waves', 'seed') else 'positive'} number, got {v!r}")
        m[k] = v
    fit = data.get("fit", {}).get("targets")
    if not isinstance(fit, list) or not fit or not all(isinstance(t, str) for t in fit):
        raise bad("[fit] targets", "expected a non-empty list of target ids")
    for tid in fit:
        t = TARGET_IDS.get(tid)
        if t is None:
            raise bad("[fit] targets", f"unknown target '{tid}'; expected one of {', '.join(TARGET_IDS)}")
        if t.ages[0] < course.start_age - 1e-9 or t.ages[1] > course.end_age + 1e-9:
            raise bad("[fit] targets", f"target '{tid}' needs ages {t.ages[0]:g}-{t.ages[1]:g} but the life course "
                                       f"runs {course.start_age:g}-{course.end_age:g}")
    raw = data.get("ranges")
    if not isinstance(raw, dict) or not raw:
        raise bad("[ranges]", "expected a table: parameter = [low, high, \"linear\" or \"log\"]")
    ranges = []
    for k, v in raw.items():
        if not (isinstance(v, list) and len(v) in (2, 3) and all(isinstance(a, (int, float)) and not isinstance(a, bool)
                                                                   for a in v[:2])):
            raise bad(f"[ranges] {k}", f"expected [low, high] or [low, high, \"linear\"/\"log\"], got {v!r}")
        lo, hi = float(v[0]), float(v[1])
        scale = v[2] if len(v) == 3 else "linear"
        try:
            r = Range(k, lo, hi, scale)
        except ValueError as err:
            raise bad(f"[ranges] {k}", str(err)) from None
        if k in SETTING_BOUNDS:
            blo, bhi = SETTING_BOUNDS[k]
        elif k in PARAMS:
            blo, bhi = PARAMS[k].low, PARAMS[k].high
        else:
            raise bad(f"[ranges] {k}", "not a parameter of the parameter table nor a population setting "
                                       f"({', '.join(POPULATION_SETTINGS)}){did_you_mean(k, list(PARAMS) + list(POPULATION_SETTINGS))}")
        if not (blo <= lo and hi <= bhi):
            raise bad(f"[ranges] {k}", f"[{lo:g}, {hi:g}] lies outside the bounds [{blo:g}, {bhi:g}]")
        ranges.append(r)
    tf = data.get("targets_file")
    return Setup(src, pop, course, m, tuple(fit), tuple(ranges), tf if isinstance(tf, str) and tf else None)


def targets_path() -> Path:
    """The calibration targets shipped with the package (a copy of ``targets/calibration.toml``)."""
    return resource("data", "calibration_targets.toml")


def load_targets(path: str | Path | None = None, required: tuple[str, ...] | None = None) -> dict:
    """Each target's calibration-file entry, by target id (``field`` picked); errors name the file and entry.

    ``required``: target ids that must be present (default: every target's entry with a measure);
    a missing optional entry is left out.
    """
    p = Path(path) if path is not None else targets_path()
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such calibration targets file")
    data = toml_file(p)
    need = set(required) if required is not None else {t.id for t in TARGETS if t.measure is not None}
    out = {}
    for t in TARGETS:
        sec, name = t.key.split(".", 1)
        entry = data.get(sec, {}).get(name)
        if t.field == "statement":
            ok = isinstance(entry, dict) and "statement" in entry
        elif t.field == "value":
            ok = isinstance(entry, dict) and bool({"value", "low", "high"} & set(entry))
        else:
            ok = isinstance(entry, dict) and all(isinstance(entry.get(f), (int, float)) for f in (t.field, *t.among))
            ok = ok and (not t.among or sum(float(entry[f]) for f in t.among) > 0)
        if not ok:
            if t.id in need:
                what = ("a statement" if t.field == "statement" else "value/low/high" if t.field == "value"
                        else " and ".join(f"'{f}'" for f in dict.fromkeys((t.field, *t.among))) + " (numbers; a positive sum)")
                raise ValueError(f"{p}: [{t.key}] missing or without {what} (needed by calibration target '{t.id}')")
            continue
        out[t.id] = entry
    return out


def published(t: CalTarget, entry: dict) -> tuple[float | None, float | None, float | None]:
    """(value, low, high) of a target's entry on the natural scale."""
    if t.kind == "upper":
        return None, None, t.bound
    if t.kind == "lower":
        return None, t.bound, None
    if t.among:
        return float(entry[t.field]) / sum(float(entry[f]) for f in t.among), None, None
    if t.field != "value":
        return float(entry[t.field]), None, None
    v, lo, hi = entry.get("value"), entry.get("low"), entry.get("high")
    return (None if v is None else float(v)), (None if lo is None else float(lo)), (None if hi is None else float(hi))


def observation(t: CalTarget, entry: dict) -> Observation:
    """The published number as an observation on the compared scale (module docstring)."""
    value, low, high = published(t, entry)
    if t.kind == "upper":
        return Observation(-math.inf, t.bound, t.bound_sd**2)
    if t.kind == "lower":
        return Observation(t.bound, math.inf, t.bound_sd**2)
    if t.kind == "range":  # matched inside; outside, the peak age has PEAK_SD_YEARS, other ranges a quarter of the width
        return Observation(low, high, (PEAK_SD_YEARS if t.id == "peak_age" else (high - low) / 4) ** 2)
    if t.id == "onset":
        return Observation.point(value, ONSET_SD_YEARS**2, var_md=(MODEL_DISCREPANCY_REL * value) ** 2)
    if t.scale == "log":
        z = math.log(value)
        v_obs = interval_sd(math.log(low), math.log(high)) ** 2 if low is not None and high is not None else POINT_REL_SD**2
        return Observation.point(z, v_obs, var_md=MODEL_DISCREPANCY_REL**2)
    z = value if value is not None else 0.5 * (low + high)
    v_obs = interval_sd(low, high) ** 2 if low is not None and high is not None else (POINT_REL_SD * z) ** 2
    return Observation.point(z, v_obs, var_md=(MODEL_DISCREPANCY_REL * z) ** 2)


def to_natural(t: CalTarget, f: float) -> float:
    """A compared value back on the published scale (ratios from the log scale)."""
    return math.exp(f) if t.scale == "log" and math.isfinite(f) else f


def implausibility(t: CalTarget, entry: dict, m: dict) -> float:
    """``I`` of one target for measures ``m`` (``{measure: (value, variance)}``); NaN measures give inf."""
    v = m.get(t.measure if t.measure is not None else t.id, (math.nan, math.nan))
    f, var = v if isinstance(v, (tuple, list)) else (v, math.nan)
    return float(observation(t, entry).implausibility(f, var if math.isfinite(var) else 0.0))


def within_interval(t: CalTarget, entry: dict, f: float) -> bool | None:
    """Whether the simulated value (natural scale) lies in the published interval or bound (None if none)."""
    value, low, high = published(t, entry)
    if not math.isfinite(f):
        return None
    if t.kind == "upper":
        return bool(f <= high)
    if t.kind == "lower":
        return bool(f >= low)
    if low is None or high is None:
        return None
    return bool(low <= f <= high)


# ----------------------------------------------------------------------------- simulation of one candidate
def split(x: dict[str, float]) -> tuple[dict[str, float], dict[str, float]]:
    """A candidate's model-parameter overrides and its population settings."""
    return ({k: v for k, v in x.items() if k not in POPULATION_SETTINGS},
            {k: v for k, v in x.items() if k in POPULATION_SETTINGS})


def candidate_measures(spec: PopulationSpec, x: dict[str, float], n: int, seed: int, course: LifeCourse,
                       hooks: tuple[str, ...] = ()) -> dict[str, tuple[float, float]]:
    """Simulate candidate ``x`` on subjects ``0..n-1`` and return every measure (and the hooked targets')."""
    params, _ = split(x)
    sp = with_settings(spec, x)
    table = simulate_chunk(sp, np.arange(n), seed, course, overrides=params, with_events=False)
    m = calibration_measures(table, sp.recall_years)
    for tid in hooks:
        m[tid] = tuple(MEASURE_HOOKS[tid](spec, x, seed, course))
    return m


def evaluate(spec: PopulationSpec, x: dict[str, float], n: int, seed: int, course: LifeCourse,
             entries: dict) -> tuple[dict, dict[str, float]]:
    """Measures and implausibilities of candidate ``x`` for every measured target with an entry."""
    hooks = tuple(t.id for t in TARGETS if t.measure is None and t.id in MEASURE_HOOKS and t.id in entries)
    m = candidate_measures(spec, x, n, seed, course, hooks)
    imp = {t.id: implausibility(t, entries[t.id], m) for t in TARGETS if t.id in entries and is_measured(t)}
    return m, imp


# ----------------------------------------------------------------------------- the calibration
def _target_record(t: CalTarget, entry: dict | None, m: dict | None, fitted: bool) -> dict:
    """One target's row of the record: published value, simulated value (natural scale), implausibility, status."""
    rec = {"key": t.key, "field": t.field, "definition": t.definition, "fitted": fitted}
    if entry is None:
        rec["status"] = "no entry in the targets file"
        return rec
    value, low, high = published(t, entry)
    for k, v in (("value", value), ("low", low), ("high", high)):
        if v is not None:
            rec[k] = v
    if t.kind in ("upper", "lower"):
        read = entry.get("statement") or entry.get("population", "")
        rec["statement"] = f"at {'most' if t.kind == 'upper' else 'least'} {t.bound:g} (this model's reading of: {read})"
    rec["source"] = entry.get("source", "")
    if not is_measured(t):
        rec["status"] = "not yet measured"
        return rec
    if m is None:
        rec["status"] = "not simulated"
        return rec
    f, _ = m.get(t.measure or t.id, (math.nan, math.nan))
    f = to_natural(t, f)
    rec["simulated"] = f
    rec["implausibility"] = implausibility(t, entry, m)
    inside = within_interval(t, entry, f)
    if inside is not None:
        rec["within_interval"] = inside
    rec["status"] = ("not measurable with this life course" if not math.isfinite(f)
                     else ("fitted" if fitted else "reported, not fitted"))
    return rec


def calibrate(setup: "Setup | str | Path" = "community", *, targets: str | Path | None = None,
              out_dir: str | Path | None = None, resume: bool = False, progress: bool = False,
              log: Callable[[str], None] = print, stop_after: int | None = None) -> dict:
    """History matching of a setup (:func:`load_setup`); returns the calibration record.

    ``out_dir``: the resumable run folder (each wave's design and finished candidates;
    ``resume=True`` continues an interrupted run). Before it starts, one candidate is timed and the
    run's time estimated.
    """
    setup = setup if isinstance(setup, Setup) else load_setup(setup)
    spec = load_population(setup.population)
    course, M = setup.course, setup.method
    entries = load_targets(targets if targets is not None else setup.targets_file, required=setup.fit)
    for tid in setup.fit:
        if not is_measured(TARGET_IDS[tid]):
            raise ValueError(f"{setup.source}: [fit] targets: '{tid}' is not yet measured "
                             "(a measure must be registered with register_measure first)")
    env = [r.name for r in setup.ranges if r.name in ENVIRONMENT_FIELD]
    if env and not spec.environment:
        raise ValueError(f"{setup.source}: [ranges] {env[0]}: the population '{spec.name}' has no [environment] table")
    fitted = [TARGET_IDS[i] for i in setup.fit]
    obs = {t.id: observation(t, entries[t.id]) for t in fitted}
    hooks = tuple(t.id for t in TARGETS if t.measure is None and t.id in MEASURE_HOOKS and t.id in entries)
    crn = bool(M["common_random_numbers"])

    def simulator(x: dict, s: int) -> dict:
        m = candidate_measures(spec, x, M["subjects"], M["seed"] if crn else s, course,
                               tuple(h for h in hooks if h in obs))
        return {t.id: m.get(t.measure or t.id, (math.nan, math.nan)) for t in fitted}

    if out_dir is not None and (Path(out_dir) / "settings.json").exists() and not resume:  # before the timing
        raise FileExistsError(f"{out_dir} already holds a calibration run: pass resume (--resume) to continue it "
                              "or choose another folder")
    years = M["subjects"] * course.n_days / 365.25
    x_mid = {r.name: r.from_unit(0.5) for r in setup.ranges}
    t0 = time.perf_counter()
    simulator(x_mid, M["seed"])
    t_first = time.perf_counter() - t0
    t0 = time.perf_counter()
    simulator(x_mid, M["seed"])
    t_one = time.perf_counter() - t0
    n_min, n_max = M["waves"] * M["wave_size"], (M["waves"] + M["extra_waves"]) * M["wave_size"]
    t_confirm = t_one * M["confirm_subjects"] / M["subjects"]
    log(f"timing: first candidate {t_first:.1f} s (with compilation), then {t_one:.2f} s per candidate "
        f"({M['subjects']} subjects x {course.n_days / 365.25:.1f} years, {years / t_one:,.0f} subject-years/s); "
        f"estimate: {n_min} candidates {n_min * t_one / 60:.1f} min (up to {n_max}: {n_max * t_one / 60:.1f} min with "
        f"the extra ensemble waves) + confirmation {t_confirm / 60:.1f} min")
    t_start = time.time()
    res = history_match(simulator, list(setup.ranges), obs, waves=M["waves"], wave_size=M["wave_size"], seed=M["seed"],
                        cutoff=M["cutoff"], cloud_size=M["cloud_size"], out_dir=out_dir, resume=resume,
                        settings={"population": spec.name, "start_age": course.start_age, "end_age": course.end_age,
                                  "dt": course.dt, "subjects": M["subjects"], "common_random_numbers": crn,
                                  "spec_parameters": spec.parameters},
                        progress=progress, log=log, stop_after=stop_after,
                        min_non_implausible=M["ensemble_size"], extra_waves=M["extra_waves"])
    seconds = time.time() - t_start
    ok = res.non_implausible()
    if ok:  # the emulators' mean smooths the simulation noise that favours lucky candidates
        u = np.array([r["u"] for r in ok])
        i_em = np.max([emulated_implausibility(u, e, obs) for e in res.all_emulators], axis=0)
        shortlist = [ok[i] for i in np.argsort(i_em)[:max(1, int(M["confirm_candidates"]))]]
    else:
        shortlist = [res.best()]
    log(f"{len(ok)} non-implausible candidates of {len(res.runs)}; confirming the {len(shortlist)} best by the "
        f"emulators on {M['confirm_subjects']} new subjects ...")
    t0 = time.perf_counter()
    confirmed = []
    for c in shortlist:  # independent subjects (another seed): the default must not owe its fit to one sample
        m_c = candidate_measures(spec, dict(c["params"]), M["confirm_subjects"], M["seed"] + 2, course, hooks)
        i_c = {t.id: implausibility(t, entries[t.id], m_c) for t in fitted}
        confirmed.append((max(i_c.values()), c, m_c, i_c))
        worst = max(i_c, key=i_c.get)
        log(f"  wave {c['wave']} candidate {c['index']}: simulated I_max {c['I_max']:.2f}, on new subjects "
            f"{confirmed[-1][0]:.2f} (worst: {worst})")
    t_conf = time.perf_counter() - t0
    i_best, best, m, _ = min(confirmed, key=lambda z: z[0])
    x = dict(best["params"])
    log(f"default: wave {best['wave']} candidate {best['index']} (I_max on new subjects {i_best:.2f})")
    per_candidate = float(np.mean([r["seconds"] for r in res.runs])) if res.runs else math.nan
    record = {
        "population": spec.name,
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "setup": setup.source,
        "method": {
            "name": "history matching with Gaussian-process emulators (scikit-learn; linear mean, ARD squared-exponential "
                    "kernel, nugget); waves refocused on the non-implausible space",
            **{k: M[k] for k in METHOD_DEFAULTS}, "start_age": course.start_age, "end_age": course.end_age,
            "dt": course.dt, "point_rel_sd": POINT_REL_SD, "onset_sd_years": ONSET_SD_YEARS,
            "peak_sd_years": PEAK_SD_YEARS, "decline_max_ratio": DECLINE_MAX_RATIO, "decline_sd": DECLINE_SD,
            "persist_min_ratio": PERSIST_MIN_RATIO, "persist_sd": PERSIST_SD,
            "model_discrepancy_rel": MODEL_DISCREPANCY_REL, "maltreatment_exposed": MALTREATMENT_EXPOSED,
            "bullying_exposed": BULLYING_EXPOSED, "fitted_targets": list(setup.fit),
            "waves_run": len(res.waves), "candidates": len(res.runs), "non_implausible": len(ok),
            "seconds": round(seconds, 1), "seconds_per_candidate": round(per_candidate, 3),
            "subject_years_per_second": round(years / per_candidate, 1) if per_candidate > 0 else math.nan,
            "confirm_seconds": round(t_conf, 1), "timing_first_candidate_seconds": round(t_first, 2),
            "default_wave": best["wave"], "default_index": best["index"], "confirm_seed": M["seed"] + 2,
            "confirmed_waves": [c["wave"] for _, c, _, _ in confirmed],
            "confirmed_indices": [c["index"] for _, c, _, _ in confirmed],
            "confirmed_I_max": [round(float(i), 3) for i, _, _, _ in confirmed],
        },
        "waves": [{k: v for k, v in w.items() if k != "loo"} | {
            "loo_within_2": {n: round(d["within_2"], 3) for n, d in w["loo"].items()}} for w in res.waves],
        "parameters": x,
        "spec_parameters": dict(spec.parameters),
        "ranges": {r.name: [r.low, r.high, r.scale] for r in setup.ranges},
        "targets": {t.id: _target_record(t, entries.get(t.id), m, t.id in setup.fit) for t in TARGETS},
        "ensemble": [{"wave": r["wave"], "index": r["index"], "seed": r["seed"], "I_max": r["I_max"],
                      "parameters": dict(r["params"]),
                      "simulated": {tid: to_natural(TARGET_IDS[tid], float(v[0] if isinstance(v, list) else v))
                                    for tid, v in r["summaries"].items()}} for r in ok],
        "history": res.runs,
    }
    return record


# ----------------------------------------------------------------------------- record files
def record_toml(record: dict) -> str:
    """The calibration record as TOML text (the candidate history and the ensemble are written elsewhere)."""
    lines = ["# Calibration record written by `nssisim calibrate` (history matching with Gaussian-process emulators;",
             "# see nssisim.population.calibration and docs/calibration.md). Research instrument, not a clinical tool.", ""]
    for k in ("population", "date", "setup"):
        if k in record:
            lines.append(f"{k} = {toml_value(record[k])}")
    lines.append("")
    for sec in ("method", "parameters", "spec_parameters", "ranges"):
        if sec not in record:
            continue
        lines.append(f"[{sec}]")
        lines += [f"{k} = {toml_value(v)}" for k, v in record[sec].items()]
        lines.append("")
    for w in record.get("waves", []):
        lines.append("[[waves]]")
        lines += [f"{k} = {toml_value(v)}" for k, v in w.items() if not isinstance(v, dict)]
        for k, v in w.items():
            if isinstance(v, dict):
                lines.append(f"[waves.{k}]")
                lines += [f"{a} = {toml_value(b)}" for a, b in v.items()]
        lines.append("")
    for tid, rec in record["targets"].items():
        lines.append(f"[targets.{tid}]")
        lines += [f"{k} = {toml_value(v)}" for k, v in rec.items()]
        lines.append("")
    return "\n".join(lines)


def record_path(population: str) -> Path:
    return resource("configs", f"calibration_{population}.toml")


def record_matches_spec(record: dict, spec: PopulationSpec) -> bool:
    """Whether ``spec`` holds the record's fitted values: its shared ``[parameters]``, correlation
    scale and environment shape (the check ``tests/test_calibration.py`` makes of the shipped pair)."""
    fitted = dict(record.get("parameters", {}))
    scale = fitted.pop("correlation_scale", None)
    if scale is not None and not math.isclose(spec.correlation_scale, float(scale), rel_tol=1e-9):
        return False
    recall = fitted.pop("recall_years", None)
    if recall is not None and not (spec.recall_years is not None
                                   and math.isclose(spec.recall_years, float(recall), rel_tol=1e-9)):
        return False
    for k, name in FACTOR_SCALE_FIELD.items():
        if k in fitted:
            f = spec.factor(name) if name in spec.factor_names else None
            if f is None or f.kind != "truncnorm" or not math.isclose(f.args[1], float(fitted.pop(k)), rel_tol=1e-9):
                return False
    for k, f in ENVIRONMENT_FIELD.items():
        if k in fitted and not (spec.environment and math.isclose(getattr(spec.environment[0], f), float(fitted.pop(k)),
                                                                  rel_tol=1e-9)):
            return False
    # the spec's entries that were not fitted must be those the calibration ran on (when the record says)
    base = {k: v for k, v in record.get("spec_parameters", {}).items() if k not in fitted}
    extra = set(spec.parameters) - set(fitted)
    if "spec_parameters" in record:
        if extra != set(base) or not all(math.isclose(float(spec.parameters[k]), float(base[k]), rel_tol=1e-9)
                                         for k in extra):
            return False
    elif extra:
        return False
    return set(fitted) <= set(spec.parameters) and all(
        math.isclose(float(spec.parameters[k]), float(v), rel_tol=1e-9) for k, v in fitted.items())


def load_record(path_or_population: str | Path = "community") -> dict:
    s = str(path_or_population)
    p = Path(s) if Path(s).is_file() else record_path(s)
    if not p.is_file():
        raise FileNotFoundError(f"{s}: no calibration record (expected a file or a population with "
                                f"configs/calibration_<population>.toml; run `nssisim calibrate`)")
    return toml_file(p)


def _table_end(text: str, a: int) -> int:
    """Where the TOML table whose body starts at ``a`` ends: the next table header, or the end of ``text``."""
    b = text.find("\n[", a)
    return len(text) if b < 0 else b


def _set_line(section: str, field: str, value: float, comment: str) -> tuple[str, int]:
    """``section`` with its first ``field = ...`` line (and its comment) replaced; and how many were replaced."""
    return re.subn(rf"(?m)^{field} = [^#\n]*?(\s*#.*)?$", lambda _: f"{field} = {toml_value(value)}  # {comment}",
                   section, count=1)


def apply_to_spec(spec_text: str, parameters: dict[str, float], note: str) -> str:
    """Write calibrated values into a population spec's TOML text.

    Model parameters replace (or create) the ``[parameters]`` table; ``correlation_scale`` becomes
    the ``scale`` of the ``[correlation]`` table (replaced if present); ``recall_years`` replaces (or
    creates) the ``[survey]`` table; a factor's spread (``pfc_adult_scale``, ...) replaces the ``scale``
    line of its ``[factors.<name>]`` table.
    """
    params = {k: v for k, v in parameters.items() if k not in POPULATION_SETTINGS}
    # entries of the spec's table that were not fitted stay: the calibration simulated every candidate on them
    m_old = re.search(r"\n\[parameters\]\n((?:(?!\n\[).)*)", spec_text, flags=re.S)
    kept = {}
    if m_old is not None:
        for line in m_old.group(1).splitlines():
            mm = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*([^#]+)", line)
            if mm and mm.group(1) not in params:
                kept[mm.group(1)] = mm.group(2).strip()
    block = ["[parameters]", f"# {note}"] + [f"{k} = {toml_value(float(v))}" for k, v in params.items()]
    if kept:
        block += ["# not fitted (kept from the spec the calibration ran on)"] + [f"{k} = {v}" for k, v in kept.items()]
    text = re.sub(r"\n\[parameters\]\n(?:(?!\n\[).)*", "", spec_text, flags=re.S)
    if "correlation_scale" in parameters:
        line = f"scale = {toml_value(float(parameters['correlation_scale']))}  # calibrated: off-diagonal latent correlations x scale"
        head = "\n[correlation]\n"
        if head not in text:
            raise ValueError("the spec has no [correlation] table to scale")
        a = text.index(head) + len(head)
        b = _table_end(text, a)
        section = re.sub(r"(?m)^scale = .*\n", "", text[a:b])  # only the correlation table's own scale
        text = text[:a] + line + "\n" + section + text[b:]
    env = {f: float(parameters[k]) for k, f in ENVIRONMENT_FIELD.items() if k in parameters}
    if env:
        m = re.search(r"(?m)^\[environment\.([^\]]+)\]\n", text)
        if m is None:
            raise ValueError("the spec has no [environment.<name>] table to write the environment shape into")
        a = m.end()
        b = _table_end(text, a)
        section = text[a:b]
        for f, v in env.items():
            section, n = _set_line(section, f, v, "calibrated")
            if n != 1:
                raise ValueError(f"environment table [environment.{m.group(1)}] has no '{f}' line to replace")
        text = text[:a] + section + text[b:]
    for k, name in FACTOR_SCALE_FIELD.items():
        if k not in parameters:
            continue
        head = f"\n[factors.{name}]\n"
        if head not in text:
            raise ValueError(f"the spec has no [factors.{name}] table to write {k} into")
        a = text.index(head) + len(head)
        b = _table_end(text, a)
        section, n = _set_line(text[a:b], "scale", float(parameters[k]), f"calibrated ({k})")
        if n != 1:
            raise ValueError(f"factor table [factors.{name}] has no 'scale' line to replace")
        text = text[:a] + section + text[b:]
    if "recall_years" in parameters:
        text = re.sub(r"\n\[survey\]\n(?:(?!\n\[).)*", "", text, flags=re.S)
        text = (text.rstrip("\n") + "\n\n[survey]\n# calibrated: an old act fades from a lifetime report with this "
                "time constant (population/survey.py)\n" + f"recall_years = {toml_value(float(parameters['recall_years']))}\n")
    return text.rstrip("\n") + "\n\n" + "\n".join(block) + "\n"


# ----------------------------------------------------------------------------- report
def _published_text(r: dict) -> str:
    if "statement" in r:
        return f">= {r['low']:g}" if "low" in r and "high" not in r else f"<= {r.get('high', DECLINE_MAX_RATIO):g}"
    pub = f"{r['value']:g}" if "value" in r else ""
    if "low" in r and "high" in r:
        pub += f" [{r['low']:g}, {r['high']:g}]"
    return pub.strip()


def report_rows(record: dict, ensemble: dict | None = None) -> list[dict]:
    """One row per target: published, the default's simulated value, the ensemble's 5-95 % range, inside or not."""
    rows = []
    sets = (ensemble or {}).get("sets", [])
    for tid, r in record["targets"].items():
        vals = np.array([s["simulated"][tid] for s in sets if tid in s.get("simulated", {})], dtype=np.float64)
        vals = vals[np.isfinite(vals)]
        lo, med, hi = (np.quantile(vals, [0.05, 0.5, 0.95]) if vals.size else (math.nan,) * 3)
        inside_med = None
        if vals.size:
            if "statement" in r:
                inside_med = bool(med >= r["low"]) if "low" in r and "high" not in r else bool(
                    med <= r.get("high", DECLINE_MAX_RATIO))
            elif "low" in r and "high" in r:
                inside_med = bool(r["low"] <= med <= r["high"])
        f = r.get("simulated", math.nan)
        rows.append({"target": tid, "published": _published_text(r), "simulated": f,
                     "ensemble_5": float(lo), "ensemble_50": float(med), "ensemble_95": float(hi), "n_sets": int(vals.size),
                     "within": {True: "yes", False: "no"}.get(r.get("within_interval"), "n/a"),
                     "median_within": {True: "yes", False: "no"}.get(inside_med, "n/a"),
                     "I": r.get("implausibility", math.nan), "fitted": "yes" if r.get("fitted", True) else "no",
                     "status": r.get("status", "fitted" if r.get("fitted", True) else "reported, not fitted"),
                     "definition": r.get("definition", "")})
    return rows


def _fmt(v: float, d: int = 3) -> str:
    return f"{v:.{d}f}" if isinstance(v, (int, float)) and math.isfinite(v) else "-"


def format_report(record: dict, ensemble: dict | None = None, markdown: bool = False) -> str:
    """Model versus target: published value and interval, the default's value, the ensemble's 5-95 % range."""
    rows = report_rows(record, ensemble)
    m = record["method"]
    head = (f"Calibration of population '{record['population']}' ({record['date']}): {m['name']}; "
            f"{m['candidates']} candidates x {m.get('subjects', m.get('subjects_per_candidate'))} subjects; "
            f"default's values from {m['confirm_subjects']} independent subjects; seed {m['seed']}, cut-off I <= "
            f"{m['cutoff']:g}.")
    n_sets = len((ensemble or {}).get("sets", []))
    head += f" Ensemble: {n_sets} parameter sets." if ensemble else " No ensemble given."
    if markdown:
        out = [head, "", "| target | published | default | ensemble 5-95 % | default inside | ensemble median inside | I | status | simulated measure |",
               "|---|---|---|---|---|---|---|---|---|"]
        out += [f"| {r['target']} | {r['published']} | {_fmt(r['simulated'])} | "
                f"{_fmt(r['ensemble_5'])}-{_fmt(r['ensemble_95'])} | {r['within']} | {r['median_within']} | "
                f"{_fmt(r['I'], 2)} | {r['status']} | {r['definition']} |" for r in rows]
        return "\n".join(out)
    out = [head, "", f"{'target':<28}{'published':<22}{'default':>9}  {'ensemble 5-95 %':<17}{'inside':<8}"
                     f"{'median in':<10}{'I':>6}  status"]
    out += [f"{r['target']:<28}{r['published']:<22}{_fmt(r['simulated']):>9}  "
            f"{_fmt(r['ensemble_5']) + '-' + _fmt(r['ensemble_95']):<17}{r['within']:<8}{r['median_within']:<10}"
            f"{_fmt(r['I'], 2):>6}  {r['status']}" for r in rows]
    return "\n".join(out)


__all__ = ["CAL_SEED", "CAL_SUBJECTS", "CONFIRM_SUBJECTS", "CalTarget", "DECLINE_MAX_RATIO", "PERSIST_MIN_RATIO", "ENSEMBLE_SIZE",
           "ENVIRONMENT_FIELD", "FACTOR_SCALE_FIELD", "MEASURE_HOOKS", "METHOD_DEFAULTS", "POPULATION_SETTINGS", "SETTING_BOUNDS", "Setup",
           "TARGETS", "TARGET_IDS", "WAVES", "WAVE_SIZE", "apply_to_spec", "calibrate", "candidate_measures",
           "evaluate", "format_report", "implausibility", "is_measured", "load_record", "load_setup", "load_targets",
           "observation", "published", "record_path", "record_toml", "register_measure", "report_rows", "setup_path",
           "simulated_measures", "split", "targets_path", "to_natural", "with_settings", "within_interval"]
