"""Calibration of a population to published numbers by history matching (``nssisim calibrate``).

Data flow
---------
``targets/calibration.toml`` (published values with intervals; a copy ships as
``data/calibration_targets.toml``) -> :data:`TARGETS` (which entry each simulated measure is
compared with, and how it is defined) -> candidate parameter sets (:data:`CALIBRATED`, their
ranges) -> :func:`evaluate` (one life-course chunk per candidate: same subjects, same random
streams and survey ages for every candidate, i.e. common random numbers; reduced by
:func:`nssisim.population.lifecourse.reduce_chunk` and :func:`simulated_measures`) -> implausibility ->
next wave -> the best candidate, re-run on a larger confirmation cohort -> a calibration record
(``configs/calibration_<population>.toml``) and the calibrated values in the spec's
``[parameters]`` table.

Method: history matching with an implausibility measure (Craig et al. 1997; Vernon, Goldstein
& Bower 2010). Candidates are simulated (a few seconds each); between waves, one regression
emulator per target (constant, linear and squared terms of the unit-scaled parameters, ridge
least squares; its variance is the mean squared leave-one-out residual, which contains the
simulation noise) predicts every target over :data:`EMULATOR_SAMPLES` random points of the box,
and the next wave is drawn from the points whose emulated implausibility is at most the cut-off
(or, when none is, from the best-scoring ones).
For target ``j`` with published value ``z_j`` and simulated value ``f_j(x)``::

    I_j(x) = |f_j(x) - z_j| / sqrt(V_obs,j + V_sim,j(x) + V_md,j)

``V_obs``: the published 95% interval as a normal sd, ``((high - low) / 3.92)^2``; a value
without an interval gets :data:`POINT_REL_SD` of the value (onset age: :data:`ONSET_SD_YEARS`);
a range without a value (the peak age 14-16) counts as matched inside it (``f`` is replaced by the
nearest end). ``V_sim``: the sampling variance of the simulated statistic at the cohort size
(binomial, Woolf for log odds ratios, variance of the mean). ``V_md``: model discrepancy,
:data:`MODEL_DISCREPANCY_REL` of the target. Odds ratios are compared on the log scale. A
candidate is *non-implausible* when its largest ``I_j`` is at most :data:`CUTOFF` (3, the
three-sigma rule of Pukelsheim 1994). Wave 1 is a Latin hypercube over the ranges. Candidates are ranked by their largest
implausibility (to 0.01), ties broken by the root-mean-square implausibility (so that a target
no candidate can reach, such as the peak age under a constant environment, does not make the
ranking blind to the others). A single candidate's values are noisy (a few hundred subjects), so
the best-ranked one is partly lucky; the final choice is made among :data:`FINALISTS` finalists
(the point with the smallest emulated largest implausibility, whose emulated values average over
the noise, and the best-ranked simulated candidates), each simulated on a selection cohort of
``confirm_subjects`` new subjects (seed + 1). The chosen one is then simulated once more on an
independent confirmation cohort (seed + 2); the record reports that run, so its numbers are not
selected on their own noise.

Only parameters not pinned by mechanism evidence are fitted (the defaults in ``core/parameters.py``
stay, since the explanatory targets are designed on them): the baseline log-odds of acting
(a review-level assumption), the two function parameters whose only evidence is the function
shares being fitted, the attempt hazard scale, the stressor weights of maltreatment and peer
victimisation and the limbic sensitisation by maltreatment (their evidence gives directions; the
magnitudes are what the odds ratios being fitted measure), and the prefrontal capacity at the
start age relative to the adult value (the life course now starts at 11, not 12). They are shared
overrides (the spec's ``[parameters]`` table), so the explanatory targets, designed on the table's
defaults, are unaffected. When the spec has an age-varying environment (``[environment]``), the
shape of its first component (change, peak age, rise and decline time constants;
:data:`ENVIRONMENT_CALIBRATED`) is fitted too and written back into that table: its only evidence
is the published age curve (Plener2015) that the peak-age target compares with.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..files import resource, toml_file, toml_value
from .lifecourse import LifeCourse, simulate_chunk
from .survey import BULLYING_EXPOSED, MALTREATMENT_EXPOSED, simulated_measures
from ..core.parameters import PARAMS
from .spec import PopulationSpec, load_population

#: Implausibility cut-off (three-sigma rule).
CUTOFF = 3.0
#: Observation sd of a published value without an interval, relative to the value.
POINT_REL_SD = 0.10
#: Observation sd of the mean onset age (years): the meta-analytic mean has no interval here.
ONSET_SD_YEARS = 0.5
#: Model discrepancy sd, relative to the target.
MODEL_DISCREPANCY_REL = 0.05

#: Default method settings.
WAVES = 4
WAVE_SIZE = 32
CAL_SUBJECTS = 320
CONFIRM_SUBJECTS = 2048
CAL_SEED = 20261126
#: Points of the box at which the emulators are evaluated to refocus each wave.
EMULATOR_SAMPLES = 50_000
#: Finalists (the emulators' best point and the best simulated candidates) compared on a selection cohort.
FINALISTS = 3


@dataclass(frozen=True)
class CalTarget:
    """A published number and the simulated measure defined like it."""

    id: str
    key: str  # "<section>.<entry>" in calibration.toml
    measure: str  # key of simulated_measures()
    definition: str
    scale: str = "linear"  # "linear" or "log" (odds ratios)
    fitted: bool = True


TARGETS: tuple[CalTarget, ...] = (
    CalTarget("lifetime", "prevalence.lifetime_nssi_community_adolescents", "lifetime_nssi",
              "any act between the start age and the survey age (survey ages uniform 12-18), whole sample"),
    CalTarget("lifetime_nonclinical", "prevalence.lifetime_nssi_nonclinical_adolescents", "lifetime_nssi",
              "same measure as 'lifetime', compared with the non-clinical meta-analysis", fitted=False),
    CalTarget("five_plus", "prevalence.past_year_five_or_more", "five_plus_12m",
              "at least 5 acts in the 365 days before the survey, whole sample"),
    CalTarget("past_year", "prevalence.past_year_any", "nssi_12m",
              "any act in the 365 days before the survey, whole sample (reported, not fitted: the survey's "
              "past-year 23.5% exceeds the meta-analytic lifetime 22.1%, which one population cannot do)", fitted=False),
    CalTarget("onset", "course.onset_mean_age_years", "onset_mean",
              "mean age at the first act among those with a history at the survey"),
    CalTarget("peak_age", "course.peak_age_years", "peak_age",
              "whole year of age with the highest 12-month prevalence (ages the run covers)"),
    CalTarget("intrapersonal", "functions.emotion_regulation_share", "intrapersonal_share",
              "share with an act whose relief served the intrapersonal function, among those with a history at the survey"),
    CalTarget("interpersonal", "functions.interpersonal_share", "interpersonal_share",
              "share with an act that had an interpersonal consequence, among those with a history at the survey"),
    CalTarget("nssi_attempt", "cooccurrence.nssi_and_suicide_attempt_mixed", "nssi_and_attempt",
              "NSSI and a suicide attempt both by the survey, whole sample (published: mixed samples)"),
    CalTarget("maltreatment_or", "risk.childhood_maltreatment_odds_ratio", "maltreatment_or",
              f"odds ratio of lifetime NSSI at the survey, maltreatment score >= {MALTREATMENT_EXPOSED} vs below",
              scale="log"),
    CalTarget("bullying_or", "risk.bullying_victimisation_odds_ratio", "bullying_or",
              f"odds ratio of lifetime NSSI at the survey, peer victimisation >= {BULLYING_EXPOSED} vs below",
              scale="log"),
)

#: Fitted parameters and their search ranges (within PARAMS bounds); "log" ranges are searched on the log scale.
CALIBRATED: dict[str, tuple[float, float, str]] = {
    "act_bias": (-5.0, -1.0, "linear"),
    "pfc_child_fraction": (0.3, 1.0, "linear"),
    "p_interpersonal": (0.05, 0.8, "linear"),
    "intrapersonal_relief_min": (0.1, 0.7, "linear"),
    "lam_attempt": (2e-5, 3e-3, "log"),
    "w_stress_maltreatment": (0.0, 6.0, "linear"),
    "w_stress_peer": (0.0, 6.0, "linear"),
    "w_limbic_maltreatment": (0.0, 2.0, "linear"),
    # population parameter: the spec's latent correlations (illustrative magnitudes) times this scale
    "correlation_scale": (0.0, 1.0, "linear"),
}
#: Shape of the age-varying environment (the spec's first ``[environment.<name>]`` component; fitted
#: only when the spec has one): relative change at the peak age, the peak age, rise and decline
#: time constants (years). The onset age stays the spec's. Their only evidence is the age curve
#: being fitted (Plener2015: rises through early adolescence, peaks at 14-16, falls after 18).
ENVIRONMENT_CALIBRATED: dict[str, tuple[float, float, str]] = {
    "environment_change": (0.0, 4.0, "linear"),
    "environment_peak_age": (12.5, 17.5, "linear"),
    "environment_rise_years": (0.3, 4.0, "log"),
    "environment_decline_years": (0.5, 8.0, "log"),
}
#: Fitted entry -> field of the environment component.
ENVIRONMENT_FIELD = {"environment_change": "change", "environment_peak_age": "peak_age",
                     "environment_rise_years": "rise_years", "environment_decline_years": "decline_years"}
#: Fitted entries that are population-spec settings, not model parameters.
POPULATION_SETTINGS = ("correlation_scale", *ENVIRONMENT_CALIBRATED)
for _k, (_lo, _hi, _s) in CALIBRATED.items():  # the ranges must lie within the parameter table's bounds
    assert _k in POPULATION_SETTINGS or PARAMS[_k].low <= _lo < _hi <= PARAMS[_k].high, _k


def calibrated_ranges(spec: PopulationSpec) -> dict[str, tuple[float, float, str]]:
    """The fitted entries for ``spec``: :data:`CALIBRATED`, plus the environment's shape if it has one."""
    return {**CALIBRATED, **(ENVIRONMENT_CALIBRATED if spec.environment else {})}


def with_settings(spec: PopulationSpec, x: dict[str, float]) -> PopulationSpec:
    """``spec`` with the fitted population settings of ``x`` (correlation scale, environment shape) applied."""
    if "correlation_scale" in x:
        spec = spec.with_correlation_scale(x["correlation_scale"])
    env = {f: float(x[k]) for k, f in ENVIRONMENT_FIELD.items() if k in x}
    if env:
        if not spec.environment:
            raise ValueError(f"{spec.source}: environment settings given but the spec has no [environment] table")
        spec = spec.with_environment(spec.environment[0].name, **env)
    return spec


def targets_path() -> Path:
    """The calibration targets shipped with the package (a copy of ``targets/calibration.toml``)."""
    return resource("data", "calibration_targets.toml")


def load_targets(path: str | Path | None = None) -> dict:
    """Parse a calibration targets TOML; errors name the file and the missing entry."""
    p = Path(path) if path is not None else targets_path()
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such calibration targets file")
    data = toml_file(p)
    out = {}
    for t in TARGETS:
        sec, name = t.key.split(".", 1)
        entry = data.get(sec, {}).get(name)
        if not isinstance(entry, dict) or not ({"value", "low", "high"} & set(entry)):
            raise ValueError(f"{p}: [{t.key}] missing or without value/low/high (needed by calibration target '{t.id}')")
        out[t.id] = entry
    return out


# ----------------------------------------------------------------------------- simulated measures


def _obs(entry: dict) -> tuple[float | None, float | None, float | None]:
    return entry.get("value"), entry.get("low"), entry.get("high")


def implausibility(t: CalTarget, entry: dict, m: dict[str, float]) -> float:
    """``I_j`` of one target (module docstring); NaN-valued measures are maximally implausible (inf)."""
    f = m.get(t.measure, math.nan)
    if not math.isfinite(f):
        return math.inf
    value, low, high = _obs(entry)
    if t.id == "peak_age":  # a range: matched inside it, else the distance to the nearest end
        lo, hi = float(low), float(high)
        d = max(lo - f, 0.0, f - hi)
        return d / 0.5  # one year of age off is two sds
    if t.id == "onset":
        v_obs = ONSET_SD_YEARS**2
        v_sim = m["onset_var"] / max(m["n_lifetime"], 1.0)
        z = float(value)
        return abs(f - z) / math.sqrt(v_obs + v_sim + (MODEL_DISCREPANCY_REL * z) ** 2)
    if value is None:
        value = 0.5 * (low + high)
    z = float(value)
    if t.scale == "log":
        fz, zz = math.log(max(f, 1e-9)), math.log(z)
        v_obs = ((math.log(high) - math.log(low)) / 3.92) ** 2
        lo, hi = m[t.measure + "_low"], m[t.measure + "_high"]
        v_sim = ((math.log(hi) - math.log(lo)) / 3.92) ** 2
        return abs(fz - zz) / math.sqrt(v_obs + v_sim + MODEL_DISCREPANCY_REL**2)
    v_obs = ((high - low) / 3.92) ** 2 if low is not None and high is not None else (POINT_REL_SD * z) ** 2
    denom = m["n_lifetime"] if t.measure in ("intrapersonal_share", "interpersonal_share") else m["n"]
    v_sim = f * (1 - f) / max(denom, 1.0)
    return abs(f - z) / math.sqrt(v_obs + v_sim + (MODEL_DISCREPANCY_REL * z) ** 2)


def within_interval(t: CalTarget, entry: dict, f: float) -> bool | None:
    """Whether the simulated value lies in the published interval (None if the entry has none)."""
    _, low, high = _obs(entry)
    if low is None or high is None or not math.isfinite(f):
        return None
    return bool(low <= f <= high)


# ----------------------------------------------------------------------------- history matching
def _to_unit(x: dict[str, float], ranges: dict | None = None) -> np.ndarray:
    u = []
    for k, (lo, hi, s) in (ranges or CALIBRATED).items():
        v = x[k]
        u.append((math.log(v) - math.log(lo)) / (math.log(hi) - math.log(lo)) if s == "log" else (v - lo) / (hi - lo))
    return np.array(u)


def _from_unit(u: np.ndarray, ranges: dict | None = None) -> dict[str, float]:
    out = {}
    for (k, (lo, hi, s)), v in zip((ranges or CALIBRATED).items(), np.clip(u, 0.0, 1.0)):
        out[k] = float(math.exp(math.log(lo) + v * (math.log(hi) - math.log(lo)))) if s == "log" else float(lo + v * (hi - lo))
    return out


def _features(u: np.ndarray) -> np.ndarray:
    """Emulator regressors: constant, linear and squared terms of the unit-scaled parameters."""
    return np.hstack([np.ones((u.shape[0], 1)), u, u**2])


def _emulated_value(t: CalTarget, f: np.ndarray) -> np.ndarray:
    return np.log(np.maximum(f, 1e-9)) if t.scale == "log" else f


def fit_emulators(u: np.ndarray, sims: pd.DataFrame, ridge: float = 1e-3) -> dict[str, tuple[np.ndarray, float]]:
    """Per fitted target, a ridge regression of the simulated value on :func:`_features`.

    Returns ``{target id: (coefficients, emulator variance)}``; the variance is the mean squared
    leave-one-out residual (it contains the simulation noise of a candidate and the misfit).
    """
    out = {}
    X = _features(u)
    for t in TARGETS:
        if not t.fitted:
            continue
        y = _emulated_value(t, sims[f"sim_{t.id}"].to_numpy(dtype=float))
        ok = np.isfinite(y)
        if ok.sum() < X.shape[1] + 2:
            continue
        Xo, yo = X[ok], y[ok]
        A = Xo.T @ Xo + ridge * np.eye(X.shape[1])
        beta = np.linalg.solve(A, Xo.T @ yo)
        h = np.einsum("ij,jk,ik->i", Xo, np.linalg.inv(A), Xo)
        loo = (yo - Xo @ beta) / np.clip(1.0 - h, 1e-3, None)
        out[t.id] = (beta, float(np.mean(loo**2)))
    return out


def emulated_implausibility(u: np.ndarray, emulators: dict, entries: dict) -> np.ndarray:
    """Largest emulated implausibility at each row of ``u`` (the observation, emulator and discrepancy variances)."""
    X = _features(u)
    imax = np.zeros(u.shape[0])
    for t in TARGETS:
        if t.id not in emulators:
            continue
        beta, v_em = emulators[t.id]
        f = X @ beta
        value, low, high = _obs(entries[t.id])
        if t.id == "peak_age":
            d = np.maximum.reduce([low - f, np.zeros_like(f), f - high])
            i = d / np.sqrt(0.25 + v_em)
        elif t.id == "onset":
            i = np.abs(f - value) / np.sqrt(ONSET_SD_YEARS**2 + v_em + (MODEL_DISCREPANCY_REL * value) ** 2)
        elif t.scale == "log":
            v_obs = ((math.log(high) - math.log(low)) / 3.92) ** 2
            i = np.abs(f - math.log(value)) / np.sqrt(v_obs + v_em + MODEL_DISCREPANCY_REL**2)
        else:
            z = value if value is not None else 0.5 * (low + high)
            v_obs = ((high - low) / 3.92) ** 2 if low is not None and high is not None else (POINT_REL_SD * z) ** 2
            i = np.abs(f - z) / np.sqrt(v_obs + v_em + (MODEL_DISCREPANCY_REL * z) ** 2)
        imax = np.maximum(imax, i)
    return imax


def _ranked(df: pd.DataFrame) -> pd.DataFrame:
    """Candidates best first: smallest largest implausibility (to 0.01), ties by the root-mean-square one."""
    return df.assign(_k=df["I_max"].round(2)).sort_values(["_k", "I_rms"], kind="stable").drop(columns="_k")


def evaluate(spec: PopulationSpec, x: dict[str, float], n: int, seed: int, course: LifeCourse,
             entries: dict) -> tuple[dict[str, float], dict[str, float]]:
    """Simulate candidate ``x`` on subjects ``0..n-1`` (common random numbers); measures and implausibilities."""
    spec = with_settings(spec, x)
    params = {k: v for k, v in x.items() if k not in POPULATION_SETTINGS}
    table = simulate_chunk(spec, np.arange(n), seed, course, overrides=params, with_events=False)
    m = simulated_measures(table)
    imp = {t.id: implausibility(t, entries[t.id], m) for t in TARGETS if t.fitted}
    return m, imp


def calibrate(population: str | Path = "community", *, targets: str | Path | None = None, waves: int = WAVES,
              wave_size: int = WAVE_SIZE, n_subjects: int = CAL_SUBJECTS, confirm_subjects: int = CONFIRM_SUBJECTS,
              seed: int = CAL_SEED, course: LifeCourse = LifeCourse(), progress: bool = False, log=print) -> dict:
    """History matching; returns the calibration record (a dict ready for :func:`write_record`)."""
    from scipy.stats import qmc

    spec = load_population(population)
    entries = load_targets(targets)
    ranges = calibrated_ranges(spec)
    rng = np.random.default_rng(seed)
    t0 = time.time()
    history = []
    k = len(ranges)
    pts = qmc.LatinHypercube(d=k, seed=rng).random(wave_size)
    for w in range(1, waves + 1):
        it = range(len(pts))
        if progress:
            from tqdm.auto import tqdm

            it = tqdm(it, desc=f"wave {w}/{waves}", unit="candidate")
        rows = []
        for i in it:
            x = _from_unit(pts[i], ranges)
            m, imp = evaluate(spec, x, n_subjects, seed, course, entries)
            rows.append({"wave": w, **x, **{f"I_{j}": v for j, v in imp.items()}, "I_max": max(imp.values()),
                         **{f"sim_{j}": m.get(t.measure, math.nan) for t in TARGETS for j in [t.id]}})
        df = pd.DataFrame(rows)
        icols = [c for c in df.columns if c.startswith("I_") and c != "I_max"]
        df["I_rms"] = np.sqrt((df[icols].clip(upper=1e6) ** 2).mean(axis=1))
        history.append(df)
        keep = df[df["I_max"] <= CUTOFF]
        log(f"wave {w}: {len(df)} candidates, {len(keep)} non-implausible (I_max <= {CUTOFF:g}); "
            f"best I_max {df['I_max'].min():.2f}; {time.time() - t0:.0f} s")
        if w == waves:
            break
        # refocus: emulators fitted to every candidate so far, then the non-implausible part of the box
        sofar = pd.concat(history, ignore_index=True)
        u_sim = np.stack([_to_unit(r, ranges) for r in sofar[list(ranges)].to_dict("records")])
        emus = fit_emulators(u_sim, sofar)
        cloud = rng.random((EMULATOR_SAMPLES, k))
        i_em = emulated_implausibility(cloud, emus, entries)
        ni = np.flatnonzero(i_em <= CUTOFF)
        log(f"  emulators: {len(emus)} targets; non-implausible share of the box {ni.size / EMULATOR_SAMPLES:.4f}")
        if ni.size < wave_size:
            ni = np.argsort(i_em)[: 5 * wave_size]
        pts = cloud[rng.choice(ni, wave_size, replace=False)]
    allc = pd.concat(history, ignore_index=True)
    # finalists: the emulators' best point (their mean response smooths the simulation noise that
    # favours lucky candidates) and the best-ranked simulated candidates
    u_sim = np.stack([_to_unit(r, ranges) for r in allc[list(ranges)].to_dict("records")])
    emus = fit_emulators(u_sim, allc)
    cloud = np.vstack([rng.random((EMULATOR_SAMPLES, k)), u_sim])
    i_em = emulated_implausibility(cloud, emus, entries)
    finalists = [_from_unit(cloud[int(np.argmin(i_em))], ranges)]
    finalists += [{p: float(r[p]) for p in ranges} for _, r in _ranked(allc).head(FINALISTS - 1).iterrows()]
    log(f"emulators' best point: emulated I_max {float(i_em.min()):.2f}")
    # choose among the finalists on a larger selection cohort, then report an independent one
    scored = []
    for x in finalists:
        _, imp = evaluate(spec, x, confirm_subjects, seed + 1, course, entries)
        scored.append((max(imp.values()), float(np.sqrt(np.mean(np.square(np.clip(list(imp.values()), 0, 1e6))))), x))
    scored.sort(key=lambda r: (round(r[0], 2), r[1]))
    log("finalists on the selection cohort: " + ", ".join(f"I_max {a:.2f}" for a, _, _ in scored)
        + f"; {time.time() - t0:.0f} s")
    x = scored[0][2]
    m, imp = evaluate(spec, x, confirm_subjects, seed + 2, course, entries)
    log(f"confirmation ({confirm_subjects} independent subjects): I_max {max(imp.values()):.2f}; {time.time() - t0:.0f} s")
    record = {
        "population": spec.name,
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "method": {
            "name": "history matching with an implausibility measure; quadratic regression emulators refocus each wave",
            "emulator_samples": EMULATOR_SAMPLES,
            "waves": waves, "wave_size": wave_size, "subjects_per_candidate": n_subjects,
            "confirm_subjects": confirm_subjects, "finalists": FINALISTS, "seed": seed, "cutoff": CUTOFF, "point_rel_sd": POINT_REL_SD,
            "onset_sd_years": ONSET_SD_YEARS, "model_discrepancy_rel": MODEL_DISCREPANCY_REL,
            "start_age": course.start_age, "end_age": course.end_age, "dt": course.dt,
            "maltreatment_exposed": MALTREATMENT_EXPOSED, "bullying_exposed": BULLYING_EXPOSED,
            "common_random_numbers": True, "candidates": int(len(allc)),
            "non_implausible": int((allc["I_max"] <= CUTOFF).sum()), "seconds": round(time.time() - t0, 1),
        },
        "parameters": x,
        "ranges": {p: [lo, hi, s] for p, (lo, hi, s) in ranges.items()},
        "targets": {},
    }
    for t in TARGETS:
        e = entries[t.id]
        f = m.get(t.measure, math.nan)
        rec = {"key": t.key, "definition": t.definition, "fitted": t.fitted, "simulated": f,
               "source": e.get("source", ""), "implausibility": implausibility(t, e, m)}
        for fld in ("value", "low", "high"):
            if fld in e:
                rec[fld] = e[fld]
        inside = within_interval(t, e, f)
        if inside is not None:
            rec["within_interval"] = inside
        if t.scale == "log":
            rec["simulated_ci"] = [m[t.measure + "_low"], m[t.measure + "_high"]]
        record["targets"][t.id] = rec
    record["population_statistics"] = {k: v for k, v in m.items() if k.startswith("prospective_or") or k.endswith("_exposed_share")}
    record["population_statistics"].update({"n": m["n"], "nssi_12m": m["nssi_12m"]})
    record["history"] = allc
    return record


# ----------------------------------------------------------------------------- record files
def record_toml(record: dict) -> str:
    """The calibration record as TOML text (the candidate history is not included)."""
    lines = ["# Calibration record written by `nssisim calibrate` (history matching; see nssisim.population.calibration).",
             "# Research instrument, not a clinical tool.", ""]
    lines += [f"population = {toml_value(record['population'])}", f"date = {toml_value(record['date'])}", ""]
    for sec in ("method", "parameters", "ranges", "population_statistics"):
        lines.append(f"[{sec}]")
        lines += [f"{k} = {toml_value(v)}" for k, v in record[sec].items()]
        lines.append("")
    for tid, rec in record["targets"].items():
        lines.append(f"[targets.{tid}]")
        lines += [f"{k} = {toml_value(v)}" for k, v in rec.items()]
        lines.append("")
    return "\n".join(lines)


def record_path(population: str) -> Path:
    return resource("configs", f"calibration_{population}.toml")


def load_record(path_or_population: str | Path = "community") -> dict:
    s = str(path_or_population)
    p = Path(s) if Path(s).is_file() else record_path(s)
    if not p.is_file():
        raise FileNotFoundError(f"{s}: no calibration record (expected a file or a population with "
                                f"configs/calibration_<population>.toml; run `nssisim calibrate`)")
    return toml_file(p)


def apply_to_spec(spec_text: str, parameters: dict[str, float], note: str) -> str:
    """Write calibrated values into a population spec's TOML text.

    Model parameters replace (or create) the ``[parameters]`` table; ``correlation_scale`` becomes
    the ``scale`` of the ``[correlation]`` table (replaced if present).
    """
    params = {k: v for k, v in parameters.items() if k not in POPULATION_SETTINGS}
    block = ["[parameters]", f"# {note}"] + [f"{k} = {toml_value(float(v))}" for k, v in params.items()]
    text = re.sub(r"\n\[parameters\]\n(?:(?!\n\[).)*", "", spec_text, flags=re.S)
    if "correlation_scale" in parameters:
        line = f"scale = {toml_value(float(parameters['correlation_scale']))}  # calibrated: off-diagonal latent correlations x scale"
        head = "\n[correlation]\n"
        if head not in text:
            raise ValueError("the spec has no [correlation] table to scale")
        a = text.index(head) + len(head)
        b = text.find("\n[", a)
        b = len(text) if b < 0 else b
        section = re.sub(r"(?m)^scale = .*\n", "", text[a:b])  # only the correlation table's own scale
        text = text[:a] + line + "\n" + section + text[b:]
    env = {f: float(parameters[k]) for k, f in ENVIRONMENT_FIELD.items() if k in parameters}
    if env:
        m = re.search(r"(?m)^\[environment\.([^\]]+)\]\n", text)
        if m is None:
            raise ValueError("the spec has no [environment.<name>] table to write the environment shape into")
        a = m.end()
        b = text.find("\n[", a)
        b = len(text) if b < 0 else b
        section = text[a:b]
        for f, v in env.items():
            section, n = re.subn(rf"(?m)^{f} = [^#\n]*?(\s*#.*)?$", lambda mm, f=f, v=v: f"{f} = {toml_value(v)}  # calibrated",
                                 section, count=1)
            if n != 1:
                raise ValueError(f"environment table [environment.{m.group(1)}] has no '{f}' line to replace")
        text = text[:a] + section + text[b:]
    return text.rstrip("\n") + "\n\n" + "\n".join(block) + "\n"


# ----------------------------------------------------------------------------- report
def report_rows(record: dict) -> list[dict]:
    rows = []
    for tid, r in record["targets"].items():
        pub = (f"{r['value']:g}" if "value" in r else "") + (
            f" [{r['low']:g}, {r['high']:g}]" if "low" in r and "high" in r else "")
        rows.append({"target": tid, "published": pub.strip(), "simulated": r["simulated"],
                     "within": {True: "yes", False: "no"}.get(r.get("within_interval"), "n/a"),
                     "I": r["implausibility"], "fitted": "yes" if r.get("fitted", True) else "no",
                     "definition": r["definition"]})
    return rows


def format_report(record: dict, markdown: bool = False) -> str:
    """Model versus target, with the published interval beside each simulated value."""
    rows = report_rows(record)
    m = record["method"]
    head = (f"Calibration of population '{record['population']}' ({record['date']}): {m['name']}; "
            f"{m['candidates']} candidates in {m['waves']} waves of {m['wave_size']} x {m['subjects_per_candidate']} "
            f"subjects; best of {m.get('finalists', 1)} finalists on {m['confirm_subjects']} new subjects, values below "
            f"from another {m['confirm_subjects']} independent subjects; seed {m['seed']}, cut-off I <= {m['cutoff']:g}.")
    if markdown:
        out = [head, "", "| target | published | simulated | in interval | implausibility | fitted | simulated measure |",
               "|---|---|---|---|---|---|---|"]
        out += [f"| {r['target']} | {r['published']} | {r['simulated']:.3f} | {r['within']} | {r['I']:.2f} | {r['fitted']} "
                f"| {r['definition']} |" for r in rows]
        return "\n".join(out)
    out = [head, "", f"{'target':<22}{'published':<24}{'simulated':>10}  {'in interval':<12}{'I':>6}  fitted"]
    out += [f"{r['target']:<22}{r['published']:<24}{r['simulated']:>10.3f}  {r['within']:<12}{r['I']:>6.2f}  {r['fitted']}"
            for r in rows]
    return "\n".join(out)


__all__ = ["ENVIRONMENT_FIELD", "POPULATION_SETTINGS", "emulated_implausibility", "fit_emulators", "CALIBRATED", "CUTOFF", "ENVIRONMENT_CALIBRATED", "calibrated_ranges", "with_settings", "TARGETS", "apply_to_spec", "calibrate", "evaluate", "format_report",
           "implausibility", "load_record", "load_targets", "record_toml", "simulated_measures"]
