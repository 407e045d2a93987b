"""The Markdown summary of a report: ``summary.md`` beside the figures.

- :func:`population_markdown`: the population section (figure, prevalence by age,
  headline numbers, trajectory classes, calibration table);
- :func:`referred_markdown`: a referred clinical sample's profile beside the clinical targets;
- :func:`community_status`: the calibrated / provisional wording every section uses;
- :func:`write_report`: the figures and ``summary.md`` in one folder.

A research instrument, not a clinical tool.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import xarray as xr

from .._version import MODEL_CARD_NOTE
from ..core.parameters import HOURS_PER_DAY
from ..population import (DEFAULT_END_AGE, format_report, load_population, load_record, prevalence_by_age_table,
                          profile_table, published_text, record_matches_spec, ReferredSample)
from ..targets import format_results
from ..trials import trial_markdown, write_trial
from .figures import plot_cohort, plot_person, plot_population
from .summaries import (_config, _start_age, cohort_summary, FINAL_WINDOW_DAYS, person_summary, population_summary,
                        trajectory_table)


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

def community_status(record: dict | None) -> tuple[bool, str, str]:
    """Whether a population's values are calibrated (its spec holds the record's fitted values) or
    provisional: ``(current, label, label with its reason)``, the wording of every report section
    that uses the population."""
    current = record is not None and record_matches_spec(record, load_population(record.get("population", "community")))
    label = "calibrated" if current else "provisional values"
    return current, label, label + ("" if current else ": hand-set, not fitted; docs/population.md, 'Provisional values'")


def _record_of(population: str) -> dict | None:
    """The shipped calibration record of a population, or None."""
    try:
        return load_record(population)
    except FileNotFoundError:
        return None


def trajectory_markdown(table, status: str) -> list[str]:
    """The trajectory classes of a life-course table under the published designs (:func:`trajectory_table`)."""
    tt = trajectory_table(table)
    md = [f"### Trajectory classes (published longitudinal designs applied to this run; {status})", "",
          "Each design follows the subjects whose survey age lies in its entry ages, counts their acts per wave "
          "and classifies them by the rules of `nssisim.population.survey` (`trajectory_classes_8_waves`, "
          "`trajectory_classes_1_year`: rules standing in for group-based trajectory modelling and latent class "
          "growth analysis); wave spacing and entry ages are assumptions. Published shares: "
          "`data/calibration_targets.toml` (`course.trajectory_classes_8_waves`, `course.trajectory_classes_1_year`).",
          "", "| design | class | simulated share | published share |", "|---|---|---|---|"]
    for (label, waves, months, lo, hi, n), rows in tt.groupby(
            ["design", "waves", "months", "entry_low", "entry_high", "n"], sort=False):
        where = f"{label}: {waves} waves {months} months apart, entry at {lo:g}-{hi:g} (n = {n:,})"
        md += [f"| {where} | {r['class']} | {_fmt_pct(r.simulated)} | {_fmt_pct(r.published)} |" for _, r in rows.iterrows()]
    return md + [""]


def referred_markdown(sample: ReferredSample, status: str) -> list[str]:
    """A referred clinical sample's profile (:func:`nssisim.population.profile_table`) as a report section."""
    rule = sample.rule
    prof = profile_table(sample)
    k, n = len(sample.table), sample.screened
    md = [f"## Referred clinical sample (rule `{rule.name}`; community sample, {status})", "",
          f"The community adolescents of the population section, screened by the referral rule `{rule.name}` "
          f"(`configs/referral/{rule.name}.toml`: checks every {rule.check_every_days} days from age {rule.age_min:g} "
          f"to {rule.age_max:g}; {rule.describe()}; help seeking ~ beta(mean {rule.help_mean:g}, sd {rule.help_sd:g}), "
          f"an assumption): **{n:,} screened, {k:,} referred** ({_fmt_pct(k / n if n else math.nan)}). Measures at the "
          "referral day from the same simulation as the population section (history from its start age, after "
          "its burn-in); `nssisim clinical-profile` screens a larger pool of its own.", "",
          "| measure | simulated [95% CI] | published | inside |", "|---|---|---|---|"]
    for r in prof.itertuples():
        share = math.isfinite(r.sim_low)
        val = (f"{_fmt(r.simulated, 3)} [{_fmt(r.sim_low, 3)}, {_fmt(r.sim_high, 3)}]" if share
               else _fmt(r.simulated, 2))
        md.append(f"| {r.measure} | {val} | {published_text(r) or '—'} | {({True: 'yes', False: 'no', None: '—'})[r.inside]} |")
    md += ["", "*inside*: the simulated value lies in the published interval (— where none is published). "
           + ("Few referred: the intervals are wide. " if k < 30 else "")
           + "Model predictions, not clinical facts.", ""]
    return md


def population_markdown(table, record: dict | None, out_dir: str | Path, end_age: float,
                        recall_years: float | None = None) -> list[str]:
    """The report's population section: figure, prevalence by age, headline numbers, trajectory classes,
    calibration table."""
    plot_population(table, Path(out_dir) / "population.png")
    ps = population_summary(table, recall_years)
    prev = prevalence_by_age_table(table)
    current, status, status_long = community_status(record)
    md = [f"## Population over the life course (community sample, {status})", "",
          "![prevalence by age and onset ages](population.png)", "",
          f"{ps['n']:,} virtual adolescents of the default community population ({status_long}), simulated to age "
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
    md += trajectory_markdown(table, status)
    if record is not None:
        stale = ([] if current else [
            "**Stale:** this record is a calibration of an earlier version of the model; the community spec's "
            "`[parameters]` no longer holds its values, so its simulated column does not describe this run.", ""])
        md += ["### Calibration (model versus published targets)", "", *stale,
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
        A virtual trial (:func:`nssisim.trials.run_trial`): its files go to ``trial/`` and its
        summary into ``summary.md``.
    population : dict, optional
        ``{"table": life-course measurement table, "record": calibration record or None,
        "end_age": float, "referred": ReferredSample (optional)}``: adds ``population.png``, the
        population section and, with ``referred``, the referred clinical sample's profile.

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
          "community population, whose status it states: calibrated or provisional); injury severity is "
          "only an abstract number.", ">", f"> {MODEL_CARD_NOTE}", ""]

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
        md += population_markdown(population["table"], population.get("record"), out, population.get("end_age", DEFAULT_END_AGE),
                                  population.get("recall_years"))
        paths["population"] = out / "population.png"
        if population.get("referred") is not None:
            md += referred_markdown(population["referred"], community_status(population.get("record"))[1])

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
        name = str(trial_ds.attrs.get("population", "community"))
        record = population.get("record") if population is not None and name == "community" else _record_of(name)
        note = f"Patients drawn from the `{name}` population ({community_status(record)[2]})."
        md += [trial_markdown(trial_ds, note), f"Files in `trial/`: {', '.join(sorted(tp))}.", ""]

    if extra_text:
        md += ["## Notes", "", extra_text.rstrip(), ""]
    summary = out / "summary.md"
    summary.write_text("\n".join(md), encoding="utf-8")
    paths["summary"] = summary
    return paths


__all__ = ["community_status", "population_markdown", "referred_markdown", "trajectory_markdown", "write_report"]
