"""``nssisim trial``: a virtual randomised trial from a design file."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Annotated

import typer

from .common import _check_out, _fail, _interruptible, _writing

# Convention of the command modules: project imports needed by a command's option defaults and
# help texts are at module level; the rest is imported inside the command (keeps `nssisim --help` fast).


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
    from ..core import check_run_size, RunTooLargeError
    from ..trials import DesignError, load_design, run_trial, TRIAL_FILES, trial_markdown, write_trial

    _check_out(out, kind="dir", overwrite=overwrite, names=TRIAL_FILES)
    try:
        d = load_design(design)
    except DesignError as e:
        raise _fail(f"invalid trial design: {e}", 2) from None
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
    typer.echo(f"wrote {', '.join(sorted(p.name for p in paths.values()))} to {out}/ in {time.perf_counter() - t0:.1f} s")
