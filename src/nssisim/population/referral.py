"""Clinical samples drawn from the community life course by a referral rule stated as data.

A clinical population is the part of the general life course that reaches care (``MODEL.md``,
"Clinical samples are selected, not invented"). A *referral rule* (shipped:
``configs/referral/<name>.toml``, named in :data:`RULES`; format in ``docs/trials.md``) says
when a simulated adolescent reaches care::

    name = "outpatient"
    description = "..."
    evidence = ["NixonCloutierAggarwal2002"]
    age_min = 12.0              # monthly checks from this age ...
    age_max = 18.0              # ... to this one (child and adolescent services)
    check_every_days = 30       # one check a month

    [help_seeking]              # per-subject propensity in (0, 1): a beta with this mean and sd
    mean = 0.5
    sd = 0.25

    [[pathways]]                # referral if ANY pathway fires at a check
    name = "frequent_nssi"
    probability = 0.3           # chance per check while the criteria hold ...
    help_seeking = true         # ... times the subject's help-seeking propensity
    criteria = { all = [ { measure = "nssi_days", window_days = 90, min = 5 } ] }

The criteria use the grammar of :mod:`nssisim.population.criteria` (frequency: ``acts`` or
``nssi_days`` in a window; a suicide attempt: ``attempts``; visible injury: ``severity``, the
largest daily mean severity in the window; ideation; recency; age; sex).

**The referral rule** at check ``m`` (day ``d_m`` of the life course, counted from its start):
subject ``i`` is referred when ``u[i, m] < max_p q_p`` over the pathways ``p`` whose criteria
hold on the days before ``d_m``, with ``q_p = probability_p * h_i`` if the pathway needs help
seeking and ``probability_p`` otherwise (an attempt brings emergency care whatever the family's
attitude). ``h_i`` is the help-seeking propensity and ``u[i, m]`` a per-check uniform, both
counter-based and keyed by ``(seed, subject id)`` only (:func:`nssisim.population.subject_normals`,
with their own salts), so a subject's referral does not depend on the pool it is screened in. The
first check at which a subject is referred is its **referral day**; its age then is the referral
age. Checks run at ``d = round((age_min - start_age) * 365.25) + m * check_every_days`` up to
``age_max``.

**Help-seeking is a stated assumption.** The references here give no factor model of help seeking
in adolescents who self-injure, so the propensity is drawn independently of every factor (a beta
with the rule's mean and sd); the pathway probabilities are illustrative magnitudes. Both are data
in the rule file, so a study can change them; neither is calibrated.

Data flow: :func:`refer` screens a pool of community subjects (ids ``0 .. n-1``) in chunks:
:func:`nssisim.population.spec.sample_population` -> ``simulate_cohort`` from the life-course
start (age 10 by default) to ``age_max``, daily records, no events kept -> :func:`referral_days`
-> :func:`profile_rows` (history measures at the referral day) -> :class:`ReferredSample`. Chunks
can be cached in a folder (``checkpoint``) so a long screening resumes. Continuing a patient's
life (a trial, :mod:`nssisim.trials`) re-simulates the same subject id from the same start with
a schedule that starts at the referral day: with counter-based random streams the pre-referral
history is bit-identical (a test checks it), so the pool is simulated once to screen and only the
referred subjects again.

Cost (measured on 2 cores, unloaded): 1,024 subjects from 10 to 18 in 12 s, about 0.15 s per 100
subject-years, so the default pool of 4,000 takes about a minute (several under heavy load). The
outpatient rule refers about 5 % of the shipped community by 18 (its attempt pathway calibrated, the level
a consequence of the assumed help-seeking and repeated-NSSI probability), and a trial's eligibility
criteria keep a part of them, so a trial of 100 patients screens a few thousand.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import special, stats

from ..core.measures import addictive_features, HARM_CUTOFF, IDEATION_CUTOFF
from ..core.parameters import HOURS_PER_DAY, HOURS_PER_YEAR
from ..core.simulation import simulate_cohort
from ..files import atomic_write, check_keys, read_toml, resource, SpecError, toml_file
from ..stats import wilson_interval
from .criteria import History, history_of, meets, Node, parse_node, WindowCache
from .lifecourse import DIARY_DAYS
from .spec import FACTOR_PREFIX, load_population, params_of, PopulationSpec, sample_population, subject_normals

#: Shipped referral rules (``configs/referral/<name>.toml``).
RULES = ("outpatient", "inpatient", "after_attempt")
#: Default life-course start of screening (late childhood; MODEL.md M12).
SCREEN_START_AGE = 10.0
#: Default screening pool and chunk (2 cores: about a minute for 4,000 subjects from 10 to 18).
DEFAULT_POOL = 4000
SCREEN_CHUNK = 512
#: The daily states a screening records besides the counts: what the criteria (``History``) and the
#: profile rows read; the trajectories do not depend on what is recorded.
SCREEN_RECORDS = ("ideation", "tolerance", "harm")
#: Salts of the counter-based draws (distinct from the population, survey and trial draws).
_HELP_SALT = 0x4E1_FE44
_CHECK_SALT = 0xC4EC_0001
#: Days per month and per week for the profile's rates.
DAYS_PER_MONTH = 30.4375
#: Windows of the profile (days before the referral day).
RECENT_DAYS = 90
URGE_WINDOW_DAYS = 28  # and DIARY_DAYS, the two-week diary of the community's EMA design (lifecourse)
#: "Almost daily urges": urges on at least this share of the days of the last 28 (5 of 7 days).
ALMOST_DAILY_SHARE = 5.0 / 7.0

_TOP = {"name", "description", "evidence", "age_min", "age_max", "check_every_days", "help_seeking", "pathways"}
_PATHWAY = {"name", "probability", "help_seeking", "criteria"}


class ReferralError(SpecError):
    """A referral rule is invalid; the message names the file and the field."""


@dataclass(frozen=True)
class Pathway:
    name: str
    probability: float
    help_seeking: bool
    criteria: Node


@dataclass(frozen=True)
class ReferralRule:
    """A validated referral rule."""

    name: str
    description: str
    evidence: tuple[str, ...]
    age_min: float
    age_max: float
    check_every_days: int
    help_mean: float
    help_sd: float
    pathways: tuple[Pathway, ...]
    source: str = "<dict>"
    raw: Mapping = field(default_factory=dict, repr=False)

    def describe(self) -> str:
        parts = [f"{p.name}: {p.criteria.describe()} (p = {p.probability:g}"
                 f"{' x help seeking' if p.help_seeking else ''} per check)" for p in self.pathways]
        return "; ".join(parts)


def _num(tab, key, where, *, low=None, high=None, default=None):
    if key not in tab:
        if default is None:
            raise ReferralError(f"{where}.{key}: missing (expected a number)")
        return default
    v = tab[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ReferralError(f"{where}.{key}: expected a number, got {v!r}")
    if low is not None and v < low:
        raise ReferralError(f"{where}.{key}: {v} must be >= {low}")
    if high is not None and v > high:
        raise ReferralError(f"{where}.{key}: {v} must be <= {high}")
    return float(v)


def parse_rule(data: Mapping, source: str = "<dict>") -> ReferralRule:
    """Validate a referral rule; errors name ``source`` and the field."""
    w = source
    check_keys(data, _TOP, w, ReferralError)
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise ReferralError(f"{w}: name: missing (expected a string)")
    ev = data.get("evidence", [])
    if not isinstance(ev, list) or not all(isinstance(e, str) for e in ev):
        raise ReferralError(f"{w}: evidence: expected a list of reference keys")
    a0 = _num(data, "age_min", w, low=5.0, high=30.0)
    a1 = _num(data, "age_max", w, low=5.0, high=30.0)
    if a1 <= a0:
        raise ReferralError(f"{w}: age_max {a1} must be above age_min {a0}")
    every = data.get("check_every_days", 30)
    if isinstance(every, bool) or not isinstance(every, int) or every < 1:
        raise ReferralError(f"{w}.check_every_days: expected a whole number of days >= 1, got {every!r}")
    hs = data.get("help_seeking")
    if not isinstance(hs, Mapping):
        raise ReferralError(f"{w}: help_seeking: missing table [help_seeking] with mean and sd")
    extra = sorted(set(hs) - {"mean", "sd"})
    if extra:
        raise ReferralError(f"{w}: help_seeking: unknown key '{extra[0]}': expected mean, sd")
    hm = _num(hs, "mean", f"{w}: help_seeking", low=0.0, high=1.0)
    hsd = _num(hs, "sd", f"{w}: help_seeking", low=0.0, default=0.0)
    if hsd > 0 and not (0 < hm < 1 and hsd ** 2 < hm * (1 - hm)):
        raise ReferralError(f"{w}: help_seeking: sd={hsd} is too large for mean={hm} (a beta needs sd^2 < "
                            f"mean (1 - mean) = {hm * (1 - hm):.4g})")
    pws = data.get("pathways")
    if not isinstance(pws, list) or not pws:
        raise ReferralError(f"{w}: pathways: expected one or more [[pathways]] tables")
    out = []
    for i, pt in enumerate(pws):
        wp = f"{w}: pathways[{i}]"
        if not isinstance(pt, Mapping):
            raise ReferralError(f"{wp}: expected a table")
        check_keys(pt, _PATHWAY, wp, ReferralError)
        pn = pt.get("name")
        if not isinstance(pn, str) or not pn:
            raise ReferralError(f"{wp}.name: missing (expected a string)")
        prob = _num(pt, "probability", wp, low=0.0, high=1.0)
        needs = pt.get("help_seeking", True)
        if not isinstance(needs, bool):
            raise ReferralError(f"{wp}.help_seeking: expected true or false")
        if "criteria" not in pt:
            raise ReferralError(f"{wp}.criteria: missing (expected a table of all/any/none criteria)")
        node = parse_node(pt["criteria"], f"{wp}.criteria", ReferralError)
        out.append(Pathway(pn, prob, needs, node))
    if len({p.name for p in out}) != len(out):
        raise ReferralError(f"{w}: pathways: names must be unique")
    return ReferralRule(name, str(data.get("description", "")), tuple(ev), a0, a1, int(every), hm, hsd, tuple(out),
                        source, dict(data))


def load_rule(name_or_path: str | Path) -> ReferralRule:
    """Load a shipped referral rule by name or a TOML file by path."""
    src, data = read_toml(name_or_path, kind="referral rule", shipped=RULES,
                          location=lambda s: f"configs/referral/{s}.toml",
                          error=lambda source, message: ReferralError(f"{source}: {message}"))
    return parse_rule(data, src)


# ----------------------------------------------------------------------------- the rule on histories
def check_days(rule: ReferralRule, start_age: float) -> np.ndarray:
    """Days (since the life-course start at ``start_age``) of the rule's checks: every
    ``check_every_days`` from the first day at or after ``age_min`` to the last at or before ``age_max``."""
    if rule.age_min < start_age:
        raise ValueError(f"referral rule '{rule.name}': age_min {rule.age_min} is below the life-course start "
                         f"{start_age}")
    # at or after age_min (not the nearest day: 2 years are 730.5 days, and day 730 is age 11.9986 for a rule
    # from 12, outside the rule's ages and below every design's age_min = 12)
    d0 = int(math.ceil((rule.age_min - start_age) * HOURS_PER_YEAR / HOURS_PER_DAY - 1e-9))
    d1 = int(math.floor((rule.age_max - start_age) * HOURS_PER_YEAR / HOURS_PER_DAY + 1e-9))
    return np.arange(max(d0, 1), d1 + 1, rule.check_every_days, dtype=np.int64)


def help_seeking(rule: ReferralRule, seed: int, subject_ids: np.ndarray) -> np.ndarray:
    """Each subject's help-seeking propensity (beta quantile of a counter-based uniform)."""
    u = special.ndtr(subject_normals(int(seed) ^ _HELP_SALT, np.asarray(subject_ids, np.int64), 1)[:, 0])
    m, sd = rule.help_mean, rule.help_sd
    if sd <= 0 or m <= 0 or m >= 1:
        return np.full(u.shape, m)
    k = m * (1 - m) / sd ** 2 - 1.0
    return stats.beta.ppf(u, m * k, (1 - m) * k)


def check_uniforms(seed: int, subject_ids: np.ndarray, n_checks: int) -> np.ndarray:
    """Per-subject, per-check uniforms in (0, 1), keyed by (seed, subject id, check index)."""
    return special.ndtr(subject_normals(int(seed) ^ _CHECK_SALT, np.asarray(subject_ids, np.int64), int(n_checks)))


def referral_days(rule: ReferralRule, hist: History, seed: int, subject_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Referral day of each subject (-1: never referred within the history) and the pathway index
    that referred it (the one with the largest probability at that check; -1 if none)."""
    ids = np.asarray(subject_ids, np.int64)
    days = check_days(rule, hist.start_age)
    days = days[days <= hist.n_days]
    n = ids.size
    ref = np.full(n, -1, np.int64)
    via = np.full(n, -1, np.int64)
    if days.size == 0:
        return ref, via
    h = help_seeking(rule, seed, ids)
    u = check_uniforms(seed, ids, days.size)
    cache = WindowCache(hist)
    for m, d in enumerate(days):
        todo = ref < 0
        if not todo.any():
            break
        q = np.zeros((len(rule.pathways), n))
        for j, p in enumerate(rule.pathways):
            met = meets(p.criteria, hist, d, cache)
            q[j] = np.where(met, p.probability * (h if p.help_seeking else 1.0), 0.0)
        best = q.max(axis=0)
        hit = todo & (u[:, m] < best)
        ref[hit] = d
        via[hit] = q.argmax(axis=0)[hit]
    return ref, via


# ----------------------------------------------------------------------------- the profile at referral
#: Columns of :func:`profile_rows` (history measures at the referral day; windows end the day before).
PROFILE_COLUMNS = ("subject", "referral_day", "referral_age", "pathway", "sex_female", "help_seeking", "acts_90d",
                   "nssi_days_90d", "acts_per_month", "more_than_weekly", "urges_per_week", "almost_daily_urges",
                   "diary_acts_per_week", "diary_urges_per_week", "diary_acts", "diary_urges", "lifetime_acts",
                   "lifetime_attempt", "attempt_12m", "nssi_and_attempt", "peak_ideation_90d", "ideation_90d",
                   "max_severity_90d", "function_intrapersonal", "function_interpersonal", "addictive_index",
                   "addictive")


def profile_rows(ds, rows: np.ndarray, day: np.ndarray, start_age: float) -> pd.DataFrame:
    """History measures of subjects ``rows`` of ``ds`` (daily records from the life-course start)
    at their referral ``day`` (windows: the days before it). Addictive features use
    :func:`nssisim.core.measures.addictive_features` over the past year, with the harm
    expectancy at the end of the previous day (as :func:`nssisim.core.measures.measure` does)."""
    rows = np.asarray(rows, np.int64)
    day = np.asarray(day, np.int64)
    n = rows.size

    def var(name):
        return np.asarray(ds[name].values[rows], dtype=np.float64)

    acts, urges, att, habit = var("acts"), var("urges"), var("attempts"), var("habit_acts")
    intra, inter = var("intrapersonal_acts"), var("interpersonal_acts")
    ide, tol, harm = var("ideation"), var("tolerance"), var("harm")
    sev = np.divide(var("severity_sum"), acts, out=np.zeros(acts.shape), where=acts > 0)
    t = np.arange(acts.shape[1])[None, :]
    d = day[:, None]

    def win(length):
        return (t < d) & (t >= d - length) if length else (t < d)

    def total(x, length=None):
        return (x * win(length)).sum(axis=1)

    r90, r28, r14, r365 = win(RECENT_DAYS), win(URGE_WINDOW_DAYS), win(DIARY_DAYS), win(365)
    acts90 = (acts * r90).sum(axis=1)
    year_len = np.minimum(day, 365).astype(np.float64)
    acts12 = (acts * r365).sum(axis=1)
    # harm expectancy before each day's acts: the state at the end of the previous day
    prev_harm = np.concatenate([np.full((n, 1), -np.inf), harm[:, :-1]], axis=1)
    despite = (acts * r365 * (prev_harm >= HARM_CUTOFF)).sum(axis=1)
    final_tol = tol[np.arange(n), np.maximum(day - 1, 0)]
    af = addictive_features(acts12, (urges * r365).sum(axis=1) / (year_len / 7.0), (habit * r365).sum(axis=1),
                            final_tol, despite)
    life_acts = total(acts)
    life_att = total(att) > 0
    peak_ide = np.where(r90, ide, -np.inf).max(axis=1)
    return pd.DataFrame({
        "referral_day": day,
        "referral_age": start_age + day * HOURS_PER_DAY / HOURS_PER_YEAR,
        "acts_90d": acts90.astype(np.int64),
        "nssi_days_90d": ((acts > 0) * r90).sum(axis=1).astype(np.int64),
        "acts_per_month": acts90 / (RECENT_DAYS / DAYS_PER_MONTH),
        "more_than_weekly": acts90 / (RECENT_DAYS / 7.0) > 1.0,
        "urges_per_week": (urges * r90).sum(axis=1) / (RECENT_DAYS / 7.0),
        "almost_daily_urges": ((urges > 0) * r28).sum(axis=1) >= ALMOST_DAILY_SHARE * URGE_WINDOW_DAYS,
        "diary_acts_per_week": (acts * r14).sum(axis=1) / (DIARY_DAYS / 7.0),
        "diary_urges_per_week": (urges * r14).sum(axis=1) / (DIARY_DAYS / 7.0),
        "diary_acts": (acts * r14).sum(axis=1),
        "diary_urges": (urges * r14).sum(axis=1),
        "lifetime_acts": life_acts.astype(np.int64),
        "lifetime_attempt": life_att,
        "attempt_12m": (att * r365).sum(axis=1) > 0,
        "nssi_and_attempt": life_att & (life_acts > 0),
        "peak_ideation_90d": peak_ide,
        "ideation_90d": peak_ide > IDEATION_CUTOFF,
        "max_severity_90d": np.where(r90, sev, 0.0).max(axis=1),
        "function_intrapersonal": total(intra) > 0,
        "function_interpersonal": total(inter) > 0,
        "addictive_index": af["addictive_index"].astype(np.int64),
        "addictive": af["addictive"],
    })


#: Boolean profile columns stated as criteria on the history (the same definitions as
#: :func:`profile_rows`, evaluated at any day: a test checks they agree), so a referral rule can be
#: calibrated to a published share without re-simulating (:mod:`nssisim.population.referral_calibration`).
PROFILE_CRITERIA = {
    # more than one act a week over the 90 days: acts / (90 / 7) > 1, i.e. at least 13 acts
    "more_than_weekly": {"all": [{"measure": "acts", "window_days": RECENT_DAYS,
                                  "min": math.floor(RECENT_DAYS / 7.0) + 1}]},
    # urges on at least 5 of 7 days over the 28 days: at least 20 urge days
    "almost_daily_urges": {"all": [{"measure": "urge_days", "window_days": URGE_WINDOW_DAYS,
                                    "min": math.ceil(ALMOST_DAILY_SHARE * URGE_WINDOW_DAYS)}]},
    "lifetime_attempt": {"all": [{"measure": "attempts", "min": 1}]},
    "attempt_12m": {"all": [{"measure": "attempts", "window_days": 365, "min": 1}]},
    "nssi_and_attempt": {"all": [{"measure": "acts", "min": 1}, {"measure": "attempts", "min": 1}]},
}
#: Count profile columns (their sample statistic is the mean) stated as criterion measures, for the
#: same use as :data:`PROFILE_CRITERIA`: the measure and window of the criterion (its bounds unused).
PROFILE_COUNTS = {
    "diary_acts": {"measure": "acts", "window_days": DIARY_DAYS},
    "diary_urges": {"measure": "urges", "window_days": DIARY_DAYS},
}


# ----------------------------------------------------------------------------- screening a pool
@dataclass(frozen=True)
class ReferredSample:
    """The referred subjects of a screened community pool.

    ``table``: one row per referred subject (:data:`PROFILE_COLUMNS`), in id order. To continue
    simulating patient ``i``: population ``population``, seed ``seed``, subject id
    ``table.subject[i]``, life course from ``start_age``, a schedule starting at
    ``table.referral_day[i] * 24`` hours.
    """

    rule: ReferralRule
    population: str
    seed: int
    start_age: float
    screened: int
    table: pd.DataFrame

    @property
    def ids(self) -> np.ndarray:
        return self.table["subject"].to_numpy(np.int64)

    @property
    def referral_day(self) -> np.ndarray:
        return self.table["referral_day"].to_numpy(np.int64)

    @property
    def rate(self) -> float:
        return len(self.table) / self.screened if self.screened else math.nan


def _spec(population) -> PopulationSpec:
    return population if isinstance(population, PopulationSpec) else load_population(population)


def screen_chunk(rule: ReferralRule, spec: PopulationSpec, ids: np.ndarray, seed: int, start_age: float,
                 end_age: float | None = None, mechanisms_off=()) -> tuple[pd.DataFrame, object, History]:
    """Simulate community subjects ``ids`` from ``start_age`` to the rule's ``age_max`` (or
    ``end_age``), apply the rule; returns (profile rows of the referred, the Dataset, the History)."""
    ids = np.asarray(ids, np.int64)
    end_age = rule.age_max if end_age is None else float(end_age)
    days = int(math.floor((end_age - start_age) * HOURS_PER_YEAR / HOURS_PER_DAY + 1e-9))
    pop = sample_population(spec, ids.size, seed, subject_ids=ids)
    ds = simulate_cohort(seed, params_of(pop), subject_ids=ids, horizon_hours=days * HOURS_PER_DAY, dt=1.0,
                         record_every=24, event_capacity=1, start_age_years=start_age, chunk_size=max(ids.size, 1),
                         mechanisms_off=mechanisms_off, records=SCREEN_RECORDS, events=False)
    df, hist = referred_rows(rule, ds, ids, seed, pop.get(FACTOR_PREFIX + "sex_female"))
    return df, ds, hist


def referred_rows(rule: ReferralRule, ds, ids: np.ndarray, seed: int,
                  sex_female: np.ndarray | None = None) -> tuple[pd.DataFrame, History]:
    """Apply the rule to daily records ``ds`` of subjects ``ids`` (from the life-course start,
    ``ds.attrs["start_age_years"]``); returns (profile rows of the referred, the History)."""
    ids = np.asarray(ids, np.int64)
    hist = history_of(ds, sex_female)
    ref, via = referral_days(rule, hist, seed, ids)
    hit = np.flatnonzero(ref >= 0)
    df = profile_rows(ds, hit, ref[hit], hist.start_age)
    df.insert(0, "subject", ids[hit])
    df.insert(3, "pathway", [rule.pathways[v].name for v in via[hit]])
    df.insert(4, "sex_female", hist.sex_female[hit])
    df.insert(5, "help_seeking", help_seeking(rule, seed, ids[hit]))
    return df[list(PROFILE_COLUMNS)], hist


class LifeCourseScreen:
    """A referral rule applied to a life-course run as it is simulated: the ``on_dataset`` hook of
    :func:`nssisim.population.run_in_memory`, so a report gets a referred sample from the population
    it already simulates, without a second simulation.

    Each chunk's burn-in (the days before ``start_age``) is dropped first, so the history, as in
    the survey measures, counts from the life-course start. The histories are those of the life
    course (its burn-in and environment), not those of :func:`refer` (from ``start_age`` without
    burn-in): the two samples differ by that start as well as by sampling, and only :func:`refer`'s
    samples can be continued by a trial (:class:`ReferredSample`). :meth:`sample` returns the
    referred so far, for :func:`profile_table`.
    """

    def __init__(self, rule: ReferralRule | str | Path, seed: int, population: str, start_age: float):
        self.rule = rule if isinstance(rule, ReferralRule) else load_rule(rule)
        self.seed, self.population, self.start_age = int(seed), str(population), float(start_age)
        self.parts: list[pd.DataFrame] = []
        self.screened = 0

    def __call__(self, ds, pop: Mapping[str, np.ndarray], ids: np.ndarray) -> None:
        age0 = float(ds.attrs.get("start_age_years", self.start_age))
        skip = int(round((self.start_age - age0) * HOURS_PER_YEAR / HOURS_PER_DAY))
        if skip > 0:  # the first kept day is the first whose midpoint age is at or after start_age
            ds = ds.isel(time=slice(skip, None)).assign_attrs(
                start_age_years=age0 + skip * HOURS_PER_DAY / HOURS_PER_YEAR)
        df, _ = referred_rows(self.rule, ds, ids, self.seed, pop.get(FACTOR_PREFIX + "sex_female"))
        self.parts.append(df)
        self.screened += int(np.asarray(ids).size)

    def sample(self) -> ReferredSample:
        table = (pd.concat(self.parts, ignore_index=True) if self.parts
                 else pd.DataFrame(columns=list(PROFILE_COLUMNS)))
        return ReferredSample(self.rule, self.population, self.seed, self.start_age, self.screened, table)


def _key(rule: ReferralRule, spec: PopulationSpec, seed: int, start_age: float, chunk: int) -> str:
    spec_text = json.dumps([spec.name, [(f.name, f.kind, list(f.args)) for f in spec.factors],
                            np.asarray(spec.correlation).round(12).tolist(), spec.mapping, spec.parameters,
                            [repr(c) for c in spec.environment]], sort_keys=True, default=str)
    payload = {"rule": json.loads(json.dumps(rule.raw, default=str)), "spec": spec_text, "seed": int(seed),
               "start_age": float(start_age), "chunk": int(chunk), "version": 1}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def refer(rule: ReferralRule | str | Path, n_subjects: int = DEFAULT_POOL, *, seed: int = 0,
          population: PopulationSpec | str | Path = "community", start_age: float = SCREEN_START_AGE,
          chunk_size: int = SCREEN_CHUNK, checkpoint: str | Path | None = None, progress: bool = False) -> ReferredSample:
    """Screen ``n_subjects`` community subjects (ids ``0 .. n-1``) and return the referred sample.

    ``checkpoint``: a folder where each finished chunk's rows are kept (keyed by the rule, the
    spec's hash, the seed, the start age and the chunk size); an interrupted screening run again
    with the same folder simulates only the missing chunks.
    """
    if not isinstance(rule, ReferralRule):
        rule = load_rule(rule)
    spec = _spec(population)
    if n_subjects < 1:
        raise ValueError(f"n_subjects must be >= 1, got {n_subjects}")
    key = _key(rule, spec, seed, start_age, chunk_size)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=int(n_subjects), desc=f"screening ({rule.name})", unit="subject")
    parts = []
    for a in range(0, int(n_subjects), int(chunk_size)):
        b = min(a + int(chunk_size), int(n_subjects))
        path = None if checkpoint is None else Path(checkpoint) / f"referral_{key}_{a}_{b}.parquet"
        if path is not None and path.exists():
            df = pd.read_parquet(path)
        else:
            df = screen_chunk(rule, spec, np.arange(a, b), seed, start_age)[0]
            if path is not None:
                atomic_write(path, lambda tmp, df=df: df.to_parquet(tmp, index=False))
        parts.append(df)
        if bar is not None:
            bar.update(b - a)
    if bar is not None:
        bar.close()
    table = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=list(PROFILE_COLUMNS))
    return ReferredSample(rule, spec.name, int(seed), float(start_age), int(n_subjects), table)


# ----------------------------------------------------------------------------- profile vs clinical targets
#: (row, column of the referred table, statistic, target key "<section>.<entry>", field, definition)
PROFILE_ROWS = (
    ("referral rate (share of the community pool)", None, "rate", None, None,
     "referred / screened community subjects"),
    ("age at referral (mean, years)", "referral_age", "mean", None, None, "age on the referral day"),
    ("girls (share)", "sex_female", "mean", None, None, "population factor sex_female"),
    ("acts per month at referral (mean)", "acts_per_month", "mean", None, None,
     f"acts in the {RECENT_DAYS} days before referral / {RECENT_DAYS / DAYS_PER_MONTH:.2f} months"),
    ("acts per month at referral (median)", "acts_per_month", "median", None, None, "as above"),
    ("NSSI more than weekly (share)", "more_than_weekly", "mean", "clinical.inpatient_frequency", "more_than_weekly",
     f"more than one act a week over the {RECENT_DAYS} days before referral"),
    ("almost daily urges (share)", "almost_daily_urges", "mean", "clinical.inpatient_frequency", "almost_daily_urges",
     f"urges on at least 5 of 7 days over the {URGE_WINDOW_DAYS} days before referral"),
    ("urges per week, 2-week diary (mean)", "diary_urges_per_week", "mean", "ema.nssi_thoughts_per_week", "value",
     f"urges (acted on or resisted) in the {DIARY_DAYS} days before referral, per week"),
    ("acts per week, 2-week diary (mean)", "diary_acts_per_week", "mean", "ema.nssi_acts_per_week", "value",
     f"acts in the {DIARY_DAYS} days before referral, per week"),
    ("acts per participant, 2-week diary (mean)", "diary_acts", "mean", "clinical.ema_acts_and_urges_per_participant",
     "acts", f"acts in the {DIARY_DAYS} days before referral (the studies ran mostly 1-3 weeks)"),
    ("urges per participant, 2-week diary (mean)", "diary_urges", "mean", "clinical.ema_acts_and_urges_per_participant",
     "urges", f"urges in the {DIARY_DAYS} days before referral"),
    ("lifetime suicide attempt (share)", "lifetime_attempt", "mean", None, None,
     "an attempt between the life-course start and referral"),
    ("NSSI and a suicide attempt (share)", "nssi_and_attempt", "mean",
     "cooccurrence.nssi_and_suicide_attempt_mental_disorders", "value",
     "lifetime NSSI and a lifetime attempt (from the life-course start) at referral"),
    ("attempt in the past year (share)", "attempt_12m", "mean", None, None, "an attempt in the 365 days before referral"),
    ("recent suicidal ideation (share)", "ideation_90d", "mean", None, None,
     f"peak ideation above {IDEATION_CUTOFF} in the {RECENT_DAYS} days before referral"),
    ("addictive profile (share)", "addictive", "mean", None, None,
     "nssisim.core.measures.addictive_features over the year before referral"),
    ("intrapersonal function (share)", "function_intrapersonal", "mean", "functions.emotion_regulation_share", None,
     "an act with intrapersonal relief before referral"),
    ("interpersonal function (share)", "function_interpersonal", "mean", "functions.interpersonal_share", None,
     "an act with an interpersonal consequence before referral"),
)


def _targets() -> dict:
    return toml_file(resource("data", "calibration_targets.toml"))


def _published(targets: Mapping, key: str | None, fld: str | None) -> tuple[float, float, float]:
    if key is None:
        return math.nan, math.nan, math.nan
    sec, entry = key.split(".", 1)
    e = targets[sec][entry]
    if fld is None:  # an interval entry
        v = e.get("value", math.nan)
        return float(v), float(e.get("low", math.nan)), float(e.get("high", math.nan))
    if fld == "value":
        return float(e["value"]), float(e.get("low", math.nan)), float(e.get("high", math.nan))
    return float(e[fld]), math.nan, math.nan


def profile_table(sample: ReferredSample) -> pd.DataFrame:
    """The referred sample's profile beside the clinical targets of ``data/calibration_targets.toml``.

    One row per measure: simulated value (for shares, with a Wilson 95% interval), the published
    value or interval, and ``inside`` (the simulated value within the published interval; ``None``
    where the entry gives a single value without an interval, as in
    :func:`nssisim.population.calibration`).
    """
    t = sample.table
    targets = _targets()
    rows = []
    for label, col, stat, key, fld, definition in PROFILE_ROWS:
        if stat == "rate":
            k, n = float(len(t)), float(sample.screened)
            v = k / n if n else math.nan
            lo, hi = wilson_interval(k, n)
        elif len(t) == 0:
            v = lo = hi = math.nan
        else:
            x = t[col].to_numpy(dtype=np.float64)
            v = float(np.median(x) if stat == "median" else np.mean(x))
            lo = hi = math.nan
            if t[col].dtype == bool:
                lo, hi = wilson_interval(float(x.sum()), float(x.size))
        pv, plo, phi = _published(targets, key, fld)
        inside = None
        if math.isfinite(plo) and math.isfinite(phi) and math.isfinite(v):
            inside = bool(plo <= v <= phi)
        rows.append({"measure": label, "simulated": v, "sim_low": lo, "sim_high": hi, "n": len(t),
                     "published": pv, "published_low": plo, "published_high": phi, "inside": inside,
                     "target": key or "", "definition": definition})
    return pd.DataFrame(rows)


def published_text(row) -> str:
    """The published cell of a :func:`profile_table` row: ``low-high``, a single value, or empty."""
    if not math.isfinite(row.published) and not math.isfinite(row.published_low):
        return ""
    return f"{row.published_low:.3g}-{row.published_high:.3g}" if math.isfinite(row.published_low) else f"{row.published:.3g}"


def format_profile(sample: ReferredSample, table: pd.DataFrame | None = None) -> str:
    """A plain-text rendering of :func:`profile_table` (for the CLI)."""
    table = profile_table(sample) if table is None else table
    lines = [f"referred sample: rule '{sample.rule.name}', population '{sample.population}', seed {sample.seed}, "
             f"life course from {sample.start_age:g}; {len(sample.table)} of {sample.screened} screened referred",
             f"rule: {sample.rule.describe()}", ""]
    w = max(len(r) for r in table["measure"])
    lines.append(f"{'measure':<{w}}  {'simulated':>10}  {'published':>16}  inside  target")
    for r in table.itertuples():
        pub = published_text(r)
        ins = {True: "yes", False: "NO", None: "-"}[r.inside]
        lines.append(f"{r.measure:<{w}}  {r.simulated:>10.3f}  {pub:>16}  {ins:>6}  {r.target}")
    lines.append("")
    lines.append("inside: the simulated value lies in the published interval ('-': no interval published).")
    lines.append("A research instrument: model predictions, not clinical facts.")
    return "\n".join(lines)


__all__ = ["DEFAULT_POOL", "PROFILE_COLUMNS", "PROFILE_COUNTS", "PROFILE_CRITERIA", "PROFILE_ROWS", "Pathway", "RULES", "ReferralError", "ReferralRule",
           "ReferredSample", "LifeCourseScreen", "SCREEN_CHUNK", "SCREEN_START_AGE", "check_days", "check_uniforms", "format_profile",
           "help_seeking", "load_rule", "parse_rule", "profile_rows", "profile_table", "published_text", "refer",
           "referral_days", "referred_rows", "screen_chunk"]
