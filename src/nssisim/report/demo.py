"""The demo workflow behind ``nssisim demo``: one adolescent, a cohort, the life-course
population, the explanatory targets and a small virtual trial, written as one report.

:func:`run_demo` simulates and writes into a given folder (it does not choose the folder:
the command line decides whether an existing report may be replaced). The two scenarios
are saved beside ``summary.md`` so that ``nssisim simulate`` reproduces either run exactly.
A research instrument, not a clinical tool.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .._version import __version__
from ..core.parameters import PARAMS
from ..core.presets import load_preset, PRESETS
from ..core.scenario import ScenarioConfig, to_simulation_kwargs, to_toml, validate_config
from ..core.simulation import simulate_cohort
from ..population import LifeCourse, LifeCourseScreen, load_population, load_record, run_in_memory
from ..targets import run_targets, TARGETS
from ..trials import load_design, run_trial
from .markdown import write_report

#: Demo settings (see ``nssisim demo --help``).
DEMO_PRESET = "vulnerable"
DEMO_SEED = 1
DEMO_DAYS = 730
DEMO_PERSON_DT = 0.25
DEMO_PERSON_DT_FAST = 1.0
DEMO_COHORT = 2000
DEMO_COHORT_FAST = 300
DEMO_COHORT_DT = 1.0
#: Targets the demo leaves out to stay under two minutes (all 14 take about 3.5 minutes on 2 cores):
#: it keeps the clinical designs, which share one referral screening (P1-P3, P14's clinical sample),
#: and the cheapest community contrast (P7); the others are left out for their cost, not their
#: verdict. ``nssisim targets`` runs all of them.
DEMO_SKIP_TARGETS = ("P4", "P5", "P6", "P8", "P9", "P10", "P11", "P12", "P13")
#: Life-course population of the demo (calibrated community sample, 11 to 18): about 15 s on a quiet 2-core machine.
DEMO_POPULATION = 2000
DEMO_POPULATION_FAST = 256
#: Half-widths of the per-subject trait spread around the preset value (uniform draws, clipped to bounds).
DEMO_SPREAD = {
    "limbic_reactivity": 0.35, "pfc_adult": 0.2, "rumination_trait": 0.3, "resilience": 0.2,
    "reward_sensitivity": 0.4, "opioid_tone": 0.25,
}
#: Event rows per cohort subject in the demo: the busiest repetitive subjects have over a
#: thousand urges in two years, and the report's episode statistics use the event table.
DEMO_EVENT_CAPACITY = 2048
#: The virtual trial of the demo (configs/trials/demo.toml).
DEMO_TRIAL = "demo"
#: The referral rule that draws the report's clinical sample from the demo's own life-course
#: population (configs/referral/outpatient.toml), applied while it is simulated.
DEMO_REFERRAL_RULE = "outpatient"


def demo_configs(preset: str = DEMO_PRESET, seed: int = DEMO_SEED, fast: bool = False, subjects: int | None = None,
                 days: int = DEMO_DAYS) -> tuple[ScenarioConfig, ScenarioConfig]:
    """The person and the cohort scenario of the demo."""
    base = load_preset(preset)
    ranges = {}
    for name, half in DEMO_SPREAD.items():
        p = PARAMS[name]
        c = base.get(name, p.default)
        ranges[name] = [float(f"{max(p.low, c - half):.6g}"), float(f"{min(p.high, c + half):.6g}")]
    person = validate_config({
        "run": {"seed": seed, "horizon_days": days, "dt_hours": DEMO_PERSON_DT_FAST if fast else DEMO_PERSON_DT,
                "record_every": 1, "n_subjects": 1},
        "preset": preset,
    }, source="demo person")
    n = subjects if subjects is not None else (DEMO_COHORT_FAST if fast else DEMO_COHORT)
    cohort = validate_config({
        "run": {"seed": seed, "horizon_days": days, "dt_hours": DEMO_COHORT_DT, "record_every": 24,
                "n_subjects": n, "event_capacity": DEMO_EVENT_CAPACITY},
        "preset": preset,
        "person_ranges": ranges,
    }, source="demo cohort")
    return person, cohort


def demo_command(fast: bool = False, targets: bool = True, preset: str = DEMO_PRESET, seed: int = DEMO_SEED,
                 subjects: int | None = None, days: int = DEMO_DAYS, population_subjects: int | None = None,
                 trial: bool = True) -> str:
    """The ``nssisim demo`` command line that reproduces a demo with these settings."""
    parts = ["nssisim demo"]
    parts += ["--fast"] if fast else []
    parts += [] if targets else ["--no-targets"]
    parts += [f"--preset {preset}"] if preset != DEMO_PRESET else []
    parts += [f"--seed {seed}"] if seed != DEMO_SEED else []
    parts += [f"--subjects {subjects}"] if subjects is not None else []
    parts += [f"--days {days}"] if days != DEMO_DAYS else []
    parts += [f"--population-subjects {population_subjects}"] if population_subjects is not None else []
    parts += [] if trial else ["--no-trial"]
    return " ".join(parts)


def run_demo(out_dir: str | Path, *, fast: bool = False, targets: bool = True, preset: str = DEMO_PRESET,
             seed: int = DEMO_SEED, subjects: int | None = None, days: int = DEMO_DAYS, trial: bool = True,
             population_subjects: int | None = None, progress: bool = True,
             log: Callable[[str], Any] = lambda message: None) -> dict[str, Any]:
    """Run the demo and write its report into ``out_dir`` (created; the report's own files are replaced).

    Parameters
    ----------
    out_dir : path
        Report folder: ``summary.md``, the figures, ``trial/`` and the two scenario files. The
        population section carries its trajectory classes and the profile of the adolescents that
        :data:`DEMO_REFERRAL_RULE` refers from the same simulation.
    fast : bool
        The person at dt = :data:`DEMO_PERSON_DT_FAST` h, a cohort of :data:`DEMO_COHORT_FAST`
        and a population of :data:`DEMO_POPULATION_FAST`.
    targets, trial : bool
        Run the explanatory targets (without :data:`DEMO_SKIP_TARGETS`) and the demo trial.
    subjects, population_subjects : int, optional
        Cohort and life-course population sizes (defaults as ``fast`` says; population 0 skips it).
    progress : bool
        Progress bars of the cohort, population and targets.
    log : callable
        Receives one line before each stage (the command line prints them).

    Returns
    -------
    dict
        ``{"folder": Path, "paths": write_report's paths, "scenarios": [Path, Path],
        "target_results": list or None, "timings": {stage: seconds}, "seconds": float}``.
    """
    if preset not in PRESETS:
        raise KeyError(f"unknown preset '{preset}': expected one of {', '.join(PRESETS)}")
    folder = Path(out_dir)
    t_all = time.perf_counter()
    person_cfg, cohort_cfg = demo_configs(preset, seed, fast, subjects, days)
    timings = {}

    t0 = time.perf_counter()
    log(f"simulating one adolescent (preset '{preset}', {days} days, dt={person_cfg.run.dt_hours:g} h) ...")
    person_ds = simulate_cohort(**to_simulation_kwargs(person_cfg))
    timings["person"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    log(f"simulating a cohort of {cohort_cfg.run.n_subjects:,} ({days} days, dt={cohort_cfg.run.dt_hours:g} h) ...")
    cohort_ds = simulate_cohort(**to_simulation_kwargs(cohort_cfg), progress=progress)
    timings["cohort"] = time.perf_counter() - t0

    population = None
    n_pop = population_subjects if population_subjects is not None else (DEMO_POPULATION_FAST if fast else DEMO_POPULATION)
    if n_pop > 0:
        t0 = time.perf_counter()
        course = LifeCourse()
        log(f"simulating the community population (its [parameters]: docs/population.md): {n_pop:,} adolescents from "
            f"{course.start_age:g} to {course.end_age:g} ...")
        try:
            record = load_record("community")
        except FileNotFoundError:
            record = None
        screen = LifeCourseScreen(DEMO_REFERRAL_RULE, seed, "community", course.start_age)
        table = run_in_memory("community", n_pop, seed=seed, course=course, progress=progress, on_dataset=screen)
        population = {"table": table, "record": record, "end_age": course.end_age, "referred": screen.sample(),
                      "recall_years": load_population("community").recall_years}
        timings["population"] = time.perf_counter() - t0

    results = None
    if targets:
        t0 = time.perf_counter()
        demo_targets = [t for t in TARGETS if t not in DEMO_SKIP_TARGETS]
        log(f"running {len(demo_targets)} explanatory target(s) ...")
        results = run_targets(demo_targets, progress=progress)
        timings["targets"] = time.perf_counter() - t0

    trial_ds = None
    if trial:
        t0 = time.perf_counter()
        log(f"running the demo virtual trial (configs/trials/{DEMO_TRIAL}.toml: DBT-A vs supportive therapy) ...")
        trial_ds = run_trial(load_design(DEMO_TRIAL))
        timings["trial"] = time.perf_counter() - t0

    folder.mkdir(parents=True, exist_ok=True)
    header = "Scenario of the nssisim demo: rerun with `nssisim simulate --config {} --out FILE.nc`"
    scenarios = []
    for name, cfg in (("person_scenario.toml", person_cfg), ("cohort_scenario.toml", cohort_cfg)):
        (folder / name).write_text(to_toml(cfg, header.format(folder / name)), encoding="utf-8")
        scenarios.append(folder / name)
    timing_line = ", ".join(f"{k} {v:.1f} s" for k, v in timings.items())
    extra = [
        f"Made by `{demo_command(fast, targets, preset, seed, subjects, days, population_subjects, trial)}` "
        f"(nssisim {__version__}). The two scenarios are saved beside this file "
        "(`person_scenario.toml`, `cohort_scenario.toml`); `nssisim simulate --config <file> --out <file>.nc` "
        "reproduces either run exactly.",
        "",
        "Regimes: *repetitive* = at least 5 acts in the final year of the run (the behavioural signature of the "
        "addictive regime), *sporadic* = acted but fewer, *never* = no act. Fast states in the person figure are "
        "daily summaries of the recorded snapshots; the effective urge threshold mirrors the M5 block of the model.",
        "",
        f"Wall time (including JAX compilation): {timing_line}.",
    ]
    if results is not None and DEMO_SKIP_TARGETS:
        extra += ["", f"Targets {', '.join(DEMO_SKIP_TARGETS)} are not run by the demo, to keep it under two minutes: "
                  "the demo keeps the clinical designs, which share one referral screening, and the cheapest "
                  "community contrast; the others are left out for their cost (all 14 take about 3.5 minutes on 2 "
                  "cores), not their verdict. "
                  f"`nssisim targets {' '.join('--id ' + t for t in DEMO_SKIP_TARGETS)}` runs them, `nssisim targets` "
                  "all 14."]
    paths = write_report(folder, person_ds, cohort_ds, results, "\n".join(extra), trial_ds=trial_ds,
                         population=population)
    return {"folder": folder, "paths": paths, "scenarios": scenarios, "target_results": results,
            "timings": timings, "seconds": time.perf_counter() - t_all}


__all__ = ["DEMO_COHORT", "DEMO_COHORT_DT", "DEMO_COHORT_FAST", "DEMO_DAYS", "DEMO_EVENT_CAPACITY", "DEMO_PERSON_DT",
           "DEMO_PERSON_DT_FAST", "DEMO_POPULATION", "DEMO_POPULATION_FAST", "DEMO_PRESET", "DEMO_SEED",
           "DEMO_REFERRAL_RULE", "DEMO_SKIP_TARGETS", "DEMO_SPREAD", "DEMO_TRIAL", "demo_command", "demo_configs", "run_demo"]
