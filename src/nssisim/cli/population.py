"""Population commands: population (the life course in chunks), calibrate, calibration-report."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer

from ..population import (apply_to_spec, CAL_SEED, CAL_SUBJECTS, calibrate as run_cal, CONFIRM_SUBJECTS, DEFAULT_CHUNK,
                          DEFAULT_END_AGE, DEFAULT_START_AGE, format_report, LifeCourse, load_population, load_record,
                          population_path, PopulationError, POPULATIONS, prevalence_by_age_table, record_toml,
                          run_population, summarise, WAVE_SIZE, WAVES)
from .common import _fail, _write_netcdf

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
    progress: Annotated[bool, typer.Option("--progress/--no-progress")] = True,
) -> None:
    """Run a population over the life course in chunks and write its measurements (see docs/population.md).

    Each chunk is reduced to one row of measurements per subject and written atomically, so an interrupted run
    continues with --resume. Writes the tidy table (measurements.parquet), prevalence by age (CSV) and a netCDF
    summary (summary.nc).
    """
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


def calibrate(
    spec: Annotated[str, typer.Option("--population", "-p", help="Population to calibrate (shipped name or TOML path).")] = "community",
    targets: Annotated[Path | None, typer.Option("--targets", help="Calibration targets TOML (default: the shipped copy of targets/calibration.toml).")] = None,
    waves: Annotated[int, typer.Option("--waves", min=1, help="History-matching waves.")] = WAVES,
    wave_size: Annotated[int, typer.Option("--wave-size", min=4, help="Candidates per wave.")] = WAVE_SIZE,
    subjects: Annotated[int, typer.Option("--subjects", min=16, help="Subjects per candidate (common random numbers).")] = CAL_SUBJECTS,
    confirm: Annotated[int, typer.Option("--confirm", min=16, help="Subjects of the confirmation run of the best candidate.")] = CONFIRM_SUBJECTS,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the design and the simulations.")] = CAL_SEED,
    record: Annotated[Path | None, typer.Option("--record", help="Calibration record to write (default: print only).")] = None,
    write_spec: Annotated[Path | None, typer.Option("--write-spec", help="Write the spec with the calibrated [parameters] table to this TOML file.")] = None,
    history: Annotated[Path | None, typer.Option("--history", help="Write every candidate with its implausibilities (CSV).")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing --record/--write-spec/--history files.")] = False,
    progress: Annotated[bool, typer.Option("--progress/--no-progress")] = True,
) -> None:
    """Fit the unpinned parameters to the published numbers by history matching (see docs/population.md)."""
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
        text = (population_path(spec) if spec in POPULATIONS else Path(spec)).read_text(encoding="utf-8")
        write_spec.write_text(apply_to_spec(text, rec["parameters"], f"calibrated by `nssisim calibrate` on {rec['date']} "
                                            f"(record: calibration_{pspec.name}.toml)"), encoding="utf-8")
        typer.echo(f"wrote {write_spec}")


def calibration_report(
    which: Annotated[str, typer.Argument(help="Population name (shipped record) or a calibration record TOML.")] = "community",
    markdown: Annotated[bool, typer.Option("--markdown", help="Print a Markdown table.")] = False,
) -> None:
    """Model versus target: each simulated value with the published value and interval beside it."""
    try:
        rec = load_record(which)
    except FileNotFoundError as err:
        raise _fail(str(err), 2) from None
    typer.echo(format_report(rec, markdown=markdown))
