"""Commands on single scenarios and the model itself: simulate, targets, ablate, bench, docs, params."""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Annotated

import typer

from ..core.parameters import MECHANISMS, PARAMS
from ..core.scenario import CoarseStepWarning, ConfigError, load_config, to_simulation_kwargs
from ..files import atomic_write_text, write_csv
from .common import (_alias, _check_mechanisms, _check_out, _echo_warnings, _fail, _interruptible, _print_json,
                     _quiet_stdout, _write_netcdf, _writing)

# Convention of the command modules: project imports needed by a command's option defaults and
# help texts are at module level; the rest is imported inside the command (keeps `nssisim --help` fast).


def simulate(
    config: Annotated[Path, typer.Option("--config", "-c", help="Scenario TOML file (see configs/example_scenario.toml).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output netCDF file (.nc).")],
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing output files.")] = False,
    events: Annotated[Path | None, typer.Option("--events", help="Also write the tidy event table as CSV.")] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Progress bar over chunks.")] = True,
) -> None:
    """Run a scenario file and write the result as netCDF (config, hash, seed and version in attrs)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CoarseStepWarning)
        try:
            cfg = load_config(config)
        except ConfigError as err:
            raise _fail(str(err), 2) from None
    _echo_warnings(caught)
    _check_out(out, overwrite=overwrite)
    if events is not None:
        _check_out(events, overwrite=overwrite, option="--events")
    from ..core import check_run_size, events_table, RunTooLargeError, simulate_cohort

    r = cfg.run
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            check_run_size(r.n_subjects, horizon_hours=r.horizon_hours, dt=r.dt_hours, record_every=r.record_every,
                           event_capacity=r.event_capacity, field=f"{config}: run.n_subjects")
        except RunTooLargeError as err:
            raise _fail(str(err), 2) from None
    _echo_warnings(caught)

    t0 = time.perf_counter()
    with _interruptible(f"nothing was written ({out} is written only when the run is complete); "
                        "run the same command again"):
        try:
            ds = simulate_cohort(**to_simulation_kwargs(cfg), progress=progress)
        except (ValueError, KeyError) as err:  # a check the simulator makes beyond the config's own
            raise _fail(f"{config}: the simulator rejected the scenario: {err}", 2) from None
    with _writing():
        _write_netcdf(ds, out)
    msg = (f"wrote {out}: {ds.sizes['subject']:,} subject(s), {cfg.run.horizon_days:g} days at dt={cfg.run.dt_hours:g} h, "
           f"{int(ds['acts'].sum()):,} acts, config hash {ds.attrs['config_hash'][:12]} "
           f"({time.perf_counter() - t0:.1f} s)")
    if events is not None:
        with _writing():
            write_csv(events_table(ds), events, index=False)
        msg += f"\nwrote {events}: the event table ({ds.sizes['event']:,} rows)"
    typer.echo(msg)
    dropped = int(ds.attrs.get("events_dropped_total", 0))
    if dropped:
        typer.echo(f"note: {dropped:,} event rows did not fit the event table (run.event_capacity="
                   f"{cfg.run.event_capacity}); counts per block are complete, raise event_capacity for all events",
                   err=True)


#: Help of the --base option of `targets` and `ablate`.
BASE_HELP = ("Parameter base: model-parameter values put over the calibrated default (the community spec's "
             "[parameters]) in every experiment; the experiments' own settings and the persons' sampled factors "
             "still win. A TOML file with a [parameters] table, or a shipped population name (community: the "
             "calibrated default itself). Default: the calibrated default.")


def _load_base(base: str | None):
    """The --base option as a parameter base (None: the calibrated default); exit 2 naming the file and key."""
    if base is None:
        return None
    from ..files import SpecError
    from ..targets import load_base

    try:
        return load_base(base)
    except SpecError as err:
        raise _fail(f"--base: {err}", 2) from None


def targets_cmd(
    ids: Annotated[list[str] | None, typer.Option("--id", help="Target id (repeatable); default all.")] = None,
    mechanisms_off: Annotated[list[str] | None, typer.Option("--mechanisms-off", help="Mechanism to switch off (repeatable).")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Exit 1 if a target does not hold.")] = False,
    progress: Annotated[bool, typer.Option("--progress/--no-progress")] = True,
    base: Annotated[str | None, typer.Option("--base", metavar="NAME_OR_TOML", help=BASE_HELP)] = None,
    ensemble: Annotated[str | None, typer.Option("--ensemble", metavar="NAME_OR_TOML", help="Run the targets once per parameter set of this calibration ensemble (a population name with a shipped ensemble, or a TOML path): each set's model parameters over the community spec's [parameters]; prints per target the share of sets in which it holds and its statistic's 5-50-95 % range.")] = None,
    ensemble_sets: Annotated[int | None, typer.Option("--ensemble-sets", min=1, help="With --ensemble: run this many sets, evenly spaced over the ensemble (each costs a full run of the targets).")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="With --ensemble: write the per-set results (CSV).")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing --out file.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON (stdout) instead of a table.")] = False,
    with_stability: Annotated[bool, typer.Option("--stability", help="Add the robustness check: each target again in 2 more seed replicates (new persons and random streams) and with each of its key parameters at -10 % and +10 %; prints in how many of these conditions it holds, its statistic's range, and the conditions in which the verdict flips (about 7 times the run time).")] = False,
) -> None:
    """Run the explanatory targets and print the table (exit 0 unless --strict and one fails)."""
    from ..targets import format_results, INTERVALS, run_stability, run_targets, TARGETS

    off = _check_mechanisms(mechanisms_off)
    if ensemble is not None:
        if with_stability:
            raise _fail("--stability and --ensemble exclude each other (the ensemble already spans parameter "
                        "uncertainty; run --stability with --base on one set)", 2)
        _targets_ensemble(ensemble, ensemble_sets, ids, off, base, out, overwrite, progress, strict, as_json)
        return
    if ensemble_sets is not None or out is not None:
        raise _fail("--ensemble-sets and --out need --ensemble", 2)
    values = _load_base(base)
    if not _check_targets(ids):
        return
    with _quiet_stdout(as_json):
        results = run_targets(ids or None, mechanisms_off=off, progress=progress, base=values)
        stab = run_stability(results, base=values, progress=progress) if with_stability else {}
    if as_json:
        _print_json({"mechanisms_off": list(off), "targets": [
            {"id": r.id, "holds": bool(r.passed), "statistic": float(r.statistic), "statistic_name": TARGETS[r.id].statistic,
             "interval": list(r.interval) if r.interval else None, "interval_method": INTERVALS.get(r.id),
             "bar": r.bar, "detail": r.detail, "base": r.base}
            | ({"stability": [{"condition": c, "holds": bool(ok), "statistic": float(v)} for c, ok, v in stab[r.id].runs]}
               if r.id in stab else {}) for r in results]})
    else:
        if off:
            typer.echo(f"mechanisms off: {', '.join(off)}")
        typer.echo(format_results(results, stab))
    failed = [r.id for r in results if not r.passed]
    if strict and failed:
        raise _fail(f"{len(failed)} target(s) do not hold: {', '.join(failed)}", 1)


def _targets_ensemble(ensemble: str, n_sets: int | None, ids, off, base, out, overwrite: bool, progress: bool,
                      strict: bool, as_json: bool = False) -> None:
    from ..population import ensemble_sets as read_sets
    from ..targets import run_targets_ensemble

    if base is not None:
        raise _fail("--base and --ensemble exclude each other (each set is its own base)", 2)
    if out is not None:
        _check_out(out, overwrite=overwrite)
    if not _check_targets(ids):
        return
    try:
        sets = read_sets(ensemble)
    except (FileNotFoundError, ValueError) as err:
        raise _fail(str(err), 2) from None
    with _interruptible("nothing was kept: the per-set table is written at the end"), _quiet_stdout(as_json):
        per_set, summary = run_targets_ensemble(sets, ids or None, max_sets=n_sets, mechanisms_off=off, progress=progress)
    with _quiet_stdout(as_json):
        typer.echo(summary.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
        typer.echo(f"{per_set['set'].nunique()} of {len(sets)} parameter sets; holds_share: the share of sets in which "
                   "the target holds; statistic quantiles across sets (parameter uncertainty)")
        if out is not None:
            with _writing():
                write_csv(per_set, out, index=False)
            typer.echo(f"wrote {out}")
    if as_json:
        _print_json({"ensemble": str(ensemble), "sets_run": int(per_set["set"].nunique()), "sets": len(sets),
                     "mechanisms_off": list(off), "summary": summary, "per_set": per_set})
    if strict and (summary["holds_share"] < 1).any():
        raise _fail("some targets do not hold in every set", 1)


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


def ablate(
    ids: Annotated[list[str] | None, typer.Option("--id", help="Target id (repeatable); default all.")] = None,
    mechanisms: Annotated[list[str] | None, typer.Option("--mechanism", help="Mechanism column (repeatable); default M1..M13.")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Also write the table and statistics as Markdown to this file (e.g. docs/ablation.md).")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing --out file.")] = False,
    base: Annotated[str | None, typer.Option("--base", metavar="NAME_OR_TOML", help=BASE_HELP)] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the table as JSON (stdout): per target, whether it holds with all mechanisms on and with each one off.")] = False,
    markdown: Annotated[Path | None, typer.Option("--markdown", hidden=True, help="Deprecated name of --out.")] = None,
) -> None:
    """Phenomena-by-mechanism table: does each target hold with each mechanism switched off?"""
    out = _alias(out, markdown, "--out", "--markdown")
    if out is not None:
        _check_out(out, overwrite=overwrite)
    from ..targets import ablation, format_ablation

    values = _load_base(base)
    if not _check_targets(ids):
        return
    kw = {"mechanisms": _check_mechanisms(mechanisms)} if mechanisms else {}
    with _quiet_stdout(as_json):
        df = ablation(ids or None, progress=progress, base=values, **kw)
        typer.echo(format_ablation(df))
        if out is not None:
            from ..targets import ablation_markdown

            with _writing():
                atomic_write_text(out, ablation_markdown(df))
            typer.echo(f"wrote {out}")
    if as_json:
        _print_json({"base": df.attrs.get("base"), "columns": list(df.columns),
                     "holds": {str(i): {str(c): bool(df.loc[i, c]) for c in df.columns} for i in df.index}})


def bench(
    ctx: typer.Context,
    subjects: Annotated[int, typer.Option("--subjects", "-n", min=1, help="Cohort size of the throughput run.")] = 10000,
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
    population_subjects: Annotated[int | None, typer.Option("--population-subjects", min=1, help="Instead: life-course population throughput (subject-years/s) for this many subjects, ages 11-18 (e.g. 100000).")] = None,
    workloads: Annotated[bool, typer.Option("--workloads", help="Instead: the throughput other work needs: life course (survey measures only, and with end measures), a calibration wave's candidates per hour, EMA participants per second.")] = False,
    compiled_loop: Annotated[bool, typer.Option("--compiled/--no-compiled", help="Time the compiled scalar loop (Numba, the `bench` extra) beside JAX.")] = True,
    repeats: Annotated[int, typer.Option("--repeats", min=1, help="Rounds of JAX, compiled loop and Python timed in turn; each keeps its best time.")] = 2,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Also write the raw result as JSON to this file (e.g. benchmarks/results/<machine>-<date>.json).")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing --out file.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the raw result as JSON (stdout) instead of the table.")] = False,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Say what is being timed (stderr).")] = True,
    population: Annotated[int | None, typer.Option("--population", min=1, hidden=True, help="Deprecated name of --population-subjects.")] = None,
) -> None:
    """Measure simulator throughput: JAX cohort vs a compiled scalar loop vs pure Python, and whether each goal is met.

    With --workloads: life-course, calibration and EMA throughput; with --sweep: sweep throughput;
    with --population-subjects N: life-course throughput."""
    import json

    from ..bench import (format_benchmark, format_population_benchmark, format_sweep_benchmark,
                         format_workloads_benchmark, run_benchmark, run_population_benchmark, run_sweep_benchmark,
                         run_workloads_benchmark)

    if ctx.args:  # the old form `--json FILE`: --json took the file that --out takes now
        if not as_json or len(ctx.args) != 1 or out is not None:
            raise _fail(f"unexpected argument(s) {' '.join(ctx.args)}: bench takes options only (--out FILE writes "
                        "the raw result, --json prints it)", 2)
        typer.echo(f"note: --json FILE is deprecated, use --out {ctx.args[0]} (or --json alone for stdout)", err=True)
        out, as_json = Path(ctx.args[0]), False
    population_subjects = _alias(population_subjects, population, "--population-subjects", "--population")
    modes = [name for name, on in (("--sweep", sweep), ("--workloads", workloads),
                                   ("--population-subjects", population_subjects is not None)) if on]
    if len(modes) > 1:
        raise _fail(f"{' and '.join(modes)} exclude each other: give one of them", 2)
    if out is not None:
        _check_out(out, overwrite=overwrite)

    def emit(text: str, result: dict) -> None:
        if as_json:
            _print_json(result)
        else:
            typer.echo(text)
        if out is not None:
            with _writing():
                atomic_write_text(out, json.dumps(result, indent=1, default=str) + "\n")
            typer.echo(f"wrote {out}", err=as_json)

    with _quiet_stdout(as_json):
        if workloads:
            r = run_workloads_benchmark(progress=progress)
            fmt = format_workloads_benchmark
        elif population_subjects is not None:
            r = run_population_benchmark(population_subjects, progress=progress)
            fmt = format_population_benchmark
        elif sweep:
            r = run_sweep_benchmark(n_runs=runs, n_subjects_per_run=subjects_per_run, days=days, workers=workers,
                                    progress=progress)
            fmt = format_sweep_benchmark
        else:
            n_days = round(years * 365)
            if n_days < 1:
                raise _fail(f"--years {years:g} is less than one day", 2)
            if (n_days * 24) % record_every:
                raise _fail(f"--record-every {record_every} must divide the run's {n_days * 24} steps", 2)
            r = run_benchmark(n_subjects=subjects, horizon_hours=n_days * 24.0, python_steps=python_steps,
                              chunk_size=chunk_size, record_every=record_every, event_capacity=event_capacity,
                              progress=progress, compiled_loop=compiled_loop, repeats=repeats)
            fmt = format_benchmark
    emit(fmt(r), r)


def docs(
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the model documentation.")] = Path("docs/model.md"),
    check: Annotated[bool, typer.Option("--check", help="Write nothing; exit 1 if --out is not up to date.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace --out even if it is not an earlier rendering of the model documentation.")] = False,
) -> None:
    """Generate the model documentation (equations, parameter table, targets) as Markdown.

    An earlier rendering in --out (a file that starts with the 'Generated by' note) is replaced; any
    other existing file only with --overwrite.
    """
    try:
        from ..modeldoc import GENERATED_MARK, render_model_md
    except ImportError as err:
        raise _fail(f"the docs module is not available: {err}", 1) from None
    if not check:
        _check_out(out, overwrite=overwrite or _is_rendering(out, GENERATED_MARK))
    text = render_model_md()
    if check:
        current = out.read_text(encoding="utf-8") if out.is_file() else None
        if current != text:
            raise _fail(f"{out} is out of date: run `nssisim docs --out {out}`", 1)
        typer.echo(f"{out} is up to date")
        return
    with _writing():
        atomic_write_text(out, text)
    typer.echo(f"wrote {out} ({len(text.splitlines())} lines)")


def _is_rendering(path: Path, mark: str) -> bool:
    """Whether ``path`` is a file whose first lines hold ``mark`` (an earlier rendering of the model doc)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            head = fh.read(2000)
    except OSError:
        return False
    return mark in head


def params(
    mechanism: Annotated[str | None, typer.Option("--mechanism", help="Only this mechanism (M1..M13).")] = None,
    kind: Annotated[str | None, typer.Option("--kind", help="Only 'trait' or 'mechanism' parameters.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the parameters as JSON (stdout) instead of a table.")] = False,
) -> None:
    """Print the parameter table: name, default, bounds, unit, mechanism, meaning."""
    if mechanism is not None:
        _check_mechanisms([mechanism])
    if kind not in (None, "trait", "mechanism"):
        raise _fail(f"--kind must be 'trait' or 'mechanism', got '{kind}'", 2)
    rows = [p for p in PARAMS.values() if (mechanism is None or p.mechanism == mechanism) and (kind is None or p.kind == kind)]
    if as_json:
        import dataclasses

        _print_json({"mechanism": mechanism, "kind": kind, "time_unit": "hours",
                     "parameters": [dataclasses.asdict(p) for p in rows]})
        return
    head = ("name", "default", "bounds", "unit", "mech", "meaning")
    table = [(p.name, f"{p.default:g}", f"[{p.low:g}, {p.high:g}]", p.unit, p.mechanism, p.meaning) for p in rows]
    widths = [max(len(r[i]) for r in [head, *table]) for i in range(5)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head[:5], widths)) + "  " + head[5]]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r[:5], widths)) + "  " + r[5] for r in table]
    title = f"{len(rows)} parameter(s)"
    if mechanism:
        title += f" of {mechanism} ({MECHANISMS[mechanism]})"
    typer.echo(title + "; time in hours; set them under [person] in a scenario file\n" + "\n".join(lines))
