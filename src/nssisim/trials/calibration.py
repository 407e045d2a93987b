"""Calibration of the treatment wing: the DBT strength, on patients drawn by the referral rule,
against every DBT target of the calibration file at once.

A standardised effect alone cannot pin what a clinician sees (abstinence, the time course during
treatment), so the one fitted scalar of the DBT mapping, the ``strength`` shared by ``dbt`` and
``dbt_a`` (``configs/interventions/dbt_a.toml``), is fitted to all of these together:

======================  ==========================================================================
``dbt_d``               Hedges' g of self-harm (NSSI acts + attempts) per month during 6 months of
                        treatment, DBT-A vs treatment as usual (design ``calibrate_dbt``; DeCou2019,
                        mostly adults: a between-group effect on self-directed violence).
``dbta_d_1_5`` ...      within-group effect of DBT-A on self-harm per month in weeks 1-5, 6-10 and
                        11-15 against the 5 weeks before treatment (design ``dbta_routine_care``;
                        Syversen2024): Cohen's d_av = (baseline mean - block mean) / the root mean
                        of the two variances, all patients (intention to treat).
``dbta_no_self_harm``   share with no self-harm in the 3 months after the end of treatment, among
                        completers (design ``dbta_routine_care``, window ``follow_up``;
                        Tormoen2014: 7 of 10 followed; the follow-up window is an assumption).
``dbta_completed``      completion of the DBT-A arm: an input of the design (``completion``, set to
                        the published rate), reported as a check, not fitted.
======================  ==========================================================================

Method: a grid of strengths. Each design's patients are screened once (the referral rule on the
community life course, with the population's current ``[parameters]``) and simulated in every arm
of the grid in one compiled run: the same patients at every strength (common random numbers),
so the curves are smooth in the strength. Each target's implausibility uses the observation model
of :mod:`nssisim.population.calibration` (the same published interval or relative sd and model
discrepancy as the community targets) plus the simulated value's sampling variance. The fitted
strength is the grid point with the smallest largest implausibility over the fitted targets.

Data flow: designs (``configs/trials``) -> :func:`nssisim.trials.run.screen_patients` ->
:func:`nssisim.trials.run.simulate_arms` (one arm per strength) -> :func:`treatment_measures`
-> :func:`calibrate_treatment` (the grid table and the chosen strength). A research instrument,
not a clinical tool: the fitted strength is a property of the model, not of any therapy.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from ..population.calibration import load_targets, observation, published, TARGET_IDS
from ..stats import hedges_g
from .design import load_design
from .run import screen_patients, simulate_arms, strength_arms

#: Designs of the treatment calibration (configs/trials).
BETWEEN_DESIGN = "calibrate_dbt"
WITHIN_DESIGN = "dbta_routine_care"
#: The routine-care design's windows measured against the baseline, by target id.
BLOCKS = {"dbta_d_1_5": "weeks_1_5", "dbta_d_6_10": "weeks_6_10", "dbta_d_11_15": "weeks_11_15"}
FOLLOW_UP_WINDOW = "follow_up"
#: Targets the strength is fitted to; dbta_completed is reported (an input of the design).
FITTED = ("dbt_d", *BLOCKS, "dbta_no_self_harm")
REPORTED = ("dbta_completed",)
#: Default grid of strengths (0 = the arm without its specific effect).
STRENGTHS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0)
#: Patients per design (the grid multiplies the simulated subjects by the number of strengths).
BETWEEN_PATIENTS = 300
WITHIN_PATIENTS = 200
#: Bootstrap resamples for the sampling variance of a within-group d.
BOOTSTRAP = 400


def within_d(baseline: np.ndarray, block: np.ndarray) -> float:
    """Cohen's d_av of the change from baseline (positive: less in the block)."""
    s2 = 0.5 * (np.var(baseline, ddof=1) + np.var(block, ddof=1))
    return float((np.mean(baseline) - np.mean(block)) / math.sqrt(s2)) if s2 > 0 else math.nan


def _within_var(baseline: np.ndarray, block: np.ndarray, seed: int) -> float:
    """Bootstrap variance of :func:`within_d` over patients (paired resampling)."""
    rng = np.random.default_rng(seed)
    n = len(baseline)
    idx = rng.integers(0, n, size=(BOOTSTRAP, n))
    b, x = baseline[idx], block[idx]
    s2 = 0.5 * (b.var(axis=1, ddof=1) + x.var(axis=1, ddof=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        d = (b.mean(axis=1) - x.mean(axis=1)) / np.sqrt(s2)
    d = d[np.isfinite(d)]
    return float(np.var(d, ddof=1)) if d.size > 1 else math.nan


def _screened(design, n: int):
    stratum = design.strata[next(iter(design.strata))]
    ids, t0, screened = screen_patients(design, stratum, n)
    return stratum, ids, t0, screened


def treatment_measures(strengths: Sequence[float] = STRENGTHS, *, between_patients: int = BETWEEN_PATIENTS,
                       within_patients: int = WITHIN_PATIENTS, arm: str = "dbt_a",
                       log: Callable[[str], None] = lambda m: None) -> tuple[pd.DataFrame, dict]:
    """Every treatment measure at each strength: ``(table, info)``.

    ``table``: one row per strength with ``<target>`` (the simulated value, natural scale) and
    ``<target>_var`` (its sampling variance); ``info``: screening counts of both designs.
    """
    strengths = [float(s) for s in strengths]
    rows = [{"strength": s} for s in strengths]
    info = {}

    d_b = load_design(BETWEEN_DESIGN)
    stratum, ids, t0, screened = _screened(d_b, between_patients)
    log(f"{BETWEEN_DESIGN}: {len(ids)} patients from {screened:,} screened; simulating {len(strengths)} strengths ...")
    out = simulate_arms(d_b, stratum, ids, strength_arms(d_b, arm, strengths), t0_days=t0)
    j = [w.name for w in d_b.windows].index("treatment")
    x = out["self_harm_per_month"][..., j]
    for i, r in enumerate(rows, start=1):
        g, lo, hi = hedges_g(x[i], x[0])
        r["dbt_d"], r["dbt_d_var"] = g, ((hi - lo) / 3.92) ** 2
    info[BETWEEN_DESIGN] = {"patients": len(ids), "screened": screened,
                            "referral_age_mean": float(np.mean(out["randomisation_age"]))}

    d_w = load_design(WITHIN_DESIGN)
    stratum, ids, t0, screened = _screened(d_w, within_patients)
    log(f"{WITHIN_DESIGN}: {len(ids)} patients from {screened:,} screened; simulating {len(strengths)} strengths ...")
    out = simulate_arms(d_w, stratum, ids, strength_arms(d_w, arm, strengths), t0_days=t0)
    names = [w.name for w in d_w.windows]
    base = np.asarray(out["baseline_self_harm_per_month"], dtype=np.float64)
    f = names.index(FOLLOW_UP_WINDOW)
    for i, r in enumerate(rows, start=1):
        for tid, w in BLOCKS.items():
            block = out["self_harm_per_month"][i, :, names.index(w)]
            r[tid], r[f"{tid}_var"] = within_d(base, block), _within_var(base, block, seed=7 + i)
        done = np.asarray(out["completed"][i, :, 0], dtype=bool)
        free = np.asarray(out["self_harm_free"][i, :, f], dtype=bool)[done]
        p = float(free.mean()) if free.size else math.nan
        r["dbta_no_self_harm"], r["dbta_no_self_harm_var"] = p, (p * (1 - p) / free.size if free.size else math.nan)
        c = float(np.mean(out["completed"][i, :, 0]))
        r["dbta_completed"], r["dbta_completed_var"] = c, c * (1 - c) / len(ids)
    info[WITHIN_DESIGN] = {"patients": len(ids), "screened": screened,
                           "baseline_self_harm_per_month": float(base.mean()),
                           "referral_age_mean": float(np.mean(out["randomisation_age"]))}
    return pd.DataFrame(rows), info


def implausibilities(table: pd.DataFrame, targets: str | None = None) -> pd.DataFrame:
    """``I_<target>`` for every treatment target at each strength, and ``I_max`` over :data:`FITTED`."""
    entries = load_targets(targets, required=FITTED + REPORTED)
    out = table[["strength"]].copy()
    for tid in FITTED + REPORTED:
        obs = observation(TARGET_IDS[tid], entries[tid])
        v = table[f"{tid}_var"].to_numpy(dtype=float)
        out[f"I_{tid}"] = obs.implausibility(table[tid].to_numpy(dtype=float), np.where(np.isfinite(v), v, 0.0))
    out["I_max"] = out[[f"I_{t}" for t in FITTED]].max(axis=1)
    return out


def calibrate_treatment(strengths: Sequence[float] = STRENGTHS, *, targets: str | None = None,
                        log: Callable[[str], None] = lambda m: None, **kw) -> dict:
    """Fit the DBT strength on the grid: ``{"strength", "table", "info"}`` (``table``: measures and
    implausibilities per strength; the chosen strength has the smallest ``I_max``)."""
    table, info = treatment_measures(strengths, log=log, **kw)
    imp = implausibilities(table, targets)
    both = table.merge(imp, on="strength")
    best = both.loc[both["I_max"].idxmin()]
    return {"strength": float(best["strength"]), "I_max": float(best["I_max"]), "table": both, "info": info}


def format_treatment(result: dict, targets: str | None = None) -> str:
    """The grid as text: each target's value and implausibility per strength, the published value."""
    entries = load_targets(targets, required=FITTED + REPORTED)
    t = result["table"]
    lines = [f"{'strength':>8}  " + "  ".join(f"{tid:>18}" for tid in FITTED + REPORTED) + "   I_max"]
    for _, r in t.iterrows():
        mark = " <" if r["strength"] == result["strength"] else ""
        lines.append(f"{r['strength']:8.3g}  " + "  ".join(f"{r[tid]:8.3f} (I {r[f'I_{tid}']:4.1f})"
                                                         for tid in FITTED + REPORTED) + f"   {r['I_max']:.2f}{mark}")
    pub = [f"{tid} {published(TARGET_IDS[tid], entries[tid])[0]:g}" for tid in FITTED + REPORTED]
    lines.append("published: " + ", ".join(pub) + f"; fitted: {', '.join(FITTED)}; chosen strength "
                 f"{result['strength']:g} (I_max {result['I_max']:.2f})")
    return "\n".join(lines)


__all__ = ["BLOCKS", "FITTED", "REPORTED", "STRENGTHS", "calibrate_treatment", "format_treatment", "implausibilities",
           "treatment_measures", "within_d"]
