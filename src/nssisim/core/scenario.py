"""Scenario configuration files: TOML in, validated pydantic models out.

A scenario file has up to four parts (every key optional; defaults in brackets)::

    preset = "vulnerable"          # a person preset from nssisim/configs (none: all defaults)

    [run]
    seed = 1                       # root seed, 0 <= seed < 2**32  [0]
    horizon_days = 365             # simulated time, days            [365]
    dt_hours = 1.0                 # step, hours                     [1.0]
    record_every = 24              # record every this many steps    [24]
    n_subjects = 1000              # cohort size                     [1]
    start_age_years = 12.0         # age at time 0                   [12.0]
    mechanisms_off = ["M8"]        # ablation: mechanisms switched off  [[]]
    event_capacity = 512           # event-table rows per subject    [512]
    chunk_size = 16384             # subjects per compiled call      [16384]

    [person]                       # parameter overrides: one value for every subject
    limbic_reactivity = 1.3

    [person_ranges]                # per-subject values drawn uniformly from [low, high]
    rumination_trait = [0.3, 0.8]

Precedence: parameter defaults < preset < ``[person]``; a parameter in ``[person_ranges]``
replaces the preset value and may not also appear in ``[person]``. Per-subject draws use
one numpy Generator per parameter, seeded with ``(run.seed, index of the parameter in
PARAMS)``, so subject ``i`` gets the same traits whatever the cohort size.

Every value is checked here, at the boundary: unknown keys (with a "did you mean"),
parameter bounds (from :data:`nssisim.core.parameters.PARAMS`, the single source of truth),
mechanism names, and that the horizon is a whole number of steps and of recording blocks.
:func:`load_config` turns every problem into one :class:`ConfigError` whose message names
the file, the field path (``person.limbic_reactivity``) and what was expected.
"""

from __future__ import annotations

import copy
import difflib
import math
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, field_validator, model_validator

from .parameters import HOURS_PER_DAY, MECHANISMS, PARAMS
from .presets import PRESETS, load_preset
from ..files import SpecError, did_you_mean, toml_file, toml_value

MechanismId = Literal["M1", "M2", "M3", "M4", "M5", "M6", "M7", "M8", "M9", "M10", "M11", "M12", "M13"]
PresetName = Literal["typical", "vulnerable", "clinical"]
assert tuple(MECHANISMS) == MechanismId.__args__, "MechanismId out of sync with parameters.MECHANISMS"  # noqa: S101
assert PRESETS == PresetName.__args__, "PresetName out of sync with presets.PRESETS"  # noqa: S101

#: The simulator stores event steps as float32, exact up to this many steps.
MAX_STEPS = 2**24
_STRICT = ConfigDict(extra="forbid", strict=True)


class ConfigError(SpecError):
    """A scenario config is invalid. ``str(err)`` is a complete, user-facing message.

    Attributes
    ----------
    source : str
        The file (or other source) the config came from.
    problems : list of (str, str)
        ``(field path, explanation)`` pairs, e.g. ``("person.limbic_reactivity", "5.0 is ...")``.
    """

    def __init__(self, source: str, problems: list[tuple[str, str]]):
        self.source = str(source)
        self.problems = list(problems)
        n = len(self.problems)
        if n == 1 and not self.problems[0][0]:  # a problem with the file itself
            super().__init__(f"{self.source}: {self.problems[0][1]}")
            return
        head = f"{self.source}: invalid scenario config ({n} problem{'s' if n != 1 else ''}):"
        lines = [f"  {path}: {msg}" if path else f"  {msg}" for path, msg in self.problems]
        super().__init__("\n".join([head, *lines]))


class _FieldProblem(ValueError):
    """A cross-field check that knows which field to blame."""

    def __init__(self, path: str, message: str):
        self.path = path
        super().__init__(message)


# ------------------------------------------------------------------------------------ models
class RunConfig(BaseModel):
    """The ``[run]`` table: how to simulate (not who)."""

    model_config = _STRICT

    seed: int = Field(0, ge=0, lt=2**32, description="root seed; subject i uses fold_in(PRNGKey(seed), i)")
    horizon_days: float = Field(365.0, gt=0, description="simulated time, days")
    dt_hours: float = Field(1.0, gt=0, le=24.0, description="time step, hours")
    record_every: int = Field(24, ge=1, description="record states and counts every this many steps")
    n_subjects: int = Field(1, ge=1, description="number of simulated subjects")
    start_age_years: float = Field(12.0, ge=0, le=100, description="age at time 0, years")
    mechanisms_off: list[MechanismId] = Field(default_factory=list, description="mechanisms switched off (ablation)")
    event_capacity: int = Field(512, ge=1, description="event-table rows per subject (overflow is counted)")
    chunk_size: int = Field(16384, ge=1, description="subjects per compiled call (memory bound only)")

    @property
    def horizon_hours(self) -> float:
        return self.horizon_days * HOURS_PER_DAY

    @model_validator(mode="after")
    def _grid(self) -> RunConfig:
        if not math.isfinite(self.horizon_days) or not math.isfinite(self.dt_hours):
            raise _FieldProblem("run.horizon_days", "horizon_days and dt_hours must be finite")
        h, dt = self.horizon_hours, self.dt_hours
        n_steps = round(h / dt)
        # tolerance in units of steps (not of hours), so half a step is caught however long the run
        if n_steps < 1 or abs(h / dt - n_steps) > 1e-6:
            lo, hi = math.floor(h / dt) * dt / HOURS_PER_DAY, math.ceil(h / dt) * dt / HOURS_PER_DAY
            raise _FieldProblem(
                "run.horizon_days",
                f"{self.horizon_days:g} days = {h:g} h is not a whole number of steps of dt_hours={dt:g} "
                f"({h / dt:.4g} steps); choose a horizon that is a multiple of {dt:g} h, e.g. "
                f"{lo:.6g} or {hi:.6g} days, or a dt_hours that divides {h:g} h")
        if n_steps >= MAX_STEPS:
            raise _FieldProblem(
                "run.horizon_days",
                f"{n_steps} steps (horizon {h:g} h at dt_hours={dt:g}) exceed the {MAX_STEPS} steps the event "
                "table can time exactly; use a larger dt_hours or a shorter horizon")
        if n_steps % self.record_every:
            divs = _divisors_near(n_steps, self.record_every)
            raise _FieldProblem(
                "run.record_every",
                f"the horizon has {n_steps} steps ({self.horizon_days:g} days at dt_hours={dt:g}), which is not a "
                f"multiple of record_every={self.record_every}; choose a divisor of {n_steps}, e.g. "
                f"{', '.join(map(str, divs))}")
        return self

    @property
    def n_steps(self) -> int:
        return round(self.horizon_hours / self.dt_hours)


def _divisors_near(n: int, k: int, count: int = 4) -> list[int]:
    divs = [d for d in range(1, int(math.isqrt(n)) + 1) if n % d == 0]
    divs = sorted(set(divs) | {n // d for d in divs})
    return sorted(sorted(divs, key=lambda d: (abs(math.log(d / k)), d))[:count])


class _Sparse(BaseModel):
    """Base of the per-parameter tables: strict, closed, and a repr without the unset fields."""

    model_config = _STRICT

    def __repr_args__(self):
        return [(k, v) for k, v in super().__repr_args__() if v is not None]


def _person_fields() -> dict[str, Any]:
    return {
        name: (float | None, Field(None, ge=p.low, le=p.high, description=f"{p.meaning} [{p.unit}] ({p.mechanism})"))
        for name, p in PARAMS.items()
    }


#: ``[person]``: one optional float per parameter, bounded by the parameter table.
PersonOverrides = create_model("PersonOverrides", __base__=_Sparse, **_person_fields())


def _check_range(name: str):
    p = PARAMS[name]

    def check(v: list[float] | None) -> list[float] | None:
        if v is None:
            return v
        lo, hi = v
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise ValueError(f"[{lo}, {hi}] must be finite")
        if lo > hi:
            raise ValueError(f"[{lo:g}, {hi:g}]: low must not exceed high")
        if lo < p.low or hi > p.high:
            raise ValueError(f"[{lo:g}, {hi:g}] leaves the parameter's bounds [{p.low:g}, {p.high:g}] ({p.unit})")
        return v

    return check


def _ranges_model():
    fields = {
        name: (list[float] | None, Field(None, min_length=2, max_length=2,
                                         description=f"[low, high] within [{p.low}, {p.high}] ({p.unit})"))
        for name, p in PARAMS.items()
    }
    validators = {f"_check_{name}": field_validator(name)(_check_range(name)) for name in PARAMS}
    return create_model("PersonRanges", __base__=_Sparse, __validators__=validators, **fields)


#: ``[person_ranges]``: optional ``[low, high]`` per parameter.
PersonRanges = _ranges_model()


class ScenarioConfig(BaseModel):
    """A whole scenario file."""

    model_config = _STRICT

    run: RunConfig = Field(default_factory=RunConfig)
    preset: PresetName | None = None
    person: PersonOverrides = Field(default_factory=PersonOverrides)  # type: ignore[valid-type]
    person_ranges: PersonRanges = Field(default_factory=PersonRanges)  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _no_double_spec(self) -> ScenarioConfig:
        both = sorted(set(self.person_values()) & set(self.range_values()))
        if both:
            raise _FieldProblem(
                f"person_ranges.{both[0]}",
                f"{', '.join(both)} set both in [person] and in [person_ranges]; give each parameter one or the other")
        return self

    def person_values(self) -> dict[str, float]:
        """The explicit ``[person]`` overrides (not the preset)."""
        return self.person.model_dump(exclude_none=True)

    def range_values(self) -> dict[str, tuple[float, float]]:
        """The ``[person_ranges]`` entries as ``(low, high)``."""
        return {k: (float(v[0]), float(v[1])) for k, v in self.person_ranges.model_dump(exclude_none=True).items()}


# ------------------------------------------------------------------------------- errors
_SECTION_FIELDS: dict[tuple, tuple[str, ...]] = {
    (): tuple(ScenarioConfig.model_fields),
    ("run",): tuple(RunConfig.model_fields),
    ("person",): tuple(PARAMS),
    ("person_ranges",): tuple(PARAMS),
}


def _path(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _unknown_key(loc: tuple) -> str:
    key, parent = str(loc[-1]), tuple(loc[:-1])
    allowed = _SECTION_FIELDS.get(parent, ())
    # up to three candidates here (a key is often one of several near-identical names), so not
    # files.did_you_mean, which offers one
    close = difflib.get_close_matches(key, allowed, n=3, cutoff=0.6)
    msg = f"unknown key '{key}'"
    if close:
        msg += " (did you mean " + " or ".join(f"'{c}'" for c in close) + "?)"
    if parent in ((), ("run",)) and key in PARAMS:
        msg += f"; '{key}' is a model parameter: set it under [person]"
    elif parent in (("person",), ("person_ranges",)) and key in RunConfig.model_fields:
        msg += f"; '{key}' is a run setting: set it under [run]"
    elif parent == () and not close:
        msg += f"; a scenario file has the keys {', '.join(allowed)}"
    elif parent == ("run",) and not close:
        msg += f"; [run] accepts {', '.join(allowed)}"
    elif parent in (("person",), ("person_ranges",)) and not close:
        msg += "; run `nssisim params` for the list of parameters"
    return msg


def _describe(e: dict) -> tuple[str, str]:
    loc, typ, ctx = tuple(e["loc"]), e["type"], e.get("ctx", {}) or {}
    path = _path(loc)
    given = e.get("input")
    if typ == "extra_forbidden":
        return path, _unknown_key(loc)
    if typ == "value_error" and isinstance(ctx.get("error"), _FieldProblem):
        return ctx["error"].path, str(ctx["error"])
    section = loc[0] if loc else None
    name = loc[1] if len(loc) > 1 else None
    if section in ("person", "person_ranges") and isinstance(name, str) and name in PARAMS:
        p = PARAMS[name]
        if typ in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
            return path, f"{given!r} is outside the parameter's bounds [{p.low:g}, {p.high:g}] ({p.unit}: {p.meaning})"
        if section == "person_ranges" and typ in ("too_short", "too_long", "list_type"):
            return path, f"expected a list [low, high] of two numbers within [{p.low:g}, {p.high:g}], got {given!r}"
    bounds = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<=", "less_than": "<"}
    if typ in bounds:
        limit = next(iter(ctx.values()), "?")
        return path, f"expected a value {bounds[typ]} {limit}, got {given!r}"
    if typ == "literal_error":
        if loc and loc[0] == "preset":
            return path, f"unknown preset {given!r}{did_you_mean(given, PRESETS)}; expected one of {', '.join(PRESETS)}"
        if "mechanisms_off" in loc:
            return path, (f"{given!r} is not a mechanism; expected one of M1..M13 ("
                          + ", ".join(f"{k} {v}" for k, v in MECHANISMS.items()) + ")")
        return path, f"expected one of {ctx.get('expected')}, got {given!r}"
    if typ in ("int_type", "int_from_float", "int_parsing"):
        return path, f"expected a whole number, got {given!r} ({type(given).__name__})"
    if typ in ("float_type", "float_parsing", "finite_number"):
        return path, f"expected a number, got {given!r} ({type(given).__name__})"
    if typ in ("list_type",):
        return path, f"expected a list, got {given!r}"
    if typ in ("model_type", "model_attributes_type", "dict_type"):
        return path, f"expected a table ([{path}]), got {given!r}"
    msg = e["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    return path, msg


#: The largest step (hours) at which summary statistics were checked to agree with fine steps
#: (tests/test_dt.py; docs/model.md). Coarser steps are accepted with a :class:`CoarseStepWarning`.
DT_VALIDATED_HOURS = 1.0


class CoarseStepWarning(UserWarning):
    """A time step coarser than :data:`DT_VALIDATED_HOURS`: results at it are not validated."""


def coarse_step_message(dt_hours: float, where: str = "run.dt_hours") -> str | None:
    """Why a step is too coarse for episode dynamics, or ``None`` if it is within the validated range."""
    if dt_hours <= DT_VALIDATED_HOURS:
        return None
    return (f"{where} = {dt_hours:g} h is coarser than {DT_VALIDATED_HOURS:g} h, the largest step at which the "
            f"model's summary statistics were checked to agree with fine steps (docs/model.md); an episode (urge, act, "
            f"relief) lasts minutes to hours, so one step of {dt_hours:g} h merges several and the results are not "
            f"validated: use dt_hours <= {DT_VALIDATED_HOURS:g}")


def validate_config(data: Mapping[str, Any], source: str = "<config>") -> ScenarioConfig:
    """Validate a config mapping (as read from TOML); raise :class:`ConfigError` on problems.

    A step coarser than :data:`DT_VALIDATED_HOURS` is accepted with a :class:`CoarseStepWarning`.
    """
    try:
        cfg = ScenarioConfig.model_validate(dict(data))
    except ValidationError as err:
        problems = [_describe(e) for e in err.errors()]
        raise ConfigError(source, problems) from None
    msg = coarse_step_message(cfg.run.dt_hours)
    if msg is not None:
        warnings.warn(f"{source}: {msg}", CoarseStepWarning, stacklevel=2)
    return cfg


def load_config(path: str | Path) -> ScenarioConfig:
    """Read and validate a scenario TOML file.

    Raises
    ------
    ConfigError
        If the file is missing, is not valid TOML, or fails validation; the message names the
        file, every offending field and what was expected.
    """
    path = Path(path)
    data = toml_file(path, str(path), lambda source, message: ConfigError(source, [("", message)]))
    return validate_config(data, source=str(path))


# ---------------------------------------------------------------------------- to simulator
def resolve_params(cfg: ScenarioConfig) -> dict[str, float | np.ndarray]:
    """The parameter overrides that reach the simulator: preset, then ``[person]``, then draws.

    Scalars are shared by all subjects; ``[person_ranges]`` entries become float64 arrays of
    length ``run.n_subjects`` drawn uniformly on ``[low, high]``.
    """
    params: dict[str, float | np.ndarray] = {}
    if cfg.preset is not None:
        params.update(load_preset(cfg.preset))
    params.update(cfg.person_values())
    names = list(PARAMS)
    for name, (lo, hi) in cfg.range_values().items():
        rng = np.random.default_rng([cfg.run.seed, names.index(name)])
        params[name] = np.clip(rng.uniform(lo, hi, size=cfg.run.n_subjects), lo, hi)
    return params


def config_dict(cfg: ScenarioConfig) -> dict[str, Any]:
    """The config as plain JSON-able data (for ``Dataset.attrs`` and the config hash).

    Includes the resolved preset values, so a result stays interpretable if a preset file
    changes in a later version.
    """
    out: dict[str, Any] = {
        "run": cfg.run.model_dump(mode="json"),
        "preset": cfg.preset,
        "person": cfg.person_values(),
        "person_ranges": {k: list(v) for k, v in cfg.range_values().items()},
    }
    if cfg.preset is not None:
        out["preset_values"] = load_preset(cfg.preset)
    return out


def to_simulation_kwargs(cfg: ScenarioConfig) -> dict[str, Any]:
    """Keyword arguments for :func:`nssisim.core.simulation.simulate_cohort`.

    ``simulate_cohort(**to_simulation_kwargs(cfg))`` runs the scenario; the ``config`` entry
    is :func:`config_dict` (stored with its hash in the result's ``attrs``).
    """
    r = cfg.run
    return {
        "seed": r.seed,
        "params": resolve_params(cfg),
        "n_subjects": r.n_subjects,
        "horizon_hours": r.horizon_hours,
        "dt": r.dt_hours,
        "record_every": r.record_every,
        "mechanisms_off": tuple(r.mechanisms_off),
        "event_capacity": r.event_capacity,
        "start_age_years": r.start_age_years,
        "chunk_size": r.chunk_size,
        "config": copy.deepcopy(config_dict(cfg)),
    }



# ------------------------------------------------------------------------------- writing
def to_toml(cfg: ScenarioConfig, header: str = "") -> str:
    """The scenario as a TOML file that :func:`load_config` reads back to an equal config."""
    lines = [f"# {line}".rstrip() for line in header.splitlines()] if header else []
    if cfg.preset is not None:
        lines += [f"preset = {toml_value(cfg.preset)}"]
    lines += ["", "[run]"] + [f"{k} = {toml_value(v)}" for k, v in cfg.run.model_dump().items()]
    lines += ["", "[person]"] + [f"{k} = {toml_value(v)}" for k, v in cfg.person_values().items()]
    lines += ["", "[person_ranges]"] + [f"{k} = {toml_value(list(v))}" for k, v in cfg.range_values().items()]
    return "\n".join(lines).lstrip("\n") + "\n"


__all__ = [
    "ConfigError", "RunConfig", "ScenarioConfig", "PersonOverrides", "PersonRanges", "load_config", "validate_config",
    "resolve_params", "config_dict", "to_simulation_kwargs", "to_toml", "CoarseStepWarning", "coarse_step_message",
    "DT_VALIDATED_HOURS",
]
