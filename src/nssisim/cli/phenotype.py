"""``nssisim regimes``: the regime map over two model parameters, its boundary, and a history-dependence check."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Annotated

import typer

from ..phenotype.regimes import END_AGE, LEVEL, N_PERSONS, PULSE, START_AGE
from .common import _check_mechanisms, _check_out, _fail, _interruptible, _jsonable, _print_json, _quiet_stdout, _writing

#: Files written by ``--out`` (the partial rows are kept in OUT/.regimes_partial until the map is done).
REGIME_FILES = ("regimes.nc", "regimes.csv", "boundary.csv", "regimes.png", "regimes.json")


def _settings(pairs: list[str] | None) -> dict[str, float]:
    out = {}
    for s in pairs or []:
        name, sep, value = s.partition("=")
        try:
            if not sep:
                raise ValueError
            out[name.strip()] = float(value)
        except ValueError:
            raise _fail(f"--set {s!r}: expected NAME=VALUE with a number, e.g. --set eta_habit=0.05", 2) from None
    return out


def regimes(
    x: Annotated[str, typer.Option("--x", help="Model parameter on the map's first axis (rows), e.g. limbic_reactivity.")] = "limbic_reactivity",
    x_values: Annotated[str, typer.Option("--x-values", help="Values of --x: LOW:HIGH:N or A,B,C (inside the parameter's bounds).")] = "0.8:2.6:5",
    y: Annotated[str, typer.Option("--y", help="Model parameter on the second axis (columns), e.g. pfc_adult.")] = "pfc_adult",
    y_values: Annotated[str, typer.Option("--y-values", help="Values of --y: LOW:HIGH:N or A,B,C.")] = "0.3:1.5:5",
    set_: Annotated[list[str] | None, typer.Option("--set", help="Model parameter set for everyone, NAME=VALUE (repeatable), e.g. an environment: --set lam_period=0.0005.")] = None,
    subjects: Annotated[int, typer.Option("--subjects", "-n", min=2, help="Persons per cell, drawn from the population.")] = N_PERSONS,
    population: Annotated[str, typer.Option("--population", "-p", help="Population spec of the persons (name or path): every other trait and the environment as it draws them.")] = "community",
    seed: Annotated[int, typer.Option("--seed", help="Root seed (the persons of every cell and their random streams).")] = 0,
    start_age: Annotated[float, typer.Option("--start-age", help="Start of the life course (after its one-year burn-in).")] = START_AGE,
    end_age: Annotated[float, typer.Option("--end-age", help="Age by which the addictive profile is judged.")] = END_AGE,
    level: Annotated[float, typer.Option("--level", help="The boundary: the probability of reaching the addictive profile that separates the regimes.")] = LEVEL,
    hysteresis_subjects: Annotated[int, typer.Option("--hysteresis-subjects", min=0, help="Persons of the history-dependence check at a boundary point (0: no check).")] = 1024,
    mechanisms_off: Annotated[list[str] | None, typer.Option("--mechanisms-off", help="Mechanism to switch off (repeatable).")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Folder for regimes.nc, regimes.csv, boundary.csv, regimes.png, regimes.json.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing files in --out.")] = False,
    progress: Annotated[bool, typer.Option("--progress/--no-progress")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the map, its boundary and the check as JSON instead of tables.")] = False,
) -> None:
    """Map where the boundary between sporadic and addictive NSSI lies over two model parameters.

    For each cell of the grid, persons drawn from the population (their other traits and environment as drawn)
    get the cell's two values and live from --start-age to --end-age; the map is the share who reach the
    addictive profile (core.measures) by --end-age, with its 95 % interval. Cells whose interval contains
    --level lie on the boundary; each row's crossing is interpolated. Then the same persons at a boundary point
    live twice, with and without a passing rise of stressful periods (lam_period 3x from 12 to 14): a lasting
    difference at --end-age means history moves persons across the boundary (docs/regimes.md). Cost: the
    default 5 x 5 map with 256 persons a cell and the check took 82 s on 2 cores shared with another job.
    An interrupted map with --out resumes from its finished rows.
    """
    from ..phenotype.regimes import (RegimeError, boundary, boundary_point, format_hysteresis, format_map, hysteresis,
                                     parse_values, plot_map, regime_map, tidy)

    from ..population import load_population, PopulationError

    off = _check_mechanisms(mechanisms_off)
    try:
        xv, yv = parse_values(x_values, "--x-values"), parse_values(y_values, "--y-values")
        from ..phenotype.regimes import check_axis, check_value

        check_axis(x, xv, "--x")
        check_axis(y, yv, "--y")
        over = {k: check_value(k, v, "--set") for k, v in _settings(set_).items()}
        if not 0.0 < level < 1.0:
            raise RegimeError(f"--level: expected a share strictly between 0 and 1, got {level}")
        spec = load_population(population)
    except (RegimeError, PopulationError, ValueError) as err:
        raise _fail(str(err), 2) from None
    if out is not None:
        _check_out(out, overwrite=overwrite, kind="dir", names=REGIME_FILES)
    t0 = time.perf_counter()
    partial = None if out is None else out / ".regimes_partial"
    with _quiet_stdout(as_json):
        try:
            with _interruptible("finished rows are kept in OUT/.regimes_partial; the same command continues" if out
                                else "nothing was kept (give --out to keep finished rows)"):
                ds = regime_map(x, xv, y, yv, population=spec, n_persons=subjects, seed=seed, start_age=start_age,
                                end_age=end_age, overrides=over, mechanisms_off=off, level=level, progress=progress,
                                checkpoint=partial)
                point = boundary_point(ds)
                hyst = (hysteresis({**over, **point}, population=spec, n_persons=hysteresis_subjects, seed=seed,
                                   start_age=start_age, end_age=end_age, mechanisms_off=off)
                        if hysteresis_subjects > 0 and start_age < PULSE["onset_age"] and end_age - 1 > PULSE["peak_age"]
                        else None)
        except (RegimeError, ValueError) as err:
            raise _fail(str(err), 2) from None
    table, _ = boundary(ds)
    wall = time.perf_counter() - t0
    payload = {"x": x, "y": y, "population": spec.name, "seed": seed, "persons_per_cell": subjects,
               "seconds": round(wall, 1), "cells": json.loads(tidy(ds).to_json(orient="records")),
               "boundary": json.loads(table.to_json(orient="records")), "hysteresis": hyst}
    if out is not None:
        from ..files import atomic_write_netcdf, atomic_write_text, write_csv

        with _writing():
            out.mkdir(parents=True, exist_ok=True)
            if hyst is not None:
                ds.attrs["hysteresis"] = json.dumps(_jsonable(hyst))
            atomic_write_netcdf(ds, out / "regimes.nc")
            write_csv(tidy(ds), out / "regimes.csv", index=False)
            write_csv(table, out / "boundary.csv", index=False)
            plot_map(ds, out / "regimes.png")
            atomic_write_text(out / "regimes.json", json.dumps(_jsonable(payload), indent=1, allow_nan=False))
        shutil.rmtree(partial, ignore_errors=True)
    if as_json:
        _print_json(payload)
        return
    typer.echo(format_map(ds))
    if hyst is not None:
        typer.echo(format_hysteresis(hyst))
    typer.echo(f"done in {wall:.1f} s" + (f"; wrote {', '.join(REGIME_FILES)} to {out}/" if out is not None else ""))


#: Files written by ``forecast --out`` (finished chunks are kept in OUT/.forecast_partial until the cohort is done).
FORECAST_FILES = ("cohort.csv", "metrics.csv", "reliability.csv", "forecast.png", "forecast.json")


def forecast(
    subjects: Annotated[int, typer.Option("--subjects", "-n", min=64, help="Persons of the population simulated (about 12 % are sporadic self-injurers at 15, and 7 % of those enter the addictive profile within a year).")] = 16384,
    population: Annotated[str, typer.Option("--population", "-p", help="Population spec (name or path).")] = "community",
    seed: Annotated[int, typer.Option("--seed", help="Root seed (persons and their random streams; the train/test split is by subject id).")] = 0,
    index_age: Annotated[float, typer.Option("--index-age", help="Age at which sporadic self-injurers are selected and the forecast is made.")] = 15.0,
    start_age: Annotated[float, typer.Option("--start-age", help="Start of the life course (after its one-year burn-in).")] = 10.0,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Model parameter set for everyone, NAME=VALUE (repeatable).")] = None,
    mechanisms_off: Annotated[list[str] | None, typer.Option("--mechanisms-off", help="Mechanism to switch off (repeatable).")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Folder for cohort.csv, metrics.csv, reliability.csv, forecast.png, forecast.json.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing files in --out.")] = False,
    progress: Annotated[bool, typer.Option("--progress/--no-progress")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics and the lead time as JSON instead of a table.")] = False,
) -> None:
    """Forecast who among sporadic self-injurers at --index-age enters the addictive regime within a year.

    Persons of the population live to a year after the index age; the sporadic self-injurers there (an act in
    the past year, not in the addictive profile) are followed month by month. Features a study could collect
    (act frequency and trend, functions, urges and urge-act coupling, acts at low distress, daily affect's
    level, variability and inertia) train a logistic regression on even subject ids and are tested on odd
    ones: AUC with a bootstrap interval, Brier score, calibration. Act frequency alone is the baseline, the
    latent states the oracle, and the early-warning indicators (rising variance and autocorrelation of
    affect) are scored alone (docs/regimes.md). Cost: about 2.5 min for the default 16,384 persons on 2
    cores. An interrupted cohort with --out resumes from its finished chunks.
    """
    from ..phenotype.forecast import evaluate, forecast_cohort, format_forecast, lead_time, plot_forecast
    from ..phenotype.regimes import RegimeError, check_value
    from ..population import load_population, PopulationError

    off = _check_mechanisms(mechanisms_off)
    try:
        over = {k: check_value(k, v, "--set") for k, v in _settings(set_).items()}
        spec = load_population(population)
    except (RegimeError, PopulationError, ValueError) as err:
        raise _fail(str(err), 2) from None
    if out is not None:
        _check_out(out, overwrite=overwrite, kind="dir", names=FORECAST_FILES)
    t0 = time.perf_counter()
    partial = None if out is None else out / ".forecast_partial"
    with _quiet_stdout(as_json):
        try:
            with _interruptible("finished chunks are kept in OUT/.forecast_partial; the same command continues" if out
                                else "nothing was kept (give --out to keep finished chunks)"):
                table = forecast_cohort(spec, subjects, seed=seed, index_age=index_age, start_age=start_age,
                                        mechanisms_off=off, overrides=over, progress=progress, checkpoint=partial)
            metrics, reliability = evaluate(table)
        except (RegimeError, ValueError) as err:
            raise _fail(str(err), 2) from None
    wall = time.perf_counter() - t0
    payload = {"population": spec.name, "seed": seed, "subjects": subjects, "index_age": index_age,
               "sporadic": int(len(table)), "entering": int(table["enters"].sum()), "lead_time_months": lead_time(table),
               "seconds": round(wall, 1), "metrics": json.loads(metrics.to_json(orient="records")),
               "reliability": json.loads(reliability.to_json(orient="records"))}
    if out is not None:
        from ..files import atomic_write_text, write_csv

        with _writing():
            out.mkdir(parents=True, exist_ok=True)
            write_csv(table, out / "cohort.csv", index=False)
            write_csv(metrics, out / "metrics.csv", index=False)
            write_csv(reliability, out / "reliability.csv", index=False)
            plot_forecast(table, out / "forecast.png")
            atomic_write_text(out / "forecast.json", json.dumps(_jsonable(payload), indent=1, allow_nan=False))
        shutil.rmtree(partial, ignore_errors=True)
    if as_json:
        _print_json(payload)
        return
    typer.echo(format_forecast(table, metrics))
    typer.echo(f"done in {wall:.1f} s" + (f"; wrote {', '.join(FORECAST_FILES)} to {out}/" if out is not None else ""))
