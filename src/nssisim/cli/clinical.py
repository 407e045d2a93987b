"""``nssisim clinical-profile``: a referred clinical sample's profile beside the clinical targets."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer

from ..population.referral import DEFAULT_POOL, RULES, SCREEN_START_AGE
from .common import _fail, _jsonable, _print_json, _quiet_stdout

# Convention of the command modules: project imports needed by option defaults are at module
# level; the rest is imported inside the command (keeps `nssisim --help` fast).

#: Files written by ``--out``.
PROFILE_FILES = ("profile.csv", "referred.csv", "profile.json")


def clinical_profile(
    rule: Annotated[str, typer.Option("--rule", "-r", help=f"Referral rule: a shipped one ({', '.join(RULES)}) or a TOML path.")] = "outpatient",
    subjects: Annotated[int, typer.Option("--subjects", "-n", min=1, help="Community subjects screened (the referred share depends on the population and the rule: about 5 % with the outpatient rule on the shipped community).")] = DEFAULT_POOL,
    seed: Annotated[int, typer.Option("--seed", help="Root seed (factors, random streams, help seeking, referral draws).")] = 0,
    population: Annotated[str, typer.Option("--population", "-p", help="Community population spec (name or path).")] = "community",
    start_age: Annotated[float, typer.Option("--start-age", help="Age at the start of the simulated life course.")] = SCREEN_START_AGE,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Folder for profile.csv, referred.csv, profile.json (screening chunks are kept in OUT/.referral_partial until done).")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing files in --out.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the profile as JSON instead of a table.")] = False,
    progress: Annotated[bool, typer.Option("--progress/--no-progress")] = False,
) -> None:
    """Screen a community life course with a referral rule and report the referred sample's profile.

    Acts per month at referral, share self-injuring more than weekly, urges, attempt history, the addictive
    profile, functions, age and sex, each beside its clinical target in the calibration file (published value,
    whether the simulated value lies inside the published interval). Cost: about a minute per 4,000 subjects
    on a quiet 2-core machine; an interrupted run with --out resumes from its finished chunks.
    """
    import shutil

    from ..population import load_population, PopulationError
    from ..population.referral import format_profile, load_rule, profile_table, refer, ReferralError

    try:
        r = load_rule(rule)
        spec = load_population(population)
    except (ReferralError, PopulationError) as err:
        raise _fail(str(err), 2) from None
    if start_age > r.age_min:
        raise _fail(f"--start-age {start_age} is after the rule's first check age {r.age_min}", 2)
    if out is not None:
        existing = [out / f for f in PROFILE_FILES if (out / f).exists()]
        if existing and not overwrite:
            raise _fail(f"refusing to overwrite {', '.join(map(str, existing))}: pass --overwrite to replace", 1)
    t0 = time.perf_counter()
    partial = None if out is None else out / ".referral_partial"
    with _quiet_stdout(as_json):
        sample = refer(r, subjects, seed=seed, population=spec, start_age=start_age, checkpoint=partial,
                       progress=progress)
    table = profile_table(sample)
    wall = time.perf_counter() - t0
    payload = {"rule": r.name, "population": sample.population, "seed": seed, "start_age": start_age,
               "screened": sample.screened, "referred": int(len(sample.table)), "seconds": round(wall, 1),
               "profile": json.loads(table.to_json(orient="records"))}
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        from ..files import atomic_write_text, write_csv

        write_csv(table, out / "profile.csv", index=False)
        write_csv(sample.table, out / "referred.csv", index=False)
        atomic_write_text(out / "profile.json", json.dumps(_jsonable(payload), indent=1, allow_nan=False))
        shutil.rmtree(partial, ignore_errors=True)
    if as_json:
        _print_json(payload)
    else:
        typer.echo(format_profile(sample, table))
        typer.echo(f"screened {sample.screened} in {wall:.1f} s" + (f"; wrote {', '.join(PROFILE_FILES)} to {out}/"
                                                                     if out is not None else ""))


def calibrate_referral_cmd(
    setup: Annotated[str, typer.Option("--setup", help="Referral calibration setup: a shipped one (configs/calibrate_referral_<name>.toml: inpatient, outpatient) or a TOML path.")] = "inpatient",
    subjects: Annotated[int | None, typer.Option("--subjects", "-n", min=64, help="Community subjects screened (default: the setup's).")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Root seed of the screened pool (default: the setup's).")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="CSV of the grid: the sample, each share and its implausibility per grid point.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing --out file.")] = False,
    progress: Annotated[bool, typer.Option("--progress/--no-progress")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the grid and the chosen probabilities as JSON (stdout).")] = False,
) -> None:
    """Fit a referral rule's pathway probabilities to a published clinical sample's profile (docs/trials.md).

    The community pool is simulated once; every grid point of the setup is evaluated on the same subjects.
    Prints each grid point's sample (referred and meeting the study's inclusion at referral), its shares
    and mean counts beside the published ones with their implausibilities (a target with its own inclusion
    on its own sample; reported targets shown, not fitted), and the chosen probabilities (smallest largest
    implausibility over the fitted targets). Writing them into the rule file is a reviewed edit. Cost: about 20 s per 4,000
    subjects on a quiet 2-core machine.
    """
    from ..files import write_csv
    from ..population.referral_calibration import calibrate_referral, format_referral, load_setup, ReferralSetupError
    from .common import _check_out, _interruptible, _writing

    try:
        s = load_setup(setup)
    except ReferralSetupError as err:
        raise _fail(str(err), 2) from None
    if out is not None:
        _check_out(out, overwrite=overwrite)
    t0 = time.perf_counter()
    with _quiet_stdout(as_json):
        with _interruptible("nothing was kept: the grid is written at the end"):
            res = calibrate_referral(s, subjects=subjects, seed=seed, progress=progress, log=typer.echo)
        typer.echo(format_referral(res))
        if out is not None:
            with _writing():
                write_csv(res["table"], out, index=False)
            typer.echo(f"wrote {out}")
        typer.echo(f"done in {time.perf_counter() - t0:.1f} s")
    if as_json:
        _print_json({"setup": s.source, "rule": s.rule.name, "population": s.population, "screened": res["screened"],
                     "seed": res["seed"], "best": res["best"], "I_max": res["I_max"], "grid": res["table"], "out": out})
