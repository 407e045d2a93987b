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
from .common import _check_out, _echo_warnings, _fail, _interruptible, _write_netcdf, _writing

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
    import warnings

    from ..core import LongRunWarning, RunTooLargeError
    from ..files import write_csv
    from ..population import check_population_size, chunk_path

    try:
        pspec = load_population(spec)
        course = LifeCourse(start_age, end_age)
    except (PopulationError, ValueError) as err:
        raise _fail(str(err), 2) from None
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
        _write_netcdf(summarise(table, manifest), out / "summary.nc")
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
    for p, option in ((record, "--record"), (write_spec, "--write-spec"), (history, "--history")):
        if p is not None:
            _check_out(p, overwrite=overwrite, option=option)
    try:
        pspec = load_population(spec)
        with _interruptible("nothing was written (a calibration writes its files when it is complete); run the "
                            "same command again"):
            rec = run_cal(spec, targets=targets, waves=waves, wave_size=wave_size, n_subjects=subjects,
                          confirm_subjects=confirm, seed=seed, progress=progress, log=typer.echo)
    except (PopulationError, ValueError, FileNotFoundError) as err:
        raise _fail(str(err), 2) from None
    typer.echo(format_report(rec))
    typer.echo("calibrated: " + ", ".join(f"{k} = {v:.4g}" for k, v in rec["parameters"].items()))
    from ..files import atomic_write_text, write_csv

    with _writing():
        if record is not None:
            atomic_write_text(record, record_toml(rec))
            typer.echo(f"wrote {record}")
        if history is not None:
            write_csv(rec["history"], history, index=False)
            typer.echo(f"wrote {history}")
        if write_spec is not None:
            text = (population_path(spec) if spec in POPULATIONS else Path(spec)).read_text(encoding="utf-8")
            atomic_write_text(write_spec, apply_to_spec(text, rec["parameters"], f"calibrated by `nssisim calibrate` on "
                                                        f"{rec['date']} (record: calibration_{pspec.name}.toml)"))
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
