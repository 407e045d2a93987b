"""Population commands: population (the life course in chunks), calibrate, calibration-report."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer

from ..population import (apply_to_spec, calibrate as run_cal, DEFAULT_CHUNK, DEFAULT_END_AGE, DEFAULT_START_AGE,
                          ensemble_path, format_report, LifeCourse, load_ensemble, load_population, load_record,
                          load_setup, population_path, PopulationError, POPULATIONS, prevalence_by_age_table,
                          record_toml, run_ensemble, run_population, summarise, write_ensemble)
from .common import (_alias, _check_out, _echo_warnings, _fail, _interruptible, _print_json, _quiet_stdout, _write_netcdf,
                     _writing)

# The population package is imported at module level here (unlike the other command modules):
# the option defaults are its constants, so it is loaded for `nssisim --help` anyway.


def population(
    out: Annotated[Path, typer.Option("--out", "-o", help="Run folder: chunks/, manifest.json, measurements.parquet, prevalence_by_age.csv, summary.nc.")],
    spec: Annotated[str, typer.Option("--population", "-p", help="Shipped population (community, clinical) or a spec TOML path.")] = "community",
    subjects: Annotated[int, typer.Option("--subjects", "-n", min=1, help="Number of virtual adolescents.")] = 10000,
    seed: Annotated[int, typer.Option("--seed", help="Root seed (factors, random streams, survey ages).")] = 0,
    start_age: Annotated[float, typer.Option("--start-age", help="Age at the start of the life course.")] = DEFAULT_START_AGE,
    end_age: Annotated[float, typer.Option("--end-age", help="Age at the end (beyond 18 for maturing out).")] = DEFAULT_END_AGE,
    chunk: Annotated[int, typer.Option("--chunk", min=1, help="Subjects per chunk (memory ~0.3 GB per 1,000 over 7 years).")] = DEFAULT_CHUNK,
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted run in --out (finished chunks are kept).")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing run in --out.")] = False,
    csv: Annotated[bool, typer.Option("--csv", help="Also write the measurements as CSV.")] = False,
    ensemble: Annotated[str | None, typer.Option("--ensemble", help="Run once per parameter set of this ensemble (a TOML path or a population name with a shipped ensemble) and report prediction intervals across sets (ensemble_per_set.csv, ensemble_summary.csv).")] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the prevalence-by-age table (with --ensemble: the summary across sets) as JSON (stdout).")] = False,
) -> None:
    """Run a population over the life course in chunks and write its measurements (see docs/population.md).

    With --ensemble, the population is simulated once per calibrated parameter set instead (set i with
    seed + i), and the 5-95 % range of every calibration measure across sets is reported: a prediction
    interval that includes the parameter uncertainty, beside the sampling sd of one set.

    Each chunk is reduced to one row of measurements per subject and written atomically, so an interrupted run
    continues with --resume. Writes the tidy table (measurements.parquet), prevalence by age (CSV) and a netCDF
    summary (summary.nc).
    """
    import warnings

    from ..core import LongRunWarning, RunTooLargeError
    from ..files import write_csv
    from ..population import check_population_size, chunk_path

    try:
        pspec = load_population(spec)
        course = LifeCourse(start_age, end_age)
    except (PopulationError, ValueError) as err:
        raise _fail(str(err), 2) from None
    if ensemble is not None:
        with _quiet_stdout(as_json):
            summary = _population_ensemble(pspec, ensemble, out, subjects, seed, course, chunk, overwrite, progress)
        if as_json:
            _print_json({"population": pspec.name, "ensemble": ensemble, "subjects": subjects, "seed": seed,
                         "summary": summary, "out": out})
        return
    _check_out(out, kind="dir")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", LongRunWarning)
        try:
            check_population_size(subjects, course, chunk, fields=("--subjects", "--chunk"))
        except RunTooLargeError as err:
            raise _fail(str(err), 2) from None
    _echo_warnings(caught)
    n_chunks = -(-subjects // chunk)
    already = {k for k in range(n_chunks) if chunk_path(out, k).exists()} if resume else set()
    t0 = time.perf_counter()
    saved = f"finished chunks are kept in {out}/chunks/; run the same command with --resume to continue"
    try:
        with _interruptible(saved), warnings.catch_warnings():
            warnings.simplefilter("ignore", LongRunWarning)  # said above
            table = run_population(pspec, subjects, out, seed=seed, course=course, chunk_size=chunk, resume=resume,
                                   overwrite=overwrite, progress=progress)
    except FileExistsError as err:
        raise _fail(str(err), 1) from None
    except ValueError as err:
        raise _fail(str(err), 2) from None
    wall = time.perf_counter() - t0
    with _writing():
        table.to_parquet(out / "measurements.parquet", index=False)
        if csv:
            write_csv(table, out / "measurements.csv", index=False)
        prev = prevalence_by_age_table(table)
        write_csv(prev, out / "prevalence_by_age.csv", index=False)
        manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
        _write_netcdf(summarise(table, manifest, pspec.recall_years), out / "summary.nc")
    if as_json:
        _print_json({"population": pspec.name, "subjects": subjects, "seed": seed, "start_age": start_age,
                     "end_age": end_age, "seconds": round(wall, 1), "resumed_chunks": len(already), "out": out,
                     "prevalence_by_age": prev})
        return
    typer.echo(prev.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    typer.echo(population_timing(subjects, chunk, course.n_days, already, wall) + f"; wrote {out}/")


def population_timing(subjects: int, chunk: int, n_days: float, resumed_chunks: set[int], wall: float) -> str:
    """The closing line of ``nssisim population``: throughput over the subjects simulated in this
    call only (chunks resumed from disk are counted apart, never as speed)."""
    years_each = n_days / 365.25
    n_chunks = -(-subjects // chunk)
    resumed = sum(min(chunk, subjects - k * chunk) for k in resumed_chunks)
    computed = subjects - resumed
    head = f"{subjects:,} subjects x {years_each:.2f} years"
    if computed == 0:
        return (f"{head}: all {n_chunks} chunk(s) were already complete, nothing simulated "
                f"(read and summarised in {wall:.1f} s)")
    rate = computed * years_each / wall if wall > 0 else float("nan")
    note = f", {resumed:,} subjects in {len(resumed_chunks)} chunk(s) resumed from disk" if resumed else ""
    return f"{head} in {wall:.1f} s ({computed:,} simulated at {rate:,.0f} subject-years/s{note})"


def _population_ensemble(pspec, ensemble: str, out: Path, subjects: int, seed: int, course, chunk: int,
                         overwrite: bool, progress: bool):
    paths = (out / "ensemble_per_set.csv", out / "ensemble_summary.csv")
    for p in paths:
        if p.exists() and not overwrite:
            raise _fail(f"{p} exists; pass --overwrite to replace it", 1)
    t0 = time.perf_counter()
    try:
        per_set, summary = run_ensemble(pspec, load_ensemble(ensemble)["path"], subjects, seed=seed, course=course,
                                        chunk_size=chunk, progress=progress)
    except (FileNotFoundError, ValueError) as err:
        raise _fail(str(err), 2) from None
    out.mkdir(parents=True, exist_ok=True)
    from ..files import write_csv

    write_csv(per_set, paths[0], index=False)
    write_csv(summary, paths[1], index=False)
    typer.echo(summary.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    typer.echo(f"{len(per_set)} parameter sets x {subjects:,} subjects in {time.perf_counter() - t0:.1f} s; q05-q95: "
               "prediction interval across sets (parameter uncertainty and sampling noise); sampling_sd: one set's "
               f"sampling sd; wrote {paths[0]} and {paths[1]}")
    return summary


def calibrate(
    setup: Annotated[str, typer.Option("--setup", help="Calibration setup: a shipped population name (configs/calibrate_<name>.toml) or a TOML path: population, life course, method, fitted targets, [ranges].")] = "community",
    targets: Annotated[Path | None, typer.Option("--targets", help="Calibration targets TOML (default: the shipped copy of targets/calibration.toml).")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Run folder: each wave's design and finished candidates, written as they finish (resumable).")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the interrupted run in --out.")] = False,
    waves: Annotated[int | None, typer.Option("--waves", min=1, help="History-matching waves (default: the setup's).")] = None,
    wave_size: Annotated[int | None, typer.Option("--wave-size", min=4, help="Candidates per wave (default: the setup's).")] = None,
    extra_waves: Annotated[int | None, typer.Option("--extra-waves", min=0, help="Extra waves while the ensemble is too small (default: the setup's).")] = None,
    subjects: Annotated[int | None, typer.Option("--subjects", "-n", min=8, help="Subjects per candidate (common random numbers; default: the setup's).")] = None,
    confirm: Annotated[int | None, typer.Option("--confirm", min=8, help="Subjects of the default's confirmation run (default: the setup's).")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed of the design and the simulations (default: the setup's).")] = None,
    ensemble_size: Annotated[int | None, typer.Option("--ensemble-size", min=1, help="Non-implausible sets the ensemble needs (default: the setup's).")] = None,
    record: Annotated[Path | None, typer.Option("--record", help="Calibration record to write (default: print only).")] = None,
    write_ensemble_to: Annotated[Path | None, typer.Option("--write-ensemble", help="Write the ensemble of non-implausible parameter sets to this TOML file.")] = None,
    write_spec: Annotated[Path | None, typer.Option("--write-spec", help="Write the spec with the default parameter set in its [parameters] table to this TOML file.")] = None,
    history: Annotated[Path | None, typer.Option("--history", help="Write every candidate with its implausibilities (CSV).")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing --record/--write-ensemble/--write-spec/--history files.")] = False,
    progress: Annotated[bool, typer.Option("--progress/--no-progress")] = True,
    ensemble_old: Annotated[Path | None, typer.Option("--ensemble", hidden=True, help="Deprecated name of --write-ensemble.")] = None,
) -> None:
    """History matching with Gaussian-process emulators of the setup's parameters to the published numbers (docs/calibration.md).

    Prints a time estimate (from timing one candidate) before it starts; with --out every finished candidate is
    on disk, and --resume continues an interrupted run.
    """
    from ..files import atomic_write_text, write_csv

    ensemble = _alias(write_ensemble_to, ensemble_old, "--write-ensemble", "--ensemble")
    for p, option in ((record, "--record"), (ensemble, "--write-ensemble"), (write_spec, "--write-spec"),
                      (history, "--history")):
        if p is not None:
            _check_out(p, overwrite=overwrite, option=option)
    if out is not None:
        _check_out(out, kind="dir")
    try:
        cfg = load_setup(setup).with_method(waves=waves, wave_size=wave_size, extra_waves=extra_waves, subjects=subjects,
                                             confirm_subjects=confirm, seed=seed, ensemble_size=ensemble_size)
        pspec = load_population(cfg.population)
        saved = (f"finished candidates are kept in {out}; run the same command with --resume to continue" if out
                 else "nothing was kept (pass --out to keep finished candidates and resume)")
        with _interruptible(saved):
            rec = run_cal(cfg, targets=targets, out_dir=out, resume=resume, progress=progress, log=typer.echo)
    except FileExistsError as err:
        raise _fail(str(err), 1) from None
    except (PopulationError, ValueError, FileNotFoundError) as err:
        raise _fail(str(err), 2) from None
    typer.echo(format_report(rec, {"sets": rec["ensemble"]}))
    typer.echo("default: " + ", ".join(f"{k} = {v:.4g}" for k, v in rec["parameters"].items()))
    with _writing():
        if record is not None:
            atomic_write_text(record, record_toml(rec))
            typer.echo(f"wrote {record}")
        if history is not None:
            import pandas as pd

            write_csv(pd.DataFrame([{"wave": r["wave"], "index": r["index"], "seed": r["seed"], "seconds": r["seconds"],
                                     **r["params"], **{f"I_{k}": v for k, v in r["I"].items()}, "I_max": r["I_max"]}
                                    for r in rec["history"]]), history, index=False)
            typer.echo(f"wrote {history}")
        if write_spec is not None:
            src = cfg.population
            text = (population_path(src) if src in POPULATIONS else Path(src)).read_text(encoding="utf-8")
            atomic_write_text(write_spec, apply_to_spec(text, rec["parameters"], f"calibrated by `nssisim calibrate` on "
                                                        f"{rec['date']} (record: calibration_{pspec.name}.toml)"))
            typer.echo(f"wrote {write_spec}")
    if ensemble is not None:
        try:
            write_ensemble(ensemble, rec, min_sets=cfg.method["ensemble_size"], overwrite=overwrite)
        except ValueError as err:
            raise _fail(f"ensemble not written: {err}", 1) from None
        typer.echo(f"wrote {ensemble} ({len(rec['ensemble'])} parameter sets)")


def calibration_report(
    which: Annotated[str, typer.Argument(help="Population name (shipped record) or a calibration record TOML.")] = "community",
    ensemble: Annotated[str | None, typer.Option("--ensemble", help="Ensemble TOML (default: the shipped ensemble of the record's population, if there is one).")] = None,
    markdown: Annotated[bool, typer.Option("--markdown", help="Print a Markdown table.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON (stdout): the record's method and one row per target.")] = False,
) -> None:
    """Model versus target: published value and interval, the default's value, the ensemble's 5-95 % range, inside or not."""
    if markdown and as_json:
        raise _fail("--markdown and --json exclude each other: give one of them", 2)
    try:
        rec = load_record(which)
        ens = None
        if ensemble is not None:
            ens = load_ensemble(ensemble)
        elif ensemble_path(rec.get("population", "")).is_file():
            ens = load_ensemble(ensemble_path(rec["population"]))
    except (FileNotFoundError, ValueError) as err:
        raise _fail(str(err), 2) from None
    if as_json:
        from ..population.calibration import report_rows

        _print_json({"population": rec.get("population"), "date": rec.get("date"), "method": rec.get("method"),
                     "parameters": rec.get("parameters"), "ensemble_sets": len((ens or {}).get("sets", [])),
                     "targets": report_rows(rec, ens)})
        return
    typer.echo(format_report(rec, ens, markdown=markdown))
