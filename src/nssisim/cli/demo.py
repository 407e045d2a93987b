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

from .._version import MODEL_CARD_NOTE
from ..core.presets import PRESETS
# imported at module level: the option defaults and help texts below are the demo's settings
from ..report.demo import (DEMO_COHORT, DEMO_COHORT_FAST, DEMO_DAYS, DEMO_PERSON_DT_FAST, DEMO_POPULATION,
                           DEMO_POPULATION_FAST, DEMO_PRESET, DEMO_SEED, run_demo)
from .common import _check_out, _check_preset, _fail, _interruptible, _writing


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


def closing_message(folder: Path, paths, seconds: float) -> str:
    """The demo's last line: every file by its path inside the report folder (the trial's in trial/)."""
    def rel(p: Path) -> str:
        p = Path(p)
        try:
            return p.relative_to(folder).as_posix()
        except ValueError:
            return str(p)

    names = sorted(rel(p) for p in paths)
    top = [n for n in names if "/" not in n] + ["person_scenario.toml", "cohort_scenario.toml"]
    sub: dict[str, list[str]] = {}
    for n in names:
        if "/" in n:
            d, f = n.rsplit("/", 1)
            sub.setdefault(d, []).append(f)
    parts = [f"report written to {folder}/ ({', '.join(top)})"]
    parts += [f"{folder}/{d}/ ({', '.join(fs)})" for d, fs in sub.items()]
    return "; ".join(parts) + f" in {seconds:.1f} s"


def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Report folder.")] = Path("report"),
    fast: Annotated[bool, typer.Option("--fast", help=f"Person at dt={DEMO_PERSON_DT_FAST:g} h, cohort of {DEMO_COHORT_FAST}.")] = False,
    targets: Annotated[bool, typer.Option("--targets/--no-targets", help="Run the explanatory targets.")] = True,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Write into --out even if it is not empty.")] = False,
    preset: Annotated[str, typer.Option("--preset", help=f"Person preset: {', '.join(PRESETS)}.")] = DEMO_PRESET,
    seed: Annotated[int, typer.Option("--seed", help="Root seed of both simulations.")] = DEMO_SEED,
    subjects: Annotated[int | None, typer.Option("--subjects", "-n", min=1, help=f"Cohort size (default {DEMO_COHORT}, {DEMO_COHORT_FAST} with --fast).")] = None,
    days: Annotated[int, typer.Option("--days", min=1, help="Simulated days (both runs).")] = DEMO_DAYS,
    trial: Annotated[bool, typer.Option("--trial/--no-trial", help="Run the small default virtual trial (configs/trials/demo.toml).")] = True,
    population_subjects: Annotated[int | None, typer.Option("--population-subjects", min=0, help=f"Life-course population size (default {DEMO_POPULATION}, {DEMO_POPULATION_FAST} with --fast; 0 skips it).")] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Progress bars of the simulations.")] = True,
) -> None:
    """Simulate one adolescent and a cohort over two years, run the targets, and write a report.

    The person (subject 0 of the preset) runs at dt = 0.25 h and is recorded every step; the
    cohort (the preset with six traits spread uniformly around it) at dt = 1 h, recorded daily.
    If the report folder is not empty, a new timestamped subfolder is used unless --overwrite.
    """
    _check_preset(preset)
    _check_out(out, kind="dir")
    folder, note = _report_dir(out, overwrite)
    if note:
        typer.echo(note)
    from ..core import RunTooLargeError

    with _interruptible(f"the report in {folder} is written only at the end; run the same command again"), _writing():
        try:
            r = run_demo(folder, fast=fast, targets=targets, preset=preset, seed=seed, subjects=subjects, days=days,
                         trial=trial, population_subjects=population_subjects, progress=progress, log=typer.echo)
        except RunTooLargeError as err:
            raise _fail(f"--subjects/--population-subjects: {err}", 2) from None
    typer.echo(closing_message(folder, r["paths"].values(), r["seconds"]))
    results = r["target_results"]
    if results:
        held = sum(t.passed for t in results)
        typer.echo(f"explanatory targets: {held} of {len(results)} hold (details in summary.md)")
    typer.echo(MODEL_CARD_NOTE)
