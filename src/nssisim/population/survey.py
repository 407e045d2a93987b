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

import numpy as np
import pandas as pd
import xarray as xr

from ..core.measures import prevalence_rows
from ..stats import odds_ratio

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


def summarise(table: pd.DataFrame, manifest: dict | None = None) -> xr.Dataset:
    """Population summary as a Dataset: prevalence by age (dimension ``age``) and scalar shares."""
    prev = prevalence_by_age_table(table)
    ds = xr.Dataset({c: ("age", prev[c].to_numpy()) for c in prev.columns if c != "age"},
                    coords={"age": prev["age"].to_numpy()})
    hist = onset_histogram(table)
    ds["onset_count"] = ("onset_age", hist["count"].to_numpy().astype(np.int64))
    ds = ds.assign_coords(onset_age=hist["age"].to_numpy())
    for k, v in simulated_measures(table).items():
        ds.attrs[k] = float(v)
    for k in ("end_lifetime_nssi", "end_nssi_12m", "end_addictive", "end_cessation", "end_criterion_a"):
        if k in table:
            ds.attrs[k.replace("end_", "by_end_")] = float(table[k].mean())
    ds.attrs["n_subjects"] = int(len(table))
    ds.attrs["title"] = "nssisim population summary (research instrument; not a clinical tool)"
    if manifest:
        ds.attrs["manifest"] = json.dumps(manifest, sort_keys=True)
    return ds


__all__ = ["BULLYING_EXPOSED", "MALTREATMENT_EXPOSED", "PROSPECTIVE_AGE", "onset_histogram", "prevalence_by_age_table",
           "simulated_measures", "summarise"]
