"""Running a virtual randomised trial: screening, arms, randomisation, outcomes and effects.

The design is a :class:`nssisim.trials.design.Design`. Data flow of :func:`run_trial`:

1. **Screening** (:func:`screen_patients`). Candidates are sampled from a population spec
   (:mod:`nssisim.population`, loaded by name, or a given spec object with a parameter set's
   overrides: :meth:`Design.on_population`) with optional parameter overrides per stratum,
   and their history is simulated without treatment. Referral source: community adolescents
   from the life-course start (age 10 by default) to the referral rule's last check age; each
   enters at its referral day (:func:`nssisim.population.referral.referral_days`). Population
   source (the special case kept from before): a fixed ``history_days`` from ``start_age_years``.
   Eligibility (:mod:`nssisim.population.criteria`, AND / OR / NOT) is evaluated on the days
   before randomisation; a sex mix fills each trial's quota of girls and boys.
2. **One compiled run for all arms** (:func:`simulate_arms`). Every eligible patient is
   simulated in *every* arm with the same subject id (common random numbers), the arms stacked
   along the subject axis and differing only in the arrays of one
   :class:`nssisim.core.simulation.Schedule` (:func:`nssisim.trials.interventions.build_schedule`).
   Each patient's treatment starts on its own randomisation day. Histories before treatment
   are therefore identical across arms and to the screening run (checked on every run), and
   each patient's counterfactual outcome is known in every arm.
3. **Randomisation** (:func:`randomise`). Per replicate, the replicate's patients are allocated
   to arms in permuted blocks; the randomised analysis uses only each patient's assigned arm.
   Paired contrasts (all patients in both arms) are reported beside it.
4. **Outcomes** per follow-up window (days after randomisation; :func:`day_outcomes`): share
   free of NSSI, of attempts and of any self-harm, NSSI and self-harm frequency per month, NSSI
   days, remission (no NSSI in the last ``remission_days`` of the window), response (>= 50 %
   fewer NSSI days than the baseline period), relapse (NSSI after ``remission_days`` act-free
   days), treatment completion (:func:`completion_check` against the DBT-A target), and the neural
   proxies as change from randomisation to the end of the window, measured by a standard stress
   probe (:func:`nssisim.core.probe.stress_probe`: the rise of affect after one fixed stressor,
   limbic reactivity, and the return from an affect challenge, regulation), not read off the parameters.
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
from ..core.model import STATE_FIELDS
from ..core.parameters import HOURS_PER_DAY
from ..core.probe import stress_probe
from ..core.simulation import config_hash, effective_params, mechanism_switches, simulate_cohort, stack_params
from ..population.criteria import history_of
from ..population.referral import referral_days
from ..population.spec import FACTOR_PREFIX, load_population, params_of, sample_population
from ..stats import hedges_g, odds_ratio_groups, paired_difference, risk_difference, wilson_interval
from ..files import toml_file, resource
from .design import BINARY_OUTCOMES, Design, DesignError, eligible_history, OUTCOMES, REMISSION_DAYS
from .interventions import Arm, build_schedule
#: Days per month for per-month frequencies.
DAYS_PER_MONTH = 30.4375


# ------------------------------------------------------------------------------ simulation
def _sample(design: Design, stratum: Mapping[str, float], ids: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Per-patient parameters (population draw, a parameter set's overrides, design and stratum
    overrides) and the sex factor.

    The population is ``design.population_spec`` if set (:meth:`Design.on_population`), else the
    named one. The design's ``base`` (if any) enters as the spec's shared overrides beneath its own
    ``[parameters]``, so the factor mapping (e.g. the sex ratio of ``k_hope_mood``) starts from it.
    A parameter set's model parameters (``design.population_overrides``) replace the drawn values
    after the factor mapping, exactly as the calibration's overrides in
    :func:`nssisim.population.lifecourse.simulate_chunk`, so a set means the same here.
    """
    spec = design.population_spec if design.population_spec is not None else load_population(design.population)
    if design.base:
        shared = {k: float(v) for k, v in design.base.items() if k not in spec.factor_names}
        spec = replace(spec, parameters={**shared, **spec.parameters})
    drawn = sample_population(spec, len(ids), design.seed, subject_ids=ids)
    pop = params_of(drawn)
    pop.update({k: np.full(len(ids), float(v)) for k, v in design.population_overrides.items()})
    pop.update({k: np.full(len(ids), v) for k, v in {**design.overrides, **stratum}.items()})
    sex = drawn.get(FACTOR_PREFIX + "sex_female", np.full(len(ids), np.nan))
    return pop, np.asarray(sex, dtype=np.float64)


def _sim_kw(design: Design, days: int) -> dict:
    return dict(horizon_hours=days * HOURS_PER_DAY, dt=design.dt_hours, record_every=round(HOURS_PER_DAY / design.dt_hours),
                event_capacity=1, start_age_years=design.start_age_years)


def _screen_days(design: Design) -> int:
    """Days simulated per candidate when screening: the history (population source) or the life
    course up to the referral rule's last check age (referral source)."""
    if design.patients_from == "population":
        return design.history_days
    return int(math.floor((design.rule.age_max - design.start_age_years) * 365.25 + 1e-9))


def _select(found: list[tuple[np.ndarray, np.ndarray, np.ndarray]], needed: int, design: Design):
    """The first ``needed`` patients in screening order, or, with a sex mix, ``female_share`` of each
    trial's ``n_patients`` girls (blocks of one trial's patients, in screening order). None if too few."""
    ids = np.concatenate([f[0] for f in found]) if found else np.zeros(0, np.int64)
    t0 = np.concatenate([f[1] for f in found]) if found else np.zeros(0, np.int64)
    sex = np.concatenate([f[2] for f in found]) if found else np.zeros(0)
    if design.female_share is None:
        return (ids[:needed], t0[:needed]) if ids.size >= needed else None
    g = design.n_patients if needed % design.n_patients == 0 else needed
    n_f = int(round(design.female_share * g))
    n_m = g - n_f
    groups = needed // g
    girls, boys = np.flatnonzero(sex == 1.0), np.flatnonzero(sex == 0.0)
    if girls.size < n_f * groups or boys.size < n_m * groups:
        return None
    take = np.concatenate([np.sort(np.concatenate([girls[r * n_f:(r + 1) * n_f], boys[r * n_m:(r + 1) * n_m]]))
                           for r in range(groups)])
    return ids[take], t0[take]


def screen_patients(design: Design, stratum: Mapping[str, float], needed: int,
                    mechanisms_off: Sequence[str] = ()) -> tuple[np.ndarray, np.ndarray, int]:
    """Ids and randomisation days (days since the start of the simulated life course) of the first
    ``needed`` eligible candidates (ids 0, 1, ... in batches), and how many were screened.

    Population source: every candidate is randomised after ``history_days``. Referral source:
    candidates are community adolescents simulated from ``referral.start_age_years``; a candidate
    enters at its referral day (:func:`nssisim.population.referral.referral_days`) and is eligible
    if the design's criteria hold then. A sex mix (``female_share``) fills each trial's quota of
    girls and boys in screening order.
    """
    found, screened = [], 0
    days = _screen_days(design)
    while (pick := _select(found, needed, design)) is None:
        if screened >= design.max_screen:
            got = sum(len(f[0]) for f in found)
            raise DesignError(f"{design.source}: only {got} of {screened} screened candidates are eligible, "
                              f"{needed} needed (n_patients x replicates"
                              f"{', with the sex mix' if design.female_share is not None else ''}): relax "
                              "[eligibility] or raise max_screen")
        b = min(design.screen_batch, design.max_screen - screened)
        ids = np.arange(screened, screened + b, dtype=np.int64)
        params, sex = _sample(design, stratum, ids)
        ds = simulate_cohort(design.seed, params, subject_ids=ids, mechanisms_off=mechanisms_off,
                             **_sim_kw(design, days))
        hist = history_of(ds, sex)
        if design.patients_from == "population":
            t0 = np.full(b, design.history_days, np.int64)
            ok = eligible_history(hist, design, t0)
        else:
            t0, _ = referral_days(design.rule, hist, design.seed, ids)
            ok = t0 >= 0
            ok[ok] = eligible_history(hist.take(np.flatnonzero(ok)), design, t0[ok])
        found.append((ids[ok], t0[ok], sex[ok]))
        screened += b
    return pick[0], pick[1], screened


def screen(design: Design, stratum: Mapping[str, float], needed: int,
           mechanisms_off: Sequence[str] = ()) -> tuple[np.ndarray, int]:
    """Ids of the first ``needed`` eligible candidates of a population-source design and how many
    were screened (a referral-source design needs each patient's day: :func:`screen_patients`)."""
    if design.patients_from != "population":
        raise ValueError(f"{design.source}: a referral-source design enters patients at their referral day: "
                         "use screen_patients")
    ids, _, screened = screen_patients(design, stratum, needed, mechanisms_off)
    return ids, screened


def day_outcomes(acts: np.ndarray, attempts: np.ndarray, baseline_days: int, windows: Sequence, remission_days: int
                 ) -> dict[str, np.ndarray]:
    """Outcomes of each window from daily records aligned on randomisation.

    ``acts``, ``attempts``: ``(..., baseline_days + follow)`` daily counts, day 0 of treatment at
    index ``baseline_days``; ``windows``: objects with ``start_day``, ``end_day`` (days after
    randomisation). Per window (last axis): ``nssi_free``, ``attempt_free``, ``self_harm_free``;
    ``nssi_per_month``, ``self_harm_per_month``; ``nssi_days`` (days with an act);
    ``remission``: no act in the window's last ``remission_days`` days (the whole window if
    shorter); ``response``: NSSI days per day in the window at most half the baseline's (and some
    NSSI in the baseline: >= 50 % fewer NSSI days); ``relapse``: an act in the window after at least
    ``remission_days`` days without acts since randomisation (NSSI after remission).
    """
    acts = np.asarray(acts, dtype=np.float64)
    attempts = np.asarray(attempts, dtype=np.float64)
    b = int(baseline_days)
    post = acts[..., b:] > 0
    d = np.arange(post.shape[-1])
    last = np.maximum.accumulate(np.where(post, d, -1), axis=-1)  # last act day <= d
    before = np.concatenate([np.full(post.shape[:-1] + (1,), -1), last[..., :-1]], axis=-1)  # last act day < d
    relapse_day = post & ((d - before - 1) >= remission_days)
    base_rate = (acts[..., :b] > 0).sum(axis=-1) / b
    out = {k: np.zeros(acts.shape[:-1] + (len(windows),)) for k in (
        "nssi_free", "attempt_free", "self_harm_free", "nssi_per_month", "self_harm_per_month", "nssi_days",
        "remission", "response", "relapse")}
    for j, w in enumerate(windows):
        sl = slice(b + w.start_day, b + w.end_day)
        a, s = acts[..., sl].sum(axis=-1), attempts[..., sl].sum(axis=-1)
        days = (acts[..., sl] > 0).sum(axis=-1)
        months = (w.end_day - w.start_day) / DAYS_PER_MONTH
        out["nssi_free"][..., j] = a == 0
        out["attempt_free"][..., j] = s == 0
        out["self_harm_free"][..., j] = (a + s) == 0
        out["nssi_per_month"][..., j] = a / months
        out["self_harm_per_month"][..., j] = (a + s) / months
        out["nssi_days"][..., j] = days
        rem = slice(max(b + w.end_day - remission_days, b + w.start_day), b + w.end_day)
        out["remission"][..., j] = acts[..., rem].sum(axis=-1) == 0
        out["response"][..., j] = (base_rate > 0) & (days / (w.end_day - w.start_day) <= 0.5 * base_rate)
        out["relapse"][..., j] = relapse_day[..., w.start_day:w.end_day].any(axis=-1)
    return out


def simulate_arms(design: Design, stratum: Mapping[str, float], ids: np.ndarray,
                  arms: Sequence[Arm] | None = None, mechanisms_off: Sequence[str] = (),
                  t0_days: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Simulate patients ``ids`` in every arm (one compiled run) and compute per-patient outcomes.

    ``t0_days``: each patient's randomisation day since the start of its simulated life course
    (default ``history_days``; a referral-source design passes the referral days of
    :func:`screen_patients`). Treatment starts there for each patient; windows count from it.

    Returns arrays with a leading ``(arm, patient)`` shape: one per outcome with a window axis
    last, plus ``completed``, ``adherence``, ``dropout_days``, ``monthly_nssi`` (arm, patient,
    month), ``pre_identical`` (all arms' pre-treatment histories equal) and ``still_eligible``
    (the screening decision is reproduced: eligible, and for a referral source referred on the
    same day).
    """
    arms = tuple(design.arms if arms is None else arms)
    n, k = len(ids), len(arms)
    if t0_days is None:
        if design.patients_from != "population":
            raise ValueError(f"{design.source}: pass t0_days (the referral days of screen_patients)")
        t0_days = np.full(n, design.history_days)
    t0 = np.asarray(t0_days, dtype=np.int64)
    bl, follow = design.baseline_days, design.follow_days
    if (t0 < bl).any():
        raise ValueError(f"randomisation days must leave the {bl}-day baseline inside the history")
    horizon = int(t0.max()) + follow
    sim_ids = np.tile(ids, k)
    arm_of = np.repeat(np.arange(k), n)
    pop, sex = _sample(design, stratum, ids)
    params = {name: np.tile(v, k) for name, v in pop.items()}
    t0_all = np.tile(t0, k)
    sched, info = build_schedule(arms, arm_of, sim_ids, design.seed, t0_all * HOURS_PER_DAY, design.length_days)
    ds = simulate_cohort(design.seed, params, subject_ids=sim_ids, schedule=sched, mechanisms_off=mechanisms_off,
                         **_sim_kw(design, horizon))
    acts = ds["acts"].values.reshape(k, n, -1)
    att = ds["attempts"].values.reshape(k, n, -1)
    pre = np.arange(horizon)[None, :] < t0[:, None]
    pre_identical = bool(all(((x == x[:1]) | ~pre[None]).all() for x in
                             (acts, ds["affect"].values.reshape(k, n, -1), ds["ideation"].values.reshape(k, n, -1))))
    # the trial run reproduces the screening run's histories, so every patient is still eligible
    hist0 = history_of(ds.isel(subject=slice(0, n)), sex)
    still = eligible_history(hist0, design, t0)
    if design.patients_from == "referral":
        ref0, _ = referral_days(design.rule, hist0, design.seed, ids)
        still &= ref0 == t0
    states = {f: ds[f].values.reshape(k, n, -1) for f in STATE_FIELDS}
    stacked = stack_params(params, n * k)
    rows = np.arange(n)
    on = mechanism_switches(mechanisms_off)

    def proxies(day: int):
        """The stress probe (:func:`nssisim.core.probe.stress_probe`) ``day`` days after randomisation, from
        the state recorded at the end of the day before, with the parameters then in force: limbic
        reactivity (the peak rise of affect after a stressor) and regulation (the return from an affect
        challenge), each ``(arm, patient)``."""
        t = ((t0_all + day) * HOURS_PER_DAY).astype(np.float64)[:, None]
        eff, _ = effective_params(stacked, sched, t)
        col = t0 + day - 1
        r = stress_probe(eff, {f: v[:, rows, col].ravel() for f, v in states.items()},
                         design.start_age_years + (t0_all + day) / 365.25, on)
        return r["reactivity"].reshape(k, n), r["regulation"].reshape(k, n)

    idx = t0[:, None] + np.arange(-bl, follow)[None, :]  # aligned on randomisation
    aligned = np.take_along_axis(acts, np.broadcast_to(idx, (k,) + idx.shape), axis=2)
    aligned_att = np.take_along_axis(att, np.broadcast_to(idx, (k,) + idx.shape), axis=2)
    days_out = day_outcomes(aligned, aligned_att, bl, design.windows, design.remission_days)
    lim0, reg0 = proxies(0)
    out = {o: np.zeros((k, n, len(design.windows))) for o in OUTCOMES}
    out.update(days_out)
    for j, w in enumerate(design.windows):
        out["completed"][..., j] = info["completed"].reshape(k, n)
        lim, reg = proxies(w.end_day)
        out["limbic_change"][..., j] = lim - lim0
        out["regulation_change"][..., j] = reg - reg0
    # monthly NSSI from the start of the baseline period to the end of follow-up
    total = bl + follow
    n_months = int(math.ceil(total / DAYS_PER_MONTH))
    edges = np.minimum(np.round(np.arange(n_months + 1) * DAYS_PER_MONTH).astype(int), total)
    monthly = np.stack([aligned[:, :, edges[m]:edges[m + 1]].sum(axis=2) * DAYS_PER_MONTH / max(edges[m + 1] - edges[m], 1)
                        for m in range(n_months)], axis=2)
    out.update({
        "adherence": info["adherence"].reshape(k, n), "dropout_days": info["dropout_days"].reshape(k, n),
        "monthly_nssi": monthly, "month_start_day": (edges[:-1] - bl).astype(float),
        "baseline_nssi_per_month": aligned[0, :, :bl].sum(axis=1) / (bl / DAYS_PER_MONTH),
        "baseline_self_harm_per_month": (aligned[0, :, :bl].sum(axis=1) + aligned_att[0, :, :bl].sum(axis=1))
        / (bl / DAYS_PER_MONTH),
        "limbic_baseline": lim0[0], "regulation_baseline": reg0[0], "pre_identical": pre_identical,
        "still_eligible": bool(still.all()), "randomisation_day": t0.astype(np.int64),
        "randomisation_age": design.start_age_years + t0 / 365.25, "sex_female": sex,
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


#: Version of the checkpoint files (2: randomisation days and the day outcomes were added).
CHECKPOINT_FORMAT = 2
#: Subjects (patients x arms) simulated per compiled call of a trial: replicates are grouped
#: so that a call stays below this (memory is bounded whatever the number of replicates).
GROUP_SUBJECTS = 4096


def _screen_arrays(design: Design, stratum: str, needed: int) -> dict[str, np.ndarray]:
    ids, t0, screened = screen_patients(design, design.strata[stratum], needed)
    return {"ids": ids, "t0": t0, "screened": np.array(screened)}


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


def _population_set(design: Design, correlation: bool = False) -> dict:
    """What a design run on a given population spec or parameter set differs by (empty for a plain
    design): the overrides, the seed, the spec's source, parameters, correlation scale (and with
    ``correlation`` its matrix: part of the checkpoint key)."""
    sp = design.population_spec
    if sp is None and not design.population_overrides:
        return {}
    out = {"overrides": {k: float(v) for k, v in sorted(design.population_overrides.items())}, "seed": int(design.seed)}
    if sp is not None:
        out.update({"spec": sp.source, "spec_name": sp.name, "correlation_scale": float(sp.correlation_scale),
                    "spec_parameters": {k: float(v) for k, v in sorted(sp.parameters.items())}})
        if correlation:
            out["correlation"] = np.asarray(sp.correlation).round(12).tolist()
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
        cfg0["_checkpoint_format"] = CHECKPOINT_FORMAT  # partial results of older code are not reused
        if design.base:
            cfg0["base"] = dict(design.base)
        if _population_set(design):  # a parameter set (and its seed) is part of the key
            cfg0["_population_set"] = _population_set(design, correlation=True)
        checkpoint = Path(checkpoint) / f"{config_hash(cfg0)[:16]}_r{reps}"
    n, k = design.n_patients, len(design.arms)
    rows = _effect_rows(design)
    strata = list(design.strata)
    per = {o: [] for o in OUTCOMES}
    per_patient = ("baseline_nssi_per_month", "limbic_baseline", "regulation_baseline", "randomisation_age",
                   "sex_female")
    extra = {key: [] for key in ("adherence", "dropout_days", "monthly_nssi") + per_patient}
    assigned_all, ids_all, eff_all, screen_info = [], [], [], []
    month_start = None
    for s_i, s_name in enumerate(strata):
        sc = _cached(checkpoint, f"{s_name}_screen", lambda: _screen_arrays(design, s_name, n * reps))
        ids, t0, screened = np.asarray(sc["ids"]), np.asarray(sc["t0"]), int(sc["screened"])
        # replicates are simulated in groups (bounded memory); each group is a resumable checkpoint
        group = max(1, min(reps, GROUP_SUBJECTS // max(n * k, 1)))
        parts = []
        for g0 in range(0, reps, group):
            sl = slice(g0 * n, min(g0 + group, reps) * n)
            parts.append(_cached(checkpoint, f"{s_name}_reps{g0}", lambda sl=sl: simulate_arms(
                design, design.strata[s_name], ids[sl], t0_days=t0[sl])))
        out = {key: np.concatenate([np.asarray(pt[key]) for pt in parts], axis=1) for key in
               OUTCOMES + ("adherence", "dropout_days", "monthly_nssi")}
        out.update({key: np.concatenate([np.asarray(pt[key]) for pt in parts]) for key in per_patient})
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
        for key in per_patient:
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
    for key in per_patient:
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
    if design.base:
        cfg["base"] = dict(design.base)
    if _population_set(design):  # only then: the records of plain runs are unchanged
        cfg["population_set"] = _population_set(design)
    ds.attrs.update({
        "title": f"nssisim virtual trial '{design.name}' (research instrument; a model prediction, not evidence)",
        "nssisim_version": __version__, "design": json.dumps(cfg, sort_keys=True), "config_hash": config_hash(cfg),
        "control_arm": design.control, "seed": design.seed, "population": design.population,
        "history_days": design.history_days, "treatment_length_days": design.length_days,
        "age_at_randomisation": float(np.mean(data_vars["randomisation_age"][1])),
        "patients_from": design.patients_from, "referral_rule": design.rule.name if design.rule else "",
        "life_course_start_age": design.start_age_years,
        "remission_days": design.remission_days, "common_random_numbers": "each patient is simulated in every arm with the same subject id",
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


def strength_arms(design: Design, arm: str, strengths: Sequence[float]) -> list[Arm]:
    """The design's control arm, then ``arm`` once per strength (named ``<arm>@<strength>``): a
    strength grid simulated on the same patients in one run."""
    base = next(a for a in design.arms if a.name == arm)
    ctrl = next(a for a in design.arms if a.name == design.control)
    return [ctrl] + [replace(base, name=f"{arm}@{s:g}", strength=float(s)) for s in strengths]


def strength_curve(design: Design, arm: str, strengths: Sequence[float], outcome: str = "self_harm_per_month",
                   window: str | None = None, stratum: str | None = None) -> pd.DataFrame:
    """Hedges' g of ``arm`` vs the design's control for each strength (all screened patients in
    every arm: a paired pool, so the curve is smooth in the strength)."""
    stratum = stratum or next(iter(design.strata))
    window = window or design.windows[0].name
    arms = strength_arms(design, arm, strengths)
    ids, t0, screened = screen_patients(design, design.strata[stratum], design.n_patients)
    out = simulate_arms(design, design.strata[stratum], ids, arms, t0_days=t0)
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


# ------------------------------------------------------------------------------ dropout check
#: The published completion rate of DBT-A (calibration file; Tormoen2014 open trial).
COMPLETION_TARGET = ("treatment.dbta_open_trial", "completed")


def completion_check(ds: xr.Dataset, arm: str = "dbt_a", target: tuple[str, str] = COMPLETION_TARGET) -> dict:
    """Simulated completion of ``arm`` (all patients of every stratum and replicate; each patient is
    simulated in every arm) beside the published rate: share, Wilson 95% interval, the published
    value, and whether the published value lies inside the simulated interval. The check that
    the arm's dropout (``completion`` in the design) reproduces the calibration target; nothing
    else is tuned to it."""
    if arm not in list(ds["arm"].values):
        raise ValueError(f"no arm '{arm}' in this trial (arms: {', '.join(map(str, ds['arm'].values))})")
    x = np.asarray(ds["completed"].sel(arm=arm).values, dtype=bool).ravel()
    lo, hi = wilson_interval(float(x.sum()), float(x.size))
    sec, entry = target[0].split(".", 1)
    pub = float(toml_file(resource("data", "calibration_targets.toml"))[sec][entry][target[1]])
    return {"arm": arm, "simulated": float(x.mean()), "low": lo, "high": hi, "n": int(x.size), "published": pub,
            "target": f"{target[0]}.{target[1]}", "inside": bool(lo <= pub <= hi)}


__all__ = ["COMPLETION_TARGET", "completion_check", "day_outcomes", "screen_patients",
           "DBT_TARGET_D", "DBT_TARGET_INTERVAL", "GROUP_SUBJECTS", "REMISSION_DAYS", "arm_summary",
           "calibrate_strength", "effects_table", "randomise", "run_trial", "screen",
           "simulate_arms", "strength_arms", "strength_curve", "summary_table"]
