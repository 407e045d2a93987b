"""``nssisim demo``: the command around :func:`nssisim.report.run_demo`.

``demo`` never overwrites silently: if the report folder exists and is not empty, it
writes into a new timestamped subfolder (``report/20260126-153012/``) and says so; pass
``--overwrite`` to write into the folder itself (only the report's own files are
replaced). This keeps ``make demo`` repeatable without losing an earlier report.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from ..core.presets import PRESETS
# imported at module level: the option defaults and help texts below are the demo's settings
from ..report.demo import (DEMO_COHORT, DEMO_COHORT_FAST, DEMO_DAYS, DEMO_PERSON_DT_FAST, DEMO_POPULATION,
                           DEMO_POPULATION_FAST, DEMO_PRESET, DEMO_SEED, run_demo)
from .common import _check_preset, _fail


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


def demo(
    out: Annotated[Path, typer.Option("--out", help="Report folder.")] = Path("report"),
    fast: Annotated[bool, typer.Option("--fast", help=f"Person at dt={DEMO_PERSON_DT_FAST:g} h, cohort of {DEMO_COHORT_FAST}.")] = False,
    targets: Annotated[bool, typer.Option("--targets/--no-targets", help="Run the explanatory targets.")] = True,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Write into --out even if it is not empty.")] = False,
    preset: Annotated[str, typer.Option("--preset", help=f"Person preset: {', '.join(PRESETS)}.")] = DEMO_PRESET,
    seed: Annotated[int, typer.Option("--seed", help="Root seed of both simulations.")] = DEMO_SEED,
    subjects: Annotated[int | None, typer.Option("--subjects", min=1, help=f"Cohort size (default {DEMO_COHORT}, {DEMO_COHORT_FAST} with --fast).")] = None,
    days: Annotated[int, typer.Option("--days", min=1, help="Simulated days (both runs).")] = DEMO_DAYS,
    trial: Annotated[bool, typer.Option("--trial/--no-trial", help="Run the small default virtual trial (configs/trials/demo.toml).")] = True,
    population_subjects: Annotated[int | None, typer.Option("--population-subjects", min=0, help=f"Life-course population size (default {DEMO_POPULATION}, {DEMO_POPULATION_FAST} with --fast; 0 skips it).")] = None,
) -> None:
    """Simulate one adolescent and a cohort over two years, run the targets, and write a report.

    The person (subject 0 of the preset) runs at dt = 0.25 h and is recorded every step; the
    cohort (the preset with six traits spread uniformly around it) at dt = 1 h, recorded daily.
    If the report folder is not empty, a new timestamped subfolder is used unless --overwrite.
    """
    _check_preset(preset)
    folder, note = _report_dir(out, overwrite)
    if note:
        typer.echo(note)
    r = run_demo(folder, fast=fast, targets=targets, preset=preset, seed=seed, subjects=subjects, days=days,
                 trial=trial, population_subjects=population_subjects, progress=True, log=typer.echo)
    typer.echo(f"report written to {folder}/ ({', '.join(sorted(p.name for p in r['paths'].values()))}, "
               f"person_scenario.toml, cohort_scenario.toml) in {r['seconds']:.1f} s")
    results = r["target_results"]
    if results:
        held = sum(t.passed for t in results)
        typer.echo(f"explanatory targets: {held} of {len(results)} hold (details in summary.md)")
