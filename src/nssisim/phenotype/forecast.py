"""Forecasting the transition: among sporadic self-injurers at an index age, who enters the addictive regime within a year?

The review's first future direction is precision phenotyping: indicators that forecast the
transition from sporadic to addictive NSSI (Chen and Zhuo 2026, "Future directions"). This module
asks that question of the model, on the community life course, with the data a study could collect.

**The cohort** (:func:`forecast_cohort`). Persons of a population spec (the calibrated community by
default) live from ``start_age`` (after the life course's burn-in) to one year after ``index_age``. At
``index_age`` (15 by default) the *sporadic self-injurers* are those with at least one act in the past
year who do not meet the addictive profile (:func:`nssisim.core.measures.measure`, the package's one
definition). Each is judged again on the past year at every month of the following year; the outcome
``enters`` is whether they meet the profile at one of those twelve judgements, and
``months_to_entry`` the first month at which they do (the forecast's lead time).

**Features** at the index age, from what the person did and reported before it:

* *observable* (:data:`OBSERVABLE`): acts in the past year and their trend (the last six months
  against the six before), days since the last act, the shares of acts with an intrapersonal and an
  interpersonal function, urges a week and acts per urge (urge-act coupling), the share of acts that
  came at low distress (the model's habit-triggered acts: what an EMA study sees as an act without
  a preceding peak of negative affect), and the mean, variability (SD) and inertia (lag-1
  autocorrelation) of daily negative affect over the last 90 days (a daily diary);
* *early-warning indicators* (:data:`WARNING_SIGNS`): the rise of daily affect's variance and of its
  lag-1 autocorrelation from the 90 days before to the last 90 days ("critical slowing down"), each
  used alone as a score, with the direction fixed in advance (a rise means more risk);
* *oracle* (:data:`ORACLE`): the latent states at the index age (learned relief, habit, tolerance,
  prefrontal control, allostatic load, depressive mood, rumination) and the traits the map of
  :mod:`nssisim.phenotype.regimes` is drawn over, besides the observables: an upper bound on what any
  study could predict in this model.

**Evaluation** (:func:`evaluate`). Persons with even subject ids train, odd ones test (no person is in
both). Each feature set trains a logistic regression on standardised features (scikit-learn); the test
persons give the AUC with a percentile bootstrap 95 % interval (:data:`BOOT_REPLICATES` resamples of
test persons), the Brier score beside that of predicting the training prevalence for everyone, the
calibration (intercept and slope of the outcome's logistic regression on the prediction's logit; 0
and 1 when calibrated) and a reliability table (mean prediction and observed share by fifth of
prediction). The early-warning indicators are scored without training.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .._version import __version__
from ..core.measures import measure
from ..population.lifecourse import LifeCourse, simulate_chunk
from ..population.spec import PopulationSpec, load_population
from .regimes import RegimeError, check_value

HOURS_PER_YEAR = 24.0 * 365.25
INDEX_AGE, START_AGE = 15.0, 10.0
N_PERSONS = 16384
CHUNK = 1024
EVENT_CAPACITY = 2048
DIARY_DAYS = 90
BOOT_REPLICATES = 1000
BOOT_SEED = 1515

#: Observable features at the index age (name -> what it is).
OBSERVABLE = {
    "log_acts_12m": "log(1 + acts in the past year)",
    "acts_trend": "acts in the last 6 months minus the 6 before, over their sum",
    "log_days_since_act": "log(1 + days since the last act)",
    "intrapersonal_share": "share of the past year's acts with an intrapersonal function",
    "interpersonal_share": "share of the past year's acts with an interpersonal function",
    "urges_per_week": "urges a week over the past year",
    "acts_per_urge": "acts per urge over the past year (urge-act coupling)",
    "low_distress_share": "share of the past year's acts at low distress (habit-triggered)",
    "affect_mean": "mean daily negative affect, last 90 days",
    "affect_sd": "SD of daily negative affect, last 90 days (variability)",
    "affect_inertia": "lag-1 autocorrelation of daily negative affect, last 90 days (inertia)",
}
#: Early-warning indicators, each a score on its own (a rise means more risk).
WARNING_SIGNS = {
    "variance_rise": "variance of daily affect, last 90 days minus the 90 before",
    "autocorrelation_rise": "lag-1 autocorrelation of daily affect, last 90 days minus the 90 before",
}
#: Latent states and traits at the index age: the oracle's extra features.
ORACLE = {
    "relief_value": "learned relief", "habit": "habit strength", "tolerance": "tolerance",
    "pfc": "prefrontal control", "allostatic_load": "allostatic load", "mood": "depressive mood",
    "rumination": "rumination", "limbic_reactivity": "limbic reactivity (trait)", "pfc_adult": "adult prefrontal capacity (trait)",
}
#: The feature sets compared: act frequency alone (the baseline a clinician has), every observable, the oracle,
#: and each early-warning indicator alone.
FEATURE_SETS = {"frequency": ("log_acts_12m",), "observable": tuple(OBSERVABLE), "oracle": tuple(OBSERVABLE) + tuple(ORACLE),
                "variance_rise": ("variance_rise",), "autocorrelation_rise": ("autocorrelation_rise",)}


def _lag1(x: np.ndarray) -> np.ndarray:
    """Lag-1 autocorrelation of each row (NaN for a constant row)."""
    a, b = x[:, :-1] - x[:, :-1].mean(axis=1, keepdims=True), x[:, 1:] - x[:, 1:].mean(axis=1, keepdims=True)
    den = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (a * b).sum(axis=1) / den, np.nan)


def _profile_at(ds, time: np.ndarray, ev_t: np.ndarray, k: int) -> pd.DataFrame:
    """:func:`measure` on the run cut after record block ``k - 1`` (its records and events up to then)."""
    head = ds.isel(time=slice(0, k), event=ev_t <= time[k - 1] + 1e-9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an overflowing event table: despite-harm a lower bound
        return measure(head)


def features_at_index(ds, pop: Mapping[str, np.ndarray], index_age: float, sim_start_age: float) -> pd.DataFrame:
    """One row per subject of a life-course chunk (daily records, full states, events): whether they are a sporadic
    self-injurer at ``index_age``, the features, and the outcome over the following year (module docstring)."""
    time = np.asarray(ds["time"].values, dtype=np.float64)
    ev_t = np.asarray(ds["event_time"].values, dtype=np.float64)
    day = float(time[1] - time[0])
    k0 = int(np.searchsorted(time, (index_age - sim_start_age) * HOURS_PER_YEAR + 1e-6, side="right"))
    if k0 < 2 * DIARY_DAYS or k0 + 365 > time.size:
        raise RegimeError(f"the life course must cover a year before the index age {index_age} and a year after it")
    at = _profile_at(ds, time, ev_t, k0)
    acts = np.asarray(ds["acts"].values, dtype=np.float64)
    year = slice(k0 - 365, k0)
    a12 = acts[:, year].sum(axis=1)
    sporadic = (a12 >= 1) & ~at["addictive"].to_numpy()
    last6, prev6 = acts[:, k0 - 182:k0].sum(axis=1), acts[:, k0 - 365:k0 - 182].sum(axis=1)
    ever = acts[:, :k0] > 0
    last_day = np.where(ever.any(axis=1), k0 - 1 - np.argmax(ever[:, ::-1], axis=1), -1)
    since = np.where(last_day >= 0, (k0 - 1 - last_day) * day / 24.0, np.nan)
    urges = np.asarray(ds["urges"].values, dtype=np.float64)[:, year].sum(axis=1)
    habit = np.asarray(ds["habit_acts"].values, dtype=np.float64)[:, year].sum(axis=1)
    intra = np.asarray(ds["intrapersonal_acts"].values, dtype=np.float64)[:, year].sum(axis=1)
    inter = np.asarray(ds["interpersonal_acts"].values, dtype=np.float64)[:, year].sum(axis=1)
    affect = np.asarray(ds["affect"].values, dtype=np.float64)
    recent, before = affect[:, k0 - DIARY_DAYS:k0], affect[:, k0 - 2 * DIARY_DAYS:k0 - DIARY_DAYS]
    with np.errstate(invalid="ignore", divide="ignore"):
        share = lambda x: np.where(a12 > 0, x / np.maximum(a12, 1), np.nan)  # noqa: E731
        out = {
            "subject": np.asarray(ds["subject"].values, dtype=np.int64), "sporadic": sporadic,
            "log_acts_12m": np.log1p(a12), "acts_trend": np.where(last6 + prev6 > 0, (last6 - prev6) / (last6 + prev6), 0.0),
            "log_days_since_act": np.log1p(since), "intrapersonal_share": share(intra), "interpersonal_share": share(inter),
            "urges_per_week": urges / (365.0 / 7.0), "acts_per_urge": np.where(urges > 0, a12 / np.maximum(urges, 1), np.nan),
            "low_distress_share": share(habit), "affect_mean": recent.mean(axis=1), "affect_sd": recent.std(axis=1, ddof=1),
            "affect_inertia": _lag1(recent),
            "variance_rise": recent.var(axis=1, ddof=1) - before.var(axis=1, ddof=1),
            "autocorrelation_rise": _lag1(recent) - _lag1(before),
        }
    for name in ("relief_value", "habit", "tolerance", "pfc", "allostatic_load", "mood", "rumination"):
        out[name] = np.asarray(ds[name].values, dtype=np.float64)[:, k0 - 1]
    for name in ("limbic_reactivity", "pfc_adult"):  # the persons' traits as drawn (or as set for everyone)
        out[name] = np.asarray(ds["parameter_value"].sel(parameter=name).values, dtype=np.float64)
    # the outcome: the profile judged on the past year at each month of the following year
    months = np.full(acts.shape[0], np.nan)
    for m in range(12, 0, -1):
        k = int(np.searchsorted(time, (index_age + m / 12.0 - sim_start_age) * HOURS_PER_YEAR + 1e-6, side="right"))
        hit = _profile_at(ds, time, ev_t, k)["addictive"].to_numpy()
        months = np.where(hit, float(m), months)
    out["enters"] = np.isfinite(months)
    out["months_to_entry"] = months
    return pd.DataFrame(out)


def forecast_cohort(population: PopulationSpec | str = "community", n_persons: int = N_PERSONS, *, seed: int = 0,
                    index_age: float = INDEX_AGE, start_age: float = START_AGE, mechanisms_off: Iterable[str] = (),
                    overrides: Mapping[str, float] | None = None, progress: bool = False,
                    checkpoint: str | Path | None = None) -> pd.DataFrame:
    """The sporadic self-injurers at ``index_age`` among ``n_persons`` of the population, with their features and
    outcome (module docstring); chunks of :data:`CHUNK` persons, each a function of the seed and its ids only.
    ``checkpoint``: a folder where each finished chunk is kept (keyed by a hash of the settings), so an
    interrupted cohort continues where it stopped."""
    spec = population if isinstance(population, PopulationSpec) else load_population(population)
    if not start_age + 1.0 <= index_age:
        raise RegimeError(f"index_age {index_age}: expected at least a year after start_age {start_age}")
    course = LifeCourse(start_age=start_age, end_age=index_age + 1.0)
    overrides = {k: check_value(k, v, "override") for k, v in (overrides or {}).items()}
    key = hashlib.sha256(json.dumps({"spec": repr(spec), "seed": int(seed), "ages": [start_age, index_age],
                                     "over": sorted(overrides.items()), "off": list(mechanisms_off), "chunk": CHUNK,
                                     "version": __version__}, sort_keys=True, default=str).encode()).hexdigest()[:16]
    if checkpoint is not None:
        checkpoint = Path(checkpoint)
        checkpoint.mkdir(parents=True, exist_ok=True)
    starts = range(0, int(n_persons), CHUNK)
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc="forecast cohort", unit="chunk")
    parts = []
    for a in starts:
        ids = np.arange(a, min(a + CHUNK, int(n_persons)), dtype=np.int64)
        part = None if checkpoint is None else checkpoint / f"chunk-{a:08d}-{ids.size}-{key}.parquet"
        if part is not None and part.exists():
            parts.append(pd.read_parquet(part))
            continue
        seen = {}

        def keep(ds, pop, sub_ids):
            seen["rows"] = features_at_index(ds, pop, index_age, course.sim_start_age)

        simulate_chunk(spec, ids, seed, course, overrides=overrides, with_events=True,
                       event_capacity=EVENT_CAPACITY, mechanisms_off=tuple(mechanisms_off), on_dataset=keep)
        parts.append(seen["rows"])
        if part is not None:
            tmp = part.with_name(part.name + f".{os.getpid()}.tmp")
            seen["rows"].to_parquet(tmp)
            os.replace(tmp, part)
    table = pd.concat(parts, ignore_index=True)
    table.attrs.update({"population": spec.name, "seed": int(seed), "n_persons": int(n_persons),
                        "index_age": float(index_age), "start_age": float(start_age)})
    return table[table["sporadic"]].drop(columns="sporadic").reset_index(drop=True)


def _auc(y: np.ndarray, s: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, s)) if 0 < y.sum() < y.size else float("nan")


def _boot_auc(y: np.ndarray, s: np.ndarray) -> tuple[float, float]:
    rng = np.random.default_rng(BOOT_SEED)
    vals = []
    for _ in range(BOOT_REPLICATES):
        i = rng.integers(0, y.size, y.size)
        if 0 < y[i].sum() < y.size:
            vals.append(_auc(y[i], s[i]))
    return (float(np.percentile(vals, 2.5)), float(np.percentile(vals, 97.5))) if vals else (math.nan, math.nan)


def _calibration(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """Intercept and slope of the outcome's logistic regression on logit(p) (0 and 1 when calibrated)."""
    import statsmodels.api as sm

    z = np.log(np.clip(p, 1e-6, 1 - 1e-6) / (1 - np.clip(p, 1e-6, 1 - 1e-6)))
    try:
        fit = sm.GLM(y.astype(float), sm.add_constant(z), family=sm.families.Binomial()).fit()
        return float(fit.params[0]), float(fit.params[1])
    except Exception:  # noqa: BLE001 - perfect separation or too few events: no calibration line
        return math.nan, math.nan


def evaluate(table: pd.DataFrame, feature_sets: Mapping[str, Sequence[str]] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train on even subject ids, test on odd ones (module docstring): ``(metrics, reliability)``.

    ``metrics``: one row per feature set with ``auc`` [``auc_low``, ``auc_high``], ``brier``, ``brier_reference``,
    ``calibration_intercept``, ``calibration_slope``, and the sizes. ``reliability``: per feature set and fifth
    of prediction, the mean prediction and the observed share."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import brier_score_loss
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    feature_sets = dict(FEATURE_SETS if feature_sets is None else feature_sets)
    train = (table["subject"].to_numpy() % 2) == 0
    y = table["enters"].to_numpy().astype(int)
    for part, where in ((train, "training"), (~train, "test")):
        if not 0 < y[part].sum() < part.sum():
            raise RegimeError(f"the {where} persons (subject ids {'even' if where == 'training' else 'odd'}) hold "
                              f"{int(y[part].sum())} transitions among {int(part.sum())} sporadic self-injurers: both "
                              "outcomes are needed; simulate more persons (--subjects)")
    rows, rel = [], []
    for name, cols in feature_sets.items():
        x = table[list(cols)].to_numpy(dtype=np.float64)
        fill = np.nanmedian(np.where(train[:, None], x, np.nan), axis=0)  # missing (no urges, no act): training median
        x = np.where(np.isfinite(x), x, np.where(np.isfinite(fill), fill, 0.0))
        yt, ye = y[train], y[~train]
        row = {"features": name, "n_train": int(train.sum()), "events_train": int(yt.sum()),
               "n_test": int((~train).sum()), "events_test": int(ye.sum())}
        if len(cols) == 1 and name in WARNING_SIGNS:  # an indicator alone: a score, no training
            s = x[~train, 0]
            row.update({"auc": _auc(ye, s), "trained": False})
            row["auc_low"], row["auc_high"] = _boot_auc(ye, s)
            rows.append(row)
            continue
        model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
        model.fit(x[train], yt)
        p = model.predict_proba(x[~train])[:, 1]
        row.update({"auc": _auc(ye, p), "trained": True, "brier": float(brier_score_loss(ye, p)),
                    "brier_reference": float(brier_score_loss(ye, np.full(ye.size, yt.mean())))})
        row["auc_low"], row["auc_high"] = _boot_auc(ye, p)
        row["calibration_intercept"], row["calibration_slope"] = _calibration(ye, p)
        rows.append(row)
        q = pd.qcut(pd.Series(p).rank(method="first"), 5, labels=False)
        for b in range(5):
            m = (q == b).to_numpy()
            rel.append({"features": name, "fifth": b + 1, "mean_prediction": float(p[m].mean()),
                        "observed": float(ye[m].mean()), "n": int(m.sum())})
    cols = ["features", "auc", "auc_low", "auc_high", "brier", "brier_reference", "calibration_intercept",
            "calibration_slope", "trained", "n_train", "events_train", "n_test", "events_test"]
    return pd.DataFrame(rows).reindex(columns=cols), pd.DataFrame(rel)


def lead_time(table: pd.DataFrame) -> dict[str, float]:
    """Months from the index age to the first judgement in the addictive profile, among those who enter."""
    m = table.loc[table["enters"], "months_to_entry"].to_numpy()
    if m.size == 0:
        return {"n": 0, "median": math.nan, "q25": math.nan, "q75": math.nan}
    return {"n": int(m.size), "median": float(np.median(m)), "q25": float(np.percentile(m, 25)),
            "q75": float(np.percentile(m, 75))}


def format_forecast(table: pd.DataFrame, metrics: pd.DataFrame) -> str:
    lt = lead_time(table)
    a = table.attrs
    lines = [f"Sporadic self-injurers at {a.get('index_age', INDEX_AGE):g} among {a.get('n_persons', '?')} persons of "
             f"'{a.get('population', '?')}': {len(table)}; entering the addictive profile within 12 months: "
             f"{int(table['enters'].sum())} ({table['enters'].mean():.3f}); months to entry median {lt['median']:g} "
             f"(IQR {lt['q25']:g}-{lt['q75']:g})",
             f"{'features':<22}{'AUC [95 %]':<24}{'Brier (reference)':<22}{'calibration a, b':<20}test persons (events)"]
    for r in metrics.itertuples():
        brier = f"{r.brier:.4f} ({r.brier_reference:.4f})" if r.trained else "- (a score alone)"
        cal = f"{r.calibration_intercept:+.2f}, {r.calibration_slope:.2f}" if r.trained else "-"
        lines.append(f"{r.features:<22}{f'{r.auc:.3f} [{r.auc_low:.3f}, {r.auc_high:.3f}]':<24}{brier:<22}{cal:<20}"
                     f"{r.n_test} ({r.events_test})")
    return "\n".join(lines)


def plot_forecast(table: pd.DataFrame, path, feature_sets: Mapping[str, Sequence[str]] | None = None):
    """ROC curves of the test persons for each feature set, and the reliability of the trained ones."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_curve
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from ..plotting import figure, save, style

    style()
    fig = figure(7.2, 3.2)
    ax, ax2 = fig.add_subplot(121), fig.add_subplot(122)
    feature_sets = dict(FEATURE_SETS if feature_sets is None else feature_sets)
    train = (table["subject"].to_numpy() % 2) == 0
    y = table["enters"].to_numpy().astype(int)
    colors = ("#7f8c8d", "#1b6ca8", "#c0392b", "#2e8b57", "#8e44ad")
    for (name, cols), c in zip(feature_sets.items(), colors):
        x = table[list(cols)].to_numpy(dtype=np.float64)
        fill = np.nanmedian(np.where(train[:, None], x, np.nan), axis=0)
        x = np.where(np.isfinite(x), x, np.where(np.isfinite(fill), fill, 0.0))
        if name in WARNING_SIGNS and len(cols) == 1:
            s = x[~train, 0]
        else:
            model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000)).fit(x[train], y[train])
            s = model.predict_proba(x[~train])[:, 1]
            q = pd.qcut(pd.Series(s).rank(method="first"), 5, labels=False).to_numpy()
            ax2.plot([s[q == b].mean() for b in range(5)], [y[~train][q == b].mean() for b in range(5)], "o-", color=c,
                     label=name.replace("_", " "), lw=1.2, ms=3)
        fpr, tpr, _ = roc_curve(y[~train], s)
        ax.plot(fpr, tpr, color=c, lw=1.2, label=f"{name.replace('_', ' ')} ({_auc(y[~train], s):.2f})")
    ax.plot([0, 1], [0, 1], color="#999999", lw=0.8, ls=":")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title("entering the addictive profile within a year (test persons)", fontsize=7)
    ax.legend(fontsize=6, frameon=False, loc="lower right")
    top = max(ax2.get_xlim()[1], ax2.get_ylim()[1])
    ax2.plot([0, top], [0, top], color="#999999", lw=0.8, ls=":")
    ax2.set_xlabel("mean prediction (fifths)")
    ax2.set_ylabel("observed share")
    ax2.set_title("reliability", fontsize=7)
    ax2.legend(fontsize=6, frameon=False)
    return save(fig, path)


__all__ = ["BOOT_REPLICATES", "FEATURE_SETS", "INDEX_AGE", "N_PERSONS", "OBSERVABLE", "ORACLE", "WARNING_SIGNS",
           "evaluate", "features_at_index", "forecast_cohort", "format_forecast", "lead_time", "plot_forecast"]
