"""Interventions as data: TOML files of components that change parameters over time.

An intervention file (shipped: ``configs/interventions/<name>.toml``; format in
``docs/trials.md``)::

    name = "dbt_a"
    description = "..."
    evidence = ["McCauley2018", "Linehan2015"]
    strength = 1.0                  # scales every component (the calibrated DBT strength)

    [adherence]                     # per-person adherence in [0, 1]: a beta with this mean, sd
    mean = 0.8
    sd = 0.15

    [dropout]
    rate_per_month = 0.03           # exponential dropout hazard while in treatment

    [components.skills_emotion_regulation]
    description = "prefrontal regulation up, limbic reactivity (vulnerability) down"
    evidence = ["Linehan2015", "Goodman2014"]
    tau_on_days = 120               # onset time constant (neuroplastic change takes months)
    tau_off_days = 365              # decay after the end of treatment or the person's dropout
    delay_days = 0                  # optional: start after treatment start
    duration_days = 90              # optional: active for this long (default: the whole treatment)
    effects.k_pfc_regulation = { scale = 1.3 }   # factor at full effect
    effects.limbic_reactivity = { scale = 0.85 }
    effects.skill = { add = 0.4 }                # additive change at full effect

Effect targets are the parameters of :data:`nssisim.core.parameters.PARAMS` and the ``skill``
input (the strength of a learned alternative response, 0 without treatment). The effect of a
component on person ``i`` at time ``t`` after its start is
``strength * adherence_i * (1 - exp(-t / tau_on))`` while active, decaying with ``tau_off``
after the end or the person's dropout; see :class:`nssisim.core.simulation.Schedule`.

Data flow: file -> :func:`load_intervention` (validated, errors name file and field) ->
:class:`Intervention` -> :func:`build_schedule` (many arms, one global component list; a
component absent from an arm has level 0) -> ``simulate_cohort(..., schedule=...)``.

Person-level adherence and dropout are drawn from counter-based normals keyed by the
subject id (:func:`nssisim.population.subject_normals`), so a patient has the same
adherence propensity and dropout propensity in every arm (common random numbers).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import special, stats

from ..core.parameters import HOURS_PER_DAY, PARAMS
from ..core.simulation import Schedule, SCHEDULE_TARGETS
from ..files import did_you_mean as _suggest, read_toml, resource, SpecError
from ..population.spec import subject_normals

#: Shipped interventions (files ``configs/interventions/<name>.toml``).
INTERVENTIONS: tuple[str, ...] = (
    "dbt", "dbt_a", "supportive", "tau", "placebo", "ssri", "naltrexone", "antipsychotic", "anti_bullying", "family",
    "specialised_outpatient",
)
#: Days per month for rates given per month.
DAYS_PER_MONTH = 30.4375
#: Seed salt of the per-person adherence/dropout propensities (distinct from the population draw).
PROPENSITY_SALT = 0x7A1A1

_TOP_KEYS = {"name", "description", "evidence", "strength", "adherence", "dropout", "components"}
_COMPONENT_KEYS = {"description", "evidence", "tau_on_days", "tau_off_days", "delay_days", "duration_days", "effects"}


class InterventionError(SpecError):
    """An intervention file is invalid; the message names the file and the field."""


@dataclass(frozen=True)
class Component:
    """One separable part of an intervention."""

    name: str
    description: str
    evidence: tuple[str, ...]
    tau_on_days: float
    tau_off_days: float
    delay_days: float = 0.0
    duration_days: float | None = None
    scale: Mapping[str, float] = field(default_factory=dict)  # target -> factor at full effect
    add: Mapping[str, float] = field(default_factory=dict)  # target -> additive change at full effect


@dataclass(frozen=True)
class Intervention:
    """A validated intervention."""

    name: str
    description: str
    evidence: tuple[str, ...]
    strength: float
    adherence_mean: float
    adherence_sd: float
    dropout_per_month: float
    components: tuple[Component, ...]
    source: str = "<dict>"

    def component(self, name: str) -> Component:
        for c in self.components:
            if c.name == name:
                return c
        raise KeyError(f"{self.source}: no component '{name}'{_suggest(name, [c.name for c in self.components])}: "
                       f"expected one of {', '.join(c.name for c in self.components) or '(none)'}")


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _get_num(tab: Mapping, key: str, where: str, *, low: float | None = None, high: float | None = None,
             default: float | None = None, strict_low: bool = False) -> float:
    if key not in tab:
        if default is None:
            raise InterventionError(f"{where}.{key}: missing (expected a number)")
        return default
    v = tab[key]
    if not _num(v):
        raise InterventionError(f"{where}.{key}: expected a number, got {v!r}")
    v = float(v)
    if low is not None and (v <= low if strict_low else v < low):
        raise InterventionError(f"{where}.{key}: {v} must be {'>' if strict_low else '>='} {low}")
    if high is not None and v > high:
        raise InterventionError(f"{where}.{key}: {v} must be <= {high}")
    return v


def _evidence(tab: Mapping, where: str) -> tuple[str, ...]:
    ev = tab.get("evidence", [])
    if not isinstance(ev, list) or not all(isinstance(e, str) for e in ev):
        raise InterventionError(f"{where}.evidence: expected a list of reference keys (strings)")
    return tuple(ev)


def parse_intervention(data: Mapping, source: str = "<dict>") -> Intervention:
    """Validate an intervention table; errors name ``source`` and the field."""
    extra = set(data) - _TOP_KEYS
    if extra:
        k = sorted(extra)[0]
        raise InterventionError(f"{source}: unknown key '{k}'{_suggest(k, _TOP_KEYS)}: expected {', '.join(sorted(_TOP_KEYS))}")
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise InterventionError(f"{source}: name: missing (expected a string)")
    strength = _get_num(data, "strength", source, low=0.0, default=1.0)
    adh = data.get("adherence", {"mean": 1.0, "sd": 0.0})
    if not isinstance(adh, Mapping):
        raise InterventionError(f"{source}: adherence: expected a table with mean and sd")
    a_mean = _get_num(adh, "mean", f"{source}: adherence", low=0.0, high=1.0)
    a_sd = _get_num(adh, "sd", f"{source}: adherence", low=0.0, default=0.0)
    if a_sd > 0 and not (0.0 < a_mean < 1.0 and a_sd ** 2 < a_mean * (1 - a_mean)):
        raise InterventionError(f"{source}: adherence: sd={a_sd} is too large for mean={a_mean} "
                                f"(a beta needs sd^2 < mean (1 - mean) = {a_mean * (1 - a_mean):.4g})")
    drop = data.get("dropout", {})
    if not isinstance(drop, Mapping):
        raise InterventionError(f"{source}: dropout: expected a table with rate_per_month")
    rate = _get_num(drop, "rate_per_month", f"{source}: dropout", low=0.0, default=0.0)
    comps_tab = data.get("components", {})
    if not isinstance(comps_tab, Mapping):
        raise InterventionError(f"{source}: components: expected tables [components.<name>]")
    comps = []
    for cname, ct in comps_tab.items():
        where = f"{source}: components.{cname}"
        if not isinstance(ct, Mapping):
            raise InterventionError(f"{where}: expected a table")
        extra = set(ct) - _COMPONENT_KEYS
        if extra:
            k = sorted(extra)[0]
            raise InterventionError(f"{where}: unknown key '{k}'{_suggest(k, _COMPONENT_KEYS)}: expected "
                                    f"{', '.join(sorted(_COMPONENT_KEYS))}")
        tau_on = _get_num(ct, "tau_on_days", where, low=0.0, strict_low=True)
        tau_off = _get_num(ct, "tau_off_days", where, low=0.0, strict_low=True)
        delay = _get_num(ct, "delay_days", where, low=0.0, default=0.0)
        duration = _get_num(ct, "duration_days", where, low=0.0, strict_low=True) if "duration_days" in ct else None
        effects = ct.get("effects", {})
        if not isinstance(effects, Mapping):
            raise InterventionError(f"{where}.effects: expected a table of target = {{ scale = x }} or {{ add = x }}")
        scale, add = {}, {}
        for target, eff in effects.items():
            w = f"{where}.effects.{target}"
            if target not in SCHEDULE_TARGETS:
                raise InterventionError(f"{w}: unknown target '{target}'{_suggest(target, SCHEDULE_TARGETS)}: expected a "
                                        "model parameter or 'skill'")
            if not isinstance(eff, Mapping) or not eff or set(eff) - {"scale", "add"}:
                raise InterventionError(f"{w}: expected {{ scale = factor }} and/or {{ add = change }}")
            if "scale" in eff:
                scale[target] = _get_num(eff, "scale", w, low=0.0)
                if target == "skill":
                    raise InterventionError(f"{w}: the skill input starts at 0; use add, not scale")
            if "add" in eff:
                v = _get_num(eff, "add", w)
                if target in PARAMS:
                    p = PARAMS[target]
                    if abs(v) > p.high - p.low:
                        raise InterventionError(f"{w}.add: {v} exceeds the width of the parameter's bounds "
                                                f"[{p.low}, {p.high}]")
                add[target] = v
        comps.append(Component(cname, str(ct.get("description", "")), _evidence(ct, where), tau_on, tau_off, delay,
                               duration, scale, add))
    return Intervention(name, str(data.get("description", "")), _evidence(data, source), strength, a_mean, a_sd, rate,
                        tuple(comps), source)


def intervention_path(name: str):
    """The shipped file of intervention ``name``."""
    return resource("configs", "interventions", f"{name}.toml")


def load_intervention(name_or_path: str | Path) -> Intervention:
    """Load a shipped intervention by name or a TOML file by path."""
    src, data = read_toml(name_or_path, kind="intervention", shipped=INTERVENTIONS,
                          location=lambda s: f"configs/interventions/{s}.toml",
                          error=lambda source, message: InterventionError(f"{source}: {message}"))
    return parse_intervention(data, src)


# --------------------------------------------------------------------------- arms -> schedule
@dataclass(frozen=True)
class Arm:
    """A trial arm: an intervention, optionally a subset of its components and another strength."""

    name: str
    intervention: Intervention
    components: tuple[str, ...] | None = None  # None: all
    strength: float | None = None  # None: the intervention's own
    adherence_mean: float | None = None
    dropout_per_month: float | None = None

    def active(self) -> tuple[Component, ...]:
        if self.components is None:
            return self.intervention.components
        return tuple(self.intervention.component(c) for c in self.components)

    @property
    def level(self) -> float:
        return self.intervention.strength if self.strength is None else self.strength


def propensities(seed: int, subject_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-person uniforms (adherence, dropout) in (0, 1), keyed by (seed, subject id) only."""
    z = subject_normals(int(seed) ^ PROPENSITY_SALT, np.asarray(subject_ids, np.int64), 2)
    u = special.ndtr(z)
    return u[:, 0], u[:, 1]


def adherence(arm: Arm, u: np.ndarray) -> np.ndarray:
    """Adherence in [0, 1] from a person's adherence propensity ``u`` (beta quantile)."""
    iv = arm.intervention
    mean = iv.adherence_mean if arm.adherence_mean is None else arm.adherence_mean
    sd = iv.adherence_sd
    if sd <= 0 or mean <= 0 or mean >= 1:
        return np.full(u.shape, mean)
    k = mean * (1 - mean) / sd ** 2 - 1.0
    return stats.beta.ppf(u, mean * k, (1 - mean) * k)


def dropout_days(arm: Arm, u: np.ndarray) -> np.ndarray:
    """Dropout time (days after treatment start; inf = never) from a person's dropout propensity."""
    rate = arm.intervention.dropout_per_month if arm.dropout_per_month is None else arm.dropout_per_month
    if rate <= 0:
        return np.full(u.shape, np.inf)
    return -np.log1p(-u) / (rate / DAYS_PER_MONTH)


def build_schedule(arms: Sequence[Arm], arm_of_subject: np.ndarray, subject_ids: np.ndarray, seed: int,
                   start_hours: float, length_days: float) -> tuple[Schedule, dict[str, np.ndarray]]:
    """One :class:`Schedule` for subjects in many arms (``arm_of_subject`` indexes ``arms``).

    Every component of every arm becomes one row of the global component list; a subject's
    level is nonzero only for its own arm's components. Treatment starts at ``start_hours``
    (hours since the start of the run) and lasts ``length_days``; a component ends at the
    earlier of its own end, the end of treatment and the person's dropout.

    Returns the schedule and per-subject ``adherence``, ``dropout_days`` and ``completed``.
    """
    arm_of_subject = np.asarray(arm_of_subject)
    n = arm_of_subject.shape[0]
    rows: list[tuple[int, Component, float]] = []
    for a, arm in enumerate(arms):
        for comp in arm.active():
            rows.append((a, comp, arm.level))
    if not rows:  # a trial of inert arms: one zero row keeps the shapes valid
        rows.append((-1, Component("none", "", (), 1.0, 1.0), 0.0))
    n_t = len(SCHEDULE_TARGETS)
    c = len(rows)
    mult, add = np.zeros((c, n_t)), np.zeros((c, n_t))
    tau_on, tau_off = np.zeros(c), np.zeros(c)
    level, start, end = np.zeros((n, c)), np.zeros((n, c)), np.full((n, c), np.inf)
    u_adh, u_drop = propensities(seed, subject_ids)
    adh, drop = np.zeros(n), np.full(n, np.inf)
    for a, arm in enumerate(arms):
        m = arm_of_subject == a
        adh[m] = adherence(arm, u_adh[m])
        drop[m] = dropout_days(arm, u_drop[m])
    stop = start_hours + np.minimum(drop, length_days) * HOURS_PER_DAY
    for j, (a, comp, lv) in enumerate(rows):
        for t, v in comp.scale.items():
            mult[j, SCHEDULE_TARGETS.index(t)] = v - 1.0
        for t, v in comp.add.items():
            add[j, SCHEDULE_TARGETS.index(t)] = v
        tau_on[j], tau_off[j] = comp.tau_on_days * HOURS_PER_DAY, comp.tau_off_days * HOURS_PER_DAY
        m = arm_of_subject == a
        level[m, j] = lv * adh[m]
        start[:, j] = start_hours + comp.delay_days * HOURS_PER_DAY
        own_end = np.inf if comp.duration_days is None else start_hours + (comp.delay_days + comp.duration_days) * HOURS_PER_DAY
        end[:, j] = np.minimum(own_end, stop)
    info = {"adherence": adh, "dropout_days": drop, "completed": drop >= length_days}
    return Schedule(mult, add, level, start, end, tau_on, tau_off), info


def mapping_rows(iv: Intervention) -> list[dict[str, str]]:
    """The component -> parameter mapping of an intervention as rows (for docs and reports)."""
    out = []
    for c in iv.components:
        changes = [f"{t} x{v:g}" for t, v in c.scale.items()] + [f"{t} {v:+g}" for t, v in c.add.items()]
        timing = f"onset {c.tau_on_days:g} d, offset {c.tau_off_days:g} d"
        if c.delay_days:
            timing += f", from day {c.delay_days:g}"
        if c.duration_days is not None:
            timing += f", for {c.duration_days:g} d"
        out.append({"intervention": iv.name, "component": c.name, "changes": ", ".join(changes) or "(none)",
                    "timing": timing, "evidence": ", ".join(c.evidence), "description": c.description})
    return out


def mapping_markdown() -> str:
    """The mapping of every shipped intervention's components to parameters, as a Markdown table
    (rendered into ``docs/trials.md``; a test keeps the two in sync)."""
    lines = ["| intervention | component | parameter changes at full effect | time course | evidence |",
             "|---|---|---|---|---|"]
    for name in INTERVENTIONS:
        iv = load_intervention(name)
        adh = f"adherence {iv.adherence_mean:g} (sd {iv.adherence_sd:g}), dropout {iv.dropout_per_month:g}/month"
        lines.append(f"| **{name}** (strength {iv.strength:g}) | *{adh}* | | | {', '.join(iv.evidence)} |")
        for r in mapping_rows(iv):
            lines.append(f"| | {r['component']}: {r['description']} | {r['changes']} | {r['timing']} | {r['evidence']} |")
    return "\n".join(lines) + "\n"


__all__ = ["Arm", "Component", "INTERVENTIONS", "Intervention", "InterventionError", "build_schedule",
           "load_intervention", "mapping_markdown", "mapping_rows", "parse_intervention", "propensities"]
