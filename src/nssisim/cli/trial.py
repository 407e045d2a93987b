"""``nssisim trial``: a virtual randomised trial from a design file."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Annotated

import typer

from .common import _check_out, _fail, _interruptible, _print_json, _quiet_stdout, _writing

# Convention of the command modules: project imports needed by a command's option defaults and
# help texts are at module level; the rest is imported inside the command (keeps `nssisim --help` fast).


def trial(
    design: Annotated[Path, typer.Option("--design", "-d", help="Trial design TOML (see docs/trials.md and configs/trials/).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("trial_out"),
    replicates: Annotated[int | None, typer.Option("--replicates", min=1, help="Independent trials (power, spread); default the design's.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing output files in --out.")] = False,
    ensemble: Annotated[str | None, typer.Option("--ensemble", help="Run the trial once per parameter set of this ensemble (a TOML path or a population name with a shipped ensemble) and report prediction intervals across sets (ensemble_per_set.csv, ensemble_summary.csv).")] = None,
    ensemble_sets: Annotated[int | None, typer.Option("--ensemble-sets", min=1, help="Run only this many of the ensemble's sets (a trial per set costs minutes); which: --ensemble-pick.")] = None,
    ensemble_pick: Annotated[str, typer.Option("--ensemble-pick", help="Which sets --ensemble-sets keeps: even (evenly spaced over the ensemble, first and last included) or first.")] = "even",
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Progress bar over the parameter sets (--ensemble).")] = True,
    seed: Annotated[int | None, typer.Option("--seed", help="Root seed of the trial (default: the design's seed).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON (stdout): per effect the estimate, interval and power, and the arm means (with --ensemble: the quantiles across sets).")] = False,
) -> None:
    """Run a virtual randomised trial: trial.nc, effects.csv, summary.csv, arms.csv, forest.png, trajectories.png, trial.md.

    Interrupted runs resume: finished groups of replicates are kept in OUT/.trial_partial/ and
    reused when the same command is run again (removed once the results are written).

    With --ensemble, the trial is run once per calibrated parameter set instead (set i with the
    design's seed + i; a referral design screens its patients again under every set), and the
    5-50-95 % quantiles of every arm mean and effect across sets are reported: prediction
    intervals that include the parameter uncertainty, beside the mean width of one set's own
    95 % interval (docs/trials.md, "Prediction intervals over the parameter ensemble").
    """
    from ..core import check_run_size, RunTooLargeError
    from ..trials import DesignError, ENSEMBLE_FILES, load_design, TRIAL_FILES

    if ensemble is None and (ensemble_sets is not None or ensemble_pick != "even"):
        raise _fail("--ensemble-sets and --ensemble-pick need --ensemble", 2)
    _check_out(out, kind="dir", overwrite=overwrite, names=ENSEMBLE_FILES if ensemble is not None else TRIAL_FILES)
    try:
        d = load_design(design)
    except DesignError as e:
        raise _fail(f"invalid trial design: {e}", 2) from None
    if seed is not None:
        import dataclasses

        d = dataclasses.replace(d, seed=seed)
    n_rep = d.replicates if replicates is None else replicates
    # sizes, before any screening: the eligible patients cannot outnumber the candidates screened,
    # and the arms' run must fit in memory
    needed = d.n_patients * n_rep
    if needed > d.max_screen:
        raise _fail(f"{design}: n_patients x replicates = {d.n_patients:,} x {n_rep} = {needed:,} exceeds max_screen = "
                    f"{d.max_screen:,}: screening could never find that many eligible patients; lower n_patients or "
                    "replicates, or raise max_screen", 2)
    try:
        check_run_size(len(d.arms) * d.n_patients, horizon_hours=d.horizon_days * 24.0, dt=d.dt_hours,
                       record_every=round(24.0 / d.dt_hours), event_capacity=1,
                       field=f"{design}: n_patients (x {len(d.arms)} arms)", warn=False)
    except RunTooLargeError as err:
        raise _fail(str(err), 2) from None
    if ensemble is not None:
        with _quiet_stdout(as_json):
            summary = _trial_ensemble(d, ensemble, out, replicates, ensemble_sets, ensemble_pick, progress)
        if as_json:
            _print_json({"design": d.name, "seed": d.seed, "ensemble": ensemble, "out": out, "summary": summary})
        return
    with _quiet_stdout(as_json):
        ds, seconds = _trial_once(d, design, out, replicates, n_rep)
    if as_json:
        from ..trials.run import arm_summary, summary_table

        _print_json({"design": d.name, "seed": d.seed, "arms": list(ds["arm"].values), "n_patients": d.n_patients,
                     "replicates": n_rep, "seconds": round(seconds, 1), "out": out,
                     "effects": summary_table(ds), "arm_means": arm_summary(ds)})


def _trial_once(d, design: Path, out: Path, replicates: int | None, n_rep: int):
    from ..trials import DesignError, run_trial, trial_markdown, write_trial

    t0 = time.perf_counter()
    typer.echo(f"trial '{d.name}': {len(d.arms)} arms, {d.n_patients} patients x {n_rep} trial(s), "
               f"{len(d.strata)} stratum/strata ...")
    partial = out / ".trial_partial"  # resumable: finished groups of replicates are kept here until the end
    try:
        with _interruptible(f"finished groups of replicates are kept in {partial}/; run the same command again "
                            "to continue"):
            ds = run_trial(d, replicates, checkpoint=partial)
    except DesignError as e:
        raise _fail(str(e), 1) from None
    with _writing():
        paths = write_trial(ds, out)
    shutil.rmtree(partial, ignore_errors=True)
    typer.echo(trial_markdown(ds))
    seconds = time.perf_counter() - t0
    typer.echo(f"wrote {', '.join(sorted(p.name for p in paths.values()))} to {out}/ in {seconds:.1f} s")
    return ds, seconds


def _trial_ensemble(d, ensemble: str, out: Path, replicates: int | None, max_sets: int | None, pick: str,
                    progress: bool) -> None:
    from ..files import write_csv
    from ..population import load_ensemble
    from ..trials import DesignError, ENSEMBLE_FILES, PICKS, pick_sets, run_trial_ensemble

    if pick not in PICKS:
        raise _fail(f"--ensemble-pick: expected one of {', '.join(PICKS)}, got {pick!r}", 2)
    try:
        ens = load_ensemble(ensemble)
    except (FileNotFoundError, ValueError) as err:
        raise _fail(str(err), 2) from None
    n_sets = len(pick_sets(len(ens["sets"]), max_sets, pick))
    n_rep = d.replicates if replicates is None else replicates
    t0 = time.perf_counter()
    typer.echo(f"trial '{d.name}' over {n_sets} of the {len(ens['sets'])} parameter sets of {ens['path']} "
               f"({pick if n_sets < len(ens['sets']) else 'all'}): {len(d.arms)} arms, {d.n_patients} patients x "
               f"{n_rep} trial(s) per set ...")
    partial = out / ".trial_ensemble_partial"  # resumable: each set's finished groups of replicates
    try:
        with _interruptible(f"finished sets and groups of replicates are kept in {partial}/; run the same command "
                            "again to continue"):
            per_set, summary = run_trial_ensemble(d, ens["path"], replicates, max_sets=max_sets, pick=pick,
                                                  progress=progress, checkpoint=partial)
    except DesignError as e:
        raise _fail(str(e), 1) from None
    except ValueError as e:
        raise _fail(str(e), 2) from None
    paths = [out / f for f in ENSEMBLE_FILES]
    with _writing():
        out.mkdir(parents=True, exist_ok=True)
        write_csv(per_set, paths[0], index=False)
        write_csv(summary, paths[1], index=False)
    shutil.rmtree(partial, ignore_errors=True)
    typer.echo(summary.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    typer.echo(f"{n_sets} parameter sets in {time.perf_counter() - t0:.1f} s; q05-q95: prediction interval across "
               "sets (parameter uncertainty and sampling noise); within_width: mean width of one set's own 95 % "
               f"interval; wrote {paths[0]} and {paths[1]}")
    return summary


def calibrate_treatment_cmd(
    out: Annotated[Path | None, typer.Option("--out", "-o", help="CSV of the grid: each target's value, sampling variance and implausibility per strength.")] = None,
    strengths: Annotated[str, typer.Option("--strengths", help="Comma-separated grid of DBT strengths.")] = "0,0.25,0.5,0.75,1,1.25,1.5,2,2.5,3",
    between: Annotated[int, typer.Option("--between", min=10, help="Patients of the between-group design (calibrate_dbt).")] = 300,
    within: Annotated[int, typer.Option("--within", min=10, help="Patients of the within-group design (dbta_routine_care).")] = 200,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing --out file.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the grid and the chosen strength as JSON (stdout).")] = False,
) -> None:
    """Fit the DBT strength to every DBT target of the calibration file at once (docs/trials.md §5).

    Referred patients of the community life course, the same patients at every strength; prints the
    grid with each target's implausibility and the chosen strength (smallest largest implausibility).
    Writing the strength into configs/interventions/dbt_a.toml and dbt.toml is a reviewed edit.
    """
    from ..files import write_csv
    from ..trials.calibration import calibrate_treatment, format_treatment

    if out is not None:
        _check_out(out, overwrite=overwrite)
    try:
        grid = [float(s) for s in strengths.split(",") if s.strip()]
    except ValueError:
        raise _fail(f"--strengths: expected comma-separated numbers, got {strengths!r}", 2) from None
    if not grid or min(grid) < 0:
        raise _fail(f"--strengths: expected non-negative numbers, got {strengths!r}", 2)
    t0 = time.perf_counter()
    with _quiet_stdout(as_json):
        with _interruptible("nothing was kept: the grid is written at the end"):
            res = calibrate_treatment(grid, between_patients=between, within_patients=within, log=typer.echo)
        typer.echo(format_treatment(res))
        for name, i in res["info"].items():
            typer.echo(f"{name}: " + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in i.items()))
        if out is not None:
            with _writing():
                write_csv(res["table"], out, index=False)
            typer.echo(f"wrote {out}")
        typer.echo(f"done in {time.perf_counter() - t0:.1f} s")
    if as_json:
        _print_json({"strength": res["strength"], "I_max": res["I_max"], "info": res["info"], "grid": res["table"],
                     "out": out})
