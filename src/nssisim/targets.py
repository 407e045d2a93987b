"""Explanatory targets: the model's tests of itself (design brief section 5).

Each target runs its own designed simulation experiment (fixed seeds, enough subjects for
a stable statistic) and returns a :class:`TargetResult`: whether the phenomenon holds, the
statistic and the bar. Bars are written once, here, in :data:`TARGETS` (and rendered into
``docs/model.md``); they are never tuned per run.

``run_targets(mechanisms_off=...)`` runs the suite with mechanisms switched off; the
ablation table (:func:`ablation`) is the model's own account of which part of the theory
each phenomenon needs.

Designed persons and parameter base. The experiments run on the shipped, calibrated model: the
community population's ``[parameters]`` (``configs/population_community.toml``, fitted by the joint
calibration) over the parameter table's defaults. Their persons come from that population, not
from invented presets: community adolescents drawn from its factors for the incidence, repetition
and co-occurrence contrasts (:func:`_community`), adolescents referred from its life course by
the outpatient rule for the clinical designs (:func:`_referred`) and the trials of P12 and P13;
P11's at-risk spread of traits runs on the same parameters. ``run_targets(base=...)`` (and
``ablation(base=...)``, ``Target.run(base=...)``, CLI ``--base FILE``) puts other model-parameter
values over the calibrated ones, e.g. a set of a calibration ensemble (:func:`run_targets_ensemble`);
an experiment's own settings (its contrasts, the P13 profiles, the interventions) and the persons'
sampled factors still win: they define the design. The base is held in a context variable for the
duration of one target and read in one place, :func:`model_parameters`: every simulation of this
module goes through :func:`_simulate`, every population draw through :func:`_population_spec`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from pathlib import Path
import warnings

import numpy as np
import pandas as pd

from ._version import __version__
from .core.measures import measure
from .core.model import MECHANISM_IDS
from .core.parameters import check_value, HOURS_PER_YEAR, PARAMS
from .core.simulation import simulate_cohort
from .files import did_you_mean, SpecError, toml_file
from .population.spec import load_population, POPULATIONS
from .stats import (bootstrap_weights, hedges_g, odds_ratio, paired_risk_ratio, percentile_interval, weighted_hedges_g,
                    weighted_means, wilson_interval)
from .trials import DesignError, parse_design, screen_patients, simulate_arms


@dataclass(frozen=True)
class TargetResult:
    """Outcome of one explanatory target."""

    id: str
    passed: bool
    statistic: float
    bar: str
    detail: str = ""
    mechanisms_off: tuple[str, ...] = ()
    #: Which parameter base the experiment ran on (:data:`CALIBRATED_DEFAULT` or the base's label).
    base: str = "the calibrated default (community spec [parameters])"
    #: Seed replicate (0: the experiment's shipped seeds; see :func:`stability`).
    replicate: int = 0
    #: 95 % interval of the statistic (sampling noise of the experiment; how, per target: ``INTERVALS``).
    interval: tuple[float, float] | None = None


# ----------------------------------------------------------------------------- parameter base
#: Label of a run without a base: the calibrated default (the community spec's ``[parameters]``).
CALIBRATED_DEFAULT = "the calibrated default (community spec [parameters])"


class ParameterBase(dict):
    """Parameter values (name -> float) put over the calibrated default in every experiment, with a
    ``label`` saying where they come from (shown in every result)."""

    def __init__(self, values: Mapping[str, float] = (), label: str | None = None):
        super().__init__(values)
        self.label = label if label is not None else (
            CALIBRATED_DEFAULT if not self else "custom base: " + ", ".join(f"{k}={v:g}" for k, v in self.items()))


def check_base(base: Mapping[str, float] | None, where: str = "base") -> ParameterBase:
    """``base`` validated (PARAMS names, values within bounds) as a :class:`ParameterBase`; None or
    empty is the calibrated default. Raises ValueError naming the key."""
    if base is None:
        return ParameterBase({}, CALIBRATED_DEFAULT)
    if not isinstance(base, Mapping):
        raise ValueError(f"{where}: expected a mapping of parameter name -> value, got {type(base).__name__}")
    values = {}
    for k, v in base.items():
        if k not in PARAMS:
            raise ValueError(f"{where}: unknown parameter '{k}'{did_you_mean(k, PARAMS)}")
        try:
            values[k] = check_value(k, v, where)
        except (TypeError, ValueError) as err:
            raise ValueError(str(err)) from None
    return ParameterBase(values, getattr(base, "label", None) if values else CALIBRATED_DEFAULT)


def load_base(name_or_toml: str | Path) -> ParameterBase:
    """A parameter base from a shipped population's spec (``"community"``: its ``[parameters]``)
    or from a TOML file's ``[parameters]`` table (other tables of the file are ignored, so a
    population spec file works too). Errors (:class:`nssisim.files.SpecError`) name the file and key."""
    s = str(name_or_toml)
    if s in POPULATIONS:
        spec = load_population(s)  # validated by the spec's parser
        values = {k: v for k, v in spec.parameters.items() if k in PARAMS}
        return ParameterBase(values, f"{s} spec [parameters] ({len(values)} values)")
    path = Path(s)
    if not path.is_file():
        raise SpecError(f"{s}: no such file, and not a shipped population{did_you_mean(s, POPULATIONS)}: expected "
                        f"{' or '.join(POPULATIONS)} or a TOML file with a [parameters] table")
    data = toml_file(path, s)
    tab = data.get("parameters")
    if not isinstance(tab, dict):
        raise SpecError(f"{s}: expected a [parameters] table of parameter = value"
                        + (f" (found {', '.join(sorted(data))})" if data else ""))
    try:
        base = check_base(tab, f"{s}: parameters")
    except ValueError as err:
        raise SpecError(str(err)) from None
    return ParameterBase(base, f"[parameters] of {s} ({len(base)} values)")


def community_base() -> ParameterBase:
    """The community population's mechanism-parameter values (its spec's ``[parameters]``: the
    calibrated or, until the calibration replaces them, provisional values)."""
    return load_base("community")


#: The base of the target now running (set by :meth:`Target.run`; empty: the calibrated default).
_BASE: ContextVar[Mapping[str, float] | None] = ContextVar("nssisim_targets_base", default=None)
#: The population the designed persons come from, and whose ``[parameters]`` are the calibrated default.
COMMUNITY_POPULATION = "community"


def current_base() -> Mapping[str, float]:
    """The parameter base of the experiment now running (empty outside :meth:`Target.run`)."""
    return _BASE.get() or {}


#: Seed replicate of the experiment now running (set by :meth:`Target.run`; 0: its shipped seeds).
_REPLICATE: ContextVar[int] = ContextVar("nssisim_targets_replicate", default=0)
#: Replicate r shifts every fixed seed of an experiment by r times this stride (a prime, so the
#: replicates' seeds do not collide with the other experiments' seeds, which are all below 2,000).
SEED_REPLICATE_STRIDE = 104_729


def _seed(seed: int) -> int:
    """An experiment's fixed ``seed`` in the current replicate (replicate 0: the seed itself). Every
    random stream of this module (simulation, population draw, screening, trial, spread of traits)
    takes its seed through here, so one replicate re-draws persons and streams together."""
    r = _REPLICATE.get()
    return int(seed) + SEED_REPLICATE_STRIDE * r if r else int(seed)


def _population_spec(name: str = COMMUNITY_POPULATION):
    """The population spec of the designed persons, its ``[parameters]`` with the current base's
    model parameters over them (a sampled factor stays sampled)."""
    spec = load_population(name)
    base = {k: float(v) for k, v in current_base().items() if k not in spec.factor_names}
    return replace(spec, parameters={**spec.parameters, **base}) if base else spec


def model_parameters() -> dict[str, float]:
    """The model-parameter values of the experiment now running, beyond the table defaults: the
    community spec's ``[parameters]`` (the calibrated default) with the current base over them."""
    return {k: float(v) for k, v in _population_spec().parameters.items() if k in PARAMS}


def _param(name: str) -> float:
    """The value of a parameter no experiment sets: the calibrated default's (or the base's), else the table default."""
    return float(model_parameters().get(name, PARAMS[name].default))


def _simulate(seed: int, params: Mapping, **kw):
    """The one call of :func:`simulate_cohort` of this module: the experiment's ``params`` (scalars or
    per-subject arrays) over :func:`model_parameters`."""
    return simulate_cohort(_seed(seed), {**model_parameters(), **params}, **kw)


@dataclass(frozen=True)
class Target:
    """An explanatory target: a phenomenon, its evidence, its statistic and bar, and its experiment."""

    id: str
    phenomenon: str
    evidence: tuple[str, ...]
    statistic: str
    bar: str
    experiment: Callable[[tuple[str, ...]], tuple[bool, float, str]] = field(repr=False)
    #: The mechanism parameters the phenomenon rests on, which the design itself does not set: the
    #: robustness check (:func:`stability`) moves each by +-10 % over the base.
    key_parameters: tuple[str, ...] = ()

    def run(self, mechanisms_off: Iterable[str] = (), base: Mapping[str, float] | None = None,
            replicate: int = 0) -> TargetResult:
        """Run the experiment with ``mechanisms_off`` on the parameter ``base`` (None: the calibrated default);
        ``replicate`` > 0 re-draws its persons and random streams (:func:`_seed`)."""
        off = tuple(mechanisms_off)
        b = check_base(base)
        if int(replicate) != replicate or replicate < 0:
            raise ValueError(f"replicate: expected a whole number >= 0, got {replicate!r}")
        token, token_r = _BASE.set(b), _REPLICATE.set(int(replicate))
        try:
            out = self.experiment(off)
        finally:
            _REPLICATE.reset(token_r)
            _BASE.reset(token)
        passed, statistic, detail = out[:3]
        interval = tuple(float(v) for v in out[3]) if len(out) > 3 and out[3] is not None else None
        return TargetResult(self.id, bool(passed), float(statistic), self.bar, detail, off, b.label, int(replicate),
                            interval)


TARGETS: dict[str, Target] = {}


def _register(target: Target) -> Target:
    unknown = [k for k in target.key_parameters if k not in PARAMS]
    if unknown:
        raise ValueError(f"target {target.id}: unknown key parameter(s) {', '.join(unknown)}")
    TARGETS[target.id] = target
    return target



# ----------------------------------------------------------------------------- designed experiments
YEAR_DAYS = 365


# ----------------------------------------------------------------------------- community persons
#: Persons of the incidence, repetition and co-occurrence designs (P4-P10, P14): adolescents drawn
#: from the community population (its factors, correlations and ``[parameters]``: the calibrated
#: default; the current base lies beneath them, as beneath a trial's population draw), simulated
#: like the life course (from 10, after a 1-year burn-in) to :data:`COMMUNITY_END_AGE`. A contrast
#: sets one parameter to two levels for every drawn person: the same persons (ids, factor draws,
#: random streams) in every group, so a ratio of incidences is a counterfactual one within the
#: calibrated population, not a contrast between invented persons.
COMMUNITY_START_AGE, COMMUNITY_BURN_IN, COMMUNITY_END_AGE = 10.0, 1.0, 16.0
N_COMMUNITY = 512  # persons per group (the same persons in every group): standard error of a share of 0.2 is 0.018
WEEK_STEPS = 168  # records of the community designs: weekly blocks at dt = 1 h
#: The incidence of the community designs: any act from the life-course start (10) to 16.
INCIDENCE = f"lifetime NSSI by {COMMUNITY_END_AGE:g} (community persons)"


@dataclass(frozen=True)
class CommunityRun:
    """A community design's records: ``acts``, ``stressors`` (and any recorded states) as
    ``(group, person, block)`` arrays, the block end ages, and the persons' drawn parameters."""

    counts: dict
    age: np.ndarray
    drawn: dict
    final: dict = field(default_factory=dict)

    def window(self, low: float = COMMUNITY_START_AGE, high: float = COMMUNITY_END_AGE) -> np.ndarray:
        """Blocks whose midpoint age lies in ``[low, high)``."""
        step = float(self.age[1] - self.age[0]) if self.age.size > 1 else 0.0
        mid = self.age - step / 2
        return (mid >= low) & (mid < high)

    def acts(self, low: float = COMMUNITY_START_AGE, high: float = COMMUNITY_END_AGE) -> np.ndarray:
        """Acts per (group, person) between two ages."""
        return self.counts["acts"][:, :, self.window(low, high)].sum(axis=2)

    def ever(self, high: float = COMMUNITY_END_AGE) -> np.ndarray:
        """Per (group, person): any act from the life-course start (10) to ``high`` (lifetime NSSI)."""
        return self.acts(COMMUNITY_START_AGE, high) > 0


def _stack_groups(drawn: Mapping[str, np.ndarray], groups: Sequence[dict], n: int) -> dict[str, np.ndarray]:
    """Per-subject parameters of ``n`` drawn persons repeated once per group (groups stacked in order):
    a group's own settings win, else the person's drawn value, else the run's model parameter."""
    model = model_parameters()
    fallback = {k: model.get(k, PARAMS[k].default) for k in set().union(*groups) if k not in drawn}
    return {k: np.concatenate([np.full(n, g[k], np.float64) if k in g
                               else np.broadcast_to(drawn[k] if k in drawn else fallback[k], (n,)).astype(np.float64)
                               for g in groups]) for k in sorted(set(drawn).union(*groups))}


def _community(groups: Sequence[dict], off: tuple[str, ...], *, seed: int, n: int = N_COMMUNITY,
               record_every: int = WEEK_STEPS, states: tuple[str, ...] = (), end_age: float = COMMUNITY_END_AGE,
               ) -> CommunityRun:
    """Simulate ``n`` community persons in every group of overrides (one compiled call)."""
    from .population.spec import params_of, sample_population

    ids = np.arange(n)
    drawn = params_of(sample_population(_population_spec(), n, _seed(seed), subject_ids=ids))
    params = _stack_groups(drawn, groups, n)
    start = COMMUNITY_START_AGE - COMMUNITY_BURN_IN
    block_h = record_every * 1.0
    blocks = int((end_age - start) * HOURS_PER_YEAR // block_h)
    ds = _simulate(seed, params, subject_ids=np.tile(ids, len(groups)), horizon_hours=blocks * block_h, dt=1.0,
                         record_every=record_every, start_age_years=start, mechanisms_off=off,
                   records=tuple(states) if states else "counts", events=False, chunk_size=n)
    k = len(groups)
    counts = {v: np.asarray(ds[v].values).reshape(k, n, -1) for v in ("acts", "stressors", *states)}
    age = start + np.asarray(ds["time"].values, np.float64) / HOURS_PER_YEAR
    final = {str(v)[6:]: np.asarray(ds[v].values).reshape(k, n) for v in ds.data_vars if str(v).startswith("final_")}
    return CommunityRun(counts, age, drawn, final)


# ----------------------------------------------------------------------------- clinical persons
#: Persons of the clinical designs (P1-P3 and P14's clinical sample): adolescents of the community
#: life course referred to outpatient care by the shipped rule (``configs/referral/outpatient.toml``;
#: the patients of P12 and P13 before those trials' eligibility), each with the history its life
#: course gave it, and followed untreated after the referral day.
REFERRAL_RULE = "outpatient"
CLINICAL_SEED = 1313
N_SCREEN = 2048  # community adolescents screened (about 7 % are referred on the calibrated default)
CLINICAL_PATIENTS = 512  # patients of P2, P3 and P14 (at most: all the referred of the screening)
SCREEN_BATCH = 1024  # screened per compiled call
_SCREENS: dict = {}  # the screenings and the referred patients' runs of this process (a few MB each)


def _screened(off: tuple[str, ...], seed: int = CLINICAL_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Ids and referral days (since the screening start age) of the referred among :data:`N_SCREEN`
    screened community adolescents; kept per process and base, since P1-P3 and P14 share them."""
    from .population.referral import load_rule, screen_chunk, SCREEN_START_AGE

    spec = _population_spec()
    key = (_seed(seed), tuple(off), tuple(sorted(spec.parameters.items())))
    if key not in _SCREENS:
        rule = load_rule(REFERRAL_RULE)
        parts = [screen_chunk(rule, spec, np.arange(a, min(a + SCREEN_BATCH, N_SCREEN)), _seed(seed), SCREEN_START_AGE,
                              mechanisms_off=off)[0] for a in range(0, N_SCREEN, SCREEN_BATCH)]
        df = pd.concat(parts, ignore_index=True)
        _SCREENS[key] = (df["subject"].to_numpy(np.int64), df["referral_day"].to_numpy(np.int64))
    return _SCREENS[key]


def _patients(off: tuple[str, ...], n: int, seed: int = CLINICAL_SEED) -> tuple[np.ndarray, np.ndarray, dict]:
    """The first ``n`` referred patients: ids, referral days and their drawn parameters (the screening's draw)."""
    from .population.spec import params_of, sample_population

    ids, t0 = _screened(off, seed)
    ids, t0 = ids[:n], t0[:n]
    drawn = params_of(sample_population(_population_spec(), ids.size, _seed(seed), subject_ids=ids)) if ids.size else {}
    return ids, t0, drawn


def _referred(off: tuple[str, ...], *, n: int, follow_days: int, record_every: int = 24, records="full",
              cap: int = 4096, seed: int = CLINICAL_SEED):
    """The first ``n`` referred patients' life courses, from the screening start age to ``follow_days``
    after the last referral, untreated (their histories up to referral are the screening's: the same
    draw and random streams). Returns (Dataset, referral days), or (None, empty) if nobody is referred."""
    from .population.referral import SCREEN_START_AGE

    key = ("referred", _seed(seed), tuple(off), tuple(sorted(_population_spec().parameters.items())), n, follow_days,
           record_every, records, cap)
    if key in _SCREENS:  # P2, P3 and P14 follow the same patients
        return _SCREENS[key]
    ids, t0, drawn = _patients(off, n, seed)
    if ids.size == 0:
        return None, t0
    days = int(t0.max()) + int(follow_days)
    ds = _simulate(seed, drawn, subject_ids=ids, horizon_hours=days * 24.0, dt=1.0, record_every=record_every,
                   start_age_years=SCREEN_START_AGE, mechanisms_off=off, event_capacity=cap, records=records)
    _SCREENS[key] = (ds, t0)
    return ds, t0


def _events(ds, group) -> pd.DataFrame:
    """Event rows with their subject's group (rows are ordered by subject position)."""
    pos = np.repeat(np.arange(ds.sizes["subject"]), _rows_per_subject(ds))
    return pd.DataFrame({
        "pos": pos, "group": group[pos], "time": ds["event_time"].values, "kind": ds["event_kind"].values,
        "habitual": ds["event_habitual"].values, "severity": ds["event_severity"].values,
        "relief": ds["event_relief"].values, "distress": ds["event_distress"].values,
    })


def _rows_per_subject(ds) -> np.ndarray:
    """Event rows kept per subject (urges + attempts, capped at the event capacity)."""
    total = ds["urges"].values.sum(axis=1) + ds["attempts"].values.sum(axis=1)
    return (total - ds["events_dropped"].values).astype(np.int64)


def _mean(x) -> float:
    """Mean that is NaN (silently) for an empty selection; a target with no data fails, it does not warn."""
    x = np.asarray(x, dtype=float)
    return float(x.mean()) if x.size else float("nan")


def _ratio(a: float, b: float) -> float:
    return float(a / b) if b > 0 else (np.inf if a > 0 else np.nan)


#: Resamples and seed of the statistics' bootstrap intervals (:func:`_boot`).
BOOT_REPLICATES, BOOT_SEED = 1000, 1999


def _boot(n_units: int, statistic: Callable[[np.ndarray], np.ndarray]) -> tuple[float, float]:
    """Percentile 95 % interval of ``statistic`` over :data:`BOOT_REPLICATES` bootstrap resamples of
    ``n_units`` units (persons; for event statistics the patients the events belong to, a cluster
    bootstrap): ``statistic`` takes the weight matrix (resamples x units) and returns one value per resample."""
    if n_units < 2:
        return float("nan"), float("nan")
    with np.errstate(invalid="ignore", divide="ignore"):
        return percentile_interval(statistic(bootstrap_weights(n_units, BOOT_REPLICATES, _seed(BOOT_SEED))))


def _event_mean(x: np.ndarray, pos: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Mean of event values ``x`` under each resample of their units (``pos``: each event's unit)."""
    ww = w[:, pos]
    return (ww * np.asarray(x, np.float64)[None, :]).sum(axis=1) / ww.sum(axis=1)


def _rr_text(ever: np.ndarray, g1: int, g0: int) -> str:
    """'RR r [lo, hi]': the paired risk ratio of groups ``g1`` / ``g0`` (the same persons) with its 95 % interval."""
    rr, lo, hi = paired_risk_ratio(ever[g1], ever[g0])
    return f"RR {rr:.2f} [{lo:.2f}, {hi:.2f}]"


# ----------------------------------------------------------------------------- P1
def _matched_did(change: np.ndarray, is_act: np.ndarray, pos: np.ndarray, pre: np.ndarray, n_units: int):
    """Difference in differences of ``change`` (affect at the event minus affect at a lag) between acts and
    resisted urges, matched exactly on the patient and on the affect at the event (bins of
    :data:`P1_MATCH_WIDTH`): in each cell with both kinds, mean change after acts minus mean change after
    resisted urges, averaged over cells weighted by their acts (the effect on the acts). Returns
    (DiD, 95 % interval by the patients' bootstrap, acts matched)."""
    n_bins = int(np.ceil(1.0 / P1_MATCH_WIDTH)) + 1
    cell = pos.astype(np.int64) * n_bins + np.clip(np.floor(pre / P1_MATCH_WIDTH), 0, n_bins - 1).astype(np.int64)
    uniq, inv = np.unique(cell, return_inverse=True)
    act = is_act.astype(np.float64)
    n_a = np.bincount(inv, weights=act, minlength=uniq.size)
    n_r = np.bincount(inv, weights=1.0 - act, minlength=uniq.size)
    s_a = np.bincount(inv, weights=change * act, minlength=uniq.size)
    s_r = np.bincount(inv, weights=change * (1.0 - act), minlength=uniq.size)
    both = (n_a > 0) & (n_r > 0)
    if not both.any():
        return float("nan"), (float("nan"), float("nan")), 0
    d = s_a[both] / n_a[both] - s_r[both] / n_r[both]
    w = n_a[both]
    unit = uniq[both] // n_bins
    did = float((w * d).sum() / w.sum())
    ci = _boot(n_units, lambda W: (W[:, unit] * w * d).sum(axis=1) / (W[:, unit] * w).sum(axis=1))
    return did, ci, int(w.sum())


def _p1_ema(affect: np.ndarray, t0: np.ndarray, ev_idx: np.ndarray, ev_pos: np.ndarray, is_act: np.ndarray):
    """The EMA-resolution check: prompts every :data:`P1_EMA_EVERY_H` hours in the waking day
    (:data:`P1_EMA_HOURS`) over the follow-up, negative affect read with measurement noise
    (:data:`P1_EMA_NOISE`), acts and resisted urges reported 'since the last prompt'; the multilevel model
    of such studies, NA ~ NA at the previous prompt + act + resisted urge + (1 | patient), fitted by REML
    (statsmodels MixedLM). Returns (act minus resisted-urge coefficient, its 95 % interval, prompts, prompts
    after an act)."""
    import statsmodels.api as sm

    n_sub, n_t = affect.shape
    hours = np.arange(P1_EMA_HOURS[0], P1_EMA_HOURS[1] + 1, P1_EMA_EVERY_H)
    rng = np.random.default_rng(_seed(P1_EMA_SEED))
    days = np.arange(P1_DAYS)
    # prompt record index: the state at the prompt's time, (day * 24 + hour) h after the start, is record - 1
    rec = ((t0[:, None, None] + days[None, :, None]) * 24 + hours[None, None, :] - 1).astype(np.int64)
    ok = rec < n_t
    na = np.where(ok, affect[np.arange(n_sub)[:, None, None], np.minimum(rec, n_t - 1)], np.nan)
    na = na + rng.normal(0.0, P1_EMA_NOISE, na.shape)
    # events 'since the last prompt': the interval (previous prompt, this prompt] of the same day
    acts = np.zeros(rec.shape, bool)
    res = np.zeros(rec.shape, bool)
    flat = rec.reshape(n_sub, -1)
    for kind, out in ((True, acts), (False, res)):
        sel = is_act == kind
        for i in np.unique(ev_pos[sel]):
            e = ev_idx[sel][ev_pos[sel] == i]
            k = np.searchsorted(flat[i], e, side="left")  # first prompt at or after the event's step
            k = k[k < flat.shape[1]]
            out.reshape(n_sub, -1)[i, k] = True
    # the first prompt of a day has no same-day previous prompt: it is a lag, not an outcome
    y, lag = na[:, :, 1:], na[:, :, :-1]
    keep = np.isfinite(y) & np.isfinite(lag)
    a, r = acts[:, :, 1:][keep], res[:, :, 1:][keep]
    groups = np.broadcast_to(np.arange(n_sub)[:, None, None], y.shape)[keep]
    # the previous prompt's NA centred on the patient's mean, as such studies enter it (within-person)
    lag_c = lag - np.nanmean(np.where(np.isfinite(lag), lag, np.nan), axis=(1, 2))[:, None, None]
    exog = np.column_stack([np.ones(a.size), lag_c[keep], a, r]).astype(np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = sm.MixedLM(y[keep].astype(np.float64), exog, groups=groups).fit(reml=True, method="lbfgs")
    beta, cov = np.asarray(fit.params)[:4], np.asarray(fit.cov_params())[:4, :4]
    c = np.array([0.0, 0.0, 1.0, -1.0])
    est, se = float(c @ beta), float(np.sqrt(c @ cov @ c))
    return est, (est - 1.959964 * se, est + 1.959964 * se), int(a.size), int(a.sum())


def _p1(off):
    """Affect after acts against after resisted urges, matched on the patient and the affect at the event,
    as a difference in differences at the event's step, 1 h, 2 h and 4 h (referred patients after
    referral, dt 1 h); and the same contrast as an EMA study at 2-hourly prompts would estimate it."""
    ds, t0 = _referred(off, n=P1_PATIENTS, follow_days=P1_DAYS, record_every=1, records=("affect",))
    if ds is None:
        return False, float("nan"), "nobody is referred"
    n_sub = ds.sizes["subject"]
    ev = _events(ds, np.zeros(n_sub, np.int64))
    day = ev.time.values / 24.0 - t0[ev.pos.values]
    ev = ev[(ev.kind <= 1) & (day >= 0) & (day < P1_DAYS)]
    affect = ds["affect"].values
    n_t = affect.shape[1]
    idx = np.rint(ev.time.values).astype(np.int64) - 1  # record index of the event's step (state after it), dt 1 h
    pre, pos, is_act = ev.distress.values, ev.pos.values, ev.kind.values == 1
    n_act, n_res = int(is_act.sum()), int((~is_act).sum())
    if n_act < P1_MIN_EVENTS or n_res < P1_MIN_EVENTS:
        return False, float("nan"), f"{n_sub} referred patients: {n_act} acts and {n_res} resisted urges in {P1_DAYS} " \
                                    f"days (fewer than {P1_MIN_EVENTS})"
    did = {}
    for lag_h in P1_LAGS_H:
        j = idx + int(lag_h)
        ok = j < n_t
        change = pre[ok] - affect[pos[ok], j[ok]]
        did[lag_h] = _matched_did(change, is_act[ok], pos[ok], pre[ok], n_sub)
    # the other comparison: affect 1 h after acts against the patient's usual level over the follow-up
    in_window = (np.arange(n_t)[None, :] >= (t0[:, None] * 24)) & (np.arange(n_t)[None, :] < (t0[:, None] + P1_DAYS) * 24)
    usual = np.nanmean(np.where(in_window, affect, np.nan), axis=1)
    j1 = idx + 1
    ok1 = is_act & (j1 < n_t)
    above_usual = _mean(affect[pos[ok1], j1[ok1]] - usual[pos[ok1]])
    ema, ema_ci, n_prompts, n_after_act = _p1_ema(affect, t0, idx, pos, is_act)
    d1, ci1, matched = did[P1_MAIN_LAG_H]
    d2 = did[P1_SECOND_LAG_H][0]
    passed = bool(np.isfinite(ci1[0]) and ci1[0] > 0 and d2 > 0 and ema_ci[1] < 0)
    lags = "; ".join(f"{lag} h {did[lag][0]:+.4f} [{did[lag][1][0]:+.4f}, {did[lag][1][1]:+.4f}]" for lag in P1_LAGS_H)
    detail = (f"{n_sub} referred patients, {P1_DAYS} days after referral, {n_act} acts ({matched} matched) and {n_res} "
              f"resisted urges; matched DiD of the affect fall (act minus resisted urge): {lags}; 1 h after an act affect "
              f"is {above_usual:+.4f} against the patient's usual level; EMA ({P1_EMA_EVERY_H}-hourly prompts "
              f"{P1_EMA_HOURS[0]}-{P1_EMA_HOURS[1]} h, noise sd {P1_EMA_NOISE:g}, {n_prompts} prompts, {n_after_act} after "
              f"an act): NA coefficient act minus resisted urge {ema:+.4f} [{ema_ci[0]:+.4f}, {ema_ci[1]:+.4f}]")
    return passed, d1, detail, ci1


#: Lags (hours after the event's step) of P1's difference in differences. 0 is the record at the end of the
#: event's step (within the hour after it: the nearest point to 15 min that the 1-h referral life course has).
P1_LAGS_H = (0, 1, 2, 4)
P1_MAIN_LAG_H, P1_SECOND_LAG_H = 1, 2
#: Width of the affect bins the acts and resisted urges are matched in (with the patient).
P1_MATCH_WIDTH = 0.05
P1_MIN_EVENTS = 30
P1_PATIENTS, P1_DAYS = 96, 90
#: The EMA-resolution check: prompts every 2 h from 8 to 22 h (8 a day, as in common adolescent EMA
#: designs), all answered, negative affect with measurement noise of sd 0.05 on its 0-1 scale.
P1_EMA_EVERY_H, P1_EMA_HOURS, P1_EMA_NOISE, P1_EMA_SEED = 2, (8, 22), 0.05, 4141


_register(Target(
    "P1", "Negative reinforcement: after an act, aversive arousal falls faster and further than after a resisted urge",
    ("NockPrinstein2004", "Hepp2020"),
    "difference in differences of the affect fall from the event (act minus resisted urge, matched on patient and "
    "affect at the event) 1 h after it; outpatient-referred patients, 90 days after referral, dt 1 h",
    "a direction: DiD at 1 h > 0 with its 95 % interval above 0, DiD at 2 h > 0, and an EMA study's multilevel "
    "coefficient of an act against a resisted urge on negative affect < 0 with its interval below 0 (the cited "
    "studies give the direction, not a size on this scale)", _p1,
    key_parameters=("relief_base", "k_relief_opioid")))


# ----------------------------------------------------------------------------- P2
def _onset_days(acts: np.ndarray) -> np.ndarray:
    """Day index of each subject's first act (-1: none)."""
    has = acts.sum(axis=1) > 0
    return np.where(has, (acts > 0).argmax(axis=1), -1)


def _p2(off):
    """Relief per act, severity and frequency in the first and the fourth quarter after onset, persistent self-injurers."""
    ds, t0 = _referred(off, n=CLINICAL_PATIENTS, follow_days=0)
    if ds is None:
        return False, float("nan"), "nobody is referred"
    acts = ds["acts"].values
    first = _onset_days(acts)
    n_days = acts.shape[1]
    ok = (first >= 0) & (first + YEAR_DAYS <= n_days)
    early, late = (0, 91), (YEAR_DAYS - 91, YEAR_DAYS)

    def window(w):
        return np.array([acts[i, first[i] + w[0]:first[i] + w[1]].sum() if ok[i] else 0 for i in range(len(first))])

    a_early, a_late = window(early), window(late)
    persistent = ok & (a_early >= 3) & (a_late >= 3)
    ev = _events(ds, np.zeros(len(first), np.int64))
    ev = ev[(ev.kind == 1) & persistent[ev.pos.values] & (ev.distress > 0)]
    day = ev.time.values / 24.0 - first[ev.pos.values]
    e = ev[(day >= early[0]) & (day < early[1])]
    lt = ev[(day >= late[0]) & (day < late[1])]
    relief_ratio = _ratio(_mean(lt.relief / lt.distress), _mean(e.relief / e.distress))
    sev_ratio = _ratio(_mean(lt.severity), _mean(e.severity))
    freq_ratio = _ratio(_mean(a_late[persistent]), _mean(a_early[persistent]))
    n_p = int(persistent.sum())
    passed = n_p >= 20 and relief_ratio <= P2_MAX_RELIEF_RATIO and max(sev_ratio, freq_ratio) >= P2_MIN_ESCALATION
    detail = (f"{n_p} persistent of {len(first)} referred patients; relief fraction late/early {relief_ratio:.3f}, severity "
              f"late/early {sev_ratio:.3f}, frequency late/early {freq_ratio:.3f}")
    x_e, x_l = (e.relief / e.distress).to_numpy(), (lt.relief / lt.distress).to_numpy()
    ci = _boot(len(first), lambda w: _event_mean(x_l, lt.pos.to_numpy(), w) / _event_mean(x_e, e.pos.to_numpy(), w))
    return passed, relief_ratio, detail, ci


P2_MAX_RELIEF_RATIO, P2_MIN_ESCALATION = 0.9, 1.1


_register(Target(
    "P2", "Escalation: in persistent self-injurers relief per act falls while severity or frequency rises",
    ("CarenysAdan2025", "BresinGordon2013"),
    "relief fraction per act, fourth / first quarter after the first act, persistent self-injurers (>= 3 acts in both "
    "quarters) among outpatient-referred patients",
    f"<= {P2_MAX_RELIEF_RATIO:g}, with severity or frequency ratio >= {P2_MIN_ESCALATION:g}", _p2,
    key_parameters=("eta_tolerance", "tau_tolerance")))


# ----------------------------------------------------------------------------- P3
RELIEF_BLOCKED = dict(relief_base=0.0, k_relief_opioid=0.0, relief_positive=0.0)


def _p3(off):
    """(a) habit-triggered share and distress at act, first vs second year after onset; (b) persistence under
    blocked relief, high vs low habit, in the same patients."""
    ds, t0 = _referred(off, n=CLINICAL_PATIENTS, follow_days=0)
    if ds is None:
        return False, float("nan"), "nobody is referred"
    first = _onset_days(ds["acts"].values)
    ev = _events(ds, np.zeros(len(first), np.int64))
    acts = ev[ev.kind == 1]
    since = acts.time.values / 24.0 - first[acts.pos.values]
    y1 = acts[since < YEAR_DAYS]
    y2 = acts[(since >= YEAR_DAYS) & (since < 2 * YEAR_DAYS)]
    share1, share2 = _mean(y1.habitual), _mean(y2.habitual)
    dist1, dist2 = _mean(y1.distress), _mean(y2.distress)
    # (b): the referred patients' own traits from their referral age, with a learned history, relief blocked from
    # time 0, high vs low habit (the same persons in both groups). The learned relief value is the run's starting
    # expectation (relief_value_prior); M9's stress-induced reinstatement returns extinguished relief towards
    # relief_reinstatement x relief_value_prior, so the design rescales relief_reinstatement to keep that level the
    # calibrated population's (before 2026-12-03 it rose with the design's 0.7 to 0.71 x 0.7 = 0.50, three times
    # what any calibrated person reinstates to, and kept the blocked low-habit patients acting)
    from .population.referral import SCREEN_START_AGE

    ids, t0, drawn = _patients(off, CLINICAL_PATIENTS)
    reinstated = _param("relief_reinstatement") * _param("relief_value_prior")
    hist = dict(relief_value_prior=P3_LEARNED_RELIEF, relief_reinstatement=min(reinstated / P3_LEARNED_RELIEF, 1.0),
                **RELIEF_BLOCKED)
    groups = [dict(hist, habit_initial=0.6), dict(hist, habit_initial=0.05)]
    n = ids.size
    params = _stack_groups(drawn, groups, n)
    # the verdict reads the first P3_BLOCKED_DAYS; the run goes on as long again, for the detail only (the first
    # half of a longer run is the shorter run: the same streams)
    ds_b = _simulate(CLINICAL_SEED, params, subject_ids=np.tile(ids, 2), horizon_hours=2 * P3_BLOCKED_DAYS * 24.0,
                     start_age_years=np.tile(SCREEN_START_AGE + t0 / 365.25, 2), mechanisms_off=off,
                     record_every=24, records="counts", events=False)
    daily = ds_b["acts"].values.reshape(2, n, -1)
    a_b, a_next = daily[:, :, :P3_BLOCKED_DAYS].sum(axis=2), daily[:, :, P3_BLOCKED_DAYS:].sum(axis=2)
    persist = _ratio(a_b[0].mean(), a_b[1].mean())
    passed = len(y1) >= 50 and share2 - share1 >= P3_MIN_RISE and dist2 < dist1 and persist >= P3_MIN_PERSISTENCE
    detail = (f"{len(first)} referred patients; habit-triggered share of acts in the first year after onset {share1:.3f} -> "
              f"second year {share2:.3f}; distress at act {dist1:.3f} -> {dist2:.3f}; acts in 6 months with relief "
              f"blocked from referral age, high/low habit {persist:.2f} ({a_b[0].mean():.2f} vs {a_b[1].mean():.2f} a "
              f"patient; the next 6 months, not judged: {_ratio(a_next[0].mean(), a_next[1].mean()):.2f}, "
              f"{a_next[0].mean():.2f} vs {a_next[1].mean():.2f})")
    ci = _boot(len(first), lambda w: _event_mean(y2.habitual.to_numpy(), y2.pos.to_numpy(), w)
               - _event_mean(y1.habitual.to_numpy(), y1.pos.to_numpy(), w))
    return passed, share2 - share1, detail, ci


P3_MIN_RISE, P3_MIN_PERSISTENCE = 0.05, 2.0
P3_BLOCKED_DAYS = 182  # the blocked-relief window judged (6 months)
P3_LEARNED_RELIEF = 0.7  # the learned relief value the blocked-relief persons start with


_register(Target(
    "P3", "Goal-directed to habit: habit-triggered, low-distress acts rise with history; habitual persons persist when relief is blocked",
    ("Zhu2024", "CarenysAdan2025"),
    "rise of the habit-triggered share of acts from the first to the second year after onset (outpatient-referred "
    "patients)",
    f">= {P3_MIN_RISE:g}, distress at act falls, persistence ratio under blocked relief >= {P3_MIN_PERSISTENCE:g}", _p3,
    key_parameters=("eta_habit", "lam_cue")))


# ----------------------------------------------------------------------------- P4
def _p4(off):
    """Repetitive NSSI with enhanced vs typical reactive inhibition, with strong and with weak relief learning."""
    strong = dict(reward_sensitivity=2.0, relief_value_prior=0.5)
    weak = dict(reward_sensitivity=0.5, relief_value_prior=0.2)
    groups = [dict(strong, reactive_inhibition=1.0), dict(strong, reactive_inhibition=2.5),
              dict(weak, reactive_inhibition=1.0), dict(weak, reactive_inhibition=2.5), {}]
    run = _community(groups, off, seed=404)
    rep = (run.acts(COMMUNITY_END_AGE - 1.0) >= 5).mean(axis=1)  # >= 5 acts in the year before 16
    ratio = _ratio(rep[1], rep[0])
    ratio_weak = _ratio(rep[3], rep[2])
    passed = ratio >= P4_MIN_RATIO and rep[1] >= rep[4] and rep[1] > 0 and ratio_weak <= P4_MAX_RATIO_WEAK
    detail = (f"share with >= 5 acts in the year before {COMMUNITY_END_AGE:g}, enhanced vs typical inhibition: strong relief "
              f"learning {rep[1]:.3f} vs {rep[0]:.3f}; weak relief learning {rep[3]:.3f} vs {rep[2]:.3f} (ratio "
              f"{ratio_weak:.2f}); the community as drawn {rep[4]:.3f}")
    many = run.acts(COMMUNITY_END_AGE - 1.0) >= 5

    def stat(w):
        m = weighted_means(many, w)
        return m[:, 1] / m[:, 0]
    return passed, ratio, detail, _boot(many.shape[1], stat)


P4_MIN_RATIO, P4_MAX_RATIO_WEAK = 0.5, 0.75
_register(Target(
    "P4", "Inhibition paradox: enhanced reactive inhibition does not prevent repetitive NSSI when relief learning is strong",
    ("Mirabella2024", "Fikke2011"),
    f"share with >= 5 acts in the year before {COMMUNITY_END_AGE:g}, enhanced (2.5) / typical (1.0) reactive inhibition, "
    "strong relief learning (community persons)",
    f">= {P4_MIN_RATIO:g}, and the enhanced-inhibition share at least the community's as drawn; with weak relief "
    f"learning the ratio is <= {P4_MAX_RATIO_WEAK:g} (inhibition is not inert)", _p4,
    key_parameters=("w_act_inhibition", "alpha_relief")))


# ----------------------------------------------------------------------------- P5
def _p5(off):
    """Incidence at high vs low allostatic sensitivity, with and without the threshold path."""
    lo, hi = dict(allostatic_sensitivity=0.5), dict(allostatic_sensitivity=3.0)
    cut = dict(k_load_threshold=0.0)
    ever = _community([lo, hi, dict(lo, **cut), dict(hi, **cut)], off, seed=505).ever()
    inc = ever.mean(axis=1)
    rr = _ratio(inc[1], inc[0])
    rr_cut = _ratio(inc[3], inc[2])
    mediated = (rr - rr_cut) / (rr - 1.0) if rr > 1.0 else np.nan
    passed = rr >= P5_MIN_RR and np.isfinite(mediated) and mediated >= P5_MIN_MEDIATED
    detail = (f"lifetime NSSI by {COMMUNITY_END_AGE:g}, low/high sensitivity {inc[0]:.3f}/{inc[1]:.3f} ({_rr_text(ever, 1, 0)});"
              f" with the threshold path cut {inc[2]:.3f}/{inc[3]:.3f} ({_rr_text(ever, 3, 2)}); share of the excess risk through the "
              f"threshold {mediated:.2f}")
    return passed, rr, detail, _boot(ever.shape[1], lambda w: (m := weighted_means(ever, w))[:, 1] / m[:, 0])


P5_MIN_RR, P5_MIN_MEDIATED = 1.2, 0.25


_register(Target(
    "P5", "HPA diathesis: higher allostatic sensitivity raises NSSI incidence through a lower distress tolerance",
    ("Kaess2012", "Nock2009"),
    f"ratio of {INCIDENCE}, allostatic sensitivity 3.0 vs 0.5",
    f"RR >= {P5_MIN_RR:g} and >= {P5_MIN_MEDIATED:.0%} of the excess risk through the lowered threshold", _p5,
    key_parameters=("k_load_threshold", "k_load_affect")))


# ----------------------------------------------------------------------------- P6
def _p6(off):
    """Incidence with high vs low limbic reactivity, and low vs high prefrontal capacity."""
    groups = [dict(limbic_reactivity=1.0), dict(limbic_reactivity=1.9), dict(pfc_adult=1.3), dict(pfc_adult=0.6)]
    ever = _community(groups, off, seed=606).ever()
    inc = ever.mean(axis=1)
    rr_limbic, rr_pfc = _ratio(inc[1], inc[0]), _ratio(inc[3], inc[2])
    passed = min(rr_limbic, rr_pfc) >= P6_MIN_RR
    detail = (f"lifetime NSSI by {COMMUNITY_END_AGE:g}: limbic 1.0/1.9 {inc[0]:.3f}/{inc[1]:.3f} ({_rr_text(ever, 1, 0)}); "
              f"prefrontal 1.3/0.6 {inc[2]:.3f}/{inc[3]:.3f} ({_rr_text(ever, 3, 2)})")
    def stat(w):
        m = weighted_means(ever, w)
        return np.minimum(m[:, 1] / m[:, 0], m[:, 3] / m[:, 2])
    return passed, min(rr_limbic, rr_pfc), detail, _boot(ever.shape[1], stat)


P6_MIN_RR = 1.2


_register(Target(
    "P6", "Fronto-limbic: higher limbic reactivity and lower prefrontal capacity each raise risk",
    ("Auerbach2021", "Schmaal2020"),
    f"smaller of two ratios of {INCIDENCE}: limbic reactivity 1.9 vs 1.0, prefrontal capacity 0.6 vs 1.3",
    f"both RR >= {P6_MIN_RR:g}", _p6,
    key_parameters=("k_pfc_regulation", "k_puberty_limbic")))


# ----------------------------------------------------------------------------- P7
def _p7(off):
    """Acts under the reward/punishment asymmetry vs symmetric learning."""
    asym = dict(reward_sensitivity=1.5, punishment_learning=0.3)
    sym = dict(reward_sensitivity=1.0, punishment_learning=1.0)
    run = _community([asym, sym], off, seed=707)
    last = run.acts(COMMUNITY_END_AGE - 1.0)  # acts in the year before 16
    a_asym, a_sym = last[0].mean(), last[1].mean()
    ratio = _ratio(a_asym, a_sym)
    actors = run.acts()[0] > 0
    h_asym = _mean(run.final["harm"][0][actors]) if "harm" in run.final else float("nan")
    passed = ratio >= P7_MIN_RATIO
    detail = (f"mean acts in the year before {COMMUNITY_END_AGE:g}: asymmetric {a_asym:.2f}, symmetric {a_sym:.2f}; "
              f"harm expectancy at {COMMUNITY_END_AGE:g} among asymmetric actors {h_asym:.3f}")
    return passed, ratio, detail, _boot(last.shape[1], lambda w: (m := weighted_means(last, w))[:, 0] / m[:, 1])


P7_MIN_RATIO = 1.5


_register(Target(
    "P7", "Reward/punishment asymmetry sustains the behaviour despite harm",
    ("Poon2019", "Nicolaou2025"),
    f"mean acts in the year before {COMMUNITY_END_AGE:g}, heightened reward (1.5) and blunted punishment learning (0.3) / "
    "symmetric (1.0, 1.0) (community persons)",
    f">= {P7_MIN_RATIO:g}", _p7,
    key_parameters=("alpha_relief", "alpha_harm")))


# ----------------------------------------------------------------------------- P10
def _clpm_path(y: np.ndarray, x: np.ndarray) -> tuple[float, tuple[float, float]]:
    """The cross-lagged path x[t] -> y[t+1] of a classic cross-lagged panel model, y[t+1] ~ y[t] + x[t]
    pooled over the waves (persons x waves arrays, standardised), by OLS with standard errors clustered by
    person (statsmodels): (coefficient, its 95 % interval)."""
    import statsmodels.api as sm

    n, k = y.shape
    if not (np.std(x) > 0 and np.std(y) > 0):  # a constant measure (its mechanism off): no path to estimate
        return float("nan"), (float("nan"), float("nan"))
    yy = y[:, 1:].ravel()
    X = np.column_stack([np.ones(yy.size), y[:, :-1].ravel(), x[:, :-1].ravel()]).astype(np.float64)
    fit = sm.OLS(yy.astype(np.float64), X).fit(cov_type="cluster", cov_kwds={"groups": np.repeat(np.arange(n), k - 1)})
    lo, hi = np.asarray(fit.conf_int())[2]
    return float(fit.params[2]), (float(lo), float(hi))


def _p10_panel(off) -> dict[str, np.ndarray]:
    """The panel of P10: natural community persons measured in annual waves (:data:`P10_WAVES`): NSSI as
    log(1 + acts in the 52 weeks before the wave), rumination and distress (affect) as the mean of the 4
    weekly records before it; each standardised over persons and waves. Arrays (persons, waves)."""
    run = _community([{}], off, seed=1010, n=P10_PANEL_PERSONS, states=("rumination", "affect"),
                     end_age=float(P10_WAVES[-1]))
    acts, rum, aff = (run.counts[v][0].astype(np.float64) for v in ("acts", "rumination", "affect"))
    cols = {"nssi": [], "rumination": [], "distress": []}
    for w in P10_WAVES:
        j = min(int(np.searchsorted(run.age, w - 1e-9)), run.age.size - 1)  # the block ending at the wave
        cols["nssi"].append(np.log1p(acts[:, max(j - 51, 0):j + 1].sum(axis=1)))
        cols["rumination"].append(rum[:, j - 3:j + 1].mean(axis=1))
        cols["distress"].append(aff[:, j - 3:j + 1].mean(axis=1))
    out = {}
    for k, v in cols.items():
        m = np.stack(v, axis=1)
        sd = m.std()
        out[k] = (m - m.mean()) / sd if sd > 0 else m - m.mean()
    return out


def _p10(off):
    """Rumination trait raises NSSI; rumination and distress and NSSI predict each other over annual waves."""
    high = dict(rumination_trait=0.9)
    ever = _community([dict(rumination_trait=0.1), high], off, seed=1010).ever()
    inc = ever.mean(axis=1)
    rr = _ratio(inc[1], inc[0])
    panel = _p10_panel(off)
    paths = {"rumination->NSSI": _clpm_path(panel["nssi"], panel["rumination"]),
             "NSSI->rumination": _clpm_path(panel["rumination"], panel["nssi"]),
             "distress->NSSI": _clpm_path(panel["nssi"], panel["distress"]),
             "NSSI->distress": _clpm_path(panel["distress"], panel["nssi"])}
    rum = ("rumination->NSSI", "NSSI->rumination")
    smaller = min(rum, key=lambda k: paths[k][0])
    passed = bool(rr >= P10_MIN_RR and all(ci[0] > 0 for _, ci in paths.values()))
    detail = (f"lifetime NSSI by {COMMUNITY_END_AGE:g}, rumination 0.1/0.9 {inc[0]:.3f}/{inc[1]:.3f} ({_rr_text(ever, 1, 0)}); "
              f"cross-lagged panel ({P10_PANEL_PERSONS} community persons, waves at {', '.join(map(str, P10_WAVES))}; "
              "standardised, SE clustered by person): "
              + "; ".join(f"{k} {b:+.3f} [{lo:+.3f}, {hi:+.3f}]" for k, (b, (lo, hi)) in paths.items()))
    return passed, paths[smaller][0], detail, paths[smaller][1]


P10_MIN_RR = 1.2
#: The panel's waves (ages; annual, like the cited panel study's) and its persons (natural community).
P10_WAVES, P10_PANEL_PERSONS = (13, 14, 15, 16, 17), 4096


_register(Target(
    "P10", "Rumination and distress reinforce each other and NSSI",
    ("Buelens2019", "Cheung2024"),
    "the smaller of the two cross-lagged paths between rumination and NSSI (standardised) in a classic cross-lagged "
    f"panel of community persons in annual waves at {P10_WAVES[0]}-{P10_WAVES[-1]}, as Buelens2019 analysed theirs; "
    f"with the ratio of {INCIDENCE}, rumination trait 0.9 vs 0.1",
    "a direction: all four cross-lagged paths (rumination and distress to later NSSI, NSSI to later rumination and "
    f"distress) > 0 with their 95 % intervals above 0, and RR >= {P10_MIN_RR:g} (the cited studies give directions)",
    _p10, key_parameters=("k_rumination_gain", "k_rumination_affect")))


# ----------------------------------------------------------------------------- P14
IDEATION_CUTOFF = 0.5
#: Community persons of P14 (one group): its conditional shares rest on those who self-injured in the year before
#: 16 (about 12 %), so 4,096 persons give about 500 of them, 250 in each prefrontal half. With N_COMMUNITY (512:
#: about 30 a half) the prefrontal clause flipped with the seed (2026-12-04: 0.211 vs 0.231 on the shipped seed,
#: 0.36-0.43 vs 0.15-0.20 on three others).
P14_PERSONS = 4096


def _p14(off):
    """Co-occurrence of NSSI and suicidal ideation in community persons (the year before 16) and in referred
    patients (the year before referral)."""
    run = _community([{}], off, seed=1414, n=P14_PERSONS, record_every=24, states=("ideation",))
    w = run.window(COMMUNITY_END_AGE - 1.0)
    nssi = run.counts["acts"][0][:, w].sum(axis=1) > 0
    si = run.counts["ideation"][0][:, w].max(axis=1) > IDEATION_CUTOFF
    odds_ratio_, or_lo, or_hi = odds_ratio(nssi, si, correction="always")
    pfc = np.asarray(run.drawn["pfc_adult"])
    low_pfc = pfc < np.median(pfc)
    p_low = _mean(si[nssi & low_pfc])
    p_high = _mean(si[nssi & ~low_pfc])
    p_comm = _mean(si[nssi])
    ds, t0 = _referred(off, n=CLINICAL_PATIENTS, follow_days=0)
    if ds is None:
        p_clin, n_clin = float("nan"), 0
    else:
        acts, idea = ds["acts"].values, ds["ideation"].values
        c_nssi = np.array([acts[i, max(t - YEAR_DAYS, 0):t].sum() > 0 for i, t in enumerate(t0)])
        c_si = np.array([idea[i, max(t - YEAR_DAYS, 0):t].max() > IDEATION_CUTOFF for i, t in enumerate(t0)])
        p_clin, n_clin = _mean(c_si[c_nssi]), int(c_nssi.sum())
    passed = odds_ratio_ >= P14_MIN_OR and p_low > p_high and p_clin > p_comm
    detail = (f"P(ideation | NSSI) in the year before {COMMUNITY_END_AGE:g}: low vs high prefrontal capacity {p_low:.3f} vs "
              f"{p_high:.3f}; community {p_comm:.3f} vs referred patients (the year before referral, {n_clin}) "
              f"{p_clin:.3f}; NSSI share {nssi.mean():.3f}, ideation share {si.mean():.3f}")
    return passed, odds_ratio_, detail, (or_lo, or_hi)


P14_MIN_OR = 2.0


_register(Target(
    "P14", "NSSI and suicidal ideation co-occur, more so with low prefrontal activity and in clinical samples",
    ("Ye2022", "Li2025"),
    f"odds ratio of ideation (peak > {IDEATION_CUTOFF}) given any act in the year before {COMMUNITY_END_AGE:g} "
    "(community persons)",
    f"OR >= {P14_MIN_OR:g}; higher with low prefrontal capacity and in outpatient-referred patients", _p14,
    key_parameters=("w_ideation_pfc", "w_ideation_history")))

# ----------------------------------------------------------------------------- P8
def _p8(off):
    """Distal diatheses (maltreatment, parental control) raise risk and depressive mood; peer victimisation triggers."""
    low = dict(maltreatment=0.0, parental_control=0.1, peer_victimisation=0.05)
    groups = [low, dict(low, maltreatment=0.6), dict(low, parental_control=0.7), dict(low, peer_victimisation=0.6)]
    run = _community(groups, off, seed=808, states=("mood",))
    ever = run.ever()
    inc = ever.mean(axis=1)
    rr = [_ratio(inc[g], inc[0]) for g in (1, 2, 3)]
    w = run.window()
    mood = [_mean(run.counts["mood"][g][:, w]) for g in range(4)]
    # proximal trigger: in the peer-victimised group, a day with a stressful event vs a day without
    day = _community([groups[3]], off, seed=808, record_every=24)
    wd = day.window(COMMUNITY_END_AGE - 4.0)
    acts, stress_day = day.counts["acts"][0][:, wd] > 0, day.counts["stressors"][0][:, wd] > 0
    p_s, p_n = _mean(acts[stress_day]), _mean(acts[~stress_day])
    trigger = _ratio(p_s, p_n)
    band = _p8_band(off)
    in_band = all(lo <= v <= hi for v, _, _, lo, hi in band.values())
    passed = (min(rr) >= P8_MIN_RR and mood[1] > mood[0] and mood[2] > mood[0] and trigger >= P8_MIN_TRIGGER
              and in_band)
    bands = "; ".join(f"{k} {v:.2f} [{a:.2f}, {b:.2f}] (published [{lo:g}, {hi:g}])" for k, (v, a, b, lo, hi) in band.items())
    detail = (f"survey of the natural community (calibration measures, {P8_BAND_SUBJECTS} persons, 12-18): {bands}; "
              f"lifetime NSSI by {COMMUNITY_END_AGE:g}: reference {inc[0]:.3f}, maltreatment 0.6 {inc[1]:.3f} "
              f"({_rr_text(ever, 1, 0)}), parental control 0.7 {inc[2]:.3f} ({_rr_text(ever, 2, 0)}), peer victimisation "
              f"0.6 {inc[3]:.3f} ({_rr_text(ever, 3, 0)}); mean depressive mood {mood[0]:.3f} / {mood[1]:.3f} / {mood[2]:.3f} / {mood[3]:.3f}; "
              f"peer-victimised, ages 12-16: act on a day with a stressful event {p_s:.4f} vs without {p_n:.4f} (ratio "
              f"{trigger:.2f})")
    return passed, min(rr), detail, _boot(ever.shape[1], lambda w: ((m := weighted_means(ever, w))[:, 1:] / m[:, :1]).min(axis=1))


P8_MIN_RR = 1.3
P8_MIN_TRIGGER = 1.5
#: The band clause's survey: persons of the natural community (the spec's own exposures), and the
#: calibration's measures whose published 95 % intervals are the band (data/calibration_targets.toml).
P8_BAND_SUBJECTS = 4096
P8_BAND_TARGETS = ("maltreatment_or", "bullying_or")


def _p8_band(off) -> dict[str, tuple[float, float, float, float, float]]:
    """The odds ratios of lifetime NSSI for maltreatment and bullying exposure in a survey of the natural
    community at 12-18, measured as the calibration measures them (``population.survey``), beside the
    published intervals: ``{target id: (OR, its low, its high, published low, published high)}``."""
    from .population.calibration import TARGETS as CALIBRATION_TARGETS, load_targets, published
    from .population.lifecourse import LifeCourse, simulate_chunk
    from .population.survey import simulated_measures

    spec = _population_spec()
    course = LifeCourse(start_age=COMMUNITY_START_AGE, end_age=18.0)
    table = pd.concat([simulate_chunk(spec, np.arange(a, min(a + SCREEN_BATCH, P8_BAND_SUBJECTS)), _seed(808), course,
                                      with_events=False, mechanisms_off=off)
                       for a in range(0, P8_BAND_SUBJECTS, SCREEN_BATCH)], ignore_index=True)
    m = simulated_measures(table)
    entries = load_targets(required=P8_BAND_TARGETS)
    out = {}
    for t in CALIBRATION_TARGETS:
        if t.id in P8_BAND_TARGETS:
            _, lo, hi = published(t, entries[t.id])
            out[t.id] = (m[t.measure], m[t.measure + "_low"], m[t.measure + "_high"], lo, hi)
    return out


_register(Target(
    "P8", "Diathesis-stress: maltreatment and parental control raise risk through emotion dysregulation and depression; "
          "peer victimisation acts as a proximal trigger",
    ("Liu2018", "Guo2022", "Hu2023", "Li2024"),
    f"smallest of three ratios of {INCIDENCE} vs a low-exposure reference: maltreatment 0.6, parental control 0.7, "
    "peer victimisation 0.6; with mean depressive mood and a day-level trigger ratio",
    f"all RR >= {P8_MIN_RR:g}; mean depressive mood higher under maltreatment and under parental control; in the "
    f"peer-victimised group P(act | day with a stressful event) / P(act | day without) >= {P8_MIN_TRIGGER:g}; and a "
    "two-sided band: in a survey of the natural community the odds ratios of lifetime NSSI for maltreatment and for "
    "bullying victimisation (the calibration's measures) inside their published 95 % intervals (Liu2018, Huang2022SciRep)",
    _p8,
    key_parameters=("w_stress_maltreatment", "w_stress_peer")))


# ----------------------------------------------------------------------------- P9
def _p9(off):
    """Resilience, regulatory self-efficacy and hope each lower incidence and buffer the risk they moderate."""
    lo, hi = 0.1, 0.9
    base = dict(alexithymia=0.6)
    groups = [dict(base, resilience=lo), dict(base, resilience=hi),
              dict(base, hope=lo), dict(base, hope=hi),
              dict(base, regulatory_self_efficacy=lo, parental_control=0.1),
              dict(base, regulatory_self_efficacy=lo, parental_control=0.8),
              dict(base, regulatory_self_efficacy=hi, parental_control=0.1),
              dict(base, regulatory_self_efficacy=hi, parental_control=0.8)]
    ever = _community(groups, off, seed=909).ever()
    inc = ever.mean(axis=1)
    rr_res, rr_hope, rr_eff = _ratio(inc[0], inc[1]), _ratio(inc[2], inc[3]), _ratio(inc[5], inc[7])
    # buffering: the excess risk of high parental control is smaller with high self-efficacy
    excess_lo, excess_hi = inc[5] - inc[4], inc[7] - inc[6]
    stat = min(rr_res, rr_hope, rr_eff)
    passed = stat >= P9_MIN_RR and excess_hi < excess_lo

    def boot_stat(w):
        m = weighted_means(ever, w)
        return np.minimum.reduce([m[:, 0] / m[:, 1], m[:, 2] / m[:, 3], m[:, 5] / m[:, 7]])
    detail = (f"lifetime NSSI by {COMMUNITY_END_AGE:g}, low/high: resilience {inc[0]:.3f}/{inc[1]:.3f} "
              f"({_rr_text(ever, 0, 1)}), hope {inc[2]:.3f}/{inc[3]:.3f} ({_rr_text(ever, 2, 3)}), self-efficacy at "
              f"parental control 0.8 {inc[5]:.3f}/{inc[7]:.3f} ({_rr_text(ever, 5, 7)}); excess risk of parental control 0.8 vs 0.1: {excess_lo:+.3f} at low vs "
              f"{excess_hi:+.3f} at high self-efficacy")
    return passed, stat, detail, _boot(ever.shape[1], boot_stat)


P9_MIN_RR = 1.2


_register(Target(
    "P9", "Protective buffering by resilience, regulatory self-efficacy and hope",
    ("Guo2022", "Jiang2018", "Zhang2023"),
    f"smallest of three ratios of {INCIDENCE}, protective factor 0.1 vs 0.9 (alexithymia 0.6; self-efficacy at parental "
    "control 0.8), with the parental-control x self-efficacy interaction",
    f"all RR >= {P9_MIN_RR:g}, and the excess risk of parental control 0.8 vs 0.1 smaller at high than at low "
    "self-efficacy", _p9,
    key_parameters=("k_resilience_threshold", "k_self_efficacy_control")))


# ----------------------------------------------------------------------------- P11
P11_START_AGE, P11_CLASSIFY_AGE, P11_END_AGE = 12, 15, 18
#: Subjects of the P11 design: enough for at least 20 addictive profiles at 15 (about 1.5% of this design).
P11_SUBJECTS = 2048


def _p11_batch(off, rng, batch: int):
    """One batch of :data:`P11_SUBJECTS` at-risk persons, 12 -> 18: (sporadic at 15, addictive profile at 15,
    an act in the year before 18), each per person."""
    n = P11_SUBJECTS
    spread = {
        "limbic_reactivity": rng.uniform(1.0, 2.0, n), "pfc_adult": rng.uniform(0.6, 1.3, n),
        "rumination_trait": rng.uniform(0.2, 0.8, n), "maltreatment": rng.uniform(0.0, 0.5, n),
        "peer_victimisation": rng.uniform(0.0, 0.5, n), "parental_control": rng.uniform(0.0, 0.6, n),
        "reward_sensitivity": rng.uniform(0.6, 1.6, n), "alexithymia": rng.uniform(0.1, 0.6, n),
    }
    days = int((P11_END_AGE - P11_START_AGE) * 365)
    ds = _simulate(1111, spread, subject_ids=np.arange(batch * n, (batch + 1) * n), horizon_hours=days * 24.0,
                   dt=1.0, record_every=24, mechanisms_off=off, event_capacity=2048,
                   start_age_years=float(P11_START_AGE))
    k = (P11_CLASSIFY_AGE - P11_START_AGE) * 365
    end_k = float(ds["time"].values[k - 1])
    head = ds.isel(time=slice(0, k), event=np.asarray(ds["event_time"].values) <= end_k + 1e-9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # event overflow: profiles become lower bounds
        at15 = measure(head)
    last_year = ds["acts"].values[:, -365:].sum(axis=1) > 0
    sporadic = (at15["n_acts_12m"].to_numpy() >= 1) & ~at15["five_plus_12m"].to_numpy()
    return sporadic, at15["addictive"].to_numpy(), last_year


def _p11(off):
    """Life course 12 -> 18: who stops by 18 among sporadic vs addictive-profile self-injurers at 15.

    Fixed group sizes: batches of persons are simulated until there are :data:`P11_SPORADIC` sporadic and
    :data:`P11_ADDICTIVE` addictive-profile self-injurers at 15 (oversampling the rarer addictive profile),
    at most :data:`P11_MAX_BATCHES`; each group is its first persons in subject order."""
    rng = np.random.default_rng(_seed(1111))
    spor, addi = [], []
    batches = 0
    while batches < P11_MAX_BATCHES and (sum(map(len, spor)) < P11_SPORADIC or sum(map(len, addi)) < P11_ADDICTIVE):
        sporadic, addictive, last_year = _p11_batch(off, rng, batches)
        spor.append(last_year[sporadic])
        addi.append(last_year[addictive])
        batches += 1
    s_last, a_last = np.concatenate(spor)[:P11_SPORADIC], np.concatenate(addi)[:P11_ADDICTIVE]
    enough = s_last.size == P11_SPORADIC and a_last.size == P11_ADDICTIVE
    stop_sporadic = _mean(~s_last)
    persist_addictive = _mean(a_last)
    passed = bool(enough and stop_sporadic >= P11_MIN_STOP_SPORADIC and persist_addictive >= P11_MIN_PERSIST_ADDICTIVE)
    detail = (f"{batches} batch(es) of {P11_SUBJECTS} persons; at {P11_CLASSIFY_AGE}: {s_last.size} sporadic (1-4 acts in "
              f"the past year; {P11_SPORADIC} asked), {a_last.size} addictive profile ({P11_ADDICTIVE} asked); no act in "
              f"the year before {P11_END_AGE}: sporadic {stop_sporadic:.3f}, addictive {1 - persist_addictive:.3f}; "
              f"maturation tau {_param('tau_maturation') / HOURS_PER_YEAR:.1f} years")
    return passed, stop_sporadic, detail, wilson_interval(float((~s_last).sum()), float(s_last.size))


#: P11's fixed group sizes, and the most batches of P11_SUBJECTS persons simulated to fill them.
P11_SPORADIC, P11_ADDICTIVE, P11_MAX_BATCHES = 300, 60, 8
P11_MIN_STOP_SPORADIC = 0.5
P11_MIN_PERSIST_ADDICTIVE = 0.5


_register(Target(
    "P11", "Maturing out: most sporadic self-injurers stop by late adolescence; addictive-profile ones persist",
    ("ChenZhuo2026",),
    f"life course {P11_START_AGE} to {P11_END_AGE} (heterogeneous at-risk design): share with no act in the year "
    f"before {P11_END_AGE} among sporadic self-injurers at {P11_CLASSIFY_AGE} (fixed groups: {P11_SPORADIC} sporadic "
    f"and {P11_ADDICTIVE} addictive-profile persons, batches simulated until both are filled)",
    f">= {P11_MIN_STOP_SPORADIC:.0%} of sporadic stop, and >= {P11_MIN_PERSIST_ADDICTIVE:.0%} of addictive-profile "
    "ones still act in that year", _p11,
    key_parameters=("eta_habit", "tau_habit")))



# ----------------------------------------------------------------------------- virtual trials (P12, P13)
#: The trial design shared by P12 and P13 (nssisim.trials): adolescents referred from the community
#: life course by the outpatient rule and eligible as in McCauley2018 (>= 3 lifetime acts, recent
#: ideation or attempt), randomised on their referral day, 6 months of treatment. Every eligible
#: patient is simulated in every arm (common random numbers), so contrasts compare the same patients.
TRIAL_TARGET_DESIGN: dict = {
    # referred adolescents of the community life course (outpatient referral rule, MODEL.md "Clinical samples
    # are selected, not invented"), eligible as in McCauley2018, randomised at referral
    "name": "targets", "seed": 1212, "source": "referral", "population": "community",
    "referral": {"rule": "outpatient", "start_age_years": 10.0},
    "n_patients": 2, "screen_batch": 1024, "max_screen": 20000, "baseline_days": 90,
    "eligibility": {"age_min": 12, "age_max": 18, "all": [{"measure": "acts", "min": 3}],
                    "any": [{"measure": "ideation", "window_days": 90, "above": 0.5},
                            {"measure": "attempts", "window_days": 90, "min": 1}]},
    "treatment": {"length_days": 182},
    "windows": [{"name": "months_0_3", "start_day": 0, "end_day": 91},
                {"name": "months_3_6", "start_day": 91, "end_day": 182}],
}
TRIAL_TARGET_PATIENTS = 192  # eligible patients, each simulated in every arm


def _trial(arms: dict, control: str, off: tuple[str, ...], *, strata: dict | None = None, eligibility: dict | None = None,
           windows: list | None = None):
    """Simulate the eligible patients of :data:`TRIAL_TARGET_DESIGN` in every arm; per stratum
    (arm names, outputs of :func:`nssisim.trials.simulate_arms`). The patients are drawn from
    :func:`_population_spec` (the calibrated default with the current base over it), beneath the
    strata and the interventions. ``strata``,
    ``eligibility``, ``windows``: replace the design's (``windows`` for analyses of a target, as
    ``tools/p13_ssri_components.py``)."""
    data = dict(TRIAL_TARGET_DESIGN, arms=arms, control=control, seed=_seed(TRIAL_TARGET_DESIGN["seed"]))
    if strata:
        data["strata"] = strata
    if eligibility:
        data["eligibility"] = eligibility
    if windows:
        data["windows"] = windows
    d = parse_design(data, "targets.TRIAL_TARGET_DESIGN").on_population(_population_spec(data["population"]))
    out = {}
    for name, over in d.strata.items():
        ids, t0, _ = screen_patients(d, over, TRIAL_TARGET_PATIENTS, mechanisms_off=off)
        out[name] = simulate_arms(d, over, ids, mechanisms_off=off, t0_days=t0)
    return d.arm_names, out


def _no_trial(err: DesignError) -> tuple[bool, float, str]:
    """The result of a trial target whose design finds too few eligible patients (a mechanism switched
    off, or a base on which nobody qualifies): it does not hold and has no statistic."""
    return False, float("nan"), f"no trial: {err}"


def _nssi_6m(out, a: int) -> np.ndarray:
    """NSSI acts per month over the 6 months of treatment, per patient of arm ``a``."""
    return out["nssi_per_month"][a].mean(axis=1)


def _p12(off):
    """DBT-A vs supportive therapy; skills only vs individual therapy only; neural proxies under DBT."""
    arms = {"dbt_a": {"intervention": "dbt_a"}, "supportive": {"intervention": "supportive"},
            "skills_only": {"intervention": "dbt", "components": list(SKILLS_COMPONENTS)},
            "individual_only": {"intervention": "dbt", "components": ["individual"]}}
    try:
        names, res = _trial(arms, "supportive", off)
    except DesignError as err:
        return _no_trial(err)
    out = res["all"]
    i = {n: k for k, n in enumerate(names)}
    g, lo, hi = hedges_g(_nssi_6m(out, i["dbt_a"]), _nssi_6m(out, i["supportive"]))
    skills = _ratio(_nssi_6m(out, i["skills_only"]).mean(), _nssi_6m(out, i["individual_only"]).mean())
    # the neural clause: the stress probe's change from randomisation to 6 months (trials.run, core.probe),
    # an output of each patient's state and the parameters in force, against supportive therapy's
    limbic = float(out["limbic_change"][i["dbt_a"], :, -1].mean())
    limbic_sup = float(out["limbic_change"][i["supportive"], :, -1].mean())
    reg = float(out["regulation_change"][i["dbt_a"], :, -1].mean())
    reg_sup = float(out["regulation_change"][i["supportive"], :, -1].mean())
    passed = (hi < 0 and g <= P12_MAX_G and skills <= P12_MAX_SKILLS_RATIO and limbic < min(limbic_sup, 0.0)
              and reg > max(reg_sup, 0.0))
    means = {n: _nssi_6m(out, k).mean() for n, k in i.items()}
    detail = (f"{out['nssi_per_month'].shape[1]} eligible patients in every arm; NSSI/month over 6 months: "
              + ", ".join(f"{n} {m:.2f}" for n, m in means.items())
              + f"; g DBT-A vs supportive {g:.3f} [{lo:.3f}, {hi:.3f}]; skills-only / individual-only {skills:.3f}; "
              f"stress probe, change from randomisation to 6 months under DBT-A: limbic reactivity {limbic:+.4f} "
              f"(supportive {limbic_sup:+.4f}), prefrontal regulation {reg:+.4f}/h (supportive {reg_sup:+.4f}/h)")
    return passed, g, detail, (lo, hi)


#: The skills-training components of DBT (Linehan2015's skills arm: skills group and coaching).
SKILLS_COMPONENTS = ("skills_mindfulness", "skills_distress_tolerance", "skills_emotion_regulation",
                     "skills_interpersonal", "coaching")
P12_MAX_G, P12_MAX_SKILLS_RATIO = -0.2, 0.9


_register(Target(
    "P12", "DBT beats supportive therapy on NSSI; skills training is the essential component; limbic reactivity falls "
    "and prefrontal regulation rises under DBT",
    ("McCauley2018", "Linehan2015", "Goodman2014"),
    "Hedges' g of NSSI acts/month over 6 months of treatment, DBT-A vs supportive therapy (eligible high-risk "
    "adolescents referred from the community life course by the outpatient rule, every patient in every arm)",
    f"g <= {P12_MAX_G:g} with its 95% interval below 0; NSSI/month skills-only / individual-only <= "
    f"{P12_MAX_SKILLS_RATIO:g}; in a standard stress probe before and after 6 months (core.probe: the rise of affect "
    "after a fixed stressor, the return from an affect challenge) limbic reactivity falls and prefrontal regulation "
    "rises under DBT-A, each more than under supportive therapy", _p12,
    key_parameters=("skill_relief", "w_act_skill")))


#: P13 profiles (illustrative overrides): relief-driven (strong opioid relief, little habit
#: formation) and habit-driven (fast habit formation, frequent cues, habit bypassing deliberation).
RELIEF_DRIVEN = {"eta_habit": 0.01, "k_relief_opioid": 1.6}
HABIT_DRIVEN = {"eta_habit": 0.15, "lam_cue": 0.1, "habit_bypass": 0.9}


def _p13(off):
    """Drugs vs placebo (and DBT-A for scale); SSRI timing; naltrexone by profile."""
    arms = {"ssri": {"intervention": "ssri"}, "naltrexone": {"intervention": "naltrexone"},
            "antipsychotic": {"intervention": "antipsychotic"}, "dbt_a": {"intervention": "dbt_a"},
            "placebo": {"intervention": "placebo"}}
    try:
        names, res = _trial(arms, "placebo", off)
    except DesignError as err:
        return _no_trial(err)
    out = res["all"]
    i = {n: k for k, n in enumerate(names)}
    pl = _nssi_6m(out, i["placebo"])
    g = {n: hedges_g(_nssi_6m(out, i[n]), pl)[0] for n in ("ssri", "naltrexone", "antipsychotic", "dbt_a")}
    best_drug = min(g["ssri"], g["naltrexone"], g["antipsychotic"])
    # both effects are negative when they help: the share is the drug's reduction as a fraction of DBT-A's
    share = best_drug / g["dbt_a"] if g["dbt_a"] < 0 else np.inf
    early = _ratio(out["nssi_per_month"][i["ssri"], :, 0].mean(), out["nssi_per_month"][i["placebo"], :, 0].mean())
    late = _ratio(out["nssi_per_month"][i["ssri"], :, 1].mean(), out["nssi_per_month"][i["placebo"], :, 1].mean())
    # naltrexone by profile (>= 3 lifetime acts; no ideation criterion, so both profiles recruit)
    elig = {"age_min": 12, "age_max": 18, "all": [{"measure": "acts", "min": 3},
                                                   {"measure": "acts", "window_days": 90, "min": 1}]}
    try:
        _, res2 = _trial({"naltrexone": {"intervention": "naltrexone"}, "placebo": {"intervention": "placebo"}}, "placebo",
                         off, strata={"relief_driven": RELIEF_DRIVEN, "habit_driven": HABIT_DRIVEN}, eligibility=elig)
    except DesignError as err:
        return _no_trial(err)
    red = {k: 1.0 - _ratio(_nssi_6m(o, 0).mean(), _nssi_6m(o, 1).mean()) for k, o in res2.items()}
    passed = (share <= P13_MAX_DRUG_SHARE and early >= P13_MIN_SSRI_EARLY and late <= P13_MAX_SSRI_LATE
              and red["relief_driven"] - red["habit_driven"] >= P13_MIN_NALTREXONE_GAP)
    detail = ("Hedges' g of NSSI/month over 6 months vs placebo: " + ", ".join(f"{n} {v:.3f}" for n, v in g.items())
              + f"; best drug / DBT-A {share:.2f}; SSRI/placebo NSSI rate months 0-3 {early:.3f}, months 3-6 {late:.3f}; "
              f"naltrexone reduction relief-driven {red['relief_driven']:.3f} vs habit-driven {red['habit_driven']:.3f}")
    drugs = [_nssi_6m(out, i[n]) for n in ("ssri", "naltrexone", "antipsychotic")]
    dbt = _nssi_6m(out, i["dbt_a"])

    def boot_share(w):
        best = np.minimum.reduce([weighted_hedges_g(x, pl, w) for x in drugs])
        g_dbt = weighted_hedges_g(dbt, pl, w)
        return np.where(g_dbt < 0, best / g_dbt, np.inf)
    return passed, share, detail, _boot(len(pl), boot_share)


P13_MAX_DRUG_SHARE = 0.5
P13_MIN_SSRI_EARLY, P13_MAX_SSRI_LATE = 1.05, 1.0
P13_MIN_NALTREXONE_GAP = 0.05


_register(Target(
    "P13", "No drug reliably reduces core NSSI; SSRIs raise risk early then lower it; naltrexone helps relief-driven "
    "more than habit-driven acts",
    ("Witt2021", "RogalskiTomczak2025", "Chen2025"),
    "largest drug effect on NSSI acts/month over 6 months (Hedges' g vs placebo) as a share of DBT-A's (same patients)",
    f"<= {P13_MAX_DRUG_SHARE:g}; SSRI/placebo NSSI rate >= {P13_MIN_SSRI_EARLY:g} in months 0-3 and <= "
    f"{P13_MAX_SSRI_LATE:g} in months 3-6; naltrexone's relative reduction larger by >= {P13_MIN_NALTREXONE_GAP:g} in "
    "relief-driven than in habit-driven persons", _p13,
    key_parameters=("k_relief_opioid", "eta_habit")))


#: How each target's 95 % interval is computed (sampling noise of its experiment, with its seeds; the
#: stability check adds new seeds and moved key parameters). Bootstraps: percentile, BOOT_REPLICATES
#: resamples of the persons (community designs: every group's outcome of a resampled person together,
#: the groups being the same persons), or of the patients (clinical designs: their events with them).
INTERVALS = {
    "P1": "bootstrap over patients (their matched cells with them)",
    "P2": "bootstrap over patients (their events with them)",
    "P3": "bootstrap over patients (their events with them)",
    "P4": "bootstrap over persons (paired groups)",
    "P5": "bootstrap over persons (paired groups)",
    "P6": "bootstrap over persons (paired groups), of the smaller ratio",
    "P7": "bootstrap over persons (paired groups)",
    "P8": "bootstrap over persons (paired groups), of the smallest ratio",
    "P9": "bootstrap over persons (paired groups), of the smallest ratio",
    "P10": "cluster-robust (by person) interval of the smaller rumination-NSSI path",
    "P11": "Wilson interval of the share",
    "P12": "Hedges' g's normal interval",
    "P13": "bootstrap over patients (every patient in every arm)",
    "P14": "Woolf interval of the odds ratio (0.5 added to every cell)",
}

#: What each bar's size rests on: "band" where the calibration file gives a published interval the
#: statistic must lie in (two-sided), "direction" where the cited evidence gives only a direction, with why
#: the bar's size is what it is. Shown by ``nssisim targets`` (kind) and in docs/model.md section 5.
BAR_SIZES = {
    "P1": "direction: the cited EMA studies report that negative affect falls after acts, not a size on this model's "
          "0-1 affect scale; the bar asks for an interval above 0",
    "P2": "direction: the review says relief falls while frequency or severity rises; 10 % is this model's reading of "
          "a change, not a published size (the calibration file cautions against strong escalation, Franklin2013)",
    "P3": "direction: the habit share rises and habitual persons persist under blocked relief; 0.05 and 2 are this "
          "model's readings, not published sizes",
    "P4": "direction: enhanced inhibition fails to prevent repetition under strong relief learning (Mirabella2024); "
          "0.5 is this model's reading of 'does not prevent'",
    "P5": "direction: the cited studies report the risk factor, not a risk ratio for this design's contrast; RR 1.2 "
          "asks for an effect clearly beyond the design's sampling noise",
    "P6": "direction: as P5, for limbic reactivity and prefrontal capacity",
    "P7": "direction: the asymmetry sustains acts; 1.5 is this model's reading, not a published size",
    "P8": "band for the community survey's odds ratios (maltreatment: Liu2018 [2.74, 4.26]; bullying: "
          "Huang2022SciRep [2.14, 2.83], from the calibration file); direction for the designed-group ratios and the "
          "day-level trigger",
    "P9": "direction: the buffers are reported as moderators, not with sizes for this contrast",
    "P10": "direction: Buelens2019 report bidirectional paths, Cheung2024 a positive correlation; the calibration file "
           "gives no sizes",
    "P11": "direction: 'most' sporadic self-injurers stop (a majority) and addictive-profile ones persist",
    "P12": "direction for g: DBT's strength is fitted to DeCou2019's effect in the treatment calibration, so only the "
           "direction tests the model; the component and probe clauses are directions",
    "P13": "direction: the drug trials give no pooled effect on this scale; the shares are this model's readings",
    "P14": "direction: the calibration file has no interval for the co-occurrence of NSSI and ideation (Ye2022's "
           "shares concern attempts)",
}


def bar_kind(target_id: str) -> str:
    """'band' or 'direction' (:data:`BAR_SIZES`; a target registered without an entry, e.g. by a user, is a direction)."""
    return "band" if BAR_SIZES.get(target_id, "").startswith("band") else "direction"


# keep the registry in the brief's numbering (P1, P2, ..., P14), whatever the order of definition
_ordered = sorted(TARGETS.items(), key=lambda kv: int(kv[0][1:]))
TARGETS.clear()
TARGETS.update(_ordered)


def run_targets(ids: Sequence[str] | None = None, mechanisms_off: Iterable[str] = (), progress: bool = False,
                base: Mapping[str, float] | None = None) -> list[TargetResult]:
    """Run the named targets (all by default) with the given mechanisms off.

    ``base``: model-parameter values put over the calibrated default in every experiment (e.g. a set of
    a calibration ensemble); None runs on the calibrated default. The experiments' own settings and the
    persons' sampled factors win.
    """
    ids = list(TARGETS) if ids is None else list(ids)
    for i in ids:
        if i not in TARGETS:
            raise KeyError(f"unknown target '{i}': expected one of {', '.join(TARGETS)}")
    b = check_base(base)
    it = ids
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(ids, desc="targets", unit="target")
    off = tuple(mechanisms_off)
    return [TARGETS[i].run(off, b) for i in it]


#: The robustness check (:func:`stability`): seed replicates (replicate 0 is the shipped run) and the
#: relative move of each key parameter.
STABILITY_REPLICATES, STABILITY_PERTURBATION = 3, 0.10


@dataclass(frozen=True)
class Stability:
    """A target's verdict over the robustness check's conditions: seed replicates of the experiment
    (new persons and random streams), then each key parameter moved down and up by a fraction."""

    id: str
    #: (condition, holds, statistic) per condition; the first is the shipped run (replicate 0).
    runs: tuple[tuple[str, bool, float], ...]

    @property
    def held(self) -> int:
        return sum(1 for _, ok, _ in self.runs if ok)

    @property
    def text(self) -> str:
        """'held/runs [min, max]': in how many conditions the target holds, and its statistic's range."""
        st = np.array([v for _, _, v in self.runs], dtype=float)
        st = st[np.isfinite(st)]
        rng = f" [{st.min():.3g}, {st.max():.3g}]" if st.size else ""
        return f"{self.held}/{len(self.runs)}{rng}"

    @property
    def failed_conditions(self) -> list[str]:
        return [c for c, ok, _ in self.runs if not ok]


def _perturbed_bases(target: Target, base: ParameterBase, fraction: float) -> list[tuple[str, ParameterBase]]:
    """Each key parameter of ``target`` at (1 -+ fraction) times its value on ``base`` (the base's value,
    else the calibrated default's, else the table default), clipped to the parameter's bounds."""
    token = _BASE.set(base)
    try:
        values = {k: _param(k) for k in target.key_parameters}
    finally:
        _BASE.reset(token)
    out = []
    for k, v in values.items():
        lo, hi = PARAMS[k].low, PARAMS[k].high
        for f in (1.0 - fraction, 1.0 + fraction):
            w = float(np.clip(v * f, lo, hi))
            tag = f"{k} x{f:g}" + (" (at its bound)" if w != v * f else "")
            out.append((tag, ParameterBase({**base, k: w}, f"{base.label}; {tag}")))
    return out


def stability(target_id: str, mechanisms_off: Iterable[str] = (), base: Mapping[str, float] | None = None, *,
              replicates: int = STABILITY_REPLICATES, perturbation: float = STABILITY_PERTURBATION,
              first: TargetResult | None = None) -> Stability:
    """Robustness of one target's verdict: the experiment in ``replicates`` seed replicates (0 is the
    shipped run; pass it as ``first`` to reuse it) and with each of its key parameters moved by
    -+``perturbation`` over ``base`` (replicate 0). Costs 1 + (replicates - 1) + 2 x keys runs."""
    if target_id not in TARGETS:
        raise KeyError(f"unknown target '{target_id}': expected one of {', '.join(TARGETS)}")
    if replicates < 1:
        raise ValueError(f"replicates: expected >= 1, got {replicates}")
    if not 0.0 < perturbation < 1.0:
        raise ValueError(f"perturbation: expected a fraction in (0, 1), got {perturbation}")
    t, off, b = TARGETS[target_id], tuple(mechanisms_off), check_base(base)
    r0 = first if first is not None else t.run(off, b)
    runs = [("seed replicate 0", r0.passed, r0.statistic)]
    for r in range(1, replicates):
        res = t.run(off, b, replicate=r)
        runs.append((f"seed replicate {r}", res.passed, res.statistic))
    for tag, pb in _perturbed_bases(t, b, perturbation):
        res = t.run(off, pb)
        runs.append((tag, res.passed, res.statistic))
    return Stability(target_id, tuple(runs))


def run_stability(results: Sequence[TargetResult], *, replicates: int = STABILITY_REPLICATES,
                  perturbation: float = STABILITY_PERTURBATION, base: Mapping[str, float] | None = None,
                  progress: bool = False) -> dict[str, Stability]:
    """:func:`stability` of every target in ``results`` (their runs are reused as replicate 0)."""
    it = results
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(results, desc="stability", unit="target")
    return {r.id: stability(r.id, r.mechanisms_off, base, replicates=replicates, perturbation=perturbation, first=r)
            for r in it}


def run_targets_ensemble(sets: Sequence[Mapping[str, float]], ids: Sequence[str] | None = None, *,
                         population: str = "community", max_sets: int | None = None, pick: str = "even",
                         mechanisms_off: Iterable[str] = (), progress: bool = False
                         ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The targets on each parameter set of a calibration ensemble: ``(per_set, summary)``.

    Set ``i``'s base is the population spec's ``[parameters]`` with the set's model parameters over
    them (population settings such as ``correlation_scale`` do not enter the targets' designed
    persons). ``per_set``: one row per set and target (``set`` is the file's id, from 1; passed,
    statistic); ``summary``: per target the share of sets in which it holds and the 5-50-95 %
    quantiles of its statistic across sets (parameter uncertainty; every experiment keeps its own
    seeds, so sampling noise is not re-drawn). ``max_sets``/``pick`` as
    :func:`nssisim.trials.ensemble.pick_sets` (each set costs a full run of the targets).
    """
    from .trials.ensemble import pick_sets

    spec_values = dict(load_base(population))
    chosen = pick_sets(len(sets), max_sets, pick)
    it = chosen
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(chosen, desc="ensemble sets", unit="set")
    rows = []
    for i in it:
        model = {k: float(v) for k, v in sets[i].items() if k in PARAMS}
        base = ParameterBase({**spec_values, **model}, f"{population} spec [parameters] with ensemble set {i + 1}")
        for r in run_targets(ids, mechanisms_off=mechanisms_off, base=base):
            rows.append({"set": i + 1, "target": r.id, "passed": bool(r.passed), "statistic": float(r.statistic)})
    per_set = pd.DataFrame(rows)
    summary = []
    for tid, g in per_set.groupby("target", sort=False):
        st = g["statistic"].to_numpy(dtype=float)
        st = st[np.isfinite(st)]
        q = np.quantile(st, [0.05, 0.5, 0.95]) if st.size else (np.nan,) * 3
        summary.append({"target": tid, "sets": len(g), "holds_share": float(g["passed"].mean()),
                        "statistic_q05": float(q[0]), "statistic_median": float(q[1]), "statistic_q95": float(q[2])})
    return per_set, pd.DataFrame(summary)


def ablation(ids: Sequence[str] | None = None, mechanisms: Sequence[str] = MECHANISM_IDS, progress: bool = False,
             base: Mapping[str, float] | None = None) -> pd.DataFrame:
    """Phenomena-by-mechanism table: does each target hold with each mechanism off?

    Returns a DataFrame indexed by target id with a column ``full`` (all mechanisms on) and
    one column per mechanism; cells are booleans (target holds). ``base`` as in
    :func:`run_targets`; its label is ``df.attrs["base"]``.
    """
    ids = list(TARGETS) if ids is None else list(ids)
    b = check_base(base)
    cols = {"full": ()} | {m: (m,) for m in mechanisms}
    items = list(cols.items())
    if progress:
        from tqdm.auto import tqdm

        items = tqdm(items, desc="ablation", unit="condition")
    table = {}
    stats = {}
    for name, off in items:
        res = run_targets(ids, mechanisms_off=off, base=b)
        table[name] = {r.id: r.passed for r in res}
        stats[name] = {r.id: r.statistic for r in res}
    df = pd.DataFrame(table).loc[ids]
    df.attrs["statistics"] = pd.DataFrame(stats).loc[ids]
    df.attrs["base"] = b.label
    return df


def format_results(results: Sequence[TargetResult], stabilities: Mapping[str, Stability] | None = None) -> str:
    """Plain-text table of target results (first line: the parameter base(s) they ran on); with
    ``stabilities`` (:func:`run_stability`) a stability column and the conditions in which a verdict flips."""
    bases = list(dict.fromkeys(r.base for r in results))
    stab = stabilities or {}
    lines = [f"parameter base: {'; '.join(bases) or CALIBRATED_DEFAULT}"]
    if stab:
        lines.append("stability: in how many conditions the target holds [statistic's range]; conditions: seed "
                     "replicates of the experiment, and each key parameter moved down and up")
    lines.append(f"{'id':4s} {'holds':5s} {'statistic':>10s} {'95 % interval':18s} {'bar kind':9s} "
                 + (f"{'stability':24s}  " if stab else "") + "bar / detail")
    for r in results:
        t = TARGETS[r.id]
        col = f"{stab[r.id].text:24s}  " if r.id in stab else (f"{'':24s}  " if stab else "")
        ci = f"[{r.interval[0]:#.3g}, {r.interval[1]:#.3g}]" if r.interval else ""
        lines.append(f"{r.id:4s} {'yes' if r.passed else 'NO':5s} {r.statistic:10.3f} {ci:18s} {bar_kind(r.id):9s} "
                     f"{col}{t.statistic}; bar: {r.bar}")
        if r.detail:
            lines.append(f"{'':22s}{r.detail}")
        if r.id in stab:
            s = stab[r.id]
            flips = [c for c, ok, _ in s.runs if ok != r.passed]
            if flips:
                lines.append(f"{'':22s}verdict {'fails' if r.passed else 'holds'} with: {', '.join(flips)}")
    return "\n".join(lines)


#: Ablation cell marks: the target holds; it fails with a statistic (informative: the phenomenon needs the
#: mechanism); it fails with no statistic (trivial: with the mechanism off the design has no acts, or no
#: patient is referred or eligible, so the cell says only that the calibrated model needs it for any NSSI).
ABLATION_MARKS = {"holds": "+", "fails": "-", "no data": "0"}


def ablation_cells(df: pd.DataFrame) -> pd.DataFrame:
    """Each ablation cell as 'holds', 'fails' (with a statistic) or 'no data' (fails with a NaN statistic:
    no acts, or nobody referred or eligible)."""
    stats = df.attrs.get("statistics")
    out = df.copy().astype(object)
    for tid in df.index:
        for c in df.columns:
            stat = float("nan") if stats is None else float(stats.loc[tid, c])
            out.loc[tid, c] = "holds" if bool(df.loc[tid, c]) else ("no data" if np.isnan(stat) else "fails")
    return out


def ablation_markdown(df: pd.DataFrame) -> str:
    """The ablation table and its statistics as a Markdown document (stamped with version and date)."""
    import datetime

    cols = list(df.columns)
    cells = ablation_cells(df)
    marks = {**ABLATION_MARKS, "fails": "**-**"}
    out = [
        "# Ablation: which mechanism explains which phenomenon",
        "",
        f"Generated by `nssisim ablate --out` (nssisim {__version__}, {datetime.date.today().isoformat()}). "
        "Each column runs the whole target suite with one mechanism switched off (see `docs/model.md` for what "
        "\"off\" means for each); **+** the target still holds, **-** it fails with a statistic, so the phenomenon "
        "needs that mechanism; **0** it fails for want of data (no acts, or no patient referred or eligible, "
        "statistic nan): a trivial cell, which says only that the model needs the mechanism for any NSSI.",
        "",
        f"Parameter base: {df.attrs.get('base', CALIBRATED_DEFAULT)} (parameters no experiment sets take these values).",
        "",
        "| target | " + " | ".join(cols) + " |",
        "|---|" + "---|" * len(cols),
    ]
    for tid, row in cells.iterrows():
        out.append(f"| {tid} | " + " | ".join(marks[v] for v in row.values) + " |")
    stats = df.attrs.get("statistics")
    if stats is not None:
        out += ["", "Statistic of each target under each condition (the bar is in `docs/model.md`):", "",
                "| target | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
        for tid, row in stats.iterrows():
            out.append(f"| {tid} | " + " | ".join(f"{v:.3g}" for v in row.values) + " |")
    return "\n".join(out) + "\n"


def format_ablation(df: pd.DataFrame) -> str:
    """Plain-text phenomena-by-mechanism table (``+`` holds, ``-`` fails, ``0`` fails for want of data)."""
    cols = list(df.columns)
    cells = ablation_cells(df)
    head = "     " + " ".join(f"{c:>4s}" for c in cols)
    rows = [head]
    for tid, row in cells.iterrows():
        rows.append(f"{tid:4s} " + " ".join(f"{ABLATION_MARKS[v]:>4s}" for v in row.values))
    rows.append("+ target holds with that mechanism off; - it fails (so the phenomenon needs that mechanism); 0 it fails "
                "for want of data (no acts, or nobody referred or eligible: a trivial cell).")
    rows.append(f"parameter base: {df.attrs.get('base', CALIBRATED_DEFAULT)}")
    return "\n".join(rows)


__all__ = ["TARGETS", "ABLATION_MARKS", "BAR_SIZES", "CALIBRATED_DEFAULT", "ParameterBase", "Target", "TargetResult", "ablation",
           "ablation_cells", "ablation_markdown", "bar_kind",
           "check_base", "community_base", "current_base", "format_ablation", "format_results", "load_base",
           "model_parameters", "run_targets", "run_targets_ensemble"]
