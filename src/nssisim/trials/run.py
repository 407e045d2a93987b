"""Running a virtual randomised trial: screening, arms, randomisation, outcomes and effects.

The design is a :class:`nssisim.trials.design.Design`. Data flow of :func:`run_trial`:

1. **Screening** (:func:`screen`). Candidates are sampled from a population spec
   (:mod:`nssisim.population`, loaded by name) with optional parameter overrides per stratum,
   and their history is simulated without treatment up to randomisation. Eligibility is
   evaluated over that history (age window, lifetime acts, recent suicidal ideation or attempt).
2. **One compiled run for all arms** (:func:`simulate_arms`). Every eligible patient is
   simulated in *every* arm with the same subject id (common random numbers), the arms stacked
   along the subject axis and differing only in the arrays of one
   :class:`nssisim.core.simulation.Schedule` (:func:`nssisim.trials.interventions.build_schedule`).
   Histories before treatment are therefore identical across arms (a test checks it), and each
   patient's counterfactual outcome is known in every arm.
3. **Randomisation** (:func:`randomise`). Per replicate, the replicate's patients are allocated
   to arms in permuted blocks; the randomised analysis uses only each patient's assigned arm.
   Paired contrasts (all patients in both arms) are reported beside it.
4. **Outcomes** per follow-up window (days after randomisation): share free of NSSI, of
   attempts and of any self-harm, NSSI and self-harm frequency per month, remission (no NSSI
   in the last :data:`REMISSION_DAYS` of the window), treatment completion, and the neural
   proxies (limbic reactivity, prefrontal regulation; :func:`neural_proxies`) as change from
   randomisation to the end of the window.
5. **Effects** per contrast (arm vs control), outcome and window with 95% intervals: risk
   difference and odds ratio for shares, Hedges' g for frequencies and proxies, and the
   paired mean difference. Over ``replicates`` trials: power (share of trials whose interval
   excludes no effect) and the spread of estimates.

Results: an xarray Dataset (:func:`run_trial`), tidy tables (:func:`effects_table`,
:func:`summary_table`, :func:`arm_summary`), plots in :mod:`nssisim.trials.plots`. The
strength of an arm can be calibrated to a target effect (:func:`strength_curve`,
:func:`calibrate_strength`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from .._version import __version__
from ..core.model import limbic_gain, regulation_capacity
from ..core.parameters import HOURS_PER_DAY
from ..core.simulation import config_hash, effective_params, simulate_cohort, stack_params
from ..population.spec import load_population, params_of, sample_population
from ..stats import hedges_g, odds_ratio_groups, paired_difference, risk_difference
from .design import _eligible, BINARY_OUTCOMES, Design, DesignError, eligible, OUTCOMES
from .interventions import Arm, build_schedule

#: Days without NSSI at the end of a window that count as remission.
REMISSION_DAYS = 56
#: Days per month for per-month frequencies.
DAYS_PER_MONTH = 30.4375


# ------------------------------------------------------------------------------ simulation
def _population(design: Design, stratum: Mapping[str, float], ids: np.ndarray) -> dict[str, np.ndarray]:
    spec = load_population(design.population)
    pop = params_of(sample_population(spec, len(ids), design.seed, subject_ids=ids))
    pop.update({k: np.full(len(ids), v) for k, v in {**design.overrides, **stratum}.items()})
    return pop



def _sim_kw(design: Design, days: int) -> dict:
    return dict(horizon_hours=days * HOURS_PER_DAY, dt=design.dt_hours, record_every=round(HOURS_PER_DAY / design.dt_hours),
                event_capacity=1, start_age_years=design.start_age_years)


def screen(design: Design, stratum: Mapping[str, float], needed: int,
           mechanisms_off: Sequence[str] = ()) -> tuple[np.ndarray, int]:
    """Ids of the first ``needed`` eligible candidates (ids 0, 1, ...) and how many were screened."""
    found, screened = [], 0
    while sum(len(f) for f in found) < needed:
        if screened >= design.max_screen:
            got = sum(len(f) for f in found)
            raise DesignError(f"{design.source}: only {got} of {screened} screened candidates are eligible, "
                              f"{needed} needed (n_patients x replicates): relax [eligibility] or raise max_screen")
        b = min(design.screen_batch, design.max_screen - screened)
        ids = np.arange(screened, screened + b, dtype=np.int64)
        ds = simulate_cohort(design.seed, _population(design, stratum, ids), subject_ids=ids,
                             mechanisms_off=mechanisms_off, **_sim_kw(design, design.history_days))
        found.append(ids[eligible(ds, design)])
        screened += b
    return np.concatenate(found)[:needed], screened


def neural_proxies(params: Mapping[str, np.ndarray], pfc: np.ndarray, load: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Limbic reactivity and prefrontal regulation proxies of each person.

    limbic: the model's limbic gain (:func:`nssisim.core.model.limbic_gain`, the rate at which
    unit stress drives arousal); regulation: the extra recovery gain from prefrontal control at
    rest, ``k_pfc_regulation`` times the regulation capacity without acute stress
    (:func:`nssisim.core.model.regulation_capacity`). Both with every mechanism on, the
    parameters in force (intervention included) and, for regulation, the states ``pfc`` and
    allostatic ``load``.
    """
    limbic = limbic_gain(params, xp=np)
    # the capacity is linear in pfc: scaling pfc by k_pfc_regulation first gives k times the
    # capacity with the rounding of the trial outcomes as recorded
    regulation = regulation_capacity(params, params["k_pfc_regulation"] * pfc, load)
    return np.asarray(limbic, dtype=np.float64), np.asarray(regulation, dtype=np.float64)


def simulate_arms(design: Design, stratum: Mapping[str, float], ids: np.ndarray,
                  arms: Sequence[Arm] | None = None, mechanisms_off: Sequence[str] = ()) -> dict[str, np.ndarray]:
    """Simulate patients ``ids`` in every arm (one compiled run) and compute per-patient outcomes.

    Returns arrays with a leading ``(arm, patient)`` shape: one per outcome with a window axis
    last, plus ``completed``, ``adherence``, ``dropout_days``, ``monthly_nssi`` (arm, patient,
    month) and ``pre_identical`` (all arms' pre-treatment histories equal).
    """
    arms = tuple(design.arms if arms is None else arms)
    n, k = len(ids), len(arms)
    sim_ids = np.tile(ids, k)
    arm_of = np.repeat(np.arange(k), n)
    pop = _population(design, stratum, ids)
    params = {name: np.tile(v, k) for name, v in pop.items()}
    h = design.history_days
    t0 = h * HOURS_PER_DAY
    sched, info = build_schedule(arms, arm_of, sim_ids, design.seed, t0, design.length_days)
    ds = simulate_cohort(design.seed, params, subject_ids=sim_ids, schedule=sched, mechanisms_off=mechanisms_off,
                         **_sim_kw(design, design.horizon_days))
    acts = ds["acts"].values.reshape(k, n, -1)
    att = ds["attempts"].values.reshape(k, n, -1)
    pre_identical = bool((acts[:, :, :h] == acts[:1, :, :h]).all()
                         and (ds["affect"].values.reshape(k, n, -1)[:, :, :h] == ds["affect"].values.reshape(k, n, -1)[:1, :, :h]).all())
    # the trial run reproduces the screening run's histories, so every patient is still eligible
    still = _eligible(acts[0], ds["ideation"].values.reshape(k, n, -1)[0], att[0], design)
    pfc = ds["pfc"].values.reshape(k, n, -1)
    load = ds["allostatic_load"].values.reshape(k, n, -1)
    stacked = stack_params(params, n * k)

    def proxies(day: int):
        eff, _ = effective_params(stacked, sched, t0 + day * HOURS_PER_DAY)
        li, re = neural_proxies(eff, pfc[:, :, h + day - 1].ravel(), load[:, :, h + day - 1].ravel())
        return li.reshape(k, n), re.reshape(k, n)

    lim0, reg0 = proxies(0)
    out = {o: np.zeros((k, n, len(design.windows))) for o in OUTCOMES}
    for j, w in enumerate(design.windows):
        sl = slice(h + w.start_day, h + w.end_day)
        a, s = acts[:, :, sl].sum(axis=2), att[:, :, sl].sum(axis=2)
        months = (w.end_day - w.start_day) / DAYS_PER_MONTH
        out["nssi_free"][..., j] = a == 0
        out["attempt_free"][..., j] = s == 0
        out["self_harm_free"][..., j] = (a + s) == 0
        rem = slice(max(h + w.end_day - REMISSION_DAYS, h + w.start_day), h + w.end_day)
        out["remission"][..., j] = acts[:, :, rem].sum(axis=2) == 0
        out["completed"][..., j] = info["completed"].reshape(k, n)
        out["nssi_per_month"][..., j] = a / months
        out["self_harm_per_month"][..., j] = (a + s) / months
        lim, reg = proxies(w.end_day)
        out["limbic_change"][..., j] = lim - lim0
        out["regulation_change"][..., j] = reg - reg0
    # monthly NSSI from the start of the baseline period to the end of follow-up
    first = h - design.baseline_days
    n_months = int(math.ceil((design.horizon_days - first) / DAYS_PER_MONTH))
    edges = np.minimum(first + np.round(np.arange(n_months + 1) * DAYS_PER_MONTH).astype(int), design.horizon_days)
    monthly = np.stack([acts[:, :, edges[m]:edges[m + 1]].sum(axis=2) * DAYS_PER_MONTH / max(edges[m + 1] - edges[m], 1)
                        for m in range(n_months)], axis=2)
    out.update({
        "adherence": info["adherence"].reshape(k, n), "dropout_days": info["dropout_days"].reshape(k, n),
        "monthly_nssi": monthly, "month_start_day": (edges[:-1] - h).astype(float),
        "baseline_nssi_per_month": acts[0, :, first:h].sum(axis=1) / (design.baseline_days / DAYS_PER_MONTH),
        "limbic_baseline": lim0[0], "regulation_baseline": reg0[0], "pre_identical": pre_identical,
        "still_eligible": bool(still.all()),
    })
    return out


# ------------------------------------------------------------------------------ statistics


#: Null value of each effect measure (an interval excluding it is "significant").
NULL = {"risk_difference": 0.0, "odds_ratio": 1.0, "hedges_g": 0.0, "paired_difference": 0.0}


def _effect_rows(design: Design) -> list[tuple[str, str, str, str, str]]:
    """(contrast, outcome, window, measure, analysis) for every effect, in a fixed order."""
    rows = []
    ctrl = design.control
    for arm in design.arm_names:
        if arm == ctrl:
            continue
        con = f"{arm} vs {ctrl}"
        for w in design.windows:
            for o in OUTCOMES:
                if o == "completed" and w is not design.windows[0]:
                    continue
                measures = ("risk_difference", "odds_ratio") if o in BINARY_OUTCOMES else ("hedges_g",)
                rows += [(con, o, w.name, m, "randomised") for m in measures]
                rows.append((con, o, w.name, "paired_difference", "paired"))
    return rows


def _effects(design: Design, out: Mapping[str, np.ndarray], assigned: np.ndarray) -> np.ndarray:
    """Effects (rows of :func:`_effect_rows`) x (estimate, low, high) for one replicate."""
    rows = _effect_rows(design)
    names = design.arm_names
    c = names.index(design.control)
    wi = {w.name: j for j, w in enumerate(design.windows)}
    res = np.full((len(rows), 3), np.nan)
    fns = {"risk_difference": risk_difference, "odds_ratio": odds_ratio_groups, "hedges_g": hedges_g,
           "paired_difference": paired_difference}
    for r, (con, o, wn, meas, analysis) in enumerate(rows):
        a = names.index(con.split(" vs ")[0])
        x = out[o][..., wi[wn]]
        if analysis == "paired":
            res[r] = fns[meas](x[a], x[c])
        else:
            x1, x0 = x[a][assigned == a], x[c][assigned == c]
            if len(x1) >= 2 and len(x0) >= 2:
                res[r] = fns[meas](x1, x0)
    return res


def randomise(n: int, n_arms: int, seed: int, replicate: int, stratum: int) -> np.ndarray:
    """Arm index per patient: permuted blocks of ``2 * n_arms`` (equal allocation)."""
    rng = np.random.default_rng([int(seed), 0x7219A1, int(stratum), int(replicate)])
    block = np.repeat(np.arange(n_arms), 2)
    n_blocks = -(-n // len(block))
    return np.concatenate([rng.permutation(block) for _ in range(n_blocks)])[:n]


#: Subjects (patients x arms) simulated per compiled call of a trial: replicates are grouped
#: so that a call stays below this (memory is bounded whatever the number of replicates).
GROUP_SUBJECTS = 4096


def _screen_arrays(design: Design, stratum: str, needed: int) -> dict[str, np.ndarray]:
    ids, screened = screen(design, design.strata[stratum], needed)
    return {"ids": ids, "screened": np.array(screened)}


def _cached(folder: Path | None, key: str, compute):
    """``compute()`` (a dict of arrays), stored as ``folder/key.npz`` and reused if present."""
    if folder is None:
        return compute()
    path = folder / f"{key}.npz"
    if path.exists():
        with np.load(path) as z:
            return {k: z[k] for k in z.files}
    out = compute()
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{key}.tmp.npz"
    np.savez(tmp, **{k: np.asarray(v) for k, v in out.items()})
    tmp.replace(path)
    return out


def run_trial(design: Design, replicates: int | None = None, checkpoint: str | Path | None = None) -> xr.Dataset:
    """Run a design (``replicates`` independent trials, default the design's) and return the Dataset.

    ``checkpoint``: a folder for intermediate results (screened ids, groups of replicates),
    keyed by the design's hash and the number of replicates; a run interrupted and started
    again with the same folder reuses what was finished.
    """
    reps = design.replicates if replicates is None else int(replicates)
    if reps < 1:
        raise ValueError(f"replicates must be >= 1, got {reps}")
    if checkpoint is not None:
        cfg0 = json.loads(json.dumps(design.raw, default=str))
        checkpoint = Path(checkpoint) / f"{config_hash(cfg0)[:16]}_r{reps}"
    n, k = design.n_patients, len(design.arms)
    rows = _effect_rows(design)
    strata = list(design.strata)
    per = {o: [] for o in OUTCOMES}
    extra = {key: [] for key in ("adherence", "dropout_days", "monthly_nssi", "baseline_nssi_per_month",
                                 "limbic_baseline", "regulation_baseline")}
    assigned_all, ids_all, eff_all, screen_info = [], [], [], []
    month_start = None
    for s_i, s_name in enumerate(strata):
        sc = _cached(checkpoint, f"{s_name}_screen", lambda: _screen_arrays(design, s_name, n * reps))
        ids, screened = np.asarray(sc["ids"]), int(sc["screened"])
        # replicates are simulated in groups (bounded memory); each group is a resumable checkpoint
        group = max(1, min(reps, GROUP_SUBJECTS // max(n * k, 1)))
        parts = []
        for g0 in range(0, reps, group):
            sl = slice(g0 * n, min(g0 + group, reps) * n)
            parts.append(_cached(checkpoint, f"{s_name}_reps{g0}", lambda sl=sl: simulate_arms(
                design, design.strata[s_name], ids[sl])))
        out = {key: np.concatenate([np.asarray(pt[key]) for pt in parts], axis=1) for key in
               OUTCOMES + ("adherence", "dropout_days", "monthly_nssi")}
        out.update({key: np.concatenate([np.asarray(pt[key]) for pt in parts]) for key in
                    ("baseline_nssi_per_month", "limbic_baseline", "regulation_baseline")})
        if not all(bool(pt["pre_identical"]) for pt in parts):  # pragma: no cover - guards common random numbers
            raise RuntimeError("pre-treatment histories differ between arms: common random numbers are broken")
        if not all(bool(pt["still_eligible"]) for pt in parts):  # pragma: no cover - guards the screening
            raise RuntimeError("the trial run does not reproduce the screening histories (a patient is no longer eligible)")
        month_start = np.asarray(parts[0]["month_start_day"])
        screen_info.append((screened, len(ids)))
        assigned = np.stack([randomise(n, k, design.seed, r, s_i) for r in range(reps)])
        eff = np.zeros((reps, len(rows), 3))
        for r in range(reps):
            sl = slice(r * n, (r + 1) * n)
            sub = {o: out[o][:, sl] for o in OUTCOMES}
            eff[r] = _effects(design, sub, assigned[r])
        eff_all.append(eff)
        assigned_all.append(assigned)
        ids_all.append(ids.reshape(reps, n))
        for o in OUTCOMES:  # (arm, reps*n, window) -> (reps, n, arm, window)
            per[o].append(out[o].reshape(k, reps, n, -1).transpose(1, 2, 0, 3))
        for key in ("adherence", "dropout_days"):
            extra[key].append(out[key].reshape(k, reps, n).transpose(1, 2, 0))
        extra["monthly_nssi"].append(out["monthly_nssi"].reshape(k, reps, n, -1).transpose(1, 2, 0, 3))
        for key in ("baseline_nssi_per_month", "limbic_baseline", "regulation_baseline"):
            extra[key].append(out[key].reshape(reps, n))
    dims_o = ("stratum", "replicate", "patient", "arm", "window")
    data_vars = {o: (dims_o, np.stack(per[o])) for o in OUTCOMES}
    data_vars["completed"] = (dims_o[:-1], np.stack(per["completed"])[..., 0].astype(bool))
    for o in BINARY_OUTCOMES:
        if o != "completed":
            data_vars[o] = (dims_o, np.stack(per[o]).astype(bool))
    data_vars["adherence"] = (dims_o[:-1], np.stack(extra["adherence"]))
    data_vars["dropout_days"] = (dims_o[:-1], np.stack(extra["dropout_days"]))
    data_vars["monthly_nssi"] = (("stratum", "replicate", "patient", "arm", "month"), np.stack(extra["monthly_nssi"]))
    for key in ("baseline_nssi_per_month", "limbic_baseline", "regulation_baseline"):
        data_vars[key] = (("stratum", "replicate", "patient"), np.stack(extra[key]))
    data_vars["assigned"] = (("stratum", "replicate", "patient"), np.stack(assigned_all).astype(np.int16))
    data_vars["subject_id"] = (("stratum", "replicate", "patient"), np.stack(ids_all))
    eff = np.stack(eff_all)
    for i, v in enumerate(("estimate", "low", "high")):
        data_vars[v] = (("stratum", "replicate", "effect"), eff[..., i])
    null = np.array([NULL[r[3]] for r in rows])
    data_vars["significant"] = (("stratum", "replicate", "effect"), (eff[..., 1] > null) | (eff[..., 2] < null))
    data_vars["screened"] = (("stratum",), np.array([s for s, _ in screen_info]))
    data_vars["eligible_found"] = (("stratum",), np.array([e for _, e in screen_info]))
    ds = xr.Dataset(data_vars, coords={
        "stratum": strata, "replicate": np.arange(reps), "patient": np.arange(n), "arm": list(design.arm_names),
        "window": [w.name for w in design.windows],
        "window_start_day": ("window", [w.start_day for w in design.windows]),
        "window_end_day": ("window", [w.end_day for w in design.windows]),
        "month": np.arange(len(month_start)), "month_start_day": ("month", month_start),
        "effect": np.arange(len(rows)),
        "contrast": ("effect", [r[0] for r in rows]), "outcome": ("effect", [r[1] for r in rows]),
        "effect_window": ("effect", [r[2] for r in rows]), "measure": ("effect", [r[3] for r in rows]),
        "analysis": ("effect", [r[4] for r in rows]),
    })
    ds["assigned"].attrs["meaning"] = "index into the arm coordinate"
    ds["monthly_nssi"].attrs["units"] = "acts per 30.4 days; month m starts at month_start_day (days after randomisation)"
    ds["completed"].attrs["meaning"] = "no dropout before the end of treatment"
    cfg = json.loads(json.dumps(design.raw, default=str))
    cfg["run"] = {"replicates": reps}
    ds.attrs.update({
        "title": f"nssisim virtual trial '{design.name}' (research instrument; a model prediction, not evidence)",
        "nssisim_version": __version__, "design": json.dumps(cfg, sort_keys=True), "config_hash": config_hash(cfg),
        "control_arm": design.control, "seed": design.seed, "population": design.population,
        "history_days": design.history_days, "treatment_length_days": design.length_days,
        "age_at_randomisation": design.start_age_years + design.history_days / 365.25,
        "remission_days": REMISSION_DAYS, "common_random_numbers": "each patient is simulated in every arm with the same subject id",
    })
    return ds


# ------------------------------------------------------------------------------ tables
def effects_table(ds: xr.Dataset) -> pd.DataFrame:
    """One row per stratum, replicate and effect (tidy)."""
    frames = []
    for s in ds["stratum"].values:
        for r in ds["replicate"].values:
            e = ds.sel(stratum=s, replicate=r)
            frames.append(pd.DataFrame({
                "stratum": s, "replicate": int(r), "contrast": ds["contrast"].values, "outcome": ds["outcome"].values,
                "window": ds["effect_window"].values, "measure": ds["measure"].values, "analysis": ds["analysis"].values,
                "estimate": e["estimate"].values, "low": e["low"].values, "high": e["high"].values,
                "significant": e["significant"].values,
            }))
    return pd.concat(frames, ignore_index=True)


def summary_table(ds: xr.Dataset) -> pd.DataFrame:
    """Per stratum and effect: estimate of replicate 0 with its interval, and over replicates the
    median, 2.5% and 97.5% quantiles and the power (share of trials whose interval excludes no effect)."""
    df = effects_table(ds)
    keys = ["stratum", "contrast", "outcome", "window", "measure", "analysis"]
    g = df.groupby(keys, sort=False)
    first = df[df.replicate == 0].set_index(keys)[["estimate", "low", "high"]]
    out = pd.DataFrame({
        "median": g["estimate"].median(), "q025": g["estimate"].quantile(0.025), "q975": g["estimate"].quantile(0.975),
        "power": g["significant"].mean(), "replicates": g["estimate"].size(),
    })
    return first.join(out).reset_index()


def arm_summary(ds: xr.Dataset) -> pd.DataFrame:
    """Per stratum, arm and window: outcome means over all simulated patients (every arm; paired)."""
    rows = []
    for s in ds["stratum"].values:
        for a in ds["arm"].values:
            for w in ds["window"].values:
                x = ds.sel(stratum=s, arm=a, window=w)
                row = {"stratum": s, "arm": a, "window": w}
                row.update({o: float(x[o].mean()) for o in OUTCOMES if o != "completed"})
                row["completed"] = float(ds["completed"].sel(stratum=s, arm=a).mean())
                rows.append(row)
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------ calibration
#: The calibration target: DBT vs control on self-directed violence (DeCou2019; mostly adults).
DBT_TARGET_D = -0.324
DBT_TARGET_INTERVAL = (-0.471, -0.176)


def strength_curve(design: Design, arm: str, strengths: Sequence[float], outcome: str = "self_harm_per_month",
                   window: str | None = None, stratum: str | None = None) -> pd.DataFrame:
    """Hedges' g of ``arm`` vs the design's control for each strength (all screened patients in
    every arm: a paired pool, so the curve is smooth in the strength)."""
    stratum = stratum or next(iter(design.strata))
    window = window or design.windows[0].name
    base = next(a for a in design.arms if a.name == arm)
    ctrl = next(a for a in design.arms if a.name == design.control)
    arms = [ctrl] + [replace(base, name=f"{arm}@{s:g}", strength=float(s)) for s in strengths]
    ids, screened = screen(design, design.strata[stratum], design.n_patients)
    out = simulate_arms(design, design.strata[stratum], ids, arms)
    j = [w.name for w in design.windows].index(window)
    x = out[outcome][..., j]
    rows = []
    for i, s in enumerate(strengths, start=1):
        g, lo, hi = hedges_g(x[i], x[0])
        rows.append({"strength": float(s), "hedges_g": g, "low": lo, "high": hi, "patients": len(ids),
                     "screened": screened, "mean_arm": float(x[i].mean()), "mean_control": float(x[0].mean())})
    return pd.DataFrame(rows)


def calibrate_strength(design: Design, arm: str, strengths: Sequence[float], target: float = DBT_TARGET_D,
                       **kw) -> tuple[float, pd.DataFrame]:
    """The strength at which the curve of :func:`strength_curve` crosses ``target`` (linear
    interpolation between grid points; the curve is checked to be monotone there)."""
    curve = strength_curve(design, arm, strengths, **kw)
    g = curve["hedges_g"].to_numpy()
    s = curve["strength"].to_numpy()
    for i in range(len(s) - 1):
        if (g[i] - target) * (g[i + 1] - target) <= 0 and g[i] != g[i + 1]:
            return float(s[i] + (target - g[i]) * (s[i + 1] - s[i]) / (g[i + 1] - g[i])), curve
    raise ValueError(f"target {target} not bracketed by the strengths {list(s)} (g = {list(np.round(g, 3))})")


__all__ = ["DBT_TARGET_D", "DBT_TARGET_INTERVAL", "GROUP_SUBJECTS", "REMISSION_DAYS", "arm_summary",
           "calibrate_strength", "effects_table", "neural_proxies", "randomise", "run_trial", "screen",
           "simulate_arms", "strength_curve", "summary_table"]
