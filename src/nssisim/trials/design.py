"""Trial designs: the TOML grammar of a virtual randomised trial, validated into a :class:`Design`.

A trial design is a TOML file (shipped examples: ``configs/trials/*.toml``, named in
:data:`DESIGNS`; the format is in ``docs/trials.md``): where patients come from (``source``: a
referral rule on the community life course, :mod:`nssisim.population.referral`, or the special
case of a population spec with a fixed history), strata, eligibility (criteria combined with
AND / OR / NOT, :mod:`nssisim.population.criteria`, including the age range at randomisation),
a sex mix, the treatment period, follow-up windows, the arms (with per-arm completion) and the
control arm. :func:`load_design` reads a file (or a shipped name),
:func:`parse_design` validates a table; every error is a :class:`DesignError` naming the file
and the field. :func:`eligible` applies a design's eligibility rule to simulated histories.
The outcome names (:data:`OUTCOMES`) are fixed here; :mod:`nssisim.trials.run` computes them.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from ..core.parameters import check_value, PARAMS
from ..files import check_keys, did_you_mean as _suggest, read_toml, SpecError
from ..population.criteria import Criterion, History, history_of, meets, Node, parse_node
from ..population.referral import load_rule, ReferralError, ReferralRule, SCREEN_START_AGE
from ..population.spec import load_population, PopulationError, PopulationSpec, POPULATIONS
from .interventions import Arm, DAYS_PER_MONTH, InterventionError, load_intervention

#: Outcomes that are shares (per-patient 0/1): risk difference and odds ratio.
BINARY_OUTCOMES = ("nssi_free", "attempt_free", "self_harm_free", "remission", "response", "relapse", "completed")
#: Outcomes that are continuous: Hedges' g.
CONTINUOUS_OUTCOMES = ("nssi_per_month", "nssi_days", "self_harm_per_month", "limbic_change", "regulation_change")
OUTCOMES = BINARY_OUTCOMES + CONTINUOUS_OUTCOMES
#: Direction in which an outcome is better (for reading plots; effects keep their sign).
BETTER = {"nssi_free": 1, "attempt_free": 1, "self_harm_free": 1, "remission": 1, "response": 1, "relapse": -1,
          "completed": 1, "nssi_per_month": -1, "nssi_days": -1, "self_harm_per_month": -1, "limbic_change": -1,
          "regulation_change": 1}
#: Default days without NSSI at the end of a window that count as remission.
REMISSION_DAYS = 56
#: Where patients come from: a referral rule on the community life course, or (the special case
#: kept from before) a population spec simulated for a fixed history from a fixed start age.
SOURCES = ("referral", "population")



class DesignError(SpecError):
    """A trial design is invalid; the message names the file and the field."""


@dataclass(frozen=True)
class Window:
    name: str
    start_day: int
    end_day: int


#: Keys of the short form of [eligibility] (translated into the criteria grammar by :func:`_eligibility`).
_SHORT_ELIG = ("age_min", "age_max", "min_lifetime_acts", "recent_days", "recent_ideation_above", "recent_attempt")


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
    eligibility: Node
    baseline_days: int
    length_days: int
    windows: tuple[Window, ...]
    arms: tuple[Arm, ...]
    control: str
    source: str = "<dict>"
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)
    patients_from: str = "population"  # one of SOURCES
    rule: ReferralRule | None = None  # the referral rule (patients_from = "referral")
    female_share: float | None = None  # sex mix of the randomised patients (None: as they come)
    remission_days: int = REMISSION_DAYS
    completion: Mapping[str, float] = field(default_factory=dict)  # per-arm completion probability (data)
    #: Parameter base (Python API only, e.g. ``nssisim.targets``' ``base``): values that replace the parameter
    #: table's defaults beneath the population spec; the spec's own ``[parameters]``, its sampled factors,
    #: ``[person]``, the strata and the interventions all win over it. Empty: the table defaults.
    base: Mapping[str, float] = field(default_factory=dict)
    #: The population spec object patients are sampled from instead of loading ``population`` by
    #: name (None: load it); set with :meth:`on_population` (a calibrated parameter set's spec).
    population_spec: PopulationSpec | None = field(default=None, repr=False, compare=False)
    #: Model-parameter overrides of a parameter set: they replace the sampled per-patient values
    #: after the population's factor mapping, as the calibration's ``overrides`` do in
    #: :func:`nssisim.population.lifecourse.simulate_chunk`; the design's ``[person]`` overrides
    #: and the stratum's are applied after them (a design's own setting wins).
    population_overrides: Mapping[str, float] = field(default_factory=dict)

    @property
    def arm_names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.arms)

    def on_population(self, spec: PopulationSpec, overrides: Mapping[str, float] | None = None) -> "Design":
        """The same design sampling its patients from ``spec`` (instead of the named population),
        with model-parameter ``overrides`` applied after the factor mapping (see
        :attr:`population_overrides`)."""
        from dataclasses import replace

        if not isinstance(spec, PopulationSpec):
            raise TypeError(f"on_population: expected a PopulationSpec, got {type(spec).__name__}")
        ov = {k: float(v) for k, v in (overrides or {}).items()}
        unknown = [k for k in ov if k not in PARAMS]
        if unknown:
            raise DesignError(f"{self.source}: parameter set: unknown model parameter '{unknown[0]}'"
                              f"{_suggest(unknown[0], list(PARAMS))}")
        return replace(self, population_spec=spec, population_overrides=ov)

    @property
    def follow_days(self) -> int:
        """Days simulated after randomisation (the last window's end)."""
        return max(w.end_day for w in self.windows)

    @property
    def horizon_days(self) -> int:
        """Days simulated for a population-source design (history + follow-up)."""
        return self.history_days + self.follow_days


_TOP = {"name", "description", "seed", "population", "person", "strata", "start_age_years", "history_days", "dt_hours",
        "n_patients", "replicates", "screen_batch", "max_screen", "eligibility", "baseline_days", "treatment",
        "windows", "arms", "control", "source", "referral", "female_share", "remission_days", "evidence"}
_ELIG = set(_SHORT_ELIG) | {"all", "any", "none"}
_ARM = {"intervention", "components", "strength", "adherence_mean", "dropout_per_month", "completion"}
_REFERRAL = {"rule", "start_age_years"}


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
    check_keys(tab, allowed, where, DesignError)


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


def _eligibility(el: Mapping, where: str, max_days: int) -> Node:
    """The [eligibility] table as a criteria node (:mod:`nssisim.population.criteria`).

    The short form is translated: ``age_min``/``age_max`` -> ``age`` at randomisation;
    ``min_lifetime_acts`` -> acts since the life-course start; ``recent_ideation_above`` and
    ``recent_attempt`` -> (peak ideation above the value OR an attempt) in the last
    ``recent_days``. It combines with AND with the ``all``/``any``/``none`` lists.
    """
    if not isinstance(el, Mapping):
        raise DesignError(f"{where}: expected a table")
    _unknown(el, _ELIG, where)
    ra = el.get("recent_attempt", False)
    if not isinstance(ra, bool):
        raise DesignError(f"{where}.recent_attempt: expected true or false")
    short: list = []
    if "age_min" in el or "age_max" in el:
        lo, hi = _num(el, "age_min", where, default=0.0), _num(el, "age_max", where, default=100.0)
        if lo > hi:
            raise DesignError(f"{where}: age_min {lo} > age_max {hi}")
        short.append(Criterion("age", None, (("min", float(lo)), ("max", float(hi)))))
    mla = _num(el, "min_lifetime_acts", where, integer=True, default=0, low=0)
    if mla:
        short.append(Criterion("acts", None, (("min", float(mla)),)))
    rd = _num(el, "recent_days", where, integer=True, default=min(90, max_days), low=1, high=max_days)
    recent = []
    if "recent_ideation_above" in el:
        recent.append(Criterion("ideation", int(rd), (("above", float(_num(el, "recent_ideation_above", where,
                                                                              low=0.0, high=1.0))),)))
    if ra:
        recent.append(Criterion("attempts", int(rd), (("min", 1.0),)))
    if recent:
        short.append(Node(any=tuple(recent)))
    nested = parse_node({k: el[k] for k in ("all", "any", "none") if k in el}, where, DesignError, max_window=max_days)
    return Node(all=tuple(short) + nested.all, any=nested.any, none=nested.none)


def _age_bounds(node: Node) -> tuple[float, float]:
    """The age range a node's top-level ``all`` criteria allow (for the population-source check)."""
    lo, hi = 0.0, math.inf
    for m in node.all:
        if isinstance(m, Criterion) and m.measure == "age":
            for k, v in m.bounds:
                if k in ("min", "above"):
                    lo = max(lo, v)
                else:
                    hi = min(hi, v)
    return lo, hi


def parse_design(data: Mapping, source: str = "<dict>") -> Design:
    """Validate a design table; every error names ``source`` and the field."""
    w = source
    _unknown(data, _TOP, w)
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise DesignError(f"{w}: name: missing (expected a string)")
    seed = _num(data, "seed", w, integer=True, low=0, high=2**32 - 1)
    src = data.get("source", "population")
    if src not in SOURCES:
        raise DesignError(f"{w}: source: {src!r}{_suggest(str(src), SOURCES)}: expected one of {', '.join(SOURCES)}")
    rule = None
    if src == "referral":
        for k in ("start_age_years", "history_days"):
            if k in data:
                raise DesignError(f"{w}: {k}: not used with source = \"referral\" (patients enter at their referral "
                                  "day; the life course starts at referral.start_age_years)")
        rt = data.get("referral")
        if not isinstance(rt, Mapping):
            raise DesignError(f"{w}: referral: missing table [referral] with rule (a referral rule name or path)")
        _unknown(rt, _REFERRAL, f"{w}: referral")
        ref = rt.get("rule")
        if not isinstance(ref, str):
            raise DesignError(f"{w}: referral.rule: missing (expected a shipped referral rule name or a path)")
        if not Path(ref).is_absolute() and (Path(source).parent / ref).is_file():
            ref = str(Path(source).parent / ref)
        try:
            rule = load_rule(ref)
        except ReferralError as e:
            raise DesignError(f"{w}: referral.rule: {e}") from None
        start_age = _num(rt, "start_age_years", f"{w}: referral", default=SCREEN_START_AGE, low=5.0)
        if start_age > rule.age_min:
            raise DesignError(f"{w}: referral.start_age_years: {start_age} is after the rule's first check age "
                              f"{rule.age_min}")
        history = int(math.floor((rule.age_min - start_age) * 365.25))  # the shortest possible history
        if history < 1:
            raise DesignError(f"{w}: referral: the life course must start before the rule's age_min {rule.age_min}")
    elif "referral" in data:
        raise DesignError(f"{w}: referral: only used with source = \"referral\"")
    pop = data.get("population", "community" if src == "referral" else "clinical")
    if not isinstance(pop, str):
        raise DesignError(f"{w}: population: expected a population name or a path")
    if pop not in POPULATIONS and not Path(pop).is_absolute() and (Path(source).parent / pop).is_file():
        pop = str(Path(source).parent / pop)  # a path relative to the design file
    try:
        spec = load_population(pop)
    except PopulationError as e:
        raise DesignError(f"{w}: population: {e}") from None
    if "female_share" in data and "sex_female" not in spec.factor_names:
        raise DesignError(f"{w}: female_share: population '{spec.name}' has no sex_female factor to select on")
    overrides = _overrides(data.get("person", {}), f"{w}: person")
    strata_tab = data.get("strata", {})
    if not isinstance(strata_tab, Mapping):
        raise DesignError(f"{w}: strata: expected tables [strata.<name>] of parameter overrides")
    strata = {k: _overrides(v, f"{w}: strata.{k}") for k, v in strata_tab.items()} or {"all": {}}
    if src == "population":
        start_age = _num(data, "start_age_years", w, default=12.0, low=0.0)
        history = _num(data, "history_days", w, integer=True, low=1)
    dt = _num(data, "dt_hours", w, default=1.0, low=1e-3, high=24.0)
    if abs(24.0 / dt - round(24.0 / dt)) > 1e-9:
        raise DesignError(f"{w}: dt_hours: {dt} must divide a day (24 h) into whole steps")
    n_pat = _num(data, "n_patients", w, integer=True, low=2)
    reps = _num(data, "replicates", w, integer=True, default=1, low=1)
    batch = _num(data, "screen_batch", w, integer=True, default=1024, low=1)
    max_screen = _num(data, "max_screen", w, integer=True, default=50_000, low=1)
    elig = _eligibility(data.get("eligibility", {}), f"{w}: eligibility", history)
    fs = None
    if "female_share" in data:
        fs = float(_num(data, "female_share", w, low=0.0, high=1.0))
    rem = _num(data, "remission_days", w, integer=True, default=REMISSION_DAYS, low=1)
    baseline = _num(data, "baseline_days", w, integer=True, default=min(90, history), low=1, high=history)
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
    arms, completion = [], {}
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
        if "completion" in at:
            if dr is not None:
                raise DesignError(f"{wa}: give completion or dropout_per_month, not both")
            c = float(_num(at, "completion", wa, low=0.0, high=1.0))
            if c <= 0.0:
                raise DesignError(f"{wa}.completion: {c} must be > 0 (no one would complete)")
            completion[an] = c
            dr = completion_to_dropout(c, length)
        arms.append(Arm(an, iv, comps, strength, am, dr))
    control = data.get("control")
    names = [a.name for a in arms]
    if control not in names:
        raise DesignError(f"{w}: control: {control!r} is not an arm{_suggest(str(control), names)}: expected one of "
                          f"{', '.join(names)}")
    max_end = max(x.end_day for x in windows)
    if length > max_end:
        raise DesignError(f"{w}: treatment.length_days {length} extends past the last window's end_day {max_end}")
    lo, hi = _age_bounds(elig)
    if src == "population":
        age = start_age + history / 365.25
        if not (lo <= age <= hi):
            raise DesignError(f"{w}: eligibility: age at randomisation is start_age_years + history_days/365.25 = "
                              f"{age:.2f}, outside [age_min, age_max] = [{lo}, {hi}]: no one could be eligible")
    elif hi < rule.age_min or lo > rule.age_max:
        raise DesignError(f"{w}: eligibility: the age range [{lo}, {hi}] misses the referral ages "
                          f"[{rule.age_min}, {rule.age_max}] of rule '{rule.name}': no one could be eligible")
    return Design(name, str(data.get("description", "")), int(seed), pop, overrides, strata, float(start_age),
                  0 if src == "referral" else int(history), float(dt), int(n_pat), int(reps), int(batch),
                  int(max_screen), elig, int(baseline), int(length), tuple(windows), tuple(arms), control, source,
                  copy.deepcopy(dict(data)), src, rule, fs, int(rem), completion)


def completion_to_dropout(completion: float, length_days: float) -> float:
    """The dropout hazard per month at which a share ``completion`` completes ``length_days`` of
    treatment (exponential dropout: ``completion = exp(-rate * length / month)``)."""
    if completion >= 1.0:
        return 0.0
    return -math.log(completion) * DAYS_PER_MONTH / float(length_days)


def load_design(path: str | Path) -> Design:
    """Load and validate a design file (a path, or the name of a shipped example)."""
    src, data = read_toml(path, kind="trial design", shipped=DESIGNS, location=lambda s: f"configs/trials/{s}.toml",
                          error=lambda source, message: DesignError(f"{source}: {message}"))
    return parse_design(data, src)


#: Shipped example designs (``configs/trials/<name>.toml``).
DESIGNS = ("dbt_vs_supportive", "dbt_components", "ssri_vs_placebo", "naltrexone_profiles", "demo", "calibrate_dbt",
           "dbta_routine_care", "specialised_vs_tau", "calibrate_dbt_clinical")


def eligible(ds: xr.Dataset, design: Design, at: np.ndarray | int | None = None,
             sex_female: np.ndarray | None = None) -> np.ndarray:
    """Eligibility of each simulated candidate (daily records from the start of its life course),
    evaluated on the days before ``at`` (default: the design's ``history_days``, the randomisation
    day of a population-source design; a referral-source design passes each patient's referral day)."""
    return eligible_history(history_of(ds, sex_female), design, at)


def eligible_history(hist: History, design: Design, at: np.ndarray | int | None = None) -> np.ndarray:
    """As :func:`eligible`, on a :class:`nssisim.population.criteria.History`."""
    return meets(design.eligibility, hist, design.history_days if at is None else at)


__all__ = ["BETTER", "BINARY_OUTCOMES", "CONTINUOUS_OUTCOMES", "DESIGNS", "Design", "DesignError", "OUTCOMES",
           "REMISSION_DAYS", "SOURCES", "Window", "completion_to_dropout", "eligible", "eligible_history",
           "load_design", "parse_design"]
