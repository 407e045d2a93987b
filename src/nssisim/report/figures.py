"""Figures of simulation results.

- :func:`plot_person`: one subject's trajectory over the run (fast states as daily
  summaries, the slow learning states, acts coloured by trigger);
- :func:`plot_cohort`: the cohort view that makes the sporadic and the addictive
  (repetitive) regimes visible;
- :func:`plot_population`: a life-course population (prevalence by age, onset ages).

The numbers behind them are in ``report/summaries.py``, the Markdown summary in
``report/markdown.py``. The figure style (palette, sizes, canvas, dpi) is that of
:mod:`nssisim.plotting`, shared by every figure of the package.

Injury severity appears nowhere in these figures; the model treats it only as an abstract
number in [0, 1]. A research instrument, not a clinical tool.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib as mpl
import matplotlib.colors  # noqa: F401  (mpl.colors)
import matplotlib.patches  # noqa: F401  (mpl.patches)
import matplotlib.ticker  # noqa: F401  (mpl.ticker)
import numpy as np
import xarray as xr

from ..core.parameters import HOURS_PER_DAY, HOURS_PER_YEAR
from ..files import toml_file
from ..plotting import COLORS, figure, save, style
from ..population.calibration import targets_path
from ..population import onset_histogram, prevalence_by_age_table
from .summaries import (_block_hours, _config, _mechanisms_off, _start_age, _subject_events, classify_regimes,
                        effective_threshold, FINAL_WINDOW_DAYS, REPETITIVE_MIN_ACTS)

REGIME_LABELS = {
    "repetitive": "repetitive: \u22655 acts in final year",
    "sporadic": "sporadic: acted, <5 in final year",
    "never": "never acted",
}
#: The "past year" window and the repetitive bar are those of the virtual measurements


def _letter(ax, letter: str, title: str) -> None:
    ax.set_title(f"{letter}   {title}")

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
        Output of :func:`nssisim.core.simulation.simulate_cohort` (or ``simulate``).
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
        # legends below the panels, never over the curves
        below = dict(loc="upper center", bbox_to_anchor=(0.5, -0.3), fontsize=7, frameon=False)
        b.legend(**below)
        x = prev["age"].to_numpy() + 0.5
        a.fill_between(x, 100 * prev["ci_low"], 100 * prev["ci_high"], color=_tint(COLORS["affect"]), lw=0,
                       label="95% interval (Wilson)")
        a.plot(x, 100 * prev["prevalence_12m"], "o-", color=COLORS["affect"], ms=3,
               label="any act during that year of age")
        a.plot(x, 100 * prev["incidence"], "s--", color=COLORS["distress_act"], ms=3,
               label="first act during that year of age")
        a.set_xlabel("age (years; a point is the year of age from A to A + 1)")
        a.set_ylabel("% of the population")
        a.legend(**below)
        _letter(a, "a", "12-month prevalence by age")
        if len(hist):
            b.bar(hist["age"].to_numpy() + 0.5, 100 * hist["share"].to_numpy(), width=0.9, color=COLORS["sporadic"])
        b.set_xlabel("age at first act (years)")
        b.set_ylabel("% of those who acted")
        _letter(b, "b", "onset age")
        if title:
            fig.suptitle(title, fontsize=9)
        return save(fig, path)


__all__ = ["REGIME_LABELS", "plot_cohort", "plot_person", "plot_population"]
