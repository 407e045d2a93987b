"""Virtual randomised trials: eligibility, randomisation, arms, outcomes and effects.

A trial design is a TOML file (shipped examples: ``configs/trials/*.toml``; the format is in
``docs/trials.md``). Data flow of :func:`run_trial`:

1. **Screening.** Candidates are sampled from a population spec (:mod:`nssisim.population`,
   loaded by name) with optional parameter overrides per stratum, and their history is
   simulated without treatment up to randomisation. Eligibility is evaluated over that
   history (age window, lifetime acts, recent suicidal ideation or attempt).
2. **One compiled run for all arms.** Every eligible patient is simulated in *every* arm with
   the same subject id (common random numbers), the arms stacked along the subject axis and
   differing only in the arrays of one :class:`nssisim.simulation.Schedule`
   (:func:`nssisim.interventions.build_schedule`). Histories before treatment are therefore
   identical across arms (a test checks it), and each patient's counterfactual outcome is
   known in every arm.
3. **Randomisation.** Per replicate, the replicate's patients are allocated to arms in
   permuted blocks; the randomised analysis uses only each patient's assigned arm. Paired
   contrasts (all patients in both arms) are reported beside it.
4. **Outcomes** per follow-up window (days after randomisation): share free of NSSI, of
   attempts and of any self-harm, NSSI and self-harm frequency per month, remission (no NSSI
   in the last :data:`REMISSION_DAYS` of the window), treatment completion, and the neural
   proxies (limbic reactivity, prefrontal regulation; :func:`neural_proxies`) as change from
   randomisation to the end of the window.
5. **Effects** per contrast (arm vs control), outcome and window with 95% intervals: risk
   difference and odds ratio for shares, Hedges' g for frequencies and proxies, and the
   paired mean difference. Over ``replicates`` trials: power (share of trials whose interval
   excludes no effect) and the spread of estimates.

Results: an xarray Dataset (:func:`run_trial`), tidy tables (:func:`effects_table`,
:func:`summary_table`), plots in :mod:`nssisim.trial_plots`.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from .._version import __version__
from ..core.model import SELF_ESTEEM_NEUTRAL
from ..core.parameters import check_value, HOURS_PER_DAY, PARAMS
from ..core.simulation import config_hash, effective_params, simulate_cohort, stack_params
from ..files import did_you_mean as _suggest, read_toml, SpecError
from .interventions import Arm, build_schedule, InterventionError, load_intervention
from ..population.spec import load_population, params_of, PopulationError, POPULATIONS, sample_population
from ..stats import hedges_g, odds_ratio_groups, paired_difference, risk_difference

#: Days without NSSI at the end of a window that count as remission.
REMISSION_DAYS = 56
#: Days per month for per-month frequencies.
DAYS_PER_MONTH = 30.4375
#: Outcomes that are shares (per-patient 0/1): risk difference and odds ratio.
BINARY_OUTCOMES = ("nssi_free", "attempt_free", "self_harm_free", "remission", "completed")
#: Outcomes that are continuous: Hedges' g.
CONTINUOUS_OUTCOMES = ("nssi_per_month", "self_harm_per_month", "limbic_change", "regulation_change")
OUTCOMES = BINARY_OUTCOMES + CONTINUOUS_OUTCOMES
#: Direction in which an outcome is better (for reading plots; effects keep their sign).
BETTER = {"nssi_free": 1, "attempt_free": 1, "self_harm_free": 1, "remission": 1, "completed": 1,
          "nssi_per_month": -1, "self_harm_per_month": -1, "limbic_change": -1, "regulation_change": 1}


class DesignError(SpecError):
    """A trial design is invalid; the message names the file and the field."""


@dataclass(frozen=True)
class Window:
    name: str
    start_day: int
    end_day: int


@dataclass(frozen=True)
class Eligibility:
    age_min: float = 0.0
    age_max: float = 100.0
    min_lifetime_acts: int = 0
    recent_days: int = 90
    recent_ideation_above: float | None = None
    recent_attempt: bool = False


@dataclass(frozen=True)
class Design:
    """A validated trial design."""

    name: str
    description: str
    seed: int
    population: str
    overrides: Mapping[str, float]
    strata: Mapping[str, Mapping[str, float]]
    start_age_years: float
    history_days: int
    dt_hours: float
    n_patients: int
    replicates: int
    screen_batch: int
    max_screen: int
    eligibility: Eligibility
    baseline_days: int
    length_days: int
    windows: tuple[Window, ...]
    arms: tuple[Arm, ...]
    control: str
    source: str = "<dict>"
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @property
    def arm_names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.arms)

    @property
    def horizon_days(self) -> int:
        return self.history_days + max(w.end_day for w in self.windows)


_TOP = {"name", "description", "seed", "population", "person", "strata", "start_age_years", "history_days", "dt_hours",
        "n_patients", "replicates", "screen_batch", "max_screen", "eligibility", "baseline_days", "treatment",
        "windows", "arms", "control"}
_ELIG = {"age_min", "age_max", "min_lifetime_acts", "recent_days", "recent_ideation_above", "recent_attempt"}
_ARM = {"intervention", "components", "strength", "adherence_mean", "dropout_per_month"}


def _num(tab: Mapping, key: str, where: str, *, default=None, low=None, high=None, integer=False):
    if key not in tab:
        if default is None:
            raise DesignError(f"{where}.{key}: missing (expected {'an integer' if integer else 'a number'})")
        return default
    v = tab[key]
    ok = isinstance(v, int) if integer else isinstance(v, (int, float))
    if isinstance(v, bool) or not ok or not math.isfinite(v):
        raise DesignError(f"{where}.{key}: expected {'an integer' if integer else 'a number'}, got {v!r}")
    if low is not None and v < low:
        raise DesignError(f"{where}.{key}: {v} must be >= {low}")
    if high is not None and v > high:
        raise DesignError(f"{where}.{key}: {v} must be <= {high}")
    return v


def _unknown(tab: Mapping, allowed: set, where: str) -> None:
    extra = sorted(set(tab) - allowed)
    if extra:
        raise DesignError(f"{where}: unknown key '{extra[0]}'{_suggest(extra[0], allowed)}: expected one of "
                          f"{', '.join(sorted(allowed))}")


def _overrides(tab: Any, where: str) -> dict[str, float]:
    if not isinstance(tab, Mapping):
        raise DesignError(f"{where}: expected a table of parameter = value")
    out = {}
    for k, v in tab.items():
        if k not in PARAMS:
            raise DesignError(f"{where}.{k}: unknown parameter{_suggest(k, PARAMS)}")
        try:
            out[k] = check_value(k, v, where)
        except (ValueError, TypeError) as e:
            raise DesignError(f"{where}.{k}: {e}") from None
    return out


def parse_design(data: Mapping, source: str = "<dict>") -> Design:
    """Validate a design table; every error names ``source`` and the field."""
    w = source
    _unknown(data, _TOP, w)
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise DesignError(f"{w}: name: missing (expected a string)")
    seed = _num(data, "seed", w, integer=True, low=0, high=2**32 - 1)
    pop = data.get("population", "clinical")
    if not isinstance(pop, str):
        raise DesignError(f"{w}: population: expected a population name or a path")
    if pop not in POPULATIONS and not Path(pop).is_absolute() and (Path(source).parent / pop).is_file():
        pop = str(Path(source).parent / pop)  # a path relative to the design file
    try:
        load_population(pop)
    except PopulationError as e:
        raise DesignError(f"{w}: population: {e}") from None
    overrides = _overrides(data.get("person", {}), f"{w}: person")
    strata_tab = data.get("strata", {})
    if not isinstance(strata_tab, Mapping):
        raise DesignError(f"{w}: strata: expected tables [strata.<name>] of parameter overrides")
    strata = {k: _overrides(v, f"{w}: strata.{k}") for k, v in strata_tab.items()} or {"all": {}}
    start_age = _num(data, "start_age_years", w, default=12.0, low=0.0)
    history = _num(data, "history_days", w, integer=True, low=1)
    dt = _num(data, "dt_hours", w, default=1.0, low=1e-3, high=24.0)
    if abs(24.0 / dt - round(24.0 / dt)) > 1e-9:
        raise DesignError(f"{w}: dt_hours: {dt} must divide a day (24 h) into whole steps")
    n_pat = _num(data, "n_patients", w, integer=True, low=2)
    reps = _num(data, "replicates", w, integer=True, default=1, low=1)
    batch = _num(data, "screen_batch", w, integer=True, default=1024, low=1)
    max_screen = _num(data, "max_screen", w, integer=True, default=50_000, low=1)
    el = data.get("eligibility", {})
    if not isinstance(el, Mapping):
        raise DesignError(f"{w}: eligibility: expected a table")
    _unknown(el, _ELIG, f"{w}: eligibility")
    we = f"{w}: eligibility"
    ra = el.get("recent_attempt", False)
    if not isinstance(ra, bool):
        raise DesignError(f"{we}.recent_attempt: expected true or false")
    elig = Eligibility(
        _num(el, "age_min", we, default=0.0), _num(el, "age_max", we, default=100.0),
        _num(el, "min_lifetime_acts", we, integer=True, default=0, low=0),
        _num(el, "recent_days", we, integer=True, default=90, low=1, high=history),
        _num(el, "recent_ideation_above", we, low=0.0, high=1.0) if "recent_ideation_above" in el else None, ra)
    if elig.age_min > elig.age_max:
        raise DesignError(f"{we}: age_min {elig.age_min} > age_max {elig.age_max}")
    baseline = _num(data, "baseline_days", w, integer=True, default=90, low=1, high=history)
    tr = data.get("treatment")
    if not isinstance(tr, Mapping):
        raise DesignError(f"{w}: treatment: missing table [treatment] with length_days")
    _unknown(tr, {"length_days"}, f"{w}: treatment")
    length = _num(tr, "length_days", f"{w}: treatment", integer=True, low=1)
    wins = data.get("windows")
    if not isinstance(wins, list) or not wins:
        raise DesignError(f"{w}: windows: expected one or more [[windows]] tables with name, start_day, end_day")
    windows = []
    for i, wt in enumerate(wins):
        ww = f"{w}: windows[{i}]"
        if not isinstance(wt, Mapping):
            raise DesignError(f"{ww}: expected a table")
        _unknown(wt, {"name", "start_day", "end_day"}, ww)
        nm = wt.get("name")
        if not isinstance(nm, str) or not nm:
            raise DesignError(f"{ww}.name: missing (expected a string)")
        a = _num(wt, "start_day", ww, integer=True, low=0)
        b = _num(wt, "end_day", ww, integer=True, low=1)
        if b <= a:
            raise DesignError(f"{ww}: end_day {b} must be after start_day {a}")
        windows.append(Window(nm, a, b))
    if len({x.name for x in windows}) != len(windows):
        raise DesignError(f"{w}: windows: names must be unique")
    arms_tab = data.get("arms")
    if not isinstance(arms_tab, Mapping) or len(arms_tab) < 2:
        raise DesignError(f"{w}: arms: expected at least two [arms.<name>] tables")
    arms = []
    for an, at in arms_tab.items():
        wa = f"{w}: arms.{an}"
        if not isinstance(at, Mapping):
            raise DesignError(f"{wa}: expected a table")
        _unknown(at, _ARM, wa)
        if "intervention" not in at or not isinstance(at["intervention"], str):
            raise DesignError(f"{wa}.intervention: missing (expected a shipped intervention name or a path)")
        ref = at["intervention"]
        if not Path(ref).is_absolute() and (Path(source).parent / ref).is_file():
            ref = str(Path(source).parent / ref)
        try:
            iv = load_intervention(ref)
        except InterventionError as e:
            raise DesignError(f"{wa}.intervention: {e}") from None
        comps = at.get("components")
        if comps is not None:
            if not isinstance(comps, list) or not all(isinstance(c, str) for c in comps):
                raise DesignError(f"{wa}.components: expected a list of component names")
            for c in comps:
                try:
                    iv.component(c)
                except KeyError as e:
                    raise DesignError(f"{wa}.components: {e.args[0]}") from None
            comps = tuple(comps)
        strength = _num(at, "strength", wa, low=0.0) if "strength" in at else None
        am = _num(at, "adherence_mean", wa, low=0.0, high=1.0) if "adherence_mean" in at else None
        dr = _num(at, "dropout_per_month", wa, low=0.0) if "dropout_per_month" in at else None
        arms.append(Arm(an, iv, comps, strength, am, dr))
    control = data.get("control")
    names = [a.name for a in arms]
    if control not in names:
        raise DesignError(f"{w}: control: {control!r} is not an arm{_suggest(str(control), names)}: expected one of "
                          f"{', '.join(names)}")
    max_end = max(x.end_day for x in windows)
    if length > max_end:
        raise DesignError(f"{w}: treatment.length_days {length} extends past the last window's end_day {max_end}")
    age = start_age + history / 365.25
    if not (elig.age_min <= age <= elig.age_max):
        raise DesignError(f"{w}: eligibility: age at randomisation is start_age_years + history_days/365.25 = {age:.2f}, "
                          f"outside [age_min, age_max] = [{elig.age_min}, {elig.age_max}]: no one could be eligible")
    return Design(name, str(data.get("description", "")), int(seed), pop, overrides, strata, float(start_age), int(history),
                  float(dt), int(n_pat), int(reps), int(batch), int(max_screen), elig, int(baseline), int(length),
                  tuple(windows), tuple(arms), control, source, copy.deepcopy(dict(data)))


def load_design(path: str | Path) -> Design:
    """Load and validate a design file (a path, or the name of a shipped example)."""
    src, data = read_toml(path, kind="trial design", shipped=DESIGNS, location=lambda s: f"configs/trials/{s}.toml",
                          error=lambda source, message: DesignError(f"{source}: {message}"))
    return parse_design(data, src)


#: Shipped example designs (``configs/trials/<name>.toml``).
DESIGNS = ("dbt_vs_supportive", "dbt_components", "ssri_vs_placebo", "naltrexone_profiles", "demo", "calibrate_dbt")


# ------------------------------------------------------------------------------ simulation
def _population(design: Design, stratum: Mapping[str, float], ids: np.ndarray) -> dict[str, np.ndarray]:
    spec = load_population(design.population)
    pop = params_of(sample_population(spec, len(ids), design.seed, subject_ids=ids))
    pop.update({k: np.full(len(ids), v) for k, v in {**design.overrides, **stratum}.items()})
    return pop


def eligible(ds: xr.Dataset, design: Design) -> np.ndarray:
    """Eligibility of each simulated candidate over its history (records are daily)."""
    return _eligible(ds["acts"].values, ds["ideation"].values, ds["attempts"].values, design)


def _eligible(acts: np.ndarray, ideation: np.ndarray, attempts: np.ndarray, design: Design) -> np.ndarray:
    el = design.eligibility
    h = design.history_days
    ok = acts[:, :h].sum(axis=1) >= el.min_lifetime_acts
    recent = slice(h - el.recent_days, h)
    if el.recent_ideation_above is not None or el.recent_attempt:
        cond = np.zeros(ok.shape, bool)
        if el.recent_ideation_above is not None:
            cond |= ideation[:, recent].max(axis=1) > el.recent_ideation_above
        if el.recent_attempt:
            cond |= attempts[:, recent].sum(axis=1) > 0
        ok &= cond
    return ok


def _sim_kw(design: Design, days: int) -> dict:
    return dict(horizon_hours=days * HOURS_PER_DAY, dt=design.dt_hours, record_every=round(HOURS_PER_DAY / design.dt_hours),
                event_capacity=1, start_age_years=design.start_age_years)


def screen(design: Design, stratum: Mapping[str, float], needed: int,
           mechanisms_off: Sequence[str] = ()) -> tuple[np.ndarray, int]:
    """Ids of the first ``needed`` eligible candidates (ids 0, 1, ...) and how many were screened."""
    found, screened = [], 0
    while sum(len(f) for f in found) < needed:
        if screened >= design.max_screen:
            got = sum(len(f) for f in found)
            raise DesignError(f"{design.source}: only {got} of {screened} screened candidates are eligible, "
                              f"{needed} needed (n_patients x replicates): relax [eligibility] or raise max_screen")
        b = min(design.screen_batch, design.max_screen - screened)
        ids = np.arange(screened, screened + b, dtype=np.int64)
        ds = simulate_cohort(design.seed, _population(design, stratum, ids), subject_ids=ids,
                             mechanisms_off=mechanisms_off, **_sim_kw(design, design.history_days))
        found.append(ids[eligible(ds, design)])
        screened += b
    return np.concatenate(found)[:needed], screened


def neural_proxies(params: Mapping[str, np.ndarray], pfc: np.ndarray, load: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Limbic reactivity and prefrontal regulation proxies of each person.

    limbic: the model's limbic gain (rate at which unit stress drives arousal):
    ``limbic_reactivity (1 + w_limbic_maltreatment maltreatment) max(1 + k_self_esteem_limbic (0.5 - self_esteem), 0)``;
    regulation: the extra recovery gain from prefrontal control at rest:
    ``k_pfc_regulation pfc (1 - w_alexithymia_regulation alexithymia (1 - k_resilience_alexithymia resilience))
    (1 - w_load_regulation load)``. Both use the parameters in force (intervention included)
    and, for regulation, the states ``pfc`` and allostatic ``load``.
    """
    p = params
    limbic = (p["limbic_reactivity"] * (1.0 + p["w_limbic_maltreatment"] * p["maltreatment"])
              * np.maximum(1.0 + p["k_self_esteem_limbic"] * (SELF_ESTEEM_NEUTRAL - p["self_esteem"]), 0.0))
    alex = p["alexithymia"] * (1.0 - p["k_resilience_alexithymia"] * p["resilience"])
    regulation = (p["k_pfc_regulation"] * pfc * (1.0 - p["w_alexithymia_regulation"] * alex)
                  * (1.0 - p["w_load_regulation"] * load))
    return limbic.astype(np.float64), regulation.astype(np.float64)


def simulate_arms(design: Design, stratum: Mapping[str, float], ids: np.ndarray,
                  arms: Sequence[Arm] | None = None, mechanisms_off: Sequence[str] = ()) -> dict[str, np.ndarray]:
    """Simulate patients ``ids`` in every arm (one compiled run) and compute per-patient outcomes.

    Returns arrays with a leading ``(arm, patient)`` shape: one per outcome with a window axis
    last, plus ``completed``, ``adherence``, ``dropout_days``, ``monthly_nssi`` (arm, patient,
    month) and ``pre_identical`` (all arms' pre-treatment histories equal).
    """
    arms = tuple(design.arms if arms is None else arms)
    n, k = len(ids), len(arms)
    sim_ids = np.tile(ids, k)
    arm_of = np.repeat(np.arange(k), n)
    pop = _population(design, stratum, ids)
    params = {name: np.tile(v, k) for name, v in pop.items()}
    h = design.history_days
    t0 = h * HOURS_PER_DAY
    sched, info = build_schedule(arms, arm_of, sim_ids, design.seed, t0, design.length_days)
    ds = simulate_cohort(design.seed, params, subject_ids=sim_ids, schedule=sched, mechanisms_off=mechanisms_off,
                         **_sim_kw(design, design.horizon_days))
    acts = ds["acts"].values.reshape(k, n, -1)
    att = ds["attempts"].values.reshape(k, n, -1)
    pre_identical = bool((acts[:, :, :h] == acts[:1, :, :h]).all()
                         and (ds["affect"].values.reshape(k, n, -1)[:, :, :h] == ds["affect"].values.reshape(k, n, -1)[:1, :, :h]).all())
    # the trial run reproduces the screening run's histories, so every patient is still eligible
    still = _eligible(acts[0], ds["ideation"].values.reshape(k, n, -1)[0], att[0], design)
    pfc = ds["pfc"].values.reshape(k, n, -1)
    load = ds["allostatic_load"].values.reshape(k, n, -1)
    stacked = stack_params(params, n * k)

    def proxies(day: int):
        eff, _ = effective_params(stacked, sched, t0 + day * HOURS_PER_DAY)
        li, re = neural_proxies(eff, pfc[:, :, h + day - 1].ravel(), load[:, :, h + day - 1].ravel())
        return li.reshape(k, n), re.reshape(k, n)

    lim0, reg0 = proxies(0)
    out = {o: np.zeros((k, n, len(design.windows))) for o in OUTCOMES}
    for j, w in enumerate(design.windows):
        sl = slice(h + w.start_day, h + w.end_day)
        a, s = acts[:, :, sl].sum(axis=2), att[:, :, sl].sum(axis=2)
        months = (w.end_day - w.start_day) / DAYS_PER_MONTH
        out["nssi_free"][..., j] = a == 0
        out["attempt_free"][..., j] = s == 0
        out["self_harm_free"][..., j] = (a + s) == 0
        rem = slice(max(h + w.end_day - REMISSION_DAYS, h + w.start_day), h + w.end_day)
        out["remission"][..., j] = acts[:, :, rem].sum(axis=2) == 0
        out["completed"][..., j] = info["completed"].reshape(k, n)
        out["nssi_per_month"][..., j] = a / months
        out["self_harm_per_month"][..., j] = (a + s) / months
        lim, reg = proxies(w.end_day)
        out["limbic_change"][..., j] = lim - lim0
        out["regulation_change"][..., j] = reg - reg0
    # monthly NSSI from the start of the baseline period to the end of follow-up
    first = h - design.baseline_days
    n_months = int(math.ceil((design.horizon_days - first) / DAYS_PER_MONTH))
    edges = np.minimum(first + np.round(np.arange(n_months + 1) * DAYS_PER_MONTH).astype(int), design.horizon_days)
    monthly = np.stack([acts[:, :, edges[m]:edges[m + 1]].sum(axis=2) * DAYS_PER_MONTH / max(edges[m + 1] - edges[m], 1)
                        for m in range(n_months)], axis=2)
    out.update({
        "adherence": info["adherence"].reshape(k, n), "dropout_days": info["dropout_days"].reshape(k, n),
        "monthly_nssi": monthly, "month_start_day": (edges[:-1] - h).astype(float),
        "baseline_nssi_per_month": acts[0, :, first:h].sum(axis=1) / (design.baseline_days / DAYS_PER_MONTH),
        "limbic_baseline": lim0[0], "regulation_baseline": reg0[0], "pre_identical": pre_identical,
        "still_eligible": bool(still.all()),
    })
    return out


# ------------------------------------------------------------------------------ statistics


#: Null value of each effect measure (an interval excluding it is "significant").
NULL = {"risk_difference": 0.0, "odds_ratio": 1.0, "hedges_g": 0.0, "paired_difference": 0.0}


def _effect_rows(design: Design) -> list[tuple[str, str, str, str, str]]:
    """(contrast, outcome, window, measure, analysis) for every effect, in a fixed order."""
    rows = []
    ctrl = design.control
    for arm in design.arm_names:
        if arm == ctrl:
            continue
        con = f"{arm} vs {ctrl}"
        for w in design.windows:
            for o in OUTCOMES:
                if o == "completed" and w is not design.windows[0]:
                    continue
                measures = ("risk_difference", "odds_ratio") if o in BINARY_OUTCOMES else ("hedges_g",)
                rows += [(con, o, w.name, m, "randomised") for m in measures]
                rows.append((con, o, w.name, "paired_difference", "paired"))
    return rows


def _effects(design: Design, out: Mapping[str, np.ndarray], assigned: np.ndarray) -> np.ndarray:
    """Effects (rows of :func:`_effect_rows`) x (estimate, low, high) for one replicate."""
    rows = _effect_rows(design)
    names = design.arm_names
    c = names.index(design.control)
    wi = {w.name: j for j, w in enumerate(design.windows)}
    res = np.full((len(rows), 3), np.nan)
    fns = {"risk_difference": risk_difference, "odds_ratio": odds_ratio_groups, "hedges_g": hedges_g,
           "paired_difference": paired_difference}
    for r, (con, o, wn, meas, analysis) in enumerate(rows):
        a = names.index(con.split(" vs ")[0])
        x = out[o][..., wi[wn]]
        if analysis == "paired":
            res[r] = fns[meas](x[a], x[c])
        else:
            x1, x0 = x[a][assigned == a], x[c][assigned == c]
            if len(x1) >= 2 and len(x0) >= 2:
                res[r] = fns[meas](x1, x0)
    return res


def randomise(n: int, n_arms: int, seed: int, replicate: int, stratum: int) -> np.ndarray:
    """Arm index per patient: permuted blocks of ``2 * n_arms`` (equal allocation)."""
    rng = np.random.default_rng([int(seed), 0x7219A1, int(stratum), int(replicate)])
    block = np.repeat(np.arange(n_arms), 2)
    n_blocks = -(-n // len(block))
    return np.concatenate([rng.permutation(block) for _ in range(n_blocks)])[:n]


#: Subjects (patients x arms) simulated per compiled call of a trial: replicates are grouped
#: so that a call stays below this (memory is bounded whatever the number of replicates).
GROUP_SUBJECTS = 4096


def _screen_arrays(design: Design, stratum: str, needed: int) -> dict[str, np.ndarray]:
    ids, screened = screen(design, design.strata[stratum], needed)
    return {"ids": ids, "screened": np.array(screened)}


def _cached(folder: Path | None, key: str, compute):
    """``compute()`` (a dict of arrays), stored as ``folder/key.npz`` and reused if present."""
    if folder is None:
        return compute()
    path = folder / f"{key}.npz"
    if path.exists():
        with np.load(path) as z:
            return {k: z[k] for k in z.files}
    out = compute()
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{key}.tmp.npz"
    np.savez(tmp, **{k: np.asarray(v) for k, v in out.items()})
    tmp.replace(path)
    return out


def run_trial(design: Design, replicates: int | None = None, checkpoint: str | Path | None = None) -> xr.Dataset:
    """Run a design (``replicates`` independent trials, default the design's) and return the Dataset.

    ``checkpoint``: a folder for intermediate results (screened ids, groups of replicates),
    keyed by the design's hash and the number of replicates; a run interrupted and started
    again with the same folder reuses what was finished.
    """
    reps = design.replicates if replicates is None else int(replicates)
    if reps < 1:
        raise ValueError(f"replicates must be >= 1, got {reps}")
    if checkpoint is not None:
        cfg0 = json.loads(json.dumps(design.raw, default=str))
        checkpoint = Path(checkpoint) / f"{config_hash(cfg0)[:16]}_r{reps}"
    n, k = design.n_patients, len(design.arms)
    rows = _effect_rows(design)
    strata = list(design.strata)
    per = {o: [] for o in OUTCOMES}
    extra = {key: [] for key in ("adherence", "dropout_days", "monthly_nssi", "baseline_nssi_per_month",
                                 "limbic_baseline", "regulation_baseline")}
    assigned_all, ids_all, eff_all, screen_info = [], [], [], []
    month_start = None
    for s_i, s_name in enumerate(strata):
        sc = _cached(checkpoint, f"{s_name}_screen", lambda: _screen_arrays(design, s_name, n * reps))
        ids, screened = np.asarray(sc["ids"]), int(sc["screened"])
        # replicates are simulated in groups (bounded memory); each group is a resumable checkpoint
        group = max(1, min(reps, GROUP_SUBJECTS // max(n * k, 1)))
        parts = []
        for g0 in range(0, reps, group):
            sl = slice(g0 * n, min(g0 + group, reps) * n)
            parts.append(_cached(checkpoint, f"{s_name}_reps{g0}", lambda sl=sl: simulate_arms(
                design, design.strata[s_name], ids[sl])))
        out = {key: np.concatenate([np.asarray(pt[key]) for pt in parts], axis=1) for key in
               OUTCOMES + ("adherence", "dropout_days", "monthly_nssi")}
        out.update({key: np.concatenate([np.asarray(pt[key]) for pt in parts]) for key in
                    ("baseline_nssi_per_month", "limbic_baseline", "regulation_baseline")})
        if not all(bool(pt["pre_identical"]) for pt in parts):  # pragma: no cover - guards common random numbers
            raise RuntimeError("pre-treatment histories differ between arms: common random numbers are broken")
        if not all(bool(pt["still_eligible"]) for pt in parts):  # pragma: no cover - guards the screening
            raise RuntimeError("the trial run does not reproduce the screening histories (a patient is no longer eligible)")
        month_start = np.asarray(parts[0]["month_start_day"])
        screen_info.append((screened, len(ids)))
        assigned = np.stack([randomise(n, k, design.seed, r, s_i) for r in range(reps)])
        eff = np.zeros((reps, len(rows), 3))
        for r in range(reps):
            sl = slice(r * n, (r + 1) * n)
            sub = {o: out[o][:, sl] for o in OUTCOMES}
            eff[r] = _effects(design, sub, assigned[r])
        eff_all.append(eff)
        assigned_all.append(assigned)
        ids_all.append(ids.reshape(reps, n))
        for o in OUTCOMES:  # (arm, reps*n, window) -> (reps, n, arm, window)
            per[o].append(out[o].reshape(k, reps, n, -1).transpose(1, 2, 0, 3))
        for key in ("adherence", "dropout_days"):
            extra[key].append(out[key].reshape(k, reps, n).transpose(1, 2, 0))
        extra["monthly_nssi"].append(out["monthly_nssi"].reshape(k, reps, n, -1).transpose(1, 2, 0, 3))
        for key in ("baseline_nssi_per_month", "limbic_baseline", "regulation_baseline"):
            extra[key].append(out[key].reshape(reps, n))
    dims_o = ("stratum", "replicate", "patient", "arm", "window")
    data_vars = {o: (dims_o, np.stack(per[o])) for o in OUTCOMES}
    data_vars["completed"] = (dims_o[:-1], np.stack(per["completed"])[..., 0].astype(bool))
    for o in BINARY_OUTCOMES:
        if o != "completed":
            data_vars[o] = (dims_o, np.stack(per[o]).astype(bool))
    data_vars["adherence"] = (dims_o[:-1], np.stack(extra["adherence"]))
    data_vars["dropout_days"] = (dims_o[:-1], np.stack(extra["dropout_days"]))
    data_vars["monthly_nssi"] = (("stratum", "replicate", "patient", "arm", "month"), np.stack(extra["monthly_nssi"]))
    for key in ("baseline_nssi_per_month", "limbic_baseline", "regulation_baseline"):
        data_vars[key] = (("stratum", "replicate", "patient"), np.stack(extra[key]))
    data_vars["assigned"] = (("stratum", "replicate", "patient"), np.stack(assigned_all).astype(np.int16))
    data_vars["subject_id"] = (("stratum", "replicate", "patient"), np.stack(ids_all))
    eff = np.stack(eff_all)
    for i, v in enumerate(("estimate", "low", "high")):
        data_vars[v] = (("stratum", "replicate", "effect"), eff[..., i])
    null = np.array([NULL[r[3]] for r in rows])
    data_vars["significant"] = (("stratum", "replicate", "effect"), (eff[..., 1] > null) | (eff[..., 2] < null))
    data_vars["screened"] = (("stratum",), np.array([s for s, _ in screen_info]))
    data_vars["eligible_found"] = (("stratum",), np.array([e for _, e in screen_info]))
    ds = xr.Dataset(data_vars, coords={
        "stratum": strata, "replicate": np.arange(reps), "patient": np.arange(n), "arm": list(design.arm_names),
        "window": [w.name for w in design.windows],
        "window_start_day": ("window", [w.start_day for w in design.windows]),
        "window_end_day": ("window", [w.end_day for w in design.windows]),
        "month": np.arange(len(month_start)), "month_start_day": ("month", month_start),
        "effect": np.arange(len(rows)),
        "contrast": ("effect", [r[0] for r in rows]), "outcome": ("effect", [r[1] for r in rows]),
        "effect_window": ("effect", [r[2] for r in rows]), "measure": ("effect", [r[3] for r in rows]),
        "analysis": ("effect", [r[4] for r in rows]),
    })
    ds["assigned"].attrs["meaning"] = "index into the arm coordinate"
    ds["monthly_nssi"].attrs["units"] = "acts per 30.4 days; month m starts at month_start_day (days after randomisation)"
    ds["completed"].attrs["meaning"] = "no dropout before the end of treatment"
    cfg = json.loads(json.dumps(design.raw, default=str))
    cfg["run"] = {"replicates": reps}
    ds.attrs.update({
        "title": f"nssisim virtual trial '{design.name}' (research instrument; a model prediction, not evidence)",
        "nssisim_version": __version__, "design": json.dumps(cfg, sort_keys=True), "config_hash": config_hash(cfg),
        "control_arm": design.control, "seed": design.seed, "population": design.population,
        "history_days": design.history_days, "treatment_length_days": design.length_days,
        "age_at_randomisation": design.start_age_years + design.history_days / 365.25,
        "remission_days": REMISSION_DAYS, "common_random_numbers": "each patient is simulated in every arm with the same subject id",
    })
    return ds


# ------------------------------------------------------------------------------ tables
def effects_table(ds: xr.Dataset) -> pd.DataFrame:
    """One row per stratum, replicate and effect (tidy)."""
    frames = []
    for s in ds["stratum"].values:
        for r in ds["replicate"].values:
            e = ds.sel(stratum=s, replicate=r)
            frames.append(pd.DataFrame({
                "stratum": s, "replicate": int(r), "contrast": ds["contrast"].values, "outcome": ds["outcome"].values,
                "window": ds["effect_window"].values, "measure": ds["measure"].values, "analysis": ds["analysis"].values,
                "estimate": e["estimate"].values, "low": e["low"].values, "high": e["high"].values,
                "significant": e["significant"].values,
            }))
    return pd.concat(frames, ignore_index=True)


def summary_table(ds: xr.Dataset) -> pd.DataFrame:
    """Per stratum and effect: estimate of replicate 0 with its interval, and over replicates the
    median, 2.5% and 97.5% quantiles and the power (share of trials whose interval excludes no effect)."""
    df = effects_table(ds)
    keys = ["stratum", "contrast", "outcome", "window", "measure", "analysis"]
    g = df.groupby(keys, sort=False)
    first = df[df.replicate == 0].set_index(keys)[["estimate", "low", "high"]]
    out = pd.DataFrame({
        "median": g["estimate"].median(), "q025": g["estimate"].quantile(0.025), "q975": g["estimate"].quantile(0.975),
        "power": g["significant"].mean(), "replicates": g["estimate"].size(),
    })
    return first.join(out).reset_index()


def arm_summary(ds: xr.Dataset) -> pd.DataFrame:
    """Per stratum, arm and window: outcome means over all simulated patients (every arm; paired)."""
    rows = []
    for s in ds["stratum"].values:
        for a in ds["arm"].values:
            for w in ds["window"].values:
                x = ds.sel(stratum=s, arm=a, window=w)
                row = {"stratum": s, "arm": a, "window": w}
                row.update({o: float(x[o].mean()) for o in OUTCOMES if o != "completed"})
                row["completed"] = float(ds["completed"].sel(stratum=s, arm=a).mean())
                rows.append(row)
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------ calibration
#: The calibration target: DBT vs control on self-directed violence (DeCou2019; mostly adults).
DBT_TARGET_D = -0.324
DBT_TARGET_INTERVAL = (-0.471, -0.176)


def strength_curve(design: Design, arm: str, strengths: Sequence[float], outcome: str = "self_harm_per_month",
                   window: str | None = None, stratum: str | None = None) -> pd.DataFrame:
    """Hedges' g of ``arm`` vs the design's control for each strength (all screened patients in
    every arm: a paired pool, so the curve is smooth in the strength)."""
    stratum = stratum or next(iter(design.strata))
    window = window or design.windows[0].name
    base = next(a for a in design.arms if a.name == arm)
    ctrl = next(a for a in design.arms if a.name == design.control)
    arms = [ctrl] + [replace(base, name=f"{arm}@{s:g}", strength=float(s)) for s in strengths]
    ids, screened = screen(design, design.strata[stratum], design.n_patients)
    out = simulate_arms(design, design.strata[stratum], ids, arms)
    j = [w.name for w in design.windows].index(window)
    x = out[outcome][..., j]
    rows = []
    for i, s in enumerate(strengths, start=1):
        g, lo, hi = hedges_g(x[i], x[0])
        rows.append({"strength": float(s), "hedges_g": g, "low": lo, "high": hi, "patients": len(ids),
                     "screened": screened, "mean_arm": float(x[i].mean()), "mean_control": float(x[0].mean())})
    return pd.DataFrame(rows)


def calibrate_strength(design: Design, arm: str, strengths: Sequence[float], target: float = DBT_TARGET_D,
                       **kw) -> tuple[float, pd.DataFrame]:
    """The strength at which the curve of :func:`strength_curve` crosses ``target`` (linear
    interpolation between grid points; the curve is checked to be monotone there)."""
    curve = strength_curve(design, arm, strengths, **kw)
    g = curve["hedges_g"].to_numpy()
    s = curve["strength"].to_numpy()
    for i in range(len(s) - 1):
        if (g[i] - target) * (g[i + 1] - target) <= 0 and g[i] != g[i + 1]:
            return float(s[i] + (target - g[i]) * (s[i + 1] - s[i]) / (g[i + 1] - g[i])), curve
    raise ValueError(f"target {target} not bracketed by the strengths {list(s)} (g = {list(np.round(g, 3))})")


__all__ = ["DBT_TARGET_D", "BINARY_OUTCOMES", "CONTINUOUS_OUTCOMES", "DESIGNS", "Design", "DesignError", "OUTCOMES", "REMISSION_DAYS", "arm_summary", "calibrate_strength", "effects_table", "eligible", "load_design", "neural_proxies", "parse_design", "randomise", "run_trial", "screen", "simulate_arms", "strength_curve", "summary_table"]
