"""Plots of a virtual trial (:func:`nssisim.trials.run.run_trial`): forest plot and arm trajectories.

* :func:`plot_forest`: per outcome and window, the randomised effect of each contrast with
  its 95% interval (replicate 0), and, with several replicates, the 2.5-97.5% spread of the
  estimates over trials; shares as risk differences (left), frequencies and neural proxies
  as Hedges' g (right).
* :func:`plot_trajectories`: mean NSSI acts per month by assigned arm (replicate 0) from the
  baseline period to the end of follow-up, treatment period shaded.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from ..files import atomic_write_netcdf, atomic_write_text, write_csv
from ..plotting import figure, save, style
from ..stats import Z95
from .design import BINARY_OUTCOMES
from .run import arm_summary, completion_check, effects_table, summary_table

ARM_COLORS = ("#1b6ca8", "#c0392b", "#2e8b57", "#8e44ad", "#d35400", "#7f8c8d")
#: How the outcomes are named on the figures (the tables keep the identifiers).
OUTCOME_LABELS = {
    "nssi_free": "free of NSSI", "attempt_free": "free of suicide attempts", "self_harm_free": "free of self-harm",
    "remission": "remission", "completed": "completed treatment", "nssi_per_month": "NSSI acts per month",
    "self_harm_per_month": "self-harm acts per month", "limbic_change": "change in limbic reactivity",
    "regulation_change": "change in regulation capacity",
}


def outcome_label(outcome: str, window: str) -> str:
    """A figure label: the outcome in words and its follow-up window, e.g. ``free of NSSI (treatment window)``."""
    return f"{OUTCOME_LABELS.get(outcome, outcome.replace('_', ' '))} ({str(window).replace('_', ' ')} window)"


def plot_forest(ds: xr.Dataset, path: str | Path = "forest.png") -> Path:
    """Forest plot of the randomised effects (see module docstring)."""
    with style():
        return _plot_forest(ds, path)


def _plot_forest(ds: xr.Dataset, path: str | Path = "forest.png") -> Path:
    s = summary_table(ds)
    s = s[s.analysis == "randomised"]
    panels = [("risk_difference", "risk difference (arm - control), shares", 0.0),
              ("hedges_g", "Hedges' g (arm - control), frequencies and neural change", 0.0)]
    contrasts = list(dict.fromkeys(s.contrast))
    rows = list(dict.fromkeys(zip(s.stratum, s.outcome, s.window)))
    n_rows = max(len([r for r in rows if (r[1] in BINARY_OUTCOMES) == (m == "risk_difference")]) for m, _, _ in panels)
    fig = figure(12.0, 1.2 + 0.28 * n_rows * max(1, len(contrasts)) ** 0.5 + 0.3 * n_rows)
    axes = fig.subplots(1, 2)
    strata = list(dict.fromkeys(s.stratum))
    for ax, (measure, title, null) in zip(axes, panels):
        sub = s[s.measure == measure]
        keys = list(dict.fromkeys(zip(sub.stratum, sub.outcome, sub.window)))
        labels = [(f"{st}: " if len(strata) > 1 else "") + outcome_label(o, w) for st, o, w in keys]
        for ci, con in enumerate(contrasts):
            off = (ci - (len(contrasts) - 1) / 2) * 0.8 / max(len(contrasts), 1)
            c = ARM_COLORS[ci % len(ARM_COLORS)]
            for yi, key in enumerate(keys):
                r = sub[(sub.contrast == con) & (sub.stratum == key[0]) & (sub.outcome == key[1]) & (sub.window == key[2])]
                if r.empty:
                    continue
                r = r.iloc[0]
                y = len(keys) - 1 - yi + off
                if r.replicates > 1:
                    ax.plot([r.q025, r.q975], [y, y], color=c, alpha=0.25, lw=6, solid_capstyle="butt")
                ax.plot([r.low, r.high], [y, y], color=c, lw=1.5)
                ax.plot([r.estimate], [y], "o", color=c, ms=4, label=con if yi == 0 else None)
        ax.axvline(null, color="0.4", lw=0.8, ls="--")
        ax.set_yticks(range(len(keys)), labels[::-1] if labels else [])
        ax.set_title(title, fontsize=9)
        ax.tick_params(labelsize=8)
    handles, labs = axes[0].get_legend_handles_labels()
    if not handles:
        handles, labs = axes[1].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labs, loc="outside lower center", ncols=min(len(labs), 4), fontsize=8)
    reps = int(ds.sizes["replicate"])
    fig.suptitle(f"Virtual trial: randomised effects with 95% intervals (replicate 0, n={ds.sizes['patient']})"
                 + (f"; shaded: 2.5-97.5% of estimates over {reps} trials" if reps > 1 else ""), fontsize=10)
    return save(fig, path)


def plot_trajectories(ds: xr.Dataset, path: str | Path = "trajectories.png") -> Path:
    """Mean NSSI acts per month by assigned arm (replicate 0), per stratum."""
    with style():
        return _plot_trajectories(ds, path)


def _plot_trajectories(ds: xr.Dataset, path: str | Path = "trajectories.png") -> Path:
    strata = list(ds["stratum"].values)
    fig = figure(4.6 * len(strata) + 1.0, 3.6)
    axes = np.atleast_1d(fig.subplots(1, len(strata), squeeze=False)[0])
    start = ds["month_start_day"].values / 30.4375
    edges = np.append(start, float(ds["window_end_day"].max()) / 30.4375)
    length = float(ds.attrs["treatment_length_days"]) / 30.4375
    for ax, st in zip(axes, strata):
        x = ds.sel(stratum=st, replicate=0)
        assigned = x["assigned"].values
        for ai, arm in enumerate(ds["arm"].values):
            m = assigned == ai
            y = x["monthly_nssi"].sel(arm=arm).values[m]
            mean = y.mean(axis=0)
            se = y.std(axis=0, ddof=1) / np.sqrt(max(m.sum(), 1)) if m.sum() > 1 else np.zeros_like(mean)
            c = ARM_COLORS[ai % len(ARM_COLORS)]
            # baseline=None: the steps do not drop to 0 at the two ends
            ax.stairs(mean, edges, baseline=None, color=c, lw=1.5, label=f"{arm} (n={int(m.sum())})", zorder=3)
            ax.stairs(mean + _half95(se), edges, baseline=mean - _half95(se), fill=True, color=c, alpha=0.15, lw=0,
                      zorder=2, label="95% interval of the mean" if ai == len(ds["arm"]) - 1 else None)
        ax.axvspan(0.0, length, color="0.85", alpha=0.5, lw=0, label="treatment", zorder=0)  # behind the lines
        ax.axvline(0.0, color="0.3", lw=0.8)
        ax.set_xlabel("months since randomisation")
        ax.set_ylabel("NSSI acts per month (mean, assigned arm)")
        ax.set_title(str(st) if len(strata) > 1 else ds.attrs.get("title", ""), fontsize=8)
        ax.legend(fontsize=7)
    return save(fig, path)


def _half95(se: np.ndarray) -> np.ndarray:
    """Half-width of a normal 95% interval."""
    return Z95 * se


# ------------------------------------------------------------------------------ outputs
#: Files written by :func:`write_trial` (the CLI refuses to overwrite them without --overwrite).
TRIAL_FILES = ("trial.nc", "effects.csv", "summary.csv", "arms.csv", "forest.png", "trajectories.png", "trial.md")


def trial_markdown(ds: xr.Dataset, note: str = "") -> str:
    """A short Markdown summary: screening, arms, and the randomised effects of replicate 0.

    ``note``: a paragraph placed under the heading (a report states there the status of the
    population the patients come from)."""
    s = summary_table(ds)
    s = s[s.analysis == "randomised"]
    lines = [f"## Virtual trial: {json_name(ds)}", "", *([note, ""] if note else []),
             f"{ds.attrs['title']}. Control arm: `{ds.attrs['control_arm']}`; {ds.sizes['patient']} randomised patients "
             f"per trial, {ds.sizes['replicate']} trial(s); age at randomisation {ds.attrs['age_at_randomisation']:.1f} years"
             f"{' (mean)' if ds.attrs.get('patients_from') == 'referral' else ''}; "
             + (f"patients referred from the community life course by rule `{ds.attrs['referral_rule']}` "
                f"(life course from age {ds.attrs['life_course_start_age']:g}); "
                if ds.attrs.get("patients_from") == "referral" else "")
             + "common random numbers across arms.", ""]
    for st in ds["stratum"].values:
        lines.append(f"Stratum `{st}`: {int(ds['eligible_found'].sel(stratum=st))} eligible patients used, "
                     f"{int(ds['screened'].sel(stratum=st))} candidates screened.")
    lines += ["", "| stratum | contrast | outcome | window | measure | estimate [95% CI] | power |", "|---|---|---|---|---|---|---|"]
    for r in s.itertuples():
        lines.append(f"| {r.stratum} | {r.contrast} | {r.outcome} | {r.window} | {r.measure} | "
                     f"{r.estimate:.3f} [{r.low:.3f}, {r.high:.3f}] | {power_text(r.power, r.replicates)} |")
    if int(ds.sizes["replicate"]) < 2:
        lines += ["", "Power (the share of replicate trials whose interval excludes no effect) needs 2 or more "
                      "replicates; with 1 it is not defined (—): run with `--replicates N`."]
    a = arm_summary(ds)
    lines += ["", "Means over all simulated patients in each arm (paired):", "",
              "| stratum | arm | window | NSSI-free | NSSI/month | NSSI days | response | remission | relapse | "
              "attempt-free | completed | limbic change | regulation change |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in a.itertuples():
        lines.append(f"| {r.stratum} | {r.arm} | {r.window} | {r.nssi_free:.3f} | {r.nssi_per_month:.2f} | "
                     f"{r.nssi_days:.1f} | {r.response:.3f} | {r.remission:.3f} | {r.relapse:.3f} | "
                     f"{r.attempt_free:.3f} | {r.completed:.3f} | {r.limbic_change:+.3f} | {r.regulation_change:+.3f} |")
    if "dbt_a" in list(ds["arm"].values):
        c = completion_check(ds, "dbt_a")
        lines += ["", f"DBT-A completion (dropout check): simulated {c['simulated']:.3f} [{c['low']:.3f}, {c['high']:.3f}] "
                      f"(n = {c['n']}) vs published {c['published']:g} (calibration.toml {c['target']}): "
                      f"{'inside' if c['inside'] else 'OUTSIDE'} the simulated 95% interval."]
    return "\n".join(lines) + "\n"


def power_text(power: float, replicates: int) -> str:
    """Power as printed: two decimals, or "—" for a single replicate, where it is not defined."""
    return "—" if int(replicates) < 2 else f"{power:.2f}"


def json_name(ds: xr.Dataset) -> str:
    import json

    return str(json.loads(ds.attrs["design"]).get("name", "trial"))


def write_trial(ds: xr.Dataset, folder: str | Path) -> dict[str, Path]:
    """Write the Dataset (netCDF, atomically), tidy tables, plots and a Markdown summary."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    paths["trial.nc"] = atomic_write_netcdf(ds, folder / "trial.nc")
    for name, df in (("effects.csv", effects_table(ds)), ("summary.csv", summary_table(ds)), ("arms.csv", arm_summary(ds))):
        paths[name] = write_csv(df, folder / name, index=False)  # spreadsheet-safe, atomic
    paths["forest.png"] = plot_forest(ds, folder / "forest.png")
    paths["trajectories.png"] = plot_trajectories(ds, folder / "trajectories.png")
    paths["trial.md"] = atomic_write_text(folder / "trial.md", trial_markdown(ds))
    return paths


__all__ = ["OUTCOME_LABELS", "outcome_label", "TRIAL_FILES", "power_text", "plot_forest", "plot_trajectories", "trial_markdown", "write_trial"]
