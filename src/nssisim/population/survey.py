"""Survey statistics of a life-course population: the numbers a survey or cohort study reports.

A life-course run (:mod:`nssisim.population.spec.lifecourse`) reduces each subject to one row of a
*survey table*: acts per year of age, onset age, survey-window measures and the subject's risk
factors. This module turns that table into population statistics defined like the published
ones: 12-month prevalence by age, onset ages, risk-factor and prospective odds ratios, the
simulated counterparts of the calibration targets (:func:`simulated_measures`), and the
summary Dataset that ``nssisim population`` writes.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from ..core.measures import prevalence_rows
from ..stats import odds_ratio
from .lifecourse import DIARY_DAYS, EARLY_ACTS, QUARTER_PREFIX, SURVEY_AGE_HIGH, SURVEY_AGE_LOW

#: Maltreatment exposure: factor score at or above this counts as "maltreated" (a documented choice).
MALTREATMENT_EXPOSED = 0.25


#: Peer victimisation exposure: score at or above this counts as "bullied" (a documented choice).
BULLYING_EXPOSED = 0.25


#: Prospective odds ratio: NSSI while aged A (any act) predicting NSSI while aged A + 1.
PROSPECTIVE_AGE = 14


def simulated_measures(table: pd.DataFrame) -> dict[str, float]:
    """The simulated counterparts of the published numbers (definitions in :data:`TARGETS`), plus sample sizes."""
    life = table["survey_lifetime"].to_numpy(bool)
    n, n_life = len(table), int(life.sum())
    prev = prevalence_by_age_table(table)
    peak = float(prev["age"].to_numpy()[int(np.argmax(prev["prevalence_12m"].to_numpy()))]) if len(prev) else math.nan
    onset = table["onset_age_block"].to_numpy()[life]
    out = {
        "n": float(n), "n_lifetime": float(n_life),
        "lifetime_nssi": float(life.mean()),
        "nssi_12m": float(table["survey_12m"].mean()),
        "five_plus_12m": float(table["survey_five_plus"].mean()),
        "onset_mean": float(onset.mean()) if n_life else math.nan,
        "onset_var": float(onset.var(ddof=1)) if n_life > 1 else math.nan,
        "peak_age": peak,
        "intrapersonal_share": float(table["survey_intrapersonal"].to_numpy()[life].mean()) if n_life else math.nan,
        "interpersonal_share": float(table["survey_interpersonal"].to_numpy()[life].mean()) if n_life else math.nan,
        "nssi_and_attempt": float(table["survey_nssi_and_attempt"].mean()),
    }
    for name, col, cut in (("maltreatment_or", "factor.maltreatment", MALTREATMENT_EXPOSED),
                           ("bullying_or", "factor.peer_victimisation", BULLYING_EXPOSED)):
        if col in table:
            exp = table[col].to_numpy() >= cut
            o, lo, hi = odds_ratio(exp, life)
            out[name], out[name + "_low"], out[name + "_high"] = o, lo, hi
            out[name + "_exposed_share"] = float(exp.mean())
    a, b = f"acts_age_{PROSPECTIVE_AGE}", f"acts_age_{PROSPECTIVE_AGE + 1}"
    if a in table and b in table:
        o, lo, hi = odds_ratio(table[a].to_numpy() > 0, table[b].to_numpy() > 0)
        out["prospective_or"], out["prospective_or_low"], out["prospective_or_high"] = o, lo, hi
    return out


# ----------------------------------------------------------------------------- calibration measures
#: Prevalence by life stage (Swannell2014): lifetime NSSI reported at a survey age uniform in each window
#: (years). Adolescents are the survey of :data:`nssisim.population.lifecourse.SURVEY_AGE_LOW`..HIGH
#: (12-18); the later stages map each subject's own uniform survey draw onto their window, at quarter-year
#: resolution (lifetime = any act in a quarter that ends by the survey age).
LIFE_STAGES = {"young_adults": (18.0, 25.0), "adults": (25.0, 30.0)}
#: Decline after 18 (Plener2015): mean 12-month prevalence over the years of age 22, 23 and 24 (aged
#: 22 to 25) relative to the highest 12-month prevalence at any age of the run.
DECLINE_AGES = (22, 23, 24)


@dataclass(frozen=True)
class TrajectoryDesign:
    """A longitudinal study design applied to the simulated life course (waves on the quarter-year grid).

    Each subject enters at the first quarter boundary at or after its survey age if that lies in
    ``baseline_ages``; wave ``w`` (``w = 0..waves-1``) asks about the acts of the ``months`` before it,
    at baseline ``+ w * months``, so the first wave covers the months before baseline. Subjects whose
    waves the run does not cover are left out.
    """

    waves: int
    months: int  # between waves, a multiple of 3
    baseline_ages: tuple[float, float]

    def windows(self, table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Acts per wave (subjects x waves) and which subjects the design includes."""
        q = self.months // 3
        cols = {int(c[len(QUARTER_PREFIX):]): table[c].to_numpy(np.int64) for c in table.columns
                if c.startswith(QUARTER_PREFIX)}
        n = len(table)
        age = table["survey_age"].to_numpy(np.float64)
        kb = np.ceil(age * 4 - 1e-9).astype(int)
        inc = (age >= self.baseline_ages[0]) & (age < self.baseline_ages[1])
        out = np.zeros((n, self.waves), dtype=np.int64)
        if not cols:
            return out, np.zeros(n, bool)
        kmin, kmax = min(cols), max(cols)
        mat = np.zeros((n, kmax - kmin + 1), dtype=np.int64)
        have = np.zeros(kmax - kmin + 1, bool)
        for k, v in cols.items():
            mat[:, k - kmin], have[k - kmin] = v, True
        for w in range(self.waves):
            for j in range(q):  # wave w covers quarters kb + (w - 1) q .. kb + w q - 1
                k = kb + (w - 1) * q + j - kmin
                ok = (k >= 0) & (k < mat.shape[1])
                ok[ok] &= have[k[ok]]
                inc &= ok
                out[ok, w] += mat[np.flatnonzero(ok), k[ok]]
        return out, inc


#: Barrocas2015 ("617 adolescents followed over 8 waves; group-based trajectory modelling of NSSI
#: frequency"): 8 waves 6 months apart, entered at 12-16. The spacing and entry ages are this
#: model's assumption (the calibration file gives the number of waves only).
BARROCAS_DESIGN = TrajectoryDesign(waves=8, months=6, baseline_ages=(12.0, 16.0))
#: Chinese 1-year study (13-17, 3 waves over one year, accelerated design): waves 6 months apart.
ONE_YEAR_DESIGN = TrajectoryDesign(waves=3, months=6, baseline_ages=(13.0, 17.0))
#: Acts in one wave's window that count as frequent (the classification rules below).
FREQUENT_ACTS = 5
#: Acts over the year that count as high frequency (1-year design).
HIGH_ACTS = 10


def trajectory_classes_8_waves(table: pd.DataFrame, design: TrajectoryDesign = BARROCAS_DESIGN) -> dict[str, float]:
    """Shares of the classes low / moderate / chronic among the subjects the design includes.

    chronic: acts in at least 5 of the 8 waves; moderate: acts in 2-4 waves, or at least
    :data:`FREQUENT_ACTS` acts in a single wave; low: the rest (no act, or fewer than
    :data:`FREQUENT_ACTS` acts in one wave only). A rule standing in for group-based trajectory modelling.
    """
    acts, inc = design.windows(table)
    acts = acts[inc]
    n = len(acts)
    if n == 0:
        return {"low": math.nan, "moderate": math.nan, "chronic": math.nan, "n": 0.0}
    waves_with = (acts > 0).sum(axis=1)
    chronic = waves_with >= 5
    moderate = ~chronic & ((waves_with >= 2) | (acts.max(axis=1) >= FREQUENT_ACTS))
    return {"low": float((~chronic & ~moderate).mean()), "moderate": float(moderate.mean()),
            "chronic": float(chronic.mean()), "n": float(n)}


#: Group-based trajectory model of the 8-wave design (:func:`trajectory_groups`): groups, polynomial degree in
#: time, EM iterations at most and the convergence tolerance on the log-likelihood.
GBTM_GROUPS = 3
GBTM_DEGREE = 2
GBTM_MAX_ITER = 500
GBTM_TOL = 1e-8


def trajectory_groups(y: np.ndarray, starts: list[np.ndarray], groups: int = GBTM_GROUPS, degree: int = GBTM_DEGREE,
                      max_iter: int = GBTM_MAX_ITER, tol: float = GBTM_TOL) -> dict[str, np.ndarray | float]:
    """A group-based trajectory model of binary wave outcomes, fitted by EM (deterministic).

    ``y`` (subjects x waves, 0/1): whether a wave reports any act. Group ``g`` has a share ``pi_g`` and, in
    wave ``t``, ``logit P(y_t = 1) = b_g . (1, t, ..., t^degree)`` (``t`` the standardised wave index); subjects
    are independent given their group (Nagin's group-based trajectory model with a logit link). ``starts``:
    initial group labels per subject in ``0..groups-1`` (one array per start; the fit with the highest
    log-likelihood is kept; a start may leave a group empty). Groups are returned in order of their mean
    probability over the waves. Returns ``pi``, ``p`` (groups x waves), ``loglik`` and ``iterations``.
    """
    y = np.asarray(y, dtype=np.float64)
    n, waves = y.shape
    k = int(groups)
    if any(int(np.max(lab)) >= k or int(np.min(lab)) < 0 for lab in starts):
        raise ValueError(f"trajectory_groups: start labels must lie in 0..{k - 1}")
    t = np.arange(waves, dtype=np.float64)
    t = (t - t.mean()) / (t.std() or 1.0)
    x = np.vander(t, degree + 1, increasing=True)  # waves x (degree + 1)
    best = None
    for labels in starts:
        r = np.full((n, k), 0.2 / k)
        r[np.arange(n), np.asarray(labels, dtype=int)] += 0.8
        b = np.zeros((k, degree + 1))
        ll_old, it = -np.inf, 0
        for it in range(1, max_iter + 1):
            # M step: shares, then each group's weighted logistic regression (Newton on the wave totals)
            pi = np.maximum(r.mean(axis=0), 1e-12)
            s_kt, n_kt = r.T @ y, r.sum(axis=0)[:, None] * np.ones((1, waves))
            for g in range(k):
                for _ in range(25):
                    eta = np.clip(x @ b[g], -15.0, 15.0)
                    q = 1.0 / (1.0 + np.exp(-eta))
                    grad = x.T @ (s_kt[g] - n_kt[g] * q) - 1e-6 * b[g]
                    hess = (x.T * (n_kt[g] * q * (1.0 - q))) @ x + 1e-6 * np.eye(degree + 1)
                    step = np.linalg.solve(hess, grad)
                    b[g] = np.clip(b[g] + step, -30.0, 30.0)
                    if np.abs(step).max() < 1e-10:
                        break
            p = 1.0 / (1.0 + np.exp(-np.clip(b @ x.T, -15.0, 15.0)))  # groups x waves
            # E step
            logl = np.log(pi)[None, :] + y @ np.log(p).T + (1.0 - y) @ np.log1p(-p).T
            top = logl.max(axis=1, keepdims=True)
            w = np.exp(logl - top)
            ll = float((top[:, 0] + np.log(w.sum(axis=1))).sum())
            r = w / w.sum(axis=1, keepdims=True)
            if ll - ll_old < tol * max(1.0, abs(ll)):
                break
            ll_old = ll
        if best is None or ll > best["loglik"]:
            best = {"pi": r.mean(axis=0), "p": p, "loglik": ll, "iterations": float(it)}
    order = np.argsort(best["p"].mean(axis=1), kind="stable")
    return {**best, "pi": best["pi"][order], "p": best["p"][order]}


def trajectory_classes_8_waves_gbtm(table: pd.DataFrame, design: TrajectoryDesign = BARROCAS_DESIGN) -> dict[str, float]:
    """Shares of the groups low / moderate / chronic estimated as the study estimated them: a group-based
    trajectory model with :data:`GBTM_GROUPS` groups (:func:`trajectory_groups`) over the design's waves.

    The published model is of the frequency; this one is of whether a wave reports any act (a logit GBTM,
    robust to the heavy tail of the counts: this model's stand-in). Two starts: groups by the number of waves
    with acts (0 / 1-3 / 4+ and 0 / 1 / 2+). The shares are the estimated group shares; with no act at all
    every subject is 'low'.
    """
    acts, inc = design.windows(table)
    y = (acts[inc] > 0).astype(np.float64)
    n = len(y)
    if n == 0:
        return {"low": math.nan, "moderate": math.nan, "chronic": math.nan, "n": 0.0}
    if y.sum() == 0:
        return {"low": 1.0, "moderate": 0.0, "chronic": 0.0, "n": float(n)}
    waves_with = y.sum(axis=1)
    starts = [np.digitize(waves_with, [1, 4]), np.digitize(waves_with, [1, 2])]
    fit = trajectory_groups(y, starts)
    pi = fit["pi"]
    return {"low": float(pi[0]), "moderate": float(pi[1]), "chronic": float(pi[2]), "n": float(n)}


def trajectory_classes_1_year(table: pd.DataFrame, design: TrajectoryDesign = ONE_YEAR_DESIGN) -> dict[str, float]:
    """Shares of negligible / experimental / moderate_decreasing / high_fluctuating (3 waves, one year).

    negligible: no act in any wave; high_fluctuating: at least :data:`HIGH_ACTS` acts over the three
    waves and an act in the last; moderate_decreasing: otherwise at least 3 acts with fewer in the
    last wave than in the first; experimental: any other pattern with acts. A rule standing in for
    latent class growth analysis.
    """
    acts, inc = design.windows(table)
    acts = acts[inc]
    n = len(acts)
    keys = ("negligible", "experimental", "moderate_decreasing", "high_fluctuating")
    if n == 0:
        return {**{k: math.nan for k in keys}, "n": 0.0}
    total = acts.sum(axis=1)
    high = (total >= HIGH_ACTS) & (acts[:, -1] > 0)
    moderate = ~high & (total >= 3) & (acts[:, -1] < acts[:, 0])
    experimental = (total > 0) & ~high & ~moderate
    return {"negligible": float((total == 0).mean()), "experimental": float(experimental.mean()),
            "moderate_decreasing": float(moderate.mean()), "high_fluctuating": float(high.mean()), "n": float(n)}


# ----------------------------------------------------------------------------- the lifetime report's recall
#: Columns a lifetime report depends on: :func:`reported_table` rewrites them.
RECALLED_COLUMNS = ("survey_lifetime", "survey_intrapersonal", "survey_interpersonal", "survey_nssi_and_attempt")


def _quarters(table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Quarter indices ``k`` (ages ``k/4`` to ``(k+1)/4``) and the acts per subject and quarter."""
    ks = sorted(int(c[len(QUARTER_PREFIX):]) for c in table.columns if c.startswith(QUARTER_PREFIX))
    mat = np.stack([table[f"{QUARTER_PREFIX}{k}"].to_numpy(np.float64) for k in ks], axis=1) if ks \
        else np.zeros((len(table), 0))
    return np.asarray(ks, dtype=np.int64), mat


def _need_column(table: pd.DataFrame, column: str) -> None:
    """A clear error when a table from before chunk format 4 is measured with recall."""
    if column not in table:
        raise ValueError(f"the measurement table has no '{column}' column (written since chunk format 4): "
                         "re-run the population to measure it with recall")


def recall_probability(table: pd.DataFrame, age: np.ndarray, recall_years: float) -> np.ndarray:
    """P(at least one act older than the year before ``age`` is still recalled at ``age``), per subject.

    Each such act is recalled independently with probability ``exp(-(age - a) / recall_years)``, ``a`` the
    act's age at quarter resolution (the midpoint of its quarter; acts before the first quarter column, the
    burn-in, at that column's start). "Older" means in a quarter that starts before ``age - 1``: with no act
    in the past year every act there is older than a year; with one, the report does not need recall.
    """
    if not recall_years > 0:
        raise ValueError(f"recall_years must be > 0, got {recall_years}")
    _need_column(table, EARLY_ACTS)
    ks, mat = _quarters(table)
    age = np.asarray(age, dtype=np.float64)[:, None]
    first = ks[:1] / 4.0 if ks.size else np.zeros(1)
    a = np.concatenate([first, (ks + 0.5) / 4.0])[None, :]
    k = np.concatenate([table[EARLY_ACTS].to_numpy(np.float64)[:, None], mat], axis=1)
    start = np.concatenate([first - 1.0, ks / 4.0])[None, :]  # the early acts count as old before every survey
    old = (start < age - 1.0 - 1e-9) & (k > 0)
    dt = np.maximum(age - a, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_forget = np.where(old, k * np.log(-np.expm1(-dt / recall_years)), 0.0)
    return -np.expm1(log_forget.sum(axis=1))


def _recalls(table: pd.DataFrame, age: np.ndarray, recall_years: float) -> np.ndarray:
    """Whether each subject recalls an act older than the year before ``age``: its own uniform
    ``survey_recall_u`` below :func:`recall_probability` (so reports are nested in the recall time)."""
    _need_column(table, "survey_recall_u")
    return table["survey_recall_u"].to_numpy(np.float64) < recall_probability(table, age, float(recall_years))


def reported_table(table: pd.DataFrame, recall_years: float | None) -> pd.DataFrame:
    """The survey measures as reported: lifetime NSSI with recall that fades (``recall_years``), or as happened.

    ``recall_years=None`` (perfect recall) returns ``table`` itself. Otherwise a subject reports lifetime NSSI
    at the survey if it acted in the past 12 months (those reports are taken as complete, as are the
    longitudinal designs' 6-month waves) or if it still recalls an older act (:func:`recall_probability`,
    against the subject's own uniform ``survey_recall_u``, so the report is nested: the same subject reports
    at any longer recall). The functions served and NSSI-with-an-attempt (:data:`RECALLED_COLUMNS`) are
    counted among those who report; the onset age is the true one. This is a measurement model, not a
    mechanism: the 12-month, frequency, trajectory and diary measures are unchanged, and so is every
    simulated state.
    """
    if recall_years is None:
        return table
    life = table["survey_lifetime"].to_numpy(bool)
    rep = life & (table["survey_12m"].to_numpy(bool) | _recalls(table, table["survey_age"].to_numpy(np.float64), recall_years))
    out = table.copy()
    out["survey_lifetime"] = rep
    for c in RECALLED_COLUMNS[1:]:
        out[c] = table[c].to_numpy(bool) & rep
    return out


def lifetime_by_survey_window(table: pd.DataFrame, low: float, high: float,
                              recall_years: float | None = None) -> tuple[float, float]:
    """Lifetime NSSI at a survey age uniform in ``[low, high)`` (each subject's own draw mapped onto the window).

    With ``recall_years``, reported as :func:`reported_table` does: an act in the four quarters before the
    survey age, or a recalled older act. Returns (share, n); NaN when the run's quarter columns do not reach
    ``high``.
    """
    cols = {int(c[len(QUARTER_PREFIX):]): c for c in table.columns if c.startswith(QUARTER_PREFIX)}
    if not cols or (max(cols) + 1) / 4 < high - 1e-9:
        return math.nan, 0.0
    frac = (table["survey_age"].to_numpy(np.float64) - SURVEY_AGE_LOW) / (SURVEY_AGE_HIGH - SURVEY_AGE_LOW)
    age = low + (high - low) * np.clip(frac, 0.0, 1.0)
    life = np.zeros(len(table), bool)
    recent = np.zeros(len(table), bool)
    for k, c in cols.items():
        acted = table[c].to_numpy() > 0
        life |= acted & ((k + 1) / 4 <= age + 1e-9)
        recent |= acted & ((k + 1) / 4 <= age + 1e-9) & ((k + 1) / 4 > age - 1.0 + 1e-9)
    if recall_years is not None:
        life = recent | _recalls(table, age, recall_years)
    return float(life.mean()), float(len(table))


def _prop(p: float, n: float) -> tuple[float, float]:
    """A share and its sampling variance ``q (1 - q) / n`` at ``q = (k + 1) / (n + 2)`` (Laplace's rule: never
    zero, so a share of 0 or 1 in a small cohort is not taken as exact)."""
    if not (n > 0 and math.isfinite(p)):
        return math.nan, math.nan
    q = (p * n + 1) / (n + 2)
    return float(p), float(q * (1 - q) / n)


def diary_rates(table: pd.DataFrame) -> tuple[tuple[float, float], tuple[float, float]]:
    """Urges and acts per week in the EMA diaries of participants with recent NSSI
    (:func:`nssisim.population.lifecourse.diary_counts`), each with its sampling variance: a ratio
    estimator over subjects (a subject's diaries are one cluster), ``var = sum (y_i - r x_i)^2 /
    (n (n - 1) mean(x)^2)``. NaN without diary columns or with fewer than two participants."""
    nan = (math.nan, math.nan)
    if "diary_windows" not in table:
        return nan, nan
    x = table["diary_windows"].to_numpy(np.float64) * (DIARY_DAYS / 7.0)  # participant-weeks
    k = int((x > 0).sum())
    if k < 2:
        return nan, nan
    out = []
    for col in ("diary_urges", "diary_acts"):
        y = table[col].to_numpy(np.float64)
        r = y.sum() / x.sum()
        xs, ys = x[x > 0], y[x > 0]
        var = float(((ys - r * xs) ** 2).sum() / (k * (k - 1) * xs.mean() ** 2))
        out.append((float(r), var))
    return out[0], out[1]


def calibration_measures(table: pd.DataFrame, recall_years: float | None = None) -> dict[str, tuple[float, float]]:
    """Every simulated counterpart of a calibration target: ``{name: (value, sampling variance)}``.

    Ratios are on the log scale (the variance too; Woolf for odds ratios, the delta method for the
    risk ratio). Measures that need ages or columns the run lacks are NaN. Definitions: the
    docstrings here and :data:`nssisim.population.calibration.TARGETS`. ``recall_years``: the lifetime
    reports' recall (:func:`reported_table`; None: as happened).
    """
    table = reported_table(table, recall_years)
    m = simulated_measures(table)
    n, n_life = m["n"], m["n_lifetime"]
    out = {k: _prop(m[k], n) for k in ("lifetime_nssi", "nssi_12m", "five_plus_12m", "nssi_and_attempt")}
    out["onset_mean"] = (m["onset_mean"], m["onset_var"] / n_life if n_life > 1 else math.nan)
    out["peak_age"] = (m["peak_age"], math.nan)
    for k in ("intrapersonal_share", "interpersonal_share"):
        out[k] = _prop(m[k], n_life)
    for k in ("maltreatment_or", "bullying_or"):
        if k in m and m[k] > 0:
            out[k] = (math.log(m[k]), ((math.log(m[k + "_high"]) - math.log(m[k + "_low"])) / 3.92) ** 2)
        else:
            out[k] = (math.nan, math.nan)
    for k, col in (("attempt_lifetime", "survey_attempt"), ("attempt_12m", "survey_attempt_12m")):
        out[k] = _prop(float(table[col].mean()), n) if col in table else (math.nan, math.nan)
    # sex (factor.sex_female: 1 = girl)
    life = table["survey_lifetime"].to_numpy(bool)
    if "factor.sex_female" in table:
        girl = table["factor.sex_female"].to_numpy() > 0.5
        nf, nm = int(girl.sum()), int((~girl).sum())
        pf = float(life[girl].mean()) if nf else math.nan
        pm = float(life[~girl].mean()) if nm else math.nan
        out["lifetime_female"], out["lifetime_male"] = _prop(pf, nf), _prop(pm, nm)
        if nf and nm and pf > 0 and pm > 0:
            out["sex_ratio"] = (math.log(pf / pm), (1 - pf) / (nf * pf) + (1 - pm) / (nm * pm))
        else:
            out["sex_ratio"] = (math.nan, math.nan)
    # life stages and the decline after 18
    out["life_stage_adolescents"] = out["lifetime_nssi"]
    for stage, (lo, hi) in LIFE_STAGES.items():
        p, k = lifetime_by_survey_window(table, lo, hi, recall_years)
        out[f"life_stage_{stage}"] = _prop(p, k)
    prev = prevalence_by_age_table(table)
    late = prev[prev["age"].isin(DECLINE_AGES)]
    if len(late) == len(DECLINE_AGES) and len(prev):
        peak = float(prev["prevalence_12m"].max())
        out["decline_ratio"] = (float(late["prevalence_12m"].mean()) / peak if peak > 0 else math.nan, math.nan)
    else:
        out["decline_ratio"] = (math.nan, math.nan)
    out["ema_urges_week"], out["ema_acts_week"] = diary_rates(table)
    classes = {}
    for name, fn in (("traj8", trajectory_classes_8_waves), ("traj8g", trajectory_classes_8_waves_gbtm),
                     ("traj1y", trajectory_classes_1_year)):
        classes[name] = shares = fn(table)
        for k, v in shares.items():
            if k != "n":
                out[f"{name}_{k}"] = _prop(v, shares["n"])
    # chronic among those the count rule classes as repeating (moderate or chronic)
    s8 = classes["traj8"]
    repeat = s8["moderate"] + s8["chronic"]
    out["traj8_chronic_share"] = (_prop(s8["chronic"] / repeat, repeat * s8["n"]) if repeat > 0
                                  else (math.nan, math.nan))
    return out


def prevalence_by_age_table(table: pd.DataFrame) -> pd.DataFrame:
    """12-month prevalence (any act while aged A to A+1) for each whole year of age, with Wilson 95% CIs."""
    cols = [c for c in table.columns if c.startswith("acts_age_")]
    ages = [int(c.rsplit("_", 1)[1]) for c in cols]
    acts = np.stack([table[c].to_numpy(dtype=np.float64) for c in cols], axis=1) if cols else np.zeros((len(table), 0))
    out = prevalence_rows(ages, acts)
    onset = table["onset_age_block"].to_numpy() if len(cols) else np.zeros(0)
    incidence = [float(((acts[:, j] > 0) & (np.abs(onset - a - 0.5) <= 0.5)).sum() / max(len(table), 1))
                 for j, a in enumerate(ages)]
    out.insert(out.columns.get_loc("mean_acts"), "incidence", incidence)
    return out


def onset_histogram(table: pd.DataFrame) -> pd.DataFrame:
    """Onset ages (whole years) of everyone with an act during the run: counts and shares."""
    on = table["onset_age_block"].dropna().to_numpy()
    if on.size == 0:
        return pd.DataFrame({"age": [], "count": [], "share": []})
    a = np.floor(on).astype(int)
    ages = np.arange(a.min(), a.max() + 1)
    cnt = np.array([(a == x).sum() for x in ages])
    return pd.DataFrame({"age": ages, "count": cnt, "share": cnt / on.size})


def summarise(table: pd.DataFrame, manifest: dict | None = None, recall_years: float | None = None) -> xr.Dataset:
    """Population summary as a Dataset: prevalence by age (dimension ``age``) and scalar shares (the survey
    measures as reported with ``recall_years``, :func:`reported_table`; the attribute says which)."""
    prev = prevalence_by_age_table(table)
    ds = xr.Dataset({c: ("age", prev[c].to_numpy()) for c in prev.columns if c != "age"},
                    coords={"age": prev["age"].to_numpy()})
    hist = onset_histogram(table)
    ds["onset_count"] = ("onset_age", hist["count"].to_numpy().astype(np.int64))
    ds = ds.assign_coords(onset_age=hist["age"].to_numpy())
    for k, v in simulated_measures(reported_table(table, recall_years)).items():
        ds.attrs[k] = float(v)
    ds.attrs["survey_recall_years"] = "perfect recall" if recall_years is None else float(recall_years)
    for k in ("end_lifetime_nssi", "end_nssi_12m", "end_addictive", "end_cessation", "end_criterion_a"):
        if k in table:
            ds.attrs[k.replace("end_", "by_end_")] = float(table[k].mean())
    ds.attrs["n_subjects"] = int(len(table))
    ds.attrs["title"] = "nssisim population summary (research instrument; not a clinical tool)"
    if manifest:
        ds.attrs["manifest"] = json.dumps(manifest, sort_keys=True)
    return ds


__all__ = ["BARROCAS_DESIGN", "DECLINE_AGES", "FREQUENT_ACTS", "HIGH_ACTS", "LIFE_STAGES", "ONE_YEAR_DESIGN",
           "TrajectoryDesign", "calibration_measures", "lifetime_by_survey_window", "trajectory_classes_1_year",
           "trajectory_classes_8_waves", "trajectory_classes_8_waves_gbtm", "trajectory_groups", "GBTM_GROUPS", "BULLYING_EXPOSED", "MALTREATMENT_EXPOSED", "PROSPECTIVE_AGE", "onset_histogram", "prevalence_by_age_table",
           "simulated_measures", "summarise", "RECALLED_COLUMNS", "recall_probability", "reported_table"]
