"""``nssisim trial``: a virtual randomised trial from a design file."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Annotated

import typer

from .common import _fail

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
    from ..trials import DesignError, load_design, run_trial, TRIAL_FILES, trial_markdown, write_trial

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
    shutil.rmtree(partial, ignore_errors=True)
    typer.echo(trial_markdown(ds))
    typer.echo(f"wrote {', '.join(sorted(p.name for p in paths.values()))} to {out}/ in {time.perf_counter() - t0:.1f} s")
