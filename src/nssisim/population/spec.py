"""Virtual adolescents: jointly sampled risk and protective factors (a Gaussian copula).

A *population spec* is a TOML file (shipped: ``configs/population_<name>.toml``)::

    name = "community"
    description = "..."

    [factors.sex_female]            # one table per factor
    kind = "binary"
    prevalence = 0.5

    [factors.maltreatment]          # a trait parameter of PARAMS, sampled directly
    kind = "beta"                   # beta on the parameter's [low, high] bounds ...
    mean = 0.15
    sd = 0.15

    [factors.limbic_reactivity]
    kind = "truncnorm"              # ... or a normal(loc, scale) truncated at [low, high]
    loc = 1.3
    scale = 0.3

    [correlation]                   # latent-normal (copula) correlations; factors not
    factors = ["sex_female", ...]   # listed here are independent of the others
    matrix = [[1.0, ...], ...]
    scale = 1.0                     # optional: off-diagonal entries times scale in [0, 1]

    [mapping]                       # optional; the factor -> parameter mapping's weights
    hope_buffering_male_ratio = 0.5
    left_behind_family_stress = 0.2

    [parameters]                    # optional; shared model-parameter overrides (within
    act_bias = -3.2                 # bounds; not a factor of the spec), e.g. calibrated values

    [environment.stress]            # optional; age-varying environment, one table per component
    parameter = "lam_stress"        # the model parameter it changes (relative change)
    change = 1.0                    # relative change at the peak age (1.0 = doubled; >= -1)
    onset_age = 11.0                # the change starts rising at this age (years)
    peak_age = 14.5                 # ... rises until this age (effect = change exactly here)
    rise_years = 1.5                # time constant of the rise (years)
    decline_years = 3.0             # time constant of the decline after the peak age (years)
    evidence = ["Plener2015"]       # keys of data/references.toml

Age-varying environment
-----------------------
Each ``[environment.<name>]`` component becomes one component of a
:class:`nssisim.core.simulation.Schedule` (built by :func:`nssisim.population.lifecourse.environment_schedule`):
the parameter is ``base * (1 + e(age) * change)`` (clipped to its bounds), with
``e = g(age) / g(peak_age)``, ``g`` the schedule's rise ``1 - exp(-(min(age, peak) - onset) / rise)``
times the decline ``exp(-(age - peak)+ / decline)``; so ``e`` is 0 before the onset age, 1 at
the peak age, and decays towards 0 after it. The parameter's per-subject values (a factor such as
``peer_victimisation``) are scaled subject by subject. Without the table the run is the constant
environment (no schedule at all).

Factors
-------
* every trait parameter of :data:`nssisim.core.parameters.PARAMS` (``kind = "trait"``), e.g.
  ``maltreatment``, ``parental_control``, ``peer_victimisation``, ``rumination_trait``,
  ``alexithymia``, ``resilience``, ``regulatory_self_efficacy``, ``hope``, ``self_esteem``,
  ``burdensomeness``, ``limbic_reactivity``, ``pfc_adult``: continuous (``beta`` or
  ``truncnorm``), sampled directly as that parameter, on its bounds, so every value is within
  bounds by construction (a final clip only guards against floating-point round-off);
* ``sex_female`` and ``left_behind``: binary factors that are not parameters; they act through
  their correlations with the traits and through the mapping below.

Traits not named in a spec keep their defaults in the simulator.

Mapping from factors to model parameters (evidence keys from ``data/references.toml``)
--------------------------------------------------------------------------------------
* Maltreatment (Liu2018, GongZhang2024, Hu2023) is the ``maltreatment`` parameter (the model
  turns it into a higher stressor rate and limbic gain); in the specs it correlates positively
  with limbic reactivity, alexithymia, rumination and parental control and negatively with
  self-esteem, resilience and self-efficacy (emotion dysregulation and negative self-schema).
* Parental psychological control, parenting stress and hostility (Guo2022, Wichstrom2024) are
  the ``parental_control`` parameter.
* Peer victimisation and cybervictimisation (Li2024, Ruan2024, Xu2025) are
  ``peer_victimisation``; it correlates negatively with self-esteem and positively with
  alexithymia (the chain of Guo2024) and with burdensomeness (Li2024).
* Left-behind status (LangYao2018; parent-related loneliness on the path of Guo2022): a
  left-behind adolescent's family-stress score moves a fraction ``left_behind_family_stress``
  of the way to its upper bound: ``pc' = pc + s * (high - pc)`` (a convex combination, so it
  stays within bounds); in the specs it also correlates negatively with resilience and
  regulatory self-efficacy (less support).
* Sex: ``sex_female`` is the model's ``female`` trait, which acts through the sex pathways of
  the step (earlier puberty, M12; the pubertal rise of depressive mood, M4; more stressful
  interpersonal periods, M1; HankinAbramson2001, Rudolph2002, PattonViner2007), and through its
  latent correlation with rumination. Jiang2018 (hope attenuates the depression-to-NSSI path
  "especially among female adolescents"): boys get the hope buffer ``k_hope_mood`` scaled by
  ``hope_buffering_male_ratio`` (girls keep the default), so ``k_hope_mood`` becomes a
  per-subject array. Applied only when the spec has ``sex_female``.
* Resilience (Zhang2023), regulatory emotional self-efficacy (Guo2022), trait hope (Jiang2018)
  and self-esteem (Zou2024, Guo2024) are their parameters; they correlate positively with each
  other and negatively with the risk factors.

The correlations are on the latent normal scale: the observed (Pearson) correlation of two
beta scores is close to, and of a binary factor with a score smaller than, the latent value.

Randomness: counter-based, so subject ``i``'s draw depends only on ``(seed, i)``
----------------------------------------------------------------------------------
Standard normal ``j`` of subject ``i`` is ``ndtri(u)`` with ``u`` built from a 64-bit hash
chain ``mix(mix(mix(seed + c) + i * g) + j * g)`` of the SplitMix64 finaliser ``mix``
(``g`` the 64-bit golden ratio), taking the top 53 bits plus one half (``u`` in (0, 1)).
It is vectorised over subjects (100,000 subjects x 14 factors in well under a second) and
needs no per-subject generator; a subject's factors do not depend on the cohort size or on
which other subjects are drawn (``subject_ids`` may be any non-negative integers).
Factor ``j`` is the position of the factor in the spec's ``[factors]`` tables, so appending
a factor leaves the independent normals of the others unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import special, stats

from ..core.parameters import PARAMS, TRAITS
from ..files import SpecError, read_toml, resource, toml_file
from ..files import did_you_mean as _suggest

#: Shipped population specs (``configs/population_<name>.toml``).
POPULATIONS: tuple[str, ...] = ("community", "clinical")

#: Binary factors that are not model parameters (they act through correlations and the mapping).
BINARY_FACTORS: tuple[str, ...] = ("sex_female", "left_behind")
#: Factor kinds and their fields.
KINDS: dict[str, tuple[str, ...]] = {"binary": ("prevalence",), "beta": ("mean", "sd"), "truncnorm": ("loc", "scale")}
#: Weights of the factor -> parameter mapping (defaults; a spec's ``[mapping]`` may override).
MAPPING_DEFAULTS: dict[str, float] = {
    # boys' hope buffer as a fraction of girls' (Jiang2018: "especially among female adolescents")
    "hope_buffering_male_ratio": 0.5,
    # share of the way to the upper bound that left-behind status moves family stress (LangYao2018, Guo2022)
    "left_behind_family_stress": 0.2,
}
#: Prefix of the raw factors in the dict returned by :func:`sample_population`.
FACTOR_PREFIX = "factor."

_TOP_KEYS = ("name", "description", "factors", "correlation", "mapping", "parameters", "environment", "survey")
#: Keys of the ``[survey]`` table (how the population's surveys hear what happened: population/survey.py).
SURVEY_KEYS = ("recall_years",)
#: Bounds of ``[survey] recall_years`` (years; absent: perfect recall).
RECALL_YEARS_BOUNDS = (0.25, 1000.0)
#: Fields of an ``[environment.<name>]`` component (all required).
ENVIRONMENT_FIELDS: tuple[str, ...] = ("parameter", "change", "onset_age", "peak_age", "rise_years", "decline_years",
                                       "evidence")
#: Ages an environment component may use (years).
ENVIRONMENT_AGE_RANGE: tuple[float, float] = (5.0, 30.0)
_GOLDEN = 0x9E3779B97F4A7C15
_SEED_SALT = 0x6A09E667F3BCC909


class PopulationError(SpecError):
    """A population spec is invalid; ``str(err)`` names the file, the field and what was expected."""

    def __init__(self, source: str, problems: list[tuple[str, str]]):
        self.source = str(source)
        self.problems = list(problems)
        n = len(self.problems)
        if n == 1 and not self.problems[0][0]:
            super().__init__(f"{self.source}: {self.problems[0][1]}")
            return
        head = f"{self.source}: invalid population spec ({n} problem{'s' if n != 1 else ''}):"
        super().__init__("\n".join([head, *(f"  {p}: {m}" if p else f"  {m}" for p, m in self.problems)]))


@dataclass(frozen=True)
class Factor:
    """One factor's marginal. ``low``/``high``: its bounds (the parameter's, or 0/1 if binary)."""

    name: str
    kind: str
    args: tuple[float, float] | tuple[float]
    low: float
    high: float

    def mean(self) -> float:
        """The marginal mean (used by tests)."""
        if self.kind == "binary":
            return self.args[0]
        if self.kind == "beta":
            return self.args[0]
        a, b = _truncnorm_ab(self)
        return float(stats.truncnorm.mean(a, b, loc=self.args[0], scale=self.args[1]))

    def sd(self) -> float:
        if self.kind == "binary":
            p = self.args[0]
            return math.sqrt(p * (1 - p))
        if self.kind == "beta":
            return self.args[1]
        a, b = _truncnorm_ab(self)
        return float(stats.truncnorm.std(a, b, loc=self.args[0], scale=self.args[1]))

    def ppf(self, u: np.ndarray) -> np.ndarray:
        """Quantile function: uniforms in (0, 1) -> factor values within [low, high]."""
        if self.kind == "binary":  # 1 in the upper tail, so a positive latent correlation is positive
            return (u > 1.0 - self.args[0]).astype(np.float64)
        if self.kind == "beta":
            a, b = _beta_ab(self)
            x = self.low + (self.high - self.low) * special.betaincinv(a, b, u)
        else:
            a, b = _truncnorm_ab(self)
            x = stats.truncnorm.ppf(u, a, b, loc=self.args[0], scale=self.args[1])
        return np.clip(x, self.low, self.high)  # guards round-off only

    def cdf(self, x: np.ndarray) -> np.ndarray:
        """Distribution function of a continuous factor (tests use it to recover latent normals)."""
        if self.kind == "beta":
            a, b = _beta_ab(self)
            return special.betainc(a, b, (np.asarray(x) - self.low) / (self.high - self.low))
        if self.kind == "truncnorm":
            a, b = _truncnorm_ab(self)
            return stats.truncnorm.cdf(x, a, b, loc=self.args[0], scale=self.args[1])
        raise ValueError("cdf is defined for continuous factors only")


def _beta_ab(f: Factor) -> tuple[float, float]:
    w = f.high - f.low
    m, v = (f.args[0] - f.low) / w, (f.args[1] / w) ** 2
    c = m * (1 - m) / v - 1.0
    return m * c, (1 - m) * c


def _truncnorm_ab(f: Factor) -> tuple[float, float]:
    return (f.low - f.args[0]) / f.args[1], (f.high - f.args[0]) / f.args[1]


@dataclass(frozen=True)
class EnvironmentComponent:
    """One age-varying environment component (module docstring, "Age-varying environment")."""

    name: str
    parameter: str
    change: float
    onset_age: float
    peak_age: float
    rise_years: float
    decline_years: float
    evidence: tuple[str, ...]

    def effect(self, age) -> np.ndarray:
        """``e(age)``: 0 before the onset age, 1 at the peak age, decaying after it (NumPy)."""
        a = np.asarray(age, dtype=np.float64)
        on = np.maximum(np.minimum(a, self.peak_age) - self.onset_age, 0.0)
        off = np.maximum(a - self.peak_age, 0.0)
        g = -np.expm1(-on / self.rise_years) * np.exp(-off / self.decline_years)
        return g / -math.expm1(-(self.peak_age - self.onset_age) / self.rise_years)


@dataclass(frozen=True)
class PopulationSpec:
    """A validated population spec."""

    name: str
    description: str
    factors: tuple[Factor, ...]
    correlation: np.ndarray = field(repr=False)  # (k, k) over all factors, in factor order
    mapping: dict[str, float]
    source: str = "<dict>"
    #: Shared model-parameter overrides (the spec's ``[parameters]`` table; e.g. calibrated values).
    parameters: dict[str, float] = field(default_factory=dict)
    #: The ``[correlation]`` table's ``scale``: ``correlation`` is already ``(1 - s) I + s R``.
    correlation_scale: float = 1.0
    #: Age-varying environment components (the ``[environment]`` table; empty: constant environment).
    environment: tuple[EnvironmentComponent, ...] = ()
    #: The ``[survey]`` table's ``recall_years``: how fast an old act fades from a lifetime report
    #: (:func:`nssisim.population.survey.reported_table`); None: reports are what happened.
    recall_years: float | None = None

    def with_recall(self, years: float | None) -> "PopulationSpec":
        """The same spec with the lifetime reports' recall time ``years`` (None: perfect recall)."""
        from dataclasses import replace

        problem = None if years is None else _recall_problem(years)
        if problem:
            raise ValueError(f"{self.source}: survey.recall_years: {problem}")
        return replace(self, recall_years=None if years is None else float(years))

    def with_environment(self, name: str, **fields: float) -> "PopulationSpec":
        """The same spec with fields of environment component ``name`` replaced (validated again)."""
        from dataclasses import replace

        comps = list(self.environment)
        idx = [i for i, c in enumerate(comps) if c.name == name]
        if not idx:
            raise ValueError(f"{self.source}: no environment component '{name}'")
        c = replace(comps[idx[0]], **fields)
        problems: list = []
        _check_environment(c, problems)
        if problems:
            raise PopulationError(self.source, problems)
        comps[idx[0]] = c
        return replace(self, environment=tuple(comps))

    def with_factor_scale(self, name: str, scale: float) -> "PopulationSpec":
        """The same spec with the ``scale`` (spread before truncation) of truncnorm factor ``name`` replaced
        (validated again, as the parser does)."""
        from dataclasses import replace

        try:
            f = self.factor(name)
        except KeyError:
            raise ValueError(f"{self.source}: no factor '{name}' to set the scale of") from None
        if f.kind != "truncnorm":
            raise ValueError(f"{self.source}: factors.{name}: scale is a field of truncnorm factors, not of kind '{f.kind}'")
        problems: list = []
        new = _parse_factor(name, {"kind": "truncnorm", "loc": f.args[0], "scale": scale}, problems)
        if new is None:
            raise PopulationError(self.source, problems)
        return replace(self, factors=tuple(new if g.name == name else g for g in self.factors))

    def factor(self, name: str) -> Factor:
        """The factor called ``name`` (KeyError if the spec has none)."""
        for f in self.factors:
            if f.name == name:
                return f
        raise KeyError(name)

    def with_correlation_scale(self, scale: float) -> "PopulationSpec":
        """The same spec with the off-diagonal latent correlations of the written matrix times ``scale``."""
        from dataclasses import replace

        if not 0.0 <= scale <= 1.0:
            raise ValueError(f"correlation scale must be in [0, 1], got {scale}")
        if self.correlation_scale <= 0.0:
            raise ValueError("the spec's correlations are scaled to zero; the written matrix cannot be recovered")
        eye = np.eye(len(self.factors))
        raw = eye + (self.correlation - eye) / self.correlation_scale
        return replace(self, correlation=eye + scale * (raw - eye), correlation_scale=float(scale))

    @property
    def factor_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.factors)


# --------------------------------------------------------------------------------- parsing
def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _parse_factor(name: str, tab: Any, problems: list) -> Factor | None:
    where = f"factors.{name}"
    known = TRAITS + BINARY_FACTORS
    if name not in known:
        problems.append((where, f"unknown factor '{name}'{_suggest(name, known)}: expected a trait parameter "
                                f"({', '.join(TRAITS)}) or one of {', '.join(BINARY_FACTORS)}"))
        return None
    if not isinstance(tab, dict):
        problems.append((where, "expected a table with 'kind' and its fields"))
        return None
    kind = tab.get("kind")
    if kind not in KINDS:
        problems.append((f"{where}.kind", f"{kind!r}: expected one of {', '.join(KINDS)}"))
        return None
    fields = KINDS[kind]
    bad = False
    for k in tab:
        if k not in ("kind", *fields):
            problems.append((f"{where}.{k}", f"unexpected field for kind '{kind}'{_suggest(k, fields)}: expected {', '.join(fields)}"))
            bad = True
    for k in fields:
        if k not in tab:
            problems.append((f"{where}.{k}", f"missing: kind '{kind}' needs {', '.join(fields)}"))
            bad = True
        elif not _number(tab[k]):
            problems.append((f"{where}.{k}", f"{tab[k]!r}: expected a finite number"))
            bad = True
    if bad:
        return None
    if name in BINARY_FACTORS:
        if kind != "binary":
            problems.append((f"{where}.kind", f"'{kind}': factor '{name}' is binary (kind = \"binary\")"))
            return None
        low, high = 0.0, 1.0
    else:
        if kind == "binary":
            problems.append((f"{where}.kind", f"'binary': trait '{name}' is continuous (beta or truncnorm)"))
            return None
        low, high = PARAMS[name].low, PARAMS[name].high
    args = tuple(float(tab[k]) for k in fields)
    if kind == "binary":
        if not 0.0 <= args[0] <= 1.0:
            problems.append((f"{where}.prevalence", f"{args[0]} is outside [0, 1]"))
            return None
    elif kind == "beta":
        m, s = args
        if not low < m < high:
            problems.append((f"{where}.mean", f"{m} is outside the open bounds ({low}, {high}) of '{name}'"))
            return None
        smax = math.sqrt((m - low) * (high - m))
        if not 0.0 < s < smax:
            problems.append((f"{where}.sd", f"{s}: a beta with mean {m} on [{low}, {high}] needs 0 < sd < {smax:.4g}"))
            return None
    else:
        loc, scale = args
        if not low <= loc <= high:
            problems.append((f"{where}.loc", f"{loc} is outside the bounds [{low}, {high}] of '{name}'"))
            return None
        if not scale > 0.0:
            problems.append((f"{where}.scale", f"{scale}: expected > 0"))
            return None
    return Factor(name, kind, args, low, high)


def _parse_correlation(tab: Any, names: tuple[str, ...], problems: list) -> np.ndarray | None:
    k = len(names)
    full = np.eye(k)
    if tab is None:
        return full
    if not isinstance(tab, dict) or set(tab) - {"factors", "matrix", "scale"}:
        extra = sorted(set(tab) - {"factors", "matrix", "scale"}) if isinstance(tab, dict) else []
        problems.append(("correlation", f"expected a table with 'factors', 'matrix' and optionally 'scale'"
                                        f"{'; got ' + str(extra) if extra else ''}"))
        return None
    scale = tab.get("scale", 1.0)
    if not _number(scale) or not 0.0 <= scale <= 1.0:
        problems.append(("correlation.scale", f"{scale!r}: expected a number in [0, 1]"))
        return None
    fac = tab.get("factors")
    if not isinstance(fac, list) or not all(isinstance(x, str) for x in fac):
        problems.append(("correlation.factors", "expected a list of factor names"))
        return None
    ok = True
    for i, x in enumerate(fac):
        if x not in names:
            problems.append((f"correlation.factors[{i}]", f"'{x}' is not a factor of this spec{_suggest(x, names)}"))
            ok = False
        elif fac.index(x) != i:
            problems.append((f"correlation.factors[{i}]", f"'{x}' is listed twice"))
            ok = False
    mat = tab.get("matrix")
    m = len(fac)
    if (not isinstance(mat, list) or len(mat) != m
            or not all(isinstance(r, list) and len(r) == m and all(_number(v) for v in r) for r in mat)):
        problems.append(("correlation.matrix", f"expected a {m} x {m} matrix of finite numbers (one row per listed factor)"))
        return None
    if not ok:
        return None
    r = np.asarray(mat, dtype=np.float64)
    for i in range(m):
        if abs(r[i, i] - 1.0) > 1e-12:
            problems.append((f"correlation.matrix[{i}][{i}]", f"{r[i, i]}: the diagonal must be 1"))
            ok = False
        for j in range(i + 1, m):
            if abs(r[i, j] - r[j, i]) > 1e-9:
                problems.append((f"correlation.matrix[{i}][{j}]", f"{r[i, j]} != matrix[{j}][{i}] = {r[j, i]}: must be symmetric"))
                ok = False
            elif not -1.0 < r[i, j] < 1.0:
                problems.append((f"correlation.matrix[{i}][{j}]", f"{r[i, j]}: expected in (-1, 1)"))
                ok = False
    if not ok:
        return None
    ev = float(np.linalg.eigvalsh(r).min())
    if ev <= 1e-8:
        problems.append(("correlation.matrix", f"not positive definite (smallest eigenvalue {ev:.3g}): "
                                               "expected a valid correlation matrix"))
        return None
    idx = [names.index(x) for x in fac]
    full[np.ix_(idx, idx)] = r
    # off-diagonal entries times the scale: (1 - s) I + s R stays positive definite
    return (1.0 - float(scale)) * np.eye(k) + float(scale) * full


def _reference_keys() -> set[str]:
    return set(toml_file(resource("data", "references.toml")))


def _check_environment(c: EnvironmentComponent, problems: list) -> None:
    """Range checks of a component (problems named ``environment.<name>.<field>``)."""
    w = f"environment.{c.name}"
    lo, hi = ENVIRONMENT_AGE_RANGE
    if c.change < -1.0:
        problems.append((f"{w}.change", f"{c.change}: expected >= -1 (a relative change cannot make the parameter negative)"))
    for k in ("onset_age", "peak_age"):
        v = getattr(c, k)
        if not lo <= v <= hi:
            problems.append((f"{w}.{k}", f"{v}: expected an age in [{lo:g}, {hi:g}] years"))
    if not c.peak_age > c.onset_age:
        problems.append((f"{w}.peak_age", f"{c.peak_age}: expected later than onset_age = {c.onset_age}"))
    for k in ("rise_years", "decline_years"):
        v = getattr(c, k)
        if not 0.05 <= v <= 100.0:
            problems.append((f"{w}.{k}", f"{v}: expected a time constant in [0.05, 100] years"))


def _parse_environment(tab: Any, problems: list) -> tuple[EnvironmentComponent, ...]:
    if tab is None:
        return ()
    if not isinstance(tab, dict) or not all(isinstance(v, dict) for v in tab.values()):
        problems.append(("environment", "expected one [environment.<name>] table per component"))
        return ()
    refs = _reference_keys()
    out = []
    for name, t in tab.items():
        w = f"environment.{name}"
        bad = False
        for k in t:
            if k not in ENVIRONMENT_FIELDS:
                problems.append((f"{w}.{k}", f"unexpected field{_suggest(k, ENVIRONMENT_FIELDS)}: expected "
                                             f"{', '.join(ENVIRONMENT_FIELDS)}"))
                bad = True
        for k in ENVIRONMENT_FIELDS:
            if k not in t:
                problems.append((f"{w}.{k}", f"missing: a component needs {', '.join(ENVIRONMENT_FIELDS)}"))
                bad = True
            elif k == "parameter":
                if not isinstance(t[k], str) or t[k] not in PARAMS:
                    problems.append((f"{w}.parameter", f"{t[k]!r}: expected a model parameter of PARAMS"
                                                       f"{_suggest(str(t[k]), PARAMS)}"))
                    bad = True
            elif k == "evidence":
                ev = t[k]
                if not isinstance(ev, list) or not ev or not all(isinstance(x, str) for x in ev):
                    problems.append((f"{w}.evidence", "expected a non-empty list of reference keys"))
                    bad = True
                else:
                    for i, x in enumerate(ev):
                        if x not in refs:
                            problems.append((f"{w}.evidence[{i}]", f"'{x}' is not a key of data/references.toml"
                                                                   f"{_suggest(x, refs)}"))
                            bad = True
            elif not _number(t[k]):
                problems.append((f"{w}.{k}", f"{t[k]!r}: expected a finite number"))
                bad = True
        if bad:
            continue
        c = EnvironmentComponent(str(name), t["parameter"], *(float(t[k]) for k in ENVIRONMENT_FIELDS[1:-1]),
                                 tuple(t["evidence"]))
        n0 = len(problems)
        _check_environment(c, problems)
        if len(problems) == n0:
            out.append(c)
    return tuple(out)


def _recall_problem(v: Any) -> str | None:
    """What is wrong with a ``recall_years`` value, or None."""
    lo, hi = RECALL_YEARS_BOUNDS
    return None if _number(v) and lo <= v <= hi else f"{v!r}: expected a number of years in [{lo}, {hi}]"


def parse_population(data: dict, source: str = "<dict>") -> PopulationSpec:
    """Validate a parsed TOML mapping; raises :class:`PopulationError` listing every problem."""
    problems: list[tuple[str, str]] = []
    for k in data:
        if k not in _TOP_KEYS:
            problems.append((k, f"unknown key{_suggest(k, _TOP_KEYS)}: expected {', '.join(_TOP_KEYS)}"))
    name = data.get("name", Path(source).stem)
    desc = data.get("description", "")
    for key, v in (("name", name), ("description", desc)):
        if not isinstance(v, str):
            problems.append((key, f"{v!r}: expected a string"))
    ftab = data.get("factors")
    factors: list[Factor] = []
    if not isinstance(ftab, dict) or not ftab:
        problems.append(("factors", "expected at least one [factors.<name>] table"))
    else:
        for fname, tab in ftab.items():
            f = _parse_factor(fname, tab, problems)
            if f is not None:
                factors.append(f)
    mapping = dict(MAPPING_DEFAULTS)
    mtab = data.get("mapping", {})
    if not isinstance(mtab, dict):
        problems.append(("mapping", "expected a table"))
    else:
        for k, v in mtab.items():
            if k not in MAPPING_DEFAULTS:
                problems.append((f"mapping.{k}", f"unknown mapping weight{_suggest(k, MAPPING_DEFAULTS)}: expected {', '.join(MAPPING_DEFAULTS)}"))
            elif not _number(v) or not 0.0 <= v <= 1.0:
                problems.append((f"mapping.{k}", f"{v!r}: expected a number in [0, 1]"))
            else:
                mapping[k] = float(v)
    overrides: dict[str, float] = {}
    ptab = data.get("parameters", {})
    if not isinstance(ptab, dict):
        problems.append(("parameters", "expected a table of model-parameter overrides (name = number)"))
    else:
        fnames = set(ftab) if isinstance(ftab, dict) else set()
        for k, v in ptab.items():
            where = f"parameters.{k}"
            if k not in PARAMS:
                problems.append((where, f"unknown model parameter{_suggest(k, PARAMS)}"))
            elif k in fnames:
                problems.append((where, f"'{k}' is also a factor of this spec: a factor is sampled per subject, "
                                        "it cannot also be a shared override"))
            elif not _number(v):
                problems.append((where, f"{v!r}: expected a finite number"))
            elif not PARAMS[k].low <= v <= PARAMS[k].high:
                problems.append((where, f"{v} is outside the bounds [{PARAMS[k].low}, {PARAMS[k].high}] of '{k}'"))
            else:
                overrides[k] = float(v)
    environment = _parse_environment(data.get("environment"), problems)
    recall = None
    stab = data.get("survey", {})
    if not isinstance(stab, dict):
        problems.append(("survey", "expected a table (recall_years = number)"))
    else:
        for k, v in stab.items():
            if k not in SURVEY_KEYS:
                problems.append((f"survey.{k}", f"unknown survey setting{_suggest(k, SURVEY_KEYS)}: expected {', '.join(SURVEY_KEYS)}"))
            elif _recall_problem(v):
                problems.append((f"survey.{k}", _recall_problem(v)))
            else:
                recall = float(v)
    corr = None
    if isinstance(ftab, dict) and len(factors) == len(ftab):
        corr = _parse_correlation(data.get("correlation"), tuple(f.name for f in factors), problems)
    if problems:
        raise PopulationError(source, problems)
    ctab = data.get("correlation")
    cscale = float(ctab.get("scale", 1.0)) if isinstance(ctab, dict) else 1.0
    return PopulationSpec(str(name), str(desc), tuple(factors), corr, mapping, str(source), overrides, cscale,
                          environment, recall)


def population_path(name: str):
    """The shipped spec file of population ``name``."""
    return resource("configs", f"population_{name}.toml")


def load_population(name_or_path: str | Path) -> PopulationSpec:
    """Load a shipped population (``"community"``, ``"clinical"``) or a TOML file by path."""
    src, data = read_toml(name_or_path, kind="population", shipped=POPULATIONS,
                          location=lambda s: f"configs/population_{s}.toml",
                          error=lambda source, message: PopulationError(source, [("", message)]))
    return parse_population(data, src)


# -------------------------------------------------------------------------------- sampling
def _mix(z: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser on uint64 arrays (wrapping arithmetic)."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def subject_normals(seed: int, subject_ids: np.ndarray, k: int) -> np.ndarray:
    """Independent standard normals, shape ``(len(subject_ids), k)``; row i depends only on (seed, id)."""
    if not (0 <= int(seed) < 2**63):
        raise ValueError(f"seed must be an integer in [0, 2**63), got {seed}")
    ids = np.asarray(subject_ids, dtype=np.int64)
    if (ids < 0).any():
        raise ValueError("subject_ids must be non-negative")
    g = np.uint64(_GOLDEN)
    with np.errstate(over="ignore"):
        key = _mix(np.array([int(seed) ^ _SEED_SALT], dtype=np.uint64))
        hi = _mix(key + ids.astype(np.uint64) * g)[:, None]
        h = _mix(hi + (np.arange(1, k + 1, dtype=np.uint64) * g)[None, :])
    u = ((h >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53
    return special.ndtri(u)


def _cholesky_fixed_order(a: np.ndarray) -> np.ndarray:
    """Lower Cholesky factor of a small SPD matrix, in plain float64 scalar arithmetic.

    LAPACK's factor can differ in the last bit between CPUs (its dot kernels follow the SIMD
    width); this one runs the same sums in the same order everywhere.
    """
    a = np.asarray(a, dtype=np.float64)
    k = a.shape[0]
    low = [[0.0] * k for _ in range(k)]
    for i in range(k):
        for j in range(i + 1):
            s = float(a[i, j])
            for m in range(j):
                s -= low[i][m] * low[j][m]
            low[i][j] = math.sqrt(s) if i == j else s / low[j][j]
    return np.array(low, dtype=np.float64)


def _correlate(eps: np.ndarray, low: np.ndarray) -> np.ndarray:
    """``eps @ low.T`` as element-wise multiply-adds in a fixed order.

    A BLAS product rounds differently with the batch shape and the CPU's kernel, so a subject's
    draw would depend on who else is drawn with it; column-by-column accumulation does not.
    """
    z = np.zeros_like(eps)
    for i in range(low.shape[0]):
        acc = np.zeros(eps.shape[0], dtype=np.float64)
        for j in range(i + 1):
            acc = acc + eps[:, j] * low[i, j]
        z[:, i] = acc
    return z


def sample_factors(spec: PopulationSpec, n: int, seed: int, subject_ids: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Raw factors (name -> array of length n): latent normals, copula, marginals."""
    ids = np.arange(int(n), dtype=np.int64) if subject_ids is None else np.asarray(subject_ids, dtype=np.int64)
    if ids.shape != (int(n),):
        raise ValueError(f"subject_ids must have length n={n}, got shape {ids.shape}")
    eps = subject_normals(seed, ids, len(spec.factors))
    z = _correlate(eps, _cholesky_fixed_order(spec.correlation))
    u = special.ndtr(z)
    return {f.name: f.ppf(u[:, j]) for j, f in enumerate(spec.factors)}


def factors_to_params(spec: PopulationSpec, factors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The documented mapping (module docstring): factors -> per-subject parameters for simulate_cohort."""
    n = len(next(iter(factors.values())))
    out = {k: np.full(n, v, dtype=np.float64) for k, v in spec.parameters.items()}
    out.update({k: np.asarray(v, dtype=np.float64).copy() for k, v in factors.items() if k in PARAMS})
    mp = spec.mapping
    if "left_behind" in factors:
        p = PARAMS["parental_control"]
        pc = out.get("parental_control", np.full(n, spec.parameters.get("parental_control", p.default)))
        s = mp["left_behind_family_stress"] * factors["left_behind"]
        out["parental_control"] = np.clip(pc + s * (p.high - pc), p.low, p.high)
    if "sex_female" in factors:
        out["female"] = (np.asarray(factors["sex_female"]) > 0.5).astype(np.float64)
        p = PARAMS["k_hope_mood"]
        ratio = np.where(factors["sex_female"] > 0.5, 1.0, mp["hope_buffering_male_ratio"])
        base = spec.parameters.get("k_hope_mood", p.default)
        out["k_hope_mood"] = np.clip(base * ratio, p.low, p.high)
    return out


def sample_population(spec: PopulationSpec | str | Path, n: int, seed: int,
                      subject_ids: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Sample ``n`` virtual adolescents.

    Returns a dict: per-subject parameter arrays keyed by parameter name (ready for
    ``simulate_cohort(seed, params_of(pop), ...)``; all within PARAMS bounds), plus the raw
    factors keyed ``"factor.<name>"``. Subject ``i`` (or ``subject_ids[i]``) gets the same
    draw whatever ``n``.
    """
    if not isinstance(spec, PopulationSpec):
        spec = load_population(spec)
    fac = sample_factors(spec, n, seed, subject_ids)
    out = factors_to_params(spec, fac)
    out.update({FACTOR_PREFIX + k: v for k, v in fac.items()})
    return out


def params_of(pop: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Only the model parameters of a sampled population (drops the raw ``factor.*`` entries)."""
    return {k: v for k, v in pop.items() if not k.startswith(FACTOR_PREFIX)}


__all__ = ["population_path", "RECALL_YEARS_BOUNDS", "SURVEY_KEYS", "BINARY_FACTORS", "ENVIRONMENT_FIELDS", "EnvironmentComponent", "FACTOR_PREFIX", "Factor", "MAPPING_DEFAULTS", "POPULATIONS", "PopulationError",
           "PopulationSpec", "factors_to_params", "load_population", "params_of", "parse_population",
           "sample_factors", "sample_population", "subject_normals"]
