"""Figures and a Markdown summary of simulation results.

- :func:`plot_person`: one subject's trajectory over the run (fast states as daily
  summaries, the slow learning states, acts coloured by trigger);
- :func:`plot_cohort`: the cohort view that makes the sporadic and the addictive
  (repetitive) regimes visible;
- :func:`cohort_summary` / :func:`person_summary`: the numbers behind them;
- :func:`plot_population` / :func:`population_markdown`: a life-course population (prevalence
  by age, onset ages, addictive profile, cessation, calibration table);
- :func:`write_report`: the figures and ``summary.md`` in one folder.

Figures are drawn with Matplotlib's object interface on the Agg canvas (no pyplot state,
no interactive backend), one style for all (Okabe-Ito colours, readable on grey-scale
print and for colour-blind readers), saved as PNG at :data:`DPI`.

Injury severity appears nowhere in these figures; the model treats it only as an abstract
number in [0, 1]. A research instrument, not a clinical tool.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib as mpl
import matplotlib.colors  # noqa: F401  (mpl.colors)
import matplotlib.patches  # noqa: F401  (mpl.patches)
import matplotlib.ticker  # noqa: F401  (mpl.ticker)
import numpy as np
import xarray as xr

from ..core.measures import REPETITIVE_ACTS, YEAR_HOURS
from ..core.model import urge_distress, urge_threshold
from ..core.parameters import HOURS_PER_DAY, HOURS_PER_YEAR
from ..files import toml_file
from ..plotting import COLORS, figure, save, style
from ..population.calibration import format_report, targets_path
from ..population.survey import onset_histogram, prevalence_by_age_table, simulated_measures
from ..targets import format_results
from ..trials.plots import trial_markdown, write_trial

REGIME_LABELS = {
    "repetitive": "repetitive: \u22655 acts in final year",
    "sporadic": "sporadic: acted, <5 in final year",
    "never": "never acted",
}
#: The "past year" window and the repetitive bar are those of the virtual measurements
#: (measures.py), so the report and the measurement table define them once.
FINAL_WINDOW_DAYS = YEAR_HOURS / HOURS_PER_DAY
REPETITIVE_MIN_ACTS = REPETITIVE_ACTS




def _letter(ax, letter: str, title: str) -> None:
    ax.set_title(f"{letter}   {title}")


def _block_hours(ds: xr.Dataset) -> float:
    return float(ds.attrs.get("record_every", 1)) * float(ds.attrs.get("dt_hours", 1.0))


def _start_age(ds: xr.Dataset) -> float:
    return float(ds.attrs.get("start_age_years", float(ds["age"].values[0] - ds["time"].values[0] / HOURS_PER_YEAR)))


def _config(ds: xr.Dataset) -> dict[str, Any]:
    try:
        return json.loads(ds.attrs.get("config", "{}"))
    except (TypeError, ValueError):
        return {}


def _mechanisms_off(ds: xr.Dataset) -> set[str]:
    return {m for m in str(ds.attrs.get("mechanisms_off", "")).split(",") if m}


def _tint(color: str, strength: float = 0.25) -> tuple[float, float, float]:
    """An opaque pale version of ``color`` (mixed with white)."""
    rgb = np.asarray(mpl.colors.to_rgb(color))
    return tuple(1.0 - strength * (1.0 - rgb))


def _off_text(ds: xr.Dataset) -> str:
    off = sorted(_mechanisms_off(ds), key=lambda m: int(m[1:]))
    return f"; mechanisms off: {', '.join(off)}" if off else ""


def _daily(time_h: np.ndarray, x: np.ndarray, period_h: float = HOURS_PER_DAY):
    """Bin a record series into periods: (centre time h, mean, min, max). Records are block ends."""
    idx = np.floor((time_h - 1e-9) / period_h).astype(np.int64)
    idx -= idx[0]
    n = int(idx[-1]) + 1
    cnt = np.bincount(idx, minlength=n).astype(float)
    mean = np.bincount(idx, weights=x, minlength=n) / np.maximum(cnt, 1)
    mn = np.full(n, np.inf)
    mx = np.full(n, -np.inf)
    np.minimum.at(mn, idx, x)
    np.maximum.at(mx, idx, x)
    keep = cnt > 0
    centre = (np.arange(n) + 0.5) * period_h + np.floor((time_h[0] - 1e-9) / period_h) * period_h
    return centre[keep], mean[keep], mn[keep], mx[keep]


def _subject_events(ds: xr.Dataset, subject: int) -> dict[str, np.ndarray]:
    sel = ds["event_subject"].values == subject
    return {k: ds[f"event_{k}"].values[sel] for k in ("time", "kind", "habitual", "distress")}


def effective_threshold(ds: xr.Dataset, subject: int) -> tuple[np.ndarray, np.ndarray]:
    """Affect level above which distress-driven urges can arise, per recorded time (h).

    Mirrors the M5 block of :func:`nssisim.model.step`: the distress-tolerance threshold
    (lowered by allostatic load, raised by resilience) minus the depressive-mood term that
    is added to affect before the comparison. Mechanism switches in ``ds.attrs`` are
    honoured. Returns ``(time_h, level)``.
    """
    p = ds["parameter_value"].sel(subject=subject).to_series()
    off = _mechanisms_off(ds)
    m2, m4, m11 = ("M2" not in off), ("M4" not in off), ("M11" not in off)
    load = ds["allostatic_load"].sel(subject=subject).values * m2
    mood = ds["mood"].sel(subject=subject).values * m4
    thr = np.asarray(urge_threshold(load, p, float(m11)))
    mood_term = np.asarray(urge_distress(0.0, mood, p, float(m4), float(m11)))
    return ds["time"].values, np.clip(thr - mood_term, 0.0, 1.0)


# ------------------------------------------------------------------------ person figure
def plot_person(ds: xr.Dataset, subject: int = 0, path: str | Path = "person.png", title: str | None = None) -> Path:
    """Multi-panel trajectory of one subject over the run (x: age in years).

    Panels: (A) aversive arousal as daily range and mean, with the effective distress
    threshold and every urge at the affect it arose from; (B) urge intensity; (C) the event
    raster (resisted urges, acts by trigger, attempts); (D) the slow learning states:
    relief value Q, habit H, tolerance T and harm expectancy E; (E) allostatic load and
    depressive mood; (F) suicidal ideation. Fast states are shown as daily summaries of
    the recorded snapshots, so the figure is readable for runs of years.

    Parameters
    ----------
    ds : Dataset
        Output of :func:`nssisim.simulation.simulate_cohort` (or ``simulate``).
    subject : int
        Subject id (a value of the ``subject`` coordinate).
    path : path
        Where to write the PNG.
    """
    if subject not in set(ds["subject"].values.tolist()):
        raise KeyError(f"subject {subject} not in the dataset (ids {ds['subject'].values[:5].tolist()}...)")
    s = ds.sel(subject=subject)
    t = ds["time"].values
    a0 = _start_age(ds)
    block_h = _block_hours(ds)
    period = HOURS_PER_DAY if block_h < HOURS_PER_DAY else block_h
    ev = _subject_events(ds, subject)
    per = "daily" if period == HOURS_PER_DAY else f"per {period:g} h"

    def age(h):
        return a0 + np.asarray(h) / HOURS_PER_YEAR

    acts = ev["kind"] == 1
    d_act = acts & ~ev["habitual"]
    h_act = acts & ev["habitual"]
    resisted = ev["kind"] == 0
    attempts = ev["kind"] == 2
    cfg = _config(ds)
    preset = cfg.get("preset")
    if title is None:
        who = f"preset '{preset}'" if preset else "custom parameters"
        title = (f"Simulated trajectory of one adolescent ({who}, subject {subject}; seed {ds.attrs.get('seed')}, "
                 f"dt = {ds.attrs.get('dt_hours'):g} h{_off_text(ds)})")

    zoom = _zoom_windows(ev) if block_h <= 1.0 + 1e-9 else []
    with style():
        fig = figure(7.4, 11.0 if zoom else 9.2)
        fig.suptitle(title, fontsize=9, x=0.01, ha="left")
        if zoom:
            top, bottom = fig.subfigures(2, 1, height_ratios=[9.0, 2.0])
        else:
            top, bottom = fig, None
        axes = top.subplots(6, 1, sharex=True, gridspec_kw={"height_ratios": [1.5, 0.9, 0.55, 1.2, 1.0, 0.8]})

        # A: affect
        ax = axes[0]
        tc, mean, mn, mx = _daily(t, s["affect"].values, period)
        ax.fill_between(age(tc), mn, mx, color=COLORS["affect"], alpha=0.18, lw=0, label=f"{per} range")
        ax.plot(age(tc), mean, color=COLORS["affect"], lw=0.8, label=f"{per} mean")
        th_t, th = effective_threshold(ds, subject)
        tct, thm, _, _ = _daily(th_t, th, period)
        ax.plot(age(tct), thm, color=COLORS["threshold"], ls="--", lw=0.9, label="urge threshold (effective)")
        ax.scatter(age(ev["time"][resisted]), ev["distress"][resisted], s=7, marker="o", facecolors="none",
                   edgecolors=COLORS["resisted"], linewidths=0.6, label="urge resisted", zorder=3)
        ax.scatter(age(ev["time"][d_act]), ev["distress"][d_act], s=16, marker="o", color=COLORS["distress_act"],
                   edgecolors="white", linewidths=0.3, label="act, distress-triggered", zorder=4)
        ax.scatter(age(ev["time"][h_act]), ev["distress"][h_act], s=20, marker="^", color=COLORS["habit_act"],
                   edgecolors="white", linewidths=0.3, label="act, habit-triggered", zorder=4)
        ax.set_ylim(0, 1.0)
        ax.set_ylabel("aversive arousal\n(0\u20131)")
        _letter(ax, "A", "Negative affect and urges (markers at the affect the urge arose from)")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.02))

        # B: urge intensity
        ax = axes[1]
        tc, mean, _, mx = _daily(t, s["urge_intensity"].values, period)
        ax.fill_between(age(tc), 0, mx, color=COLORS["urge"], alpha=0.3, lw=0, label=f"{per} maximum")
        ax.plot(age(tc), mean, color=COLORS["urge"], lw=0.8, label=f"{per} mean")
        ax.set_ylim(0, max(0.05, float(np.nanmax(mx)) * 1.1) if mx.size else 1)
        ax.set_ylabel("urge intensity\n(0\u20131)")
        _letter(ax, "B", "Urge intensity (as sampled at each record)")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.02))

        # C: event raster
        ax = axes[2]
        rows = [("urges resisted", resisted, COLORS["resisted"]), ("acts, distress", d_act, COLORS["distress_act"]),
                ("acts, habit", h_act, COLORS["habit_act"])]
        if attempts.any():
            rows.append(("attempts", attempts, COLORS["attempt"]))
        for i, (_, m, c) in enumerate(rows):
            ax.vlines(age(ev["time"][m]), i + 0.15, i + 0.85, color=c, lw=0.8)
        ax.set_yticks(np.arange(len(rows)) + 0.5)
        ax.set_yticklabels([f"{lab} ({int(m.sum())})" for lab, m, _ in rows])
        ax.set_ylim(0, len(rows))
        ax.invert_yaxis()
        ax.grid(axis="y", visible=False)
        ax.tick_params(axis="y", length=0)
        _letter(ax, "C", "Events (each tick one event; counts in brackets)")

        # D: slow learning states
        ax = axes[3]
        for var, lab, ls in (("relief_value", "relief value Q", "-"), ("habit", "habit strength H", "-"),
                             ("tolerance", "opioid tolerance T", "-"), ("harm", "harm expectancy E", ":")):
            ax.plot(age(t), s[var].values, color=COLORS[var], ls=ls, label=lab)
        top = max(float(s[v].max()) for v in ("relief_value", "habit", "tolerance", "harm"))
        ax.set_ylim(0, min(1.0, max(0.2, top * 1.15)))
        ax.set_ylabel("learned state\n(0\u20131)")
        _letter(ax, "D", "Slow learning states: reinforcement, habit and tolerance")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.02))

        # E: allostatic load and mood
        ax = axes[4]
        tc, load, _, _ = _daily(t, s["allostatic_load"].values, period)
        ax.plot(age(tc), load, color=COLORS["load"], label="allostatic load L")
        tc, mood, _, _ = _daily(t, s["mood"].values, period)
        ax.plot(age(tc), mood, color=COLORS["mood"], label="depressive mood M")
        ax.set_ylim(0, min(1.0, max(0.2, float(max(load.max(), mood.max())) * 1.15)))
        ax.set_ylabel("level\n(0\u20131)")
        _letter(ax, "E", f"Allostatic (HPA) load and depressive mood ({per} means)")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.02))

        # F: ideation
        ax = axes[5]
        tc, idm, _, _ = _daily(t, s["ideation"].values, period)
        ax.plot(age(tc), idm, color=COLORS["ideation"], label="suicidal ideation I")
        if attempts.any():
            ax.scatter(age(ev["time"][attempts]), np.interp(ev["time"][attempts], tc, idm), marker="v", s=22,
                       color=COLORS["attempt"], label="attempt", zorder=4)
        ax.set_ylim(0, min(1.0, max(0.1, float(idm.max()) * 1.2)))
        ax.set_ylabel("ideation\n(0\u20131)")
        ax.set_xlabel("age (years)")
        _letter(ax, "F", f"Suicidal ideation ({per} means)")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.02))
        ax.set_xlim(a0, a0 + float(ds.attrs.get("horizon_hours", t[-1])) / HOURS_PER_YEAR)
        ax.xaxis.set_major_locator(mpl.ticker.MaxNLocator(nbins=8, steps=[1, 2, 2.5, 5, 10]))

        if zoom:
            zaxes = np.atleast_1d(bottom.subplots(1, len(zoom), sharey=True))
            for zax, (letter, label, centre), in zip(zaxes, zoom):
                _plot_zoom(zax, ds, subject, ev, centre, th_t, th)
                _letter(zax, letter, label)
            zaxes[0].set_ylabel("aversive arousal\n(0\u20131)")
        return save(fig, path)


ZOOM_HALF_WIDTH_H = 24.0


def _zoom_windows(ev: dict[str, np.ndarray]) -> list[tuple[str, str, float]]:
    """Up to two episodes to show at full resolution: the first act, and the last
    habit-triggered act (else the last act) if it is a different episode."""
    acts = np.flatnonzero(ev["kind"] == 1)
    if acts.size == 0:
        return []
    first = float(ev["time"][acts[0]])
    out = [("G", "Episode detail: first act", first)]
    hab = acts[ev["habitual"][acts]]
    later, what = (hab[-1], "last habit-triggered act") if hab.size else (acts[-1], "last act")
    if float(ev["time"][later]) - first > 2 * ZOOM_HALF_WIDTH_H:
        out.append(("H", f"Episode detail: {what}", float(ev["time"][later])))
    return out


def _plot_zoom(ax, ds: xr.Dataset, subject: int, ev: dict[str, np.ndarray], centre: float,
               th_t: np.ndarray, th: np.ndarray) -> None:
    t = ds["time"].values
    lo, hi = centre - ZOOM_HALF_WIDTH_H, centre + ZOOM_HALF_WIDTH_H
    m = (t >= lo) & (t <= hi)
    ax.plot(t[m] - centre, ds["affect"].sel(subject=subject).values[m], color=COLORS["affect"], lw=0.9,
            label="affect (recorded)")
    ax.plot(th_t[m] - centre, th[m], color=COLORS["threshold"], ls="--", lw=0.8, label="urge threshold")
    e = (ev["time"] >= lo) & (ev["time"] <= hi)
    for mask, marker, color, size in (((ev["kind"] == 0), "o", None, 9), ((ev["kind"] == 1) & ~ev["habitual"], "o",
                                      COLORS["distress_act"], 18), ((ev["kind"] == 1) & ev["habitual"], "^",
                                      COLORS["habit_act"], 22)):
        sel = e & mask
        if color is None:
            ax.scatter(ev["time"][sel] - centre, ev["distress"][sel], s=size, facecolors="none",
                       edgecolors=COLORS["resisted"], linewidths=0.7, zorder=3)
        else:
            ax.scatter(ev["time"][sel] - centre, ev["distress"][sel], s=size, marker=marker, color=color,
                       edgecolors="white", linewidths=0.3, zorder=4)
    ax.set_xlim(-ZOOM_HALF_WIDTH_H, ZOOM_HALF_WIDTH_H)
    ax.set_ylim(0, 1)
    ax.xaxis.set_major_locator(mpl.ticker.MultipleLocator(12))
    ax.set_xlabel("hours from the act (markers: affect just before the urge)")


# ------------------------------------------------------------------------ cohort stats
def _final_window_mask(ds: xr.Dataset, window_days: float = FINAL_WINDOW_DAYS) -> np.ndarray:
    t = ds["time"].values
    block_h = _block_hours(ds)
    start = t[-1] - window_days * HOURS_PER_DAY
    return (t - block_h) >= start - 1e-9  # blocks that lie wholly inside the window


def classify_regimes(ds: xr.Dataset, window_days: float = FINAL_WINDOW_DAYS,
                     min_acts: int = REPETITIVE_MIN_ACTS) -> np.ndarray:
    """Label each subject ``repetitive`` (>= ``min_acts`` acts in the final ``window_days``
    of the run, or the whole run if shorter), ``sporadic`` (acted, but fewer) or ``never``."""
    acts = ds["acts"].values
    final = acts[:, _final_window_mask(ds, window_days)].sum(axis=1)
    total = acts.sum(axis=1)
    return np.where(final >= min_acts, "repetitive", np.where(total > 0, "sporadic", "never"))


def _act_days_final(ds: xr.Dataset, window_days: float = FINAL_WINDOW_DAYS) -> np.ndarray:
    """Distinct days with at least one act in the final window, per subject (event table)."""
    horizon = float(ds["time"].values[-1])
    start = horizon - window_days * HOURS_PER_DAY
    sel = (ds["event_kind"].values == 1) & (ds["event_time"].values > start)
    subj = ds["event_subject"].values[sel]
    day = np.floor((ds["event_time"].values[sel] - 1e-9) / HOURS_PER_DAY).astype(np.int64)
    ids = ds["subject"].values
    pos = {int(s): i for i, s in enumerate(ids)}
    out = np.zeros(ids.shape[0], dtype=np.int64)
    if subj.size:
        pairs = np.unique(np.stack([subj, day], axis=1), axis=0)
        np.add.at(out, [pos[int(s)] for s in pairs[:, 0]], 1)
    return out


def cohort_summary(ds: xr.Dataset) -> dict[str, Any]:
    """Cohort statistics (shares are fractions of the cohort in [0, 1])."""
    acts = ds["acts"].values
    total = acts.sum(axis=1)
    acted = total > 0
    regimes = classify_regimes(ds)
    n = int(total.shape[0])
    n_acts = float(acts.sum())
    first_age = np.full(n, np.nan)
    ages = ds["age"].values
    if acted.any():
        first_idx = np.argmax(np.cumsum(acts, axis=1) > 0, axis=1)
        first_age[acted] = ages[first_idx[acted]]
    window = min(FINAL_WINDOW_DAYS, float(ds["time"].values[-1]) / HOURS_PER_DAY)
    return {
        "n_subjects": n,
        "horizon_days": float(ds["time"].values[-1]) / HOURS_PER_DAY,
        "final_window_days": window,
        "share_any_act": float(acted.mean()),
        "share_repetitive": float((regimes == "repetitive").mean()),
        "share_act_days_ge5_final": float((_act_days_final(ds) >= 5).mean()),
        "median_acts_among_acted": float(np.median(total[acted])) if acted.any() else float("nan"),
        "iqr_acts_among_acted": (tuple(float(q) for q in np.percentile(total[acted], [25, 75]))
                                 if acted.any() else (float("nan"), float("nan"))),
        "max_acts": int(total.max()),
        "habit_share_of_acts": float(ds["habit_acts"].values.sum() / n_acts) if n_acts else float("nan"),
        "resisted_share_of_urges": (float(ds["resisted"].values.sum() / ds["urges"].values.sum())
                                    if ds["urges"].values.sum() else float("nan")),
        "median_age_first_act": float(np.nanmedian(first_age)) if acted.any() else float("nan"),
        "share_any_attempt": float((ds["attempts"].values.sum(axis=1) > 0).mean()),
        "events_dropped_total": int(ds["events_dropped"].values.sum()),
        "regime_counts": {k: int((regimes == k).sum()) for k in ("repetitive", "sporadic", "never")},
    }


def person_summary(ds: xr.Dataset, subject: int = 0) -> dict[str, Any]:
    """Counts and final slow states of one subject."""
    s = ds.sel(subject=subject)
    ev = _subject_events(ds, subject)
    acts = ev["kind"] == 1
    ages = ds["age"].values
    cum = np.cumsum(s["acts"].values)
    return {
        "acts": int(s["acts"].values.sum()),
        "habit_acts": int(s["habit_acts"].values.sum()),
        "urges_resisted": int(s["resisted"].values.sum()),
        "attempts": int(s["attempts"].values.sum()),
        "age_first_act": float(ages[np.argmax(cum > 0)]) if cum[-1] > 0 else float("nan"),
        "mean_distress_at_distress_acts": float(ev["distress"][acts & ~ev["habitual"]].mean()) if (acts & ~ev["habitual"]).any() else float("nan"),
        "mean_distress_at_habit_acts": float(ev["distress"][acts & ev["habitual"]].mean()) if (acts & ev["habitual"]).any() else float("nan"),
        "final_relief_value": float(s["relief_value"].values[-1]),
        "final_habit": float(s["habit"].values[-1]),
        "final_tolerance": float(s["tolerance"].values[-1]),
    }


# ------------------------------------------------------------------------ cohort figure
def _bin_time(x: np.ndarray, block_h: float, bin_h: float) -> tuple[np.ndarray, np.ndarray]:
    """Sum (subject, time) blocks into bins of about ``bin_h``; returns (bin end h, sums)."""
    k = max(1, int(round(bin_h / block_h)))
    nb = x.shape[-1] // k
    if nb == 0:
        return np.array([x.shape[-1] * block_h]), x.sum(axis=-1, keepdims=True)
    trimmed = x[..., : nb * k].reshape(*x.shape[:-1], nb, k).sum(axis=-1)
    return (np.arange(1, nb + 1) * k * block_h), trimmed


def plot_cohort(ds: xr.Dataset, path: str | Path = "cohort.png", title: str | None = None) -> Path:
    """Cohort figure: how many act, how often, and the sporadic vs repetitive regimes.

    Panels: (A) acts per subject (log-spaced bins); (B) lifetime and past-year prevalence
    over age; (C) act rate by regime; (D) habit strength and (E) opioid tolerance by regime
    (mean and interquartile band); (F) share of acts that are habit-triggered, by regime.
    Regimes: ``repetitive`` = at least 5 acts in the final year of the run (the addictive
    regime's behavioural signature), ``sporadic`` = acted but fewer, ``never``.
    """
    acts = ds["acts"].values.astype(float)
    habit_acts = ds["habit_acts"].values.astype(float)
    t = ds["time"].values
    a0 = _start_age(ds)
    block_h = _block_hours(ds)
    ages = a0 + t / HOURS_PER_YEAR
    total = acts.sum(axis=1)
    regimes = classify_regimes(ds)
    n = acts.shape[0]
    cfg = _config(ds)
    if title is None:
        who = f"preset '{cfg.get('preset')}'" if cfg.get("preset") else "custom parameters"
        spread = cfg.get("person_ranges") or {}
        spread_txt = f", {len(spread)} traits spread" if spread else ""
        title = (f"Simulated cohort: {n:,} adolescents ({who}{spread_txt}), {t[-1] / HOURS_PER_DAY:g} days "
                 f"from age {a0:g}; seed {ds.attrs.get('seed')}, dt = {ds.attrs.get('dt_hours'):g} h{_off_text(ds)}")
    order = ("repetitive", "sporadic", "never")

    with style():
        fig = figure(7.4, 5.5)
        axs = fig.subplots(2, 3)
        fig.suptitle(title, fontsize=9, x=0.01, ha="left")

        # A: distribution of acts per subject, in log-spaced frequency bins, stacked by regime
        ax = axs[0, 0]
        edges = [0, 1, 2, 3, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000]
        top = int(total.max())
        edges = [e for e in edges if e <= top] + [math.inf]
        labels = []
        for lo, hi in zip(edges[:-1], edges[1:]):
            if hi == math.inf:
                labels.append(f"\u2265{lo}" if lo > 0 else "0")
            elif hi - lo == 1:
                labels.append(f"{lo}")
            else:
                labels.append(f"{lo}\u2013{int(hi) - 1}")
        idx = np.searchsorted(np.asarray(edges[1:]), total, side="right")
        bottom = np.zeros(len(labels))
        for r in order[::-1]:
            share = np.bincount(idx[regimes == r], minlength=len(labels))[: len(labels)] / n * 100
            ax.bar(np.arange(len(labels)), share, bottom=bottom, width=0.8, color=COLORS[r], alpha=0.85, lw=0)
            bottom += share
        ax.set_xticks(np.arange(len(labels)))
        ax.set_xticklabels(labels, rotation=90)
        ax.grid(axis="x", visible=False)
        ax.set_xlabel("acts over the run (log-spaced bins)")
        ax.set_ylabel("subjects (%)")
        acted = total[total > 0]
        ax.set_ylim(0, max(5.0, float(bottom.max()) * 1.3))
        med = float(np.median(acted)) if acted.size else float("nan")
        ax.text(0.97, 0.97, f"median among those\nwho acted: {med:g} act{'' if med == 1 else 's'}" if acted.size
                else "no subject acted",
                transform=ax.transAxes, ha="right", va="top", fontsize=7)
        _letter(ax, "A", "Acts per subject")

        # B: prevalence over age
        ax = axs[0, 1]
        cum = np.cumsum(acts, axis=1)
        ax.plot(ages, (cum > 0).mean(axis=0) * 100, color="black", label="ever (since start)")
        w = int(round(FINAL_WINDOW_DAYS * HOURS_PER_DAY / block_h))
        if 0 < w <= acts.shape[1]:
            past = cum[:, w - 1:] - np.concatenate([np.zeros((n, 1)), cum[:, : acts.shape[1] - w]], axis=1)
            ax.plot(ages[w - 1:], (past > 0).mean(axis=0) * 100, color="#555555", ls="--", label="past 12 months")
            ax.plot(ages[w - 1:], (past >= REPETITIVE_MIN_ACTS).mean(axis=0) * 100, color=COLORS["repetitive"],
                    ls="-.", label="past 12 months, \u22655 acts")
        ax.set_ylim(0, 100)
        ax.set_xlabel("age (years)")
        ax.set_ylabel("subjects with acts (%)")
        ax.legend(loc="best", handlelength=1.8)
        _letter(ax, "B", "Prevalence")

        # C: act rate by regime
        ax = axs[0, 2]
        bin_h = 30 * HOURS_PER_DAY
        tb, ab = _bin_time(acts, block_h, bin_h)
        _, hb = _bin_time(habit_acts, block_h, bin_h)
        bin_len = tb[0]
        mid_age = a0 + (tb - 0.5 * bin_len) / HOURS_PER_YEAR
        for r in order[:2]:
            m = regimes == r
            if m.any():
                ax.plot(mid_age, ab[m].mean(axis=0) / (bin_len / (30 * HOURS_PER_DAY)), color=COLORS[r])
        ax.set_xlabel("age (years)")
        ax.set_ylabel("acts per 30 days (mean)")
        ax.set_ylim(bottom=0)
        _letter(ax, "C", "Act rate")

        # D, E: habit and tolerance by regime
        for ax, var, lab, letter in ((axs[1, 0], "habit", "habit strength H", "D"),
                                     (axs[1, 1], "tolerance", "opioid tolerance T", "E")):
            x = ds[var].values
            # opaque pale bands (sporadic first, repetitive over it) so overlaps do not mix colours
            for r in ("sporadic", "repetitive"):
                m = regimes == r
                if m.any():
                    q25, q75 = np.percentile(x[m], [25, 75], axis=0)
                    ax.fill_between(ages, q25, q75, color=_tint(COLORS[r]), lw=0, zorder=1)
            for r in order:
                m = regimes == r
                if m.any():
                    ax.plot(ages, x[m].mean(axis=0), color=COLORS[r], zorder=3)
            ax.set_xlabel("age (years)")
            ax.set_ylabel(f"{lab} (0\u20131)")
            ax.set_ylim(bottom=0)
            _letter(ax, letter, lab[0].upper() + lab[1:])

        # F: habit-triggered share by regime
        ax = axs[1, 2]
        min_pooled = 20
        for r in order[:2]:
            m = regimes == r
            if not m.any():
                continue
            pooled_a, pooled_h = ab[m].sum(axis=0), hb[m].sum(axis=0)
            share = np.where(pooled_a >= min_pooled, pooled_h / np.maximum(pooled_a, 1), np.nan)
            ax.plot(mid_age, share * 100, color=COLORS[r], marker="o", ms=2.2)
        ax.set_ylim(0, 100)
        ax.set_xlabel("age (years)")
        ax.set_ylabel("habit-triggered acts (%)")
        ax.text(0.03, 0.97, f"30-day bins with\n\u2265{min_pooled} acts in the group", transform=ax.transAxes,
                ha="left", va="top", fontsize=6.8, color="#555555")
        _letter(ax, "F", "Habit-triggered acts")

        locator = mpl.ticker.MaxNLocator(nbins=4, steps=[1, 2, 2.5, 5, 10])
        for ax in axs[0, 1:].tolist() + axs[1, :].tolist():
            ax.set_xlim(a0, a0 + t[-1] / HOURS_PER_YEAR)
            ax.xaxis.set_major_locator(locator)
        counts = {r: int((regimes == r).sum()) for r in order}
        handles = [mpl.patches.Patch(color=COLORS[r], alpha=0.85, label=f"{REGIME_LABELS[r]} (n = {counts[r]:,})")
                   for r in order]
        fig.legend(handles=handles, loc="outside lower center", ncol=3, fontsize=7.5, title="regime (panels A, C\u2013F; "
                   "D, E: lines mean, bands interquartile range)", title_fontsize=7.5)
        return save(fig, path)


# ------------------------------------------------------------------------------ report
def _fmt_pct(x: float) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f}%"


def _fmt(x: float, nd: int = 2) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{nd}f}"


def _run_rows(ds: xr.Dataset) -> dict[str, str]:
    cfg = _config(ds)
    spread = cfg.get("person_ranges") or {}
    person = cfg.get("person") or {}
    return {
        "preset": str(cfg.get("preset") or "none (defaults)"),
        "parameter overrides": ", ".join(f"{k}={v:g}" for k, v in person.items()) or "none",
        "traits drawn per subject": ", ".join(f"{k} ~ U[{lo:g}, {hi:g}]" for k, (lo, hi) in spread.items()) or "none",
        "subjects": f"{ds.sizes['subject']:,}",
        "horizon": f"{float(ds.attrs.get('horizon_hours', 0)) / HOURS_PER_DAY:g} days from age {_start_age(ds):g}",
        "time step": f"{float(ds.attrs.get('dt_hours', float('nan'))):g} h, recorded every {ds.attrs.get('record_every')} steps",
        "seed": str(ds.attrs.get("seed")),
        "mechanisms off": str(ds.attrs.get("mechanisms_off") or "none"),
        "config hash": f"`{str(ds.attrs.get('config_hash', ''))[:16]}`",
        "nssisim version": str(ds.attrs.get("nssisim_version")),
    }


# ------------------------------------------------------------------------------ population
def _published_course() -> dict:
    """The ``[course]`` entries of the shipped calibration targets (peak age, mean onset age)."""
    return toml_file(targets_path())["course"]


def plot_population(table, path: str | Path = "population.png", title: str | None = None) -> Path:
    """Life-course population: 12-month prevalence by age (Wilson 95% CIs) and the onset-age histogram."""

    prev = prevalence_by_age_table(table)
    hist = onset_histogram(table)
    course = _published_course()
    with style():
        fig = figure(7.0, 2.6)
        a, b = fig.subplots(1, 2)
        peak = course["peak_age_years"]
        # whole years of age low..high inclusive, i.e. ages low to high + 1 (points sit at mid-year)
        a.axvspan(peak["low"], peak["high"] + 1.0, color="0.92", lw=0, zorder=0,
                  label=f"published peak age {peak['low']:g}-{peak['high']:g} (Plener 2015)")
        onset = course["onset_mean_age_years"]["value"]
        b.axvline(onset, color="0.3", ls=":", lw=1, label=f"published mean onset {onset:g} (Gillies 2018)")
        b.legend(loc="upper right")
        x = prev["age"].to_numpy() + 0.5
        a.fill_between(x, 100 * prev["ci_low"], 100 * prev["ci_high"], color=_tint(COLORS["affect"]), lw=0)
        a.plot(x, 100 * prev["prevalence_12m"], "o-", color=COLORS["affect"], ms=3, label="any act while aged A")
        a.plot(x, 100 * prev["incidence"], "s--", color=COLORS["distress_act"], ms=3, label="first act while aged A")
        a.set_xlabel("age (years)")
        a.set_ylabel("% of the population")
        a.legend(loc="upper right")
        _letter(a, "a", "12-month prevalence by age")
        if len(hist):
            b.bar(hist["age"].to_numpy() + 0.5, 100 * hist["share"].to_numpy(), width=0.9, color=COLORS["sporadic"])
        b.set_xlabel("age at first act (years)")
        b.set_ylabel("% of those who acted")
        _letter(b, "b", "onset age")
        if title:
            fig.suptitle(title, fontsize=9)
        return save(fig, path)


def population_summary(table) -> dict[str, Any]:
    """Headline numbers of a life-course population table (see ``nssisim.lifecourse``)."""
    m = simulated_measures(table)
    life_end = table["end_lifetime_nssi"].to_numpy(bool)
    out = dict(m)
    out.update({
        "n": len(table),
        "lifetime_by_end": float(life_end.mean()),
        "addictive_share": float(table["end_addictive"].mean()),
        "addictive_share_of_lifetime": float(table["end_addictive"].to_numpy()[life_end].mean()) if life_end.any() else math.nan,
        "cessation_share_of_lifetime": float(table["end_cessation"].to_numpy()[life_end].mean()) if life_end.any() else math.nan,
        "criterion_a_last_year": float(table["end_criterion_a"].mean()),
    })
    return out


def population_markdown(table, record: dict | None, out_dir: str | Path, end_age: float) -> list[str]:
    """The report's population section: figure, prevalence by age, headline numbers, calibration table."""
    plot_population(table, Path(out_dir) / "population.png")
    ps = population_summary(table)
    prev = prevalence_by_age_table(table)
    md = ["## Population over the life course (calibrated community sample)", "",
          "![prevalence by age and onset ages](population.png)", "",
          f"{ps['n']:,} virtual adolescents of the default (calibrated) community population, simulated to age "
          f"{end_age:g}; each is surveyed once at an age drawn uniformly in 12-18 (see docs/population.md).", "",
          "| age | 12-month prevalence | 95% CI | first act at this age | mean acts |", "|---|---|---|---|---|"]
    md += [f"| {int(r.age)} | {_fmt_pct(r.prevalence_12m)} | {_fmt_pct(r.ci_low)}–{_fmt_pct(r.ci_high)} | "
           f"{_fmt_pct(r.incidence)} | {r.mean_acts:.2f} |" for r in prev.itertuples()]
    md += ["", "| statistic | value |", "|---|---|",
           f"| lifetime NSSI at the survey | {_fmt_pct(ps['lifetime_nssi'])} |",
           f"| lifetime NSSI by {end_age:g} | {_fmt_pct(ps['lifetime_by_end'])} |",
           f"| mean onset age (history at the survey) | {_fmt(ps['onset_mean'], 1)} years |",
           f"| addictive profile in the year before {end_age:g} (whole population / those with a history) | "
           f"{_fmt_pct(ps['addictive_share'])} / {_fmt_pct(ps['addictive_share_of_lifetime'])} |",
           f"| cessation by {end_age:g}: no act in the last 12 months, among those with a history | "
           f"{_fmt_pct(ps['cessation_share_of_lifetime'])} |",
           f"| odds ratio of lifetime NSSI, maltreatment (published 3.42 [2.74, 4.26]) | {_fmt(ps.get('maltreatment_or', math.nan))} "
           f"[{_fmt(ps.get('maltreatment_or_low', math.nan))}, {_fmt(ps.get('maltreatment_or_high', math.nan))}] |",
           f"| odds ratio of lifetime NSSI, bullying victimisation (published 2.46 [2.14, 2.83]) | {_fmt(ps.get('bullying_or', math.nan))} "
           f"[{_fmt(ps.get('bullying_or_low', math.nan))}, {_fmt(ps.get('bullying_or_high', math.nan))}] |",
           f"| prospective odds ratio: NSSI at 14 for NSSI at 15 | {_fmt(ps.get('prospective_or', math.nan))} "
           f"[{_fmt(ps.get('prospective_or_low', math.nan))}, {_fmt(ps.get('prospective_or_high', math.nan))}] |", ""]
    if record is not None:
        md += ["### Calibration (model versus published targets)", "",
               "From the shipped calibration record (`nssisim calibration-report`); simulated values there come from "
               "the confirmation cohort of the calibration, not from this run.", "",
               format_report(record, markdown=True), ""]
    return md


def write_report(out_dir: str | Path, person_ds: xr.Dataset | None, cohort_ds: xr.Dataset | None,
                 target_results: Sequence | None = None, extra_text: str = "", person_subject: int | None = None,
                 trial_ds: xr.Dataset | None = None,
                 population: dict | None = None) -> dict[str, Path]:
    """Write ``person.png``, ``cohort.png`` and ``summary.md`` into ``out_dir``.

    Parameters
    ----------
    out_dir : path
        Folder (created if missing). Existing files of the same names are replaced: callers
        decide whether that is allowed (the CLI refuses unless asked).
    person_ds, cohort_ds : Dataset or None
        Simulation results; a part whose dataset is None is left out.
    target_results : sequence of TargetResult, optional
        Results of :func:`nssisim.targets.run_targets`, rendered with ``format_results``.
    extra_text : str
        Markdown appended at the end (e.g. timings).
    person_subject : int, optional
        Subject id to plot from ``person_ds`` (default: its first subject).
    trial_ds : Dataset, optional
        A virtual trial (:func:`nssisim.trial.run_trial`): its files go to ``trial/`` and its
        summary into ``summary.md``.
    population : dict, optional
        ``{"table": life-course measurement table, "record": calibration record or None,
        "end_age": float}``: adds ``population.png`` and the population section.

    Returns
    -------
    dict
        ``{"person": path, "cohort": path, "summary": path}`` for what was written.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    md = ["# nssisim report", "",
          "> Output of a formal model of non-suicidal self-injury (NSSI) with addictive features in adolescents: "
          "a research instrument for theory building, **not a clinical tool**. Presets and parameter values are "
          "illustrative, not calibrated to any person or sample (the population section, where present, uses the "
          "community population calibrated to published prevalences; see its calibration table); injury severity is "
          "only an abstract number.", ""]

    if person_ds is not None:
        sid = int(person_ds["subject"].values[0]) if person_subject is None else int(person_subject)
        paths["person"] = plot_person(person_ds, sid, out / "person.png")
        ps = person_summary(person_ds, sid)
        md += ["## One simulated adolescent", "", "![trajectory of one simulated adolescent](person.png)", "",
               "| setting | value |", "|---|---|"]
        md += [f"| {k} | {v} |" for k, v in _run_rows(person_ds).items()]
        md += ["", "| outcome | value |", "|---|---|",
               f"| acts (habit-triggered) | {ps['acts']} ({ps['habit_acts']}) |",
               f"| urges resisted | {ps['urges_resisted']} |",
               f"| suicide attempts | {ps['attempts']} |",
               f"| age at first act | {_fmt(ps['age_first_act'], 1)} years |",
               f"| mean affect at distress-triggered / habit-triggered acts | {_fmt(ps['mean_distress_at_distress_acts'])} / {_fmt(ps['mean_distress_at_habit_acts'])} |",
               f"| final relief value Q, habit H, tolerance T | {_fmt(ps['final_relief_value'])}, {_fmt(ps['final_habit'])}, {_fmt(ps['final_tolerance'])} |",
               ""]

    if cohort_ds is not None:
        paths["cohort"] = plot_cohort(cohort_ds, out / "cohort.png")
        cs = cohort_summary(cohort_ds)
        w = cs["final_window_days"]
        final = "final year" if w >= FINAL_WINDOW_DAYS else f"whole run ({w:g} days)"
        rc = cs["regime_counts"]
        md += ["## Cohort", "", "![cohort outcomes and regimes](cohort.png)", "", "| setting | value |", "|---|---|"]
        md += [f"| {k} | {v} |" for k, v in _run_rows(cohort_ds).items()]
        md += ["", "| statistic | value |", "|---|---|",
               f"| share with any act | {_fmt_pct(cs['share_any_act'])} |",
               f"| share with \u22655 acts in the {final} (repetitive regime) | {_fmt_pct(cs['share_repetitive'])} |",
               f"| share who acted on \u22655 distinct days in the {final} (DSM-5 NSSI criterion A, proxy) | {_fmt_pct(cs['share_act_days_ge5_final'])} |",
               f"| median acts among those who acted (IQR) | {cs['median_acts_among_acted']:g} "
               f"({cs['iqr_acts_among_acted'][0]:g}\u2013{cs['iqr_acts_among_acted'][1]:g}) |",
               f"| habit-triggered share of all acts | {_fmt_pct(cs['habit_share_of_acts'])} |",
               f"| share of urges resisted | {_fmt_pct(cs['resisted_share_of_urges'])} |",
               f"| median age at first act (those who acted) | {_fmt(cs['median_age_first_act'], 1)} years |",
               f"| share with a suicide attempt | {_fmt_pct(cs['share_any_attempt'])} |",
               f"| regimes: repetitive / sporadic / never | {rc['repetitive']:,} / {rc['sporadic']:,} / {rc['never']:,} |",
               f"| event-table rows dropped (capacity) | {cs['events_dropped_total']:,} |", ""]

    if population is not None:
        md += population_markdown(population["table"], population.get("record"), out, population.get("end_age", 18.0))
        paths["population"] = out / "population.png"

    md += ["## Explanatory targets", ""]
    if target_results is None:
        md += ["Not run (`nssisim targets` runs them).", ""]
    elif len(target_results) == 0:
        md += ["No explanatory targets are registered in this version.", ""]
    else:

        held = sum(bool(r.passed) for r in target_results)
        md += [f"{held} of {len(target_results)} targets hold.", "", "```", format_results(target_results), "```", ""]

    if trial_ds is not None:  # a virtual trial (nssisim.trials): files in trial/, summary here
        tp = write_trial(trial_ds, out / "trial")
        paths.update({f"trial_{k}": v for k, v in tp.items()})
        md += [trial_markdown(trial_ds), f"Files in `trial/`: {', '.join(sorted(tp))}.", ""]

    if extra_text:
        md += ["## Notes", "", extra_text.rstrip(), ""]
    summary = out / "summary.md"
    summary.write_text("\n".join(md), encoding="utf-8")
    paths["summary"] = summary
    return paths


__all__ = ["plot_person", "plot_cohort", "plot_population", "population_markdown", "population_summary", "write_report", "cohort_summary", "person_summary", "classify_regimes",
           "effective_threshold"]


