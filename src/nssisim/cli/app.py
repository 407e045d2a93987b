"""Command-line interface: ``nssisim <command>`` (``nssisim --help`` lists them).

Exit codes: 0 success; 1 a run was refused or failed (an output exists and ``--overwrite``
was not given, a missing optional module, ``targets --strict`` with a failing target);
2 bad input (an invalid scenario config, an unknown mechanism, target or preset).

``demo`` never overwrites silently: if the report folder exists and is not empty, it
writes into a new timestamped subfolder (``report/20260126-153012/``) and says so; pass
``--overwrite`` to write into the folder itself (only the report's own files are
replaced). This keeps ``make demo`` repeatable without losing an earlier report.
"""

from __future__ import annotations

import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from .._version import __version__
from ..files import atomic_write_netcdf
from ..core.scenario import ConfigError, ScenarioConfig, load_config, to_simulation_kwargs, to_toml, validate_config
from ..core.parameters import MECHANISMS, PARAMS
from ..core.presets import PRESETS, load_preset

app = typer.Typer(
    name="nssisim",
    help="nssisim: an executable model of non-suicidal self-injury with addictive features in adolescents "
         "(a research instrument, not a clinical tool).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)

#: Demo settings (see ``nssisim demo --help``).
DEMO_DAYS = 730
DEMO_PERSON_DT = 0.25
DEMO_PERSON_DT_FAST = 1.0
DEMO_COHORT = 2000
DEMO_COHORT_FAST = 300
DEMO_COHORT_DT = 1.0
#: Targets the demo leaves out (virtual trials, slow; ``nssisim targets`` runs them).
DEMO_SKIP_TARGETS = ("P12", "P13")
#: Life-course population of the demo (calibrated community sample, 11 to 18): about 15 s on a quiet 2-core machine.
DEMO_POPULATION = 2000
DEMO_POPULATION_FAST = 256
#: Half-widths of the per-subject trait spread around the preset value (uniform draws, clipped to bounds).
DEMO_SPREAD = {
    "limbic_reactivity": 0.35, "pfc_adult": 0.2, "rumination_trait": 0.3, "resilience": 0.2,
    "reward_sensitivity": 0.4, "opioid_tone": 0.25,
}


def _fail(message: str, code: int) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(code)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"nssisim {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """nssisim: an executable model of NSSI with addictive features (research instrument)."""


def _check_mechanisms(names: list[str] | None) -> tuple[str, ...]:
    names = list(names or [])
    bad = [m for m in names if m not in MECHANISMS]
    if bad:
        raise _fail(f"unknown mechanism(s) {', '.join(bad)}: expected M1..M13 "
                    f"({', '.join(f'{k} {v}' for k, v in MECHANISMS.items())})", 2)
    return tuple(names)


def _write_netcdf(ds, path: Path) -> None:
    """Write atomically: a crash never leaves a half-written file under ``path``."""
    try:
        atomic_write_netcdf(ds, path)
    except ImportError as err:
        raise _fail(f"cannot write netCDF: {err} (install h5py: pip install h5py)", 1) from None


# --------------------------------------------------------------------------------- simulate
@app.command()
def simulate(
    config: Annotated[Path, typer.Option("--config", "-c", help="Scenario TOML file (see configs/example_scenario.toml).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output netCDF file (.nc).")],
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing output files.")] = False,
    events: Annotated[Path | None, typer.Option("--events", help="Also write the tidy event table as CSV.")] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Progress bar over chunks.")] = True,
) -> None:
    """Run a scenario file and write the result as netCDF (config, hash, seed and version in attrs)."""
    try:
        cfg = load_config(config)
    except ConfigError as err:
        raise _fail(str(err), 2) from None
    existing = [p for p in (out, events) if p is not None and p.exists()]
    if existing and not overwrite:
        raise _fail(f"refusing to overwrite {', '.join(map(str, existing))}: pass --overwrite to replace", 1)
    from ..core.simulation import events_table, simulate_cohort

    t0 = time.perf_counter()
    try:
        ds = simulate_cohort(**to_simulation_kwargs(cfg), progress=progress)
    except (ValueError, KeyError) as err:  # a check the simulator makes beyond the config's own
        raise _fail(f"{config}: the simulator rejected the scenario: {err}", 2) from None
    _write_netcdf(ds, out)
    msg = (f"wrote {out}: {ds.sizes['subject']:,} subject(s), {cfg.run.horizon_days:g} days at dt={cfg.run.dt_hours:g} h, "
           f"{int(ds['acts'].sum()):,} acts, config hash {ds.attrs['config_hash'][:12]} "
           f"({time.perf_counter() - t0:.1f} s)")
    if events is not None:
        events.parent.mkdir(parents=True, exist_ok=True)
        events_table(ds).to_csv(events, index=False)
        msg += f"\nwrote {events}: the event table ({ds.sizes['event']:,} rows)"
    typer.echo(msg)
    dropped = int(ds.attrs.get("events_dropped_total", 0))
    if dropped:
        typer.echo(f"note: {dropped:,} event rows did not fit the event table (run.event_capacity="
                   f"{cfg.run.event_capacity}); counts per block are complete, raise event_capacity for all events",
                   err=True)


# ------------------------------------------------------------------------------------- demo
def _demo_configs(preset: str, seed: int, fast: bool, subjects: int | None,
                  days: int = DEMO_DAYS) -> tuple[ScenarioConfig, ScenarioConfig]:
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


#: Event rows per cohort subject in the demo: the busiest repetitive subjects have over a
#: thousand urges in two years, and the report's episode statistics use the event table.
DEMO_EVENT_CAPACITY = 2048


def _demo_command(fast: bool, targets: bool, preset: str, seed: int, subjects: int | None, days: int,
                  population_subjects: int | None = None) -> str:
    parts = ["nssisim demo"]
    parts += ["--fast"] if fast else []
    parts += [] if targets else ["--no-targets"]
    parts += [f"--preset {preset}"] if preset != "vulnerable" else []
    parts += [f"--seed {seed}"] if seed != 1 else []
    parts += [f"--subjects {subjects}"] if subjects is not None else []
    parts += [f"--days {days}"] if days != DEMO_DAYS else []
    parts += [f"--population-subjects {population_subjects}"] if population_subjects is not None else []
    return " ".join(parts)


def _report_dir(out: Path, overwrite: bool) -> tuple[Path, str]:
    if out.exists() and not out.is_dir():
        raise _fail(f"--out {out} exists and is not a folder", 1)
    if overwrite or not out.exists() or not any(out.iterdir()):
        return out, ""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    target = out / stamp
    i = 2
    while target.exists():
        target = out / f"{stamp}-{i}"
        i += 1
    return target, f"{out} is not empty: writing into the new subfolder {target} (pass --overwrite to write into {out})"


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", help="Report folder.")] = Path("report"),
    fast: Annotated[bool, typer.Option("--fast", help=f"Person at dt={DEMO_PERSON_DT_FAST:g} h, cohort of {DEMO_COHORT_FAST}.")] = False,
    targets: Annotated[bool, typer.Option("--targets/--no-targets", help="Run the explanatory targets.")] = True,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Write into --out even if it is not empty.")] = False,
    preset: Annotated[str, typer.Option("--preset", help=f"Person preset: {', '.join(PRESETS)}.")] = "vulnerable",
    seed: Annotated[int, typer.Option("--seed", help="Root seed of both simulations.")] = 1,
    subjects: Annotated[int | None, typer.Option("--subjects", min=1, help="Cohort size (default 2000, 300 with --fast).")] = None,
    days: Annotated[int, typer.Option("--days", min=1, help="Simulated days (both runs).")] = DEMO_DAYS,
    trial: Annotated[bool, typer.Option("--trial/--no-trial", help="Run the small default virtual trial (configs/trials/demo.toml).")] = True,
    population_subjects: Annotated[int | None, typer.Option("--population-subjects", min=0, help=f"Life-course population size (default {DEMO_POPULATION}, {DEMO_POPULATION_FAST} with --fast; 0 skips it).")] = None,
) -> None:
    """Simulate one adolescent and a cohort over two years, run the targets, and write a report.

    The person (subject 0 of the preset) runs at dt = 0.25 h and is recorded every step; the
    cohort (the preset with six traits spread uniformly around it) at dt = 1 h, recorded daily.
    If the report folder is not empty, a new timestamped subfolder is used unless --overwrite.
    """
    if preset not in PRESETS:
        raise _fail(f"unknown preset '{preset}': expected one of {', '.join(PRESETS)}", 2)
    folder, note = _report_dir(out, overwrite)
    if note:
        typer.echo(note)
    from ..report.figures import write_report
    from ..core.simulation import simulate_cohort

    t_all = time.perf_counter()
    person_cfg, cohort_cfg = _demo_configs(preset, seed, fast, subjects, days)
    timings = {}

    t0 = time.perf_counter()
    typer.echo(f"simulating one adolescent (preset '{preset}', {days} days, dt={person_cfg.run.dt_hours:g} h) ...")
    person_ds = simulate_cohort(**to_simulation_kwargs(person_cfg))
    timings["person"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    typer.echo(f"simulating a cohort of {cohort_cfg.run.n_subjects:,} ({days} days, dt={cohort_cfg.run.dt_hours:g} h) ...")
    cohort_ds = simulate_cohort(**to_simulation_kwargs(cohort_cfg), progress=True)
    timings["cohort"] = time.perf_counter() - t0

    population = None
    n_pop = population_subjects if population_subjects is not None else (DEMO_POPULATION_FAST if fast else DEMO_POPULATION)
    if n_pop > 0:
        from ..population.calibration import load_record
        from ..population.lifecourse import LifeCourse, run_in_memory

        t0 = time.perf_counter()
        course = LifeCourse()
        typer.echo(f"simulating the calibrated community population: {n_pop:,} adolescents from "
                   f"{course.start_age:g} to {course.end_age:g} ...")
        try:
            record = load_record("community")
        except FileNotFoundError:
            record = None
        population = {"table": run_in_memory("community", n_pop, seed=seed, course=course, progress=True),
                      "record": record, "end_age": course.end_age}
        timings["population"] = time.perf_counter() - t0

    results = None
    if targets:
        from ..targets import TARGETS, run_targets

        t0 = time.perf_counter()
        demo_targets = [t for t in TARGETS if t not in DEMO_SKIP_TARGETS]
        typer.echo(f"running {len(demo_targets)} explanatory target(s) ...")
        results = run_targets(demo_targets, progress=True)
        timings["targets"] = time.perf_counter() - t0

    trial_ds = None
    if trial:
        from ..trials import load_design, run_trial

        t0 = time.perf_counter()
        typer.echo("running the demo virtual trial (configs/trials/demo.toml: DBT-A vs supportive therapy) ...")
        trial_ds = run_trial(load_design("demo"))
        timings["trial"] = time.perf_counter() - t0

    folder.mkdir(parents=True, exist_ok=True)
    header = "Scenario of the nssisim demo: rerun with `nssisim simulate --config {} --out FILE.nc`"
    for name, cfg in (("person_scenario.toml", person_cfg), ("cohort_scenario.toml", cohort_cfg)):
        (folder / name).write_text(to_toml(cfg, header.format(folder / name)), encoding="utf-8")
    timing_line = ", ".join(f"{k} {v:.1f} s" for k, v in timings.items())
    extra = [
        f"Made by `{_demo_command(fast, targets, preset, seed, subjects, days, population_subjects)}{'' if trial else ' --no-trial'}` "
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
        extra += ["", f"Targets {', '.join(DEMO_SKIP_TARGETS)} (multi-arm virtual trials, about a minute each) are not "
                  f"run by the demo: `nssisim targets {' '.join('--id ' + t for t in DEMO_SKIP_TARGETS)}` runs them."]
    paths = write_report(folder, person_ds, cohort_ds, results, "\n".join(extra), trial_ds=trial_ds,
                         population=population)
    typer.echo(f"report written to {folder}/ ({', '.join(sorted(p.name for p in paths.values()))}, "
               f"person_scenario.toml, cohort_scenario.toml) in {time.perf_counter() - t_all:.1f} s")
    if results:
        held = sum(r.passed for r in results)
        typer.echo(f"explanatory targets: {held} of {len(results)} hold (details in summary.md)")


# ---------------------------------------------------------------------------------- targets
@app.command("targets")
def targets_cmd(
    ids: Annotated[list[str] | None, typer.Option("--id", help="Target id (repeatable); default all.")] = None,
    mechanisms_off: Annotated[list[str] | None, typer.Option("--mechanisms-off", help="Mechanism to switch off (repeatable).")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Exit 1 if a target does not hold.")] = False,
    progress: Annotated[bool, typer.Option("--progress/--no-progress")] = True,
) -> None:
    """Run the explanatory targets and print the table (exit 0 unless --strict and one fails)."""
    from ..targets import format_results, run_targets

    off = _check_mechanisms(mechanisms_off)
    if not _check_targets(ids):
        return
    results = run_targets(ids or None, mechanisms_off=off, progress=progress)
    if off:
        typer.echo(f"mechanisms off: {', '.join(off)}")
    typer.echo(format_results(results))
    failed = [r.id for r in results if not r.passed]
    if strict and failed:
        raise _fail(f"{len(failed)} target(s) do not hold: {', '.join(failed)}", 1)


def _check_targets(ids: list[str] | None) -> bool:
    """Exit 2 on unknown target ids; False (after saying so) when no target is registered."""
    from ..targets import TARGETS

    unknown = [i for i in (ids or []) if i not in TARGETS]
    if unknown:
        raise _fail(f"unknown target(s) {', '.join(unknown)}: registered are {', '.join(TARGETS) or 'none'}", 2)
    if not TARGETS:
        typer.echo("no explanatory targets are registered")
        return False
    return True


@app.command()
def ablate(
    ids: Annotated[list[str] | None, typer.Option("--id", help="Target id (repeatable); default all.")] = None,
    mechanisms: Annotated[list[str] | None, typer.Option("--mechanism", help="Mechanism column (repeatable); default M1..M13.")] = None,
    markdown: Annotated[Path | None, typer.Option("--markdown", help="Also write the table and statistics as Markdown (e.g. docs/ablation.md).")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing --markdown file.")] = False,
) -> None:
    """Phenomena-by-mechanism table: does each target hold with each mechanism switched off?"""
    if markdown is not None and markdown.exists() and not overwrite:
        raise _fail(f"{markdown} exists; pass --overwrite to replace it", 1)
    from ..targets import ablation, format_ablation

    if not _check_targets(ids):
        return
    kw = {"mechanisms": _check_mechanisms(mechanisms)} if mechanisms else {}
    df = ablation(ids or None, progress=True, **kw)
    typer.echo(format_ablation(df))
    if markdown is not None:
        from ..targets import ablation_markdown

        markdown.parent.mkdir(parents=True, exist_ok=True)
        markdown.write_text(ablation_markdown(df), encoding="utf-8")
        typer.echo(f"wrote {markdown}")


@app.command()
def bench(
    subjects: Annotated[int, typer.Option("--subjects", min=1, help="Cohort size of the throughput run.")] = 10000,
    python_steps: Annotated[int, typer.Option("--python-steps", min=1, help="Steps of the pure-Python reference.")] = 20000,
    years: Annotated[float, typer.Option("--years", min=0.0, help="Simulated years of the cohort run (of 365 days, rounded to whole days; dt = 1 h).")] = 1.0,
    chunk_size: Annotated[int, typer.Option("--chunk-size", min=1, help="Subjects per compiled call (larger on a GPU).")] = 16384,
    record_every: Annotated[int, typer.Option("--record-every", min=1, help="Steps per recorded block (24: daily; larger saves host memory for huge cohorts).")] = 24,
    event_capacity: Annotated[int, typer.Option("--event-capacity", min=1, help="Event-table rows per subject (32 bytes each in host memory).")] = 512,
    sweep: Annotated[bool, typer.Option("--sweep", help="Instead: sweep throughput (runs/s), local executor vs a local Dask cluster.")] = False,
    workers: Annotated[int, typer.Option("--workers", min=1, help="--sweep: Dask worker processes.")] = 2,
    runs: Annotated[int, typer.Option("--runs", min=1, help="--sweep: parameter sets in the sweep.")] = 128,
    subjects_per_run: Annotated[int, typer.Option("--subjects-per-run", min=1, help="--sweep: subjects per parameter set.")] = 64,
    days: Annotated[int, typer.Option("--days", min=1, help="--sweep: simulated days per run.")] = 365,
    population: Annotated[int | None, typer.Option("--population", min=1, help="Instead: life-course population throughput (subject-years/s) for this many subjects, ages 11-18 (e.g. 100000).")] = None,
) -> None:
    """Measure simulator throughput (person-steps per second), or with --sweep sweep throughput, and print the report."""
    from ..bench import (format_benchmark, format_population_benchmark, format_sweep_benchmark, run_benchmark,
                         run_population_benchmark, run_sweep_benchmark)

    if population is not None:
        typer.echo(format_population_benchmark(run_population_benchmark(population, progress=True)))
        return
    if sweep:
        typer.echo(format_sweep_benchmark(run_sweep_benchmark(n_runs=runs, n_subjects_per_run=subjects_per_run,
                                                              days=days, workers=workers, progress=True)))
        return
    n_days = round(years * 365)
    if n_days < 1:
        raise _fail(f"--years {years:g} is less than one day", 2)
    if (n_days * 24) % record_every:
        raise _fail(f"--record-every {record_every} must divide the run's {n_days * 24} steps", 2)
    typer.echo(format_benchmark(run_benchmark(n_subjects=subjects, horizon_hours=n_days * 24.0, python_steps=python_steps,
                                              chunk_size=chunk_size, record_every=record_every,
                                              event_capacity=event_capacity, progress=True)))


@app.command()
def docs(
    out: Annotated[Path, typer.Option("--out", help="Where to write the model documentation.")] = Path("docs/model.md"),
    check: Annotated[bool, typer.Option("--check", help="Write nothing; exit 1 if --out is not up to date.")] = False,
) -> None:
    """Generate the model documentation (equations, parameter table, targets) as Markdown."""
    try:
        from ..modeldoc.render import render_model_md
    except ImportError as err:
        raise _fail(f"the docs module is not available: {err}", 1) from None
    text = render_model_md()
    if check:
        current = out.read_text(encoding="utf-8") if out.exists() else None
        if current != text:
            raise _fail(f"{out} is out of date: run `nssisim docs --out {out}`", 1)
        typer.echo(f"{out} is up to date")
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {out} ({len(text.splitlines())} lines)")


@app.command()
def params(
    mechanism: Annotated[str | None, typer.Option("--mechanism", help="Only this mechanism (M1..M13).")] = None,
    kind: Annotated[str | None, typer.Option("--kind", help="Only 'trait' or 'mechanism' parameters.")] = None,
) -> None:
    """Print the parameter table: name, default, bounds, unit, mechanism, meaning."""
    if mechanism is not None:
        _check_mechanisms([mechanism])
    if kind not in (None, "trait", "mechanism"):
        raise _fail(f"--kind must be 'trait' or 'mechanism', got '{kind}'", 2)
    rows = [p for p in PARAMS.values() if (mechanism is None or p.mechanism == mechanism) and (kind is None or p.kind == kind)]
    head = ("name", "default", "bounds", "unit", "mech", "meaning")
    table = [(p.name, f"{p.default:g}", f"[{p.low:g}, {p.high:g}]", p.unit, p.mechanism, p.meaning) for p in rows]
    widths = [max(len(r[i]) for r in [head, *table]) for i in range(5)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head[:5], widths)) + "  " + head[5]]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r[:5], widths)) + "  " + r[5] for r in table]
    title = f"{len(rows)} parameter(s)"
    if mechanism:
        title += f" of {mechanism} ({MECHANISMS[mechanism]})"
    typer.echo(title + "; time in hours; set them under [person] in a scenario file\n" + "\n".join(lines))


# -------------------------------------------------------------------------------------- ema
ema_app = typer.Typer(help="EMA data: validate a file in the documented format, or simulate a synthetic study "
                           "(see docs/ema.md).", no_args_is_help=True)
app.add_typer(ema_app, name="ema")


@ema_app.command("validate")
def ema_validate(
    file: Annotated[Path, typer.Argument(help="EMA file (.csv or .parquet) in the format of docs/ema.md.")],
    skip_bad_rows: Annotated[bool, typer.Option("--skip-bad-rows", help="Drop bad rows and list them instead of stopping at the first.")] = False,
    scale_max: Annotated[int | None, typer.Option("--scale-max", min=1, help="Top of both rating scales (0..N); default: the sidecar <stem>.scales.json, else 100.")] = None,
) -> None:
    """Check an EMA file and print a summary (exit 2 with the row and column of the first problem)."""
    from ..ema.data import EMAError, read_ema

    scales = {"negative_affect": (0, scale_max), "urge": (0, scale_max)} if scale_max is not None else None
    try:
        data = read_ema(file, scales=scales, on_error="skip" if skip_bad_rows else "raise")
    except (EMAError, ValueError, OSError) as err:
        raise _fail(str(err), 2) from None
    s = data.summary()
    typer.echo(f"{file}: valid EMA data: {s['participants']} participant(s), {s['rows']:,} row(s), "
               f"{s['signal_prompts']:,} signal prompt(s), {s['answered_share']:.1%} answered, "
               f"{s['acts_reported_at_prompts']:,} prompt(s) reporting an act, {s['event_reports']:,} event report(s)")
    if data.dropped:
        typer.echo(f"dropped {len(data.dropped)} bad row(s):")
        for row, column, reason in data.dropped:
            typer.echo(f"  row {row}, column '{column}': {reason}")


@ema_app.command("simulate")
def ema_simulate(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output file: .csv or .parquet.")],
    participants: Annotated[int, typer.Option("--participants", min=1, help="Number of participants (p001, ...).")] = 30,
    days: Annotated[int, typer.Option("--days", min=1, help="Study days.")] = 14,
    prompts_per_day: Annotated[int, typer.Option("--prompts-per-day", min=1, help="Signal prompts a day (one per block of the waking day).")] = 6,
    compliance: Annotated[float, typer.Option("--compliance", min=0.0, max=1.0, help="Probability that a prompt is answered.")] = 0.75,
    preset: Annotated[str, typer.Option("--preset", help=f"Person preset: {', '.join(PRESETS)}.")] = "vulnerable",
    seed: Annotated[int, typer.Option("--seed", help="Seed of the simulation and of the observation model.")] = 1,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing --out file.")] = False,
) -> None:
    """Simulate a synthetic EMA study (model at dt = 0.25 h seen through prompts) in the documented format."""
    if out.suffix.lower() not in (".csv", ".parquet"):
        raise _fail(f"--out {out}: expected a .csv or .parquet file", 2)
    if preset not in PRESETS:
        raise _fail(f"unknown preset '{preset}': expected one of {', '.join(PRESETS)}", 2)
    if out.exists() and not overwrite:
        raise _fail(f"refusing to overwrite {out}: pass --overwrite to replace", 1)
    from ..ema.data import simulate_study, write_ema

    t0 = time.perf_counter()
    study = simulate_study(seed, preset, participants, days=days, prompts_per_day=prompts_per_day, compliance=compliance)
    write_ema(study.data, out)
    d = study.data
    sig = d["prompt_type"] == "signal"
    typer.echo(f"wrote {out}: {participants} participant(s), {days} day(s), {int(sig.sum()):,} signal prompts "
               f"({d.loc[sig, 'answered'].mean():.1%} answered), {int((d['prompt_type'] == 'event').sum()):,} event "
               f"report(s), preset '{preset}', seed {seed} ({time.perf_counter() - t0:.1f} s)")


# -------------------------------------------------------------------------------- fit (EMA)
@app.command("fit")
def fit_cmd(
    file: Annotated[Path, typer.Argument(help="EMA file (.csv or .parquet) in the format of docs/ema.md.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output directory (posterior.nc, summary.csv, diagnostics.json, PPC plots).")],
    seed: Annotated[int, typer.Option("--seed", help="Seed of the sampler (a fit is deterministic given seed and settings).")] = 0,
    warmup: Annotated[int, typer.Option("--warmup", min=1, help="NUTS warm-up iterations per chain.")] = 500,
    samples: Annotated[int, typer.Option("--samples", min=1, help="Posterior draws per chain.")] = 500,
    chains: Annotated[int, typer.Option("--chains", min=1, help="Chains (run one after the other; R-hat needs 2 or more).")] = 2,
    target_accept: Annotated[float, typer.Option("--target-accept", min=0.5, max=0.999, help="NUTS target acceptance probability.")] = 0.9,
    scale_max: Annotated[int | None, typer.Option("--scale-max", min=1, help="Top of both rating scales (0..N); default: the sidecar, else 100.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing outputs in --out.")] = False,
) -> None:
    """Fit the EMA inference model (NumPyro NUTS, hierarchical) to a file; see docs/ema.md. Research use only."""
    from ..ema.data import EMAError, read_ema

    names = ("posterior.nc", "summary.csv", "diagnostics.json", "ppc_act_rate.png", "ppc_affect_around_acts.png")
    existing = [n for n in names if (out / n).exists()]
    if existing and not overwrite:
        raise _fail(f"refusing to overwrite {out / existing[0]}: pass --overwrite to replace", 1)
    scales = {"negative_affect": (0, scale_max), "urge": (0, scale_max)} if scale_max is not None else None
    try:
        data = read_ema(file, scales=scales)
        from ..ema.inference import prepare

        prepared = prepare(data)
    except (EMAError, ValueError, OSError) as err:
        raise _fail(str(err), 2) from None
    import json
    import warnings

    from ..ema.inference import FitDiagnosticWarning, diagnostics, fit, plot_ppc, posterior_dataset, ppc, summary_table

    out.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitDiagnosticWarning)
        f = fit(prepared, seed=seed, num_warmup=warmup, num_samples=samples, num_chains=chains, target_accept=target_accept)
    diag = diagnostics(f)
    posterior_dataset(f).to_netcdf(out / "posterior.nc")
    summary_table(f).to_csv(out / "summary.csv")
    plot_ppc(ppc(f, seed=seed), out)
    (out / "diagnostics.json").write_text(json.dumps(
        {"per_parameter": diag["per_parameter"], "divergences": diag["divergences"], "transitions": diag["transitions"],
         "warnings": diag["warnings"], "settings": f.settings, "sampling_seconds": f.seconds}, indent=2), encoding="utf-8")
    rmax = max((v["rhat_max"] for v in diag["per_parameter"].values() if v["rhat_max"] == v["rhat_max"]), default=float("nan"))
    emin = min(v["ess_min"] for v in diag["per_parameter"].values())
    typer.echo(f"fitted {len(f.participants)} participant(s) from {file} in {f.seconds:.1f} s: max R-hat {rmax:.3f}, "
               f"min ESS {emin:.0f}, {diag['divergences']} divergence(s); wrote {out}/posterior.nc, summary.csv, "
               "diagnostics.json, ppc_*.png")
    for msg in diag["warnings"]:
        typer.echo(f"warning: {msg}", err=True)


@app.command("recover")
def recover_cmd(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output directory (study, truth, posterior, recovery.csv/json, plots).")],
    participants: Annotated[int, typer.Option("--participants", min=3, help="Simulated participants.")] = 30,
    days: Annotated[int, typer.Option("--days", min=2, help="Study days that are fitted.")] = 14,
    prompts_per_day: Annotated[int, typer.Option("--prompts-per-day", min=1, help="Signal prompts a day.")] = 6,
    heldout_days: Annotated[int, typer.Option("--heldout-days", min=0, help="Days simulated after the study; 7 or more: the 7-day forecast is checked on them.")] = 7,
    preset: Annotated[str, typer.Option("--preset", help=f"Base preset of the participants: {', '.join(PRESETS)}.")] = "clinical",
    compliance: Annotated[float, typer.Option("--compliance", min=0.0, max=1.0, help="Probability that a prompt is answered.")] = 0.75,
    burn_in_days: Annotated[int, typer.Option("--burn-in-days", min=0, help="Days simulated before the study (history).")] = 90,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the simulation, the parameter draws and the sampler.")] = 1,
    warmup: Annotated[int, typer.Option("--warmup", min=1, help="NUTS warm-up iterations per chain.")] = 500,
    samples: Annotated[int, typer.Option("--samples", min=1, help="Posterior draws per chain.")] = 500,
    chains: Annotated[int, typer.Option("--chains", min=1, help="Chains.")] = 2,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Write into a non-empty --out.")] = False,
) -> None:
    """Parameter recovery: simulate a study from known parameters (full simulator), fit it, score it."""
    if preset not in PRESETS:
        raise _fail(f"unknown preset '{preset}': expected one of {', '.join(PRESETS)}", 2)
    if out.exists() and not out.is_dir():
        raise _fail(f"--out {out}: exists and is not a directory", 2)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise _fail(f"refusing to write into non-empty {out}: pass --overwrite", 1)
    from ..ema.inference import recover

    r = recover(out, n_participants=participants, days=days, prompts_per_day=prompts_per_day, seed=seed, preset=preset,
                compliance=compliance, burn_in_days=burn_in_days, heldout_days=heldout_days, num_warmup=warmup, num_samples=samples, num_chains=chains, overwrite=overwrite)
    typer.echo(f"recovery: {participants} participant(s), {days} day(s) x {prompts_per_day} prompts, fit {r['fit_seconds']:.1f} s")
    for row in r["recovery"]:
        num = {k: "n/a" if row[k] is None else f"{row[k]:.2f}" for k in ("correlation", "coverage50", "coverage90")}
        typer.echo(f"  {row['parameter']:<20} vs {row['truth']:<20} ({row['kind']}): r = {num['correlation']}, "
                   f"50% cov = {num['coverage50']}, 90% cov = {num['coverage90']}, goal met: {row['goal_met']}")
    if "forecast" in r:
        fc = r["forecast"]
        typer.echo(f"  7-day forecast: Brier {fc['brier']:.3f} (base rate {fc['brier_base_rate']:.3f}), n = {fc['n']}")
    for msg in r["diagnostic_warnings"]:
        typer.echo(f"warning: {msg}", err=True)
    typer.echo(f"wrote {out}/recovery.csv, recovery.json")


# ------------------------------------------------------------------------------ sensitivity
@app.command()
def sensitivity(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the sweep (DIR/sweep), indices.csv and one PNG per output.")],
    param: Annotated[list[str], typer.Option("--param", help="Parameter to vary, NAME or NAME:low:high (within its bounds); repeat, at least 2.")],
    method: Annotated[str, typer.Option("--method", help="sobol (S1, ST) or morris (mu*, sigma).")] = "sobol",
    n: Annotated[int, typer.Option("--n", min=1, help="Base sample size: a power of two for Sobol (runs = N x (D+2)); trajectories for Morris (runs = N x (D+1)).")] = 64,
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted sweep in --out (finished shards are kept).")] = False,
    subjects_per_run: Annotated[int, typer.Option("--subjects-per-run", min=1, help="Subjects simulated per parameter set.")] = 64,
    days: Annotated[int, typer.Option("--days", min=1, help="Simulated days per run.")] = 365,
    preset: Annotated[str, typer.Option("--preset", help=f"Base person preset: {', '.join(PRESETS)}.")] = "vulnerable",
    seed: Annotated[int, typer.Option("--seed", help="Root seed of the simulations and of the design.")] = 1,
    shard_size: Annotated[int | None, typer.Option("--shard-size", min=1, help="Runs per shard (default: about 1024 subjects a shard).")] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress")] = True,
    scheduler: Annotated[str | None, typer.Option("--scheduler", help="Run the shards on a running Dask scheduler at this address (tcp://host:8786).")] = None,
    dask_local: Annotated[int | None, typer.Option("--dask-local", min=1, help="Run the shards on a local Dask cluster of N worker processes (one core each).")] = None,
    stop_after: Annotated[int | None, typer.Option("--stop-after", min=1, help="Compute at most N shards, then stop (continue later with --resume).")] = None,
    event_capacity: Annotated[int | None, typer.Option("--event-capacity", min=1, help="Event-table rows per subject (default 1024 per simulated year).")] = None,
) -> None:
    """Sobol or Morris sensitivity of the cohort outputs to parameters: design -> sweep -> indices, table, plots.

    Ranges default to the parameter table's bounds. The sweep lives in DIR/sweep and is written shard by shard;
    an interrupted run continues with --resume and gives the same result. See docs/sensitivity.md.
    """
    from ..sweeps.sensitivity import format_indices, make_design, parse_param_spec, plot_indices
    from ..sweeps.sweep import OUTPUTS, SweepError, load_sweep, run_sweep, sweep_status

    if method not in ("sobol", "morris"):
        raise _fail(f"--method must be 'sobol' or 'morris', got '{method}'", 2)
    if preset not in PRESETS:
        raise _fail(f"unknown preset '{preset}': expected one of {', '.join(PRESETS)}", 2)
    if len(param) < 2:
        raise _fail(f"give at least 2 --param options, got {len(param)}", 2)
    try:
        ranges = dict(parse_param_spec(p) for p in param)
        if len(ranges) != len(param):
            raise ValueError("a parameter is given twice")
        design = make_design(method, ranges, n, seed=seed)
    except (KeyError, ValueError) as err:
        raise _fail(str(err).strip("'\""), 2) from None
    if out.exists() and any(out.iterdir()) and not resume:
        raise _fail(f"refusing to write into {out}: it is not empty (pass --resume to continue a sweep there)", 1)
    n_sub = design.n_runs * subjects_per_run
    typer.echo(f"{method}: {len(design.names)} parameter(s), N={n}: {design.n_runs:,} runs x {subjects_per_run} subjects "
               f"x {days} days = {n_sub * days * 24:,} person-steps (preset '{preset}', seed {seed})")
    if scheduler is not None and dask_local is not None:
        raise _fail("give --scheduler or --dask-local, not both", 2)
    t0 = time.perf_counter()
    try:
        with _sweep_executor(scheduler, dask_local) as executor:
            run_sweep(design.sample(), out / "sweep", seed=seed, base_params=load_preset(preset),
                      n_subjects_per_run=subjects_per_run, days=days, shard_size=shard_size, resume=resume,
                      progress=progress, max_shards=stop_after, event_capacity=event_capacity, executor=executor)
        n_shards, missing = sweep_status(out / "sweep")
        if missing:
            typer.echo(f"stopped after --stop-after {stop_after} shard(s): {n_shards - len(missing)} of {n_shards} "
                       f"done; continue with the same command and --resume")
            return
        ds = load_sweep(out / "sweep")
    except SweepError as err:
        raise _fail(str(err), 1) from None
    import numpy as np

    overflow = int((ds["events_overflow_share"].values > 0).sum())
    if overflow:
        typer.echo(f"note: the event table overflowed in {overflow} run(s); their 'addictive' share is a lower bound "
                   "(raise --event-capacity)", err=True)

    usable = []
    for o in OUTPUTS:
        v = ds[o].values
        if not np.isfinite(v).all():
            why = {"habit_share": "a run without acts", "nssi_ideation_log_or": "nobody or everybody in a run had NSSI "
                   "or ideation"}.get(o, "a non-finite value")
            typer.echo(f"skipping output '{o}': undefined in {int((~np.isfinite(v)).sum())} of {v.size} runs ({why})")
        elif np.ptp(v) == 0:
            why = " (cessation needs runs longer than a year)" if o == "cessation" and days <= 365 else ""
            typer.echo(f"skipping output '{o}': the same value ({v[0]:g}) in every run, nothing to apportion{why}")
        else:
            usable.append(o)
    tidy = design.analyze(ds, outputs=usable)
    key = "ST" if method == "sobol" else "mu_star"
    for o in usable:
        if tidy.loc[tidy["output"] == o, key].isna().all():
            typer.echo(f"output '{o}': indices undefined (it does not vary over the base samples; use a larger --n)")
    out.mkdir(parents=True, exist_ok=True)
    tidy.to_csv(out / "indices.csv", index=False)
    pngs = [plot_indices(tidy, o, out / f"{method}_{o}.png").name for o in usable]
    typer.echo(format_indices(tidy))
    typer.echo(f"wrote {out / 'indices.csv'} and {len(pngs)} plot(s) ({', '.join(pngs)}) in {time.perf_counter() - t0:.1f} s")

# ------------------------------------------------------------------- population (issue 3)
@app.command()
def population(
    out: Annotated[Path, typer.Option("--out", "-o", help="Run folder: chunks/, manifest.json, measurements.parquet, prevalence_by_age.csv, summary.nc.")],
    spec: Annotated[str, typer.Option("--population", "-p", help="Shipped population (community, clinical) or a spec TOML path.")] = "community",
    subjects: Annotated[int, typer.Option("--subjects", "-n", min=1, help="Number of virtual adolescents.")] = 10000,
    seed: Annotated[int, typer.Option("--seed", help="Root seed (factors, random streams, survey ages).")] = 0,
    start_age: Annotated[float, typer.Option("--start-age", help="Age at the start of the life course.")] = 11.0,
    end_age: Annotated[float, typer.Option("--end-age", help="Age at the end (beyond 18 for maturing out).")] = 18.0,
    chunk: Annotated[int, typer.Option("--chunk", min=1, help="Subjects per chunk (memory ~0.3 GB per 1,000 over 7 years).")] = 1024,
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted run in --out (finished chunks are kept).")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing run in --out.")] = False,
    csv: Annotated[bool, typer.Option("--csv", help="Also write the measurements as CSV.")] = False,
    progress: Annotated[bool, typer.Option("--progress/--no-progress")] = True,
) -> None:
    """Run a population over the life course in chunks and write its measurements (see docs/population.md).

    Each chunk is reduced to one row of measurements per subject and written atomically, so an interrupted run
    continues with --resume. Writes the tidy table (measurements.parquet), prevalence by age (CSV) and a netCDF
    summary (summary.nc).
    """
    import json

    from ..population import LifeCourse, PopulationError, load_population, prevalence_by_age_table, run_population, summarise

    try:
        pspec = load_population(spec)
        course = LifeCourse(start_age, end_age)
    except (PopulationError, ValueError) as err:
        raise _fail(str(err), 2) from None
    t0 = time.perf_counter()
    try:
        table = run_population(pspec, subjects, out, seed=seed, course=course, chunk_size=chunk, resume=resume,
                               overwrite=overwrite, progress=progress)
    except FileExistsError as err:
        raise _fail(str(err), 1) from None
    except ValueError as err:
        raise _fail(str(err), 2) from None
    wall = time.perf_counter() - t0
    table.to_parquet(out / "measurements.parquet", index=False)
    if csv:
        table.to_csv(out / "measurements.csv", index=False)
    prev = prevalence_by_age_table(table)
    prev.to_csv(out / "prevalence_by_age.csv", index=False)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    _write_netcdf(summarise(table, manifest), out / "summary.nc")
    typer.echo(prev.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    years = subjects * course.n_days / 365.25
    typer.echo(f"{subjects:,} subjects x {course.n_days / 365.25:.2f} years in {wall:.1f} s "
               f"({years / wall:,.0f} subject-years/s, including any chunks resumed from disk); wrote {out}/")


@app.command()
def calibrate(
    spec: Annotated[str, typer.Option("--population", "-p", help="Population to calibrate (shipped name or TOML path).")] = "community",
    targets: Annotated[Path | None, typer.Option("--targets", help="Calibration targets TOML (default: the shipped copy of targets/calibration.toml).")] = None,
    waves: Annotated[int, typer.Option("--waves", min=1, help="History-matching waves.")] = 4,
    wave_size: Annotated[int, typer.Option("--wave-size", min=4, help="Candidates per wave.")] = 32,
    subjects: Annotated[int, typer.Option("--subjects", min=16, help="Subjects per candidate (common random numbers).")] = 320,
    confirm: Annotated[int, typer.Option("--confirm", min=16, help="Subjects of the confirmation run of the best candidate.")] = 2048,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the design and the simulations.")] = 20261126,
    record: Annotated[Path | None, typer.Option("--record", help="Calibration record to write (default: print only).")] = None,
    write_spec: Annotated[Path | None, typer.Option("--write-spec", help="Write the spec with the calibrated [parameters] table to this TOML file.")] = None,
    history: Annotated[Path | None, typer.Option("--history", help="Write every candidate with its implausibilities (CSV).")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing --record/--write-spec/--history files.")] = False,
    progress: Annotated[bool, typer.Option("--progress/--no-progress")] = True,
) -> None:
    """Fit the unpinned parameters to the published numbers by history matching (see docs/population.md)."""
    from ..population.calibration import apply_to_spec, calibrate as run_cal, format_report, record_toml
    from ..population.spec import PopulationError, load_population

    for p in (record, write_spec, history):
        if p is not None and p.exists() and not overwrite:
            raise _fail(f"{p} exists; pass --overwrite to replace it", 1)
    try:
        pspec = load_population(spec)
        rec = run_cal(spec, targets=targets, waves=waves, wave_size=wave_size, n_subjects=subjects,
                      confirm_subjects=confirm, seed=seed, progress=progress, log=typer.echo)
    except (PopulationError, ValueError, FileNotFoundError) as err:
        raise _fail(str(err), 2) from None
    typer.echo(format_report(rec))
    typer.echo("calibrated: " + ", ".join(f"{k} = {v:.4g}" for k, v in rec["parameters"].items()))
    if record is not None:
        record.write_text(record_toml(rec), encoding="utf-8")
        typer.echo(f"wrote {record}")
    if history is not None:
        rec["history"].to_csv(history, index=False)
        typer.echo(f"wrote {history}")
    if write_spec is not None:
        from ..population.spec import POPULATIONS, population_path

        text = (population_path(spec) if spec in POPULATIONS else Path(spec)).read_text(encoding="utf-8")
        write_spec.write_text(apply_to_spec(text, rec["parameters"], f"calibrated by `nssisim calibrate` on {rec['date']} "
                                            f"(record: calibration_{pspec.name}.toml)"), encoding="utf-8")
        typer.echo(f"wrote {write_spec}")


@app.command("calibration-report")
def calibration_report(
    which: Annotated[str, typer.Argument(help="Population name (shipped record) or a calibration record TOML.")] = "community",
    markdown: Annotated[bool, typer.Option("--markdown", help="Print a Markdown table.")] = False,
) -> None:
    """Model versus target: each simulated value with the published value and interval beside it."""
    from ..population.calibration import format_report, load_record

    try:
        rec = load_record(which)
    except FileNotFoundError as err:
        raise _fail(str(err), 2) from None
    typer.echo(format_report(rec, markdown=markdown))


# ------------------------------------------------------------------------------------ trial
@app.command()
def trial(
    design: Annotated[Path, typer.Option("--design", "-d", help="Trial design TOML (see docs/trials.md and configs/trials/).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("trial_out"),
    replicates: Annotated[int | None, typer.Option("--replicates", min=1, help="Independent trials (power, spread); default the design's.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing output files in --out.")] = False,
) -> None:
    """Run a virtual randomised trial: trial.nc, effects.csv, summary.csv, arms.csv, forest.png, trajectories.png, trial.md.

    Interrupted runs resume: finished groups of replicates are kept in OUT/.trial_partial/ and
    reused when the same command is run again (removed once the results are written).
    """
    from ..trials import DesignError, load_design, run_trial
    from ..trials.plots import TRIAL_FILES, trial_markdown, write_trial

    existing = [out / f for f in TRIAL_FILES if (out / f).exists()]
    if existing and not overwrite:
        raise _fail(f"refusing to overwrite {', '.join(map(str, existing))}: pass --overwrite to replace", 1)
    try:
        d = load_design(design)
    except DesignError as e:
        raise _fail(f"invalid trial design: {e}", 2) from None
    t0 = time.perf_counter()
    n_rep = d.replicates if replicates is None else replicates
    typer.echo(f"trial '{d.name}': {len(d.arms)} arms, {d.n_patients} patients x {n_rep} trial(s), "
               f"{len(d.strata)} stratum/strata ...")
    partial = out / ".trial_partial"  # resumable: finished groups of replicates are kept here until the end
    try:
        ds = run_trial(d, replicates, checkpoint=partial)
    except DesignError as e:
        raise _fail(str(e), 1) from None
    paths = write_trial(ds, out)
    import shutil

    shutil.rmtree(partial, ignore_errors=True)
    typer.echo(trial_markdown(ds))
    typer.echo(f"wrote {', '.join(sorted(p.name for p in paths.values()))} to {out}/ in {time.perf_counter() - t0:.1f} s")


@app.command("sweep")
def sweep_cmd(
    manifest: Annotated[Path, typer.Option("--manifest", "-m", help="Parameter sets: .csv or .parquet, one column per parameter, optional integer run_id column.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Sweep folder: manifest, settings, one netCDF file per shard, and results.csv at the end.")],
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted sweep in --out (finished shards are kept).")] = False,
    subjects_per_run: Annotated[int, typer.Option("--subjects-per-run", min=1, help="Subjects simulated per parameter set.")] = 64,
    days: Annotated[int, typer.Option("--days", min=1, help="Simulated days per run.")] = 365,
    preset: Annotated[str, typer.Option("--preset", help=f"Base person preset: {', '.join(PRESETS)}.")] = "vulnerable",
    seed: Annotated[int, typer.Option("--seed", help="Root seed of the simulations.")] = 1,
    shard_size: Annotated[int | None, typer.Option("--shard-size", min=1, help="Runs per shard (default: about 1024 subjects a shard).")] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress")] = True,
    scheduler: Annotated[str | None, typer.Option("--scheduler", help="Run the shards on a running Dask scheduler at this address.")] = None,
    dask_local: Annotated[int | None, typer.Option("--dask-local", min=1, help="Run the shards on a local Dask cluster of N worker processes.")] = None,
    stop_after: Annotated[int | None, typer.Option("--stop-after", min=1, help="Compute at most N shards, then stop (continue later with --resume).")] = None,
    event_capacity: Annotated[int | None, typer.Option("--event-capacity", min=1, help="Event-table rows per subject (default 1024 per simulated year).")] = None,
) -> None:
    """Run a sweep of your own parameter sets (a manifest file) and write the per-run outputs to results.csv.

    Every run is a cohort of --subjects-per-run subjects of the preset with the run's parameters set; the outputs
    are those of `nssisim sensitivity` (docs/sensitivity.md). Results do not depend on shards or executor.
    """
    import pandas as pd

    from ..sweeps.sweep import SweepError, load_sweep, make_manifest, results_table, run_sweep, sweep_status

    if preset not in PRESETS:
        raise _fail(f"unknown preset '{preset}': expected one of {', '.join(PRESETS)}", 2)
    if scheduler is not None and dask_local is not None:
        raise _fail("give --scheduler or --dask-local, not both", 2)
    suffix = manifest.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise _fail(f"--manifest {manifest}: expected a .csv or .parquet file", 2)
    try:
        table = pd.read_csv(manifest) if suffix == ".csv" else pd.read_parquet(manifest)
    except (OSError, ValueError) as err:
        raise _fail(f"--manifest {manifest}: cannot read it: {err}", 2) from None
    line = (lambda i: f"row {i}, line {i + 2}") if suffix == ".csv" else (lambda i: f"row {i}")
    cols = {}
    for c in table.columns:
        values = pd.to_numeric(table[c], errors="coerce")
        bad = values.isna().to_numpy()
        if bad.any():
            i = int(bad.argmax())
            raise _fail(f"{manifest}: column '{c}', {line(i)}: {table[c].iloc[i]!r} is not a number", 2)
        cols[str(c)] = values.to_numpy()
    run_ids = cols.pop("run_id", None)
    if run_ids is not None and not (run_ids == run_ids.astype(int)).all():
        raise _fail(f"{manifest}: column 'run_id' must hold whole numbers", 2)
    try:
        runs = make_manifest(cols, None if run_ids is None else run_ids.astype(int))
    except (KeyError, ValueError) as err:
        raise _fail(f"{manifest}: {err.args[0] if err.args else err}", 2) from None
    if out.exists() and any(out.iterdir()) and not resume:
        raise _fail(f"refusing to write into {out}: it is not empty (pass --resume to continue a sweep there)", 1)
    typer.echo(f"sweep: {len(runs):,} runs of {', '.join(c for c in runs.columns if c != 'run_id')} x "
               f"{subjects_per_run} subjects x {days} days (preset '{preset}', seed {seed})")
    t0 = time.perf_counter()
    try:
        with _sweep_executor(scheduler, dask_local) as executor:
            run_sweep(runs, out, seed=seed, base_params=load_preset(preset), n_subjects_per_run=subjects_per_run,
                      days=days, shard_size=shard_size, resume=resume, progress=progress, max_shards=stop_after,
                      event_capacity=event_capacity, executor=executor)
        n_shards, missing = sweep_status(out)
        if missing:
            typer.echo(f"stopped after --stop-after {stop_after} shard(s): {n_shards - len(missing)} of {n_shards} "
                       f"done; continue with the same command and --resume")
            return
        ds = load_sweep(out)
    except SweepError as err:
        raise _fail(str(err), 1) from None
    results_table(ds).to_csv(out / "results.csv")
    typer.echo(f"wrote {out / 'results.csv'}: {ds.sizes['run_id']:,} runs ({time.perf_counter() - t0:.1f} s)")


def _sweep_executor(scheduler: str | None, dask_local: int | None):
    """Context manager yielding run_sweep's executor: None (this process) or a Dask client."""
    from contextlib import nullcontext

    if scheduler is None and dask_local is None:
        return nullcontext(None)
    try:
        from ..sweeps.sweep import dask_client
    except ImportError as err:  # pragma: no cover - dask is a dependency
        raise _fail(f"the Dask executor needs dask.distributed: {err}", 1) from None
    return dask_client(scheduler=scheduler, n_workers=dask_local)


def main() -> None:  # pragma: no cover - console entry point alternative
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
