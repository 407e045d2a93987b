"""Sweep commands: sensitivity (design -> sweep -> indices) and sweep (a manifest of your own)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from ..core.presets import load_preset, PRESETS
from ..sweeps import SUBJECTS_PER_RUN, SWEEP_DAYS, SWEEP_SEED
from .common import _alias, _check_out, _check_preset, _fail, _interruptible, _print_json, _quiet_stdout, _writing

#: What an interrupted sweep has saved, and how to go on (the sweep folder is the argument).
_SAVED = "finished shards are kept in {}/; run the same command with --resume to continue"

# Convention of the command modules: project imports needed by a command's option defaults and
# help texts are at module level; the rest is imported inside the command (keeps `nssisim --help` fast).


def sensitivity(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the sweep (DIR/sweep), indices.csv and one PNG per output.")],
    param: Annotated[list[str], typer.Option("--param", help="Parameter to vary, NAME or NAME:low:high (within its bounds); repeat, at least 2.")],
    method: Annotated[str, typer.Option("--method", help="sobol (S1, ST) or morris (mu*, sigma).")] = "sobol",
    base_samples: Annotated[int | None, typer.Option("--base-samples", min=1, help="Base sample size N (default 64): a power of two for Sobol (runs = N x (D+2)); trajectories for Morris (runs = N x (D+1)).")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted sweep in --out (finished shards are kept).")] = False,
    subjects_per_run: Annotated[int, typer.Option("--subjects-per-run", min=1, help="Subjects simulated per parameter set.")] = SUBJECTS_PER_RUN,
    days: Annotated[int, typer.Option("--days", min=1, help="Simulated days per run.")] = SWEEP_DAYS,
    preset: Annotated[str, typer.Option("--preset", help=f"Base person preset: {', '.join(PRESETS)}.")] = "vulnerable",
    seed: Annotated[int, typer.Option("--seed", help="Root seed of the simulations and of the design.")] = SWEEP_SEED,
    shard_size: Annotated[int | None, typer.Option("--shard-size", min=1, help="Runs per shard (default: about 1024 subjects a shard).")] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress")] = True,
    scheduler: Annotated[str | None, typer.Option("--scheduler", help="Run the shards on a running Dask scheduler at this address (tcp://host:8786).")] = None,
    dask_local: Annotated[int | None, typer.Option("--dask-local", min=1, help="Run the shards on a local Dask cluster of N worker processes (one core each).")] = None,
    stop_after: Annotated[int | None, typer.Option("--stop-after", min=1, help="Compute at most N shards, then stop (continue later with --resume).")] = None,
    event_capacity: Annotated[int | None, typer.Option("--event-capacity", min=1, help="Event-table rows per subject (default 1024 per simulated year).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the indices as JSON (stdout) instead of the table.")] = False,
    n_old: Annotated[int | None, typer.Option("--n", min=1, hidden=True, help="Deprecated name of --base-samples.")] = None,
) -> None:
    """Sobol or Morris sensitivity of the cohort outputs to parameters: design -> sweep -> indices, table, plots.

    Ranges default to the parameter table's bounds. The sweep lives in DIR/sweep and is written shard by shard;
    an interrupted run continues with --resume and gives the same result. See docs/sensitivity.md.
    """
    from ..sweeps import make_design, parse_param_spec

    n = _alias(base_samples, n_old, "--base-samples", "--n")
    n = 64 if n is None else n
    if method not in ("sobol", "morris"):
        raise _fail(f"--method must be 'sobol' or 'morris', got '{method}'", 2)
    _check_preset(preset)
    if len(param) < 2:
        raise _fail(f"give at least 2 --param options, got {len(param)}", 2)
    try:
        ranges = dict(parse_param_spec(p) for p in param)
        if len(ranges) != len(param):
            raise ValueError("a parameter is given twice")
        design = make_design(method, ranges, n, seed=seed)
    except (KeyError, ValueError) as err:
        raise _fail(str(err).strip("'\""), 2) from None
    _check_out(out, kind="dir")
    if out.exists() and any(out.iterdir()) and not resume:
        raise _fail(f"refusing to write into {out}: it is not empty (pass --resume to continue a sweep there)", 1)
    with _quiet_stdout(as_json):
        done = _sensitivity_run(design, method, n, out, resume, subjects_per_run, days, preset, seed, shard_size,
                                progress, scheduler, dask_local, stop_after, event_capacity)
    if as_json:
        tidy, pngs, n_shards, missing = done
        _print_json({"method": method, "parameters": list(design.names), "base_samples": n, "runs": design.n_runs,
                     "seed": seed, "preset": preset, "complete": not missing, "shards": n_shards,
                     "shards_done": n_shards - len(missing), "out": out, "plots": pngs, "indices": tidy})


def _sensitivity_run(design, method, n, out, resume, subjects_per_run, days, preset, seed, shard_size, progress,
                     scheduler, dask_local, stop_after, event_capacity):
    """The sweep and its outputs: ``(indices or None, plot names, shards, missing shards)``."""
    from ..sweeps import format_indices, load_sweep, run_sweep, sweep_status, SweepError, write_sensitivity_outputs

    n_sub = design.n_runs * subjects_per_run
    typer.echo(f"{method}: {len(design.names)} parameter(s), N={n}: {design.n_runs:,} runs x {subjects_per_run} subjects "
               f"x {days} days = {n_sub * days * 24:,} person-steps (preset '{preset}', seed {seed})")
    if scheduler is not None and dask_local is not None:
        raise _fail("give --scheduler or --dask-local, not both", 2)
    t0 = time.perf_counter()
    try:
        with _interruptible(_SAVED.format(out / "sweep")), _sweep_executor(scheduler, dask_local) as executor:
            run_sweep(design.sample(), out / "sweep", seed=seed, base_params=load_preset(preset),
                      n_subjects_per_run=subjects_per_run, days=days, shard_size=shard_size, resume=resume,
                      progress=progress, max_shards=stop_after, event_capacity=event_capacity, executor=executor)
        n_shards, missing = sweep_status(out / "sweep")
        if missing:
            typer.echo(f"stopped after --stop-after {stop_after} shard(s): {n_shards - len(missing)} of {n_shards} "
                       f"done; continue with the same command and --resume")
            return None, [], n_shards, missing
        ds = load_sweep(out / "sweep")
    except SweepError as err:
        raise _fail(str(err), 1) from None
    with _writing():
        r = write_sensitivity_outputs(ds, design, out, days=days, log=typer.echo, warn=lambda m: typer.echo(m, err=True))
    tidy = r["indices"]
    pngs = [p.name for p in r["plots"]]
    typer.echo(format_indices(tidy))
    typer.echo(f"wrote {out / 'indices.csv'} and {len(pngs)} plot(s) ({', '.join(pngs)}) in {time.perf_counter() - t0:.1f} s")
    return tidy, pngs, n_shards, missing


def sweep_cmd(
    manifest: Annotated[Path, typer.Option("--manifest", "-m", help="Parameter sets: .csv or .parquet, one column per parameter, optional integer run_id column.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Sweep folder: manifest, settings, one netCDF file per shard, and results.csv at the end.")],
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted sweep in --out (finished shards are kept).")] = False,
    subjects_per_run: Annotated[int, typer.Option("--subjects-per-run", min=1, help="Subjects simulated per parameter set.")] = SUBJECTS_PER_RUN,
    days: Annotated[int, typer.Option("--days", min=1, help="Simulated days per run.")] = SWEEP_DAYS,
    preset: Annotated[str, typer.Option("--preset", help=f"Base person preset: {', '.join(PRESETS)}.")] = "vulnerable",
    seed: Annotated[int, typer.Option("--seed", help="Root seed of the simulations.")] = SWEEP_SEED,
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
    from ..files import SpecError
    from ..sweeps import load_sweep, read_manifest, results_table, run_sweep, sweep_status, SweepError

    _check_preset(preset)
    if scheduler is not None and dask_local is not None:
        raise _fail("give --scheduler or --dask-local, not both", 2)
    try:
        runs = read_manifest(manifest)
    except SpecError as err:
        raise _fail(str(err), 2) from None
    _check_out(out, kind="dir")
    if out.exists() and any(out.iterdir()) and not resume:
        raise _fail(f"refusing to write into {out}: it is not empty (pass --resume to continue a sweep there)", 1)
    typer.echo(f"sweep: {len(runs):,} runs of {', '.join(c for c in runs.columns if c != 'run_id')} x "
               f"{subjects_per_run} subjects x {days} days (preset '{preset}', seed {seed})")
    t0 = time.perf_counter()
    try:
        with _interruptible(_SAVED.format(out)), _sweep_executor(scheduler, dask_local) as executor:
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
    from ..files import write_csv

    with _writing():
        write_csv(results_table(ds), out / "results.csv")
    typer.echo(f"wrote {out / 'results.csv'}: {ds.sizes['run_id']:,} runs ({time.perf_counter() - t0:.1f} s)")


def _sweep_executor(scheduler: str | None, dask_local: int | None):
    """Context manager yielding run_sweep's executor: None (this process) or a Dask client."""
    from contextlib import nullcontext

    if scheduler is None and dask_local is None:
        return nullcontext(None)
    try:
        from ..sweeps import dask_client
    except ImportError as err:  # pragma: no cover - dask is a dependency
        raise _fail(f"the Dask executor needs dask.distributed: {err}", 1) from None
    return dask_client(scheduler=scheduler, n_workers=dask_local)
