"""EMA commands: the ``ema`` sub-app (validate, simulate), ``fit`` and ``recover``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from ..core.presets import PRESETS
from ..ema import NUM_CHAINS, NUM_SAMPLES, NUM_WARMUP, TARGET_ACCEPT
from .common import _check_out, _check_preset, _fail, _interruptible, _print_json, _quiet_stdout, _writing

# Convention of the command modules: project imports needed by a command's option defaults and
# help texts are at module level; the rest is imported inside the command (keeps `nssisim --help` fast).

#: Files ``nssisim fit`` writes into --out besides the predictive-check files (``ema.PPC_FILES``).
FIT_FILES = ("posterior.nc", "summary.csv", "diagnostics.json")

#: Help text of the ``ema`` sub-app.
EMA_HELP = ("EMA data: validate a file in the documented format, or simulate a synthetic study "
            "(see docs/ema.md).")


def ema_validate(
    file: Annotated[Path, typer.Argument(help="EMA file (.csv or .parquet) in the format of docs/ema.md.")],
    skip_bad_rows: Annotated[bool, typer.Option("--skip-bad-rows", help="Drop bad rows and list them instead of stopping at the first.")] = False,
    scale_max: Annotated[int | None, typer.Option("--scale-max", min=1, help="Top of both rating scales (0..N); default: the sidecar <stem>.scales.json, else 100.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary (and the dropped rows) as JSON (stdout).")] = False,
) -> None:
    """Check an EMA file and print a summary (exit 2 with the row and column of the first problem)."""
    from ..ema import EMAError, read_ema

    scales = {"negative_affect": (0, scale_max), "urge": (0, scale_max)} if scale_max is not None else None
    try:
        data = read_ema(file, scales=scales, on_error="skip" if skip_bad_rows else "raise")
    except (EMAError, ValueError, OSError) as err:
        raise _fail(str(err), 2) from None
    s = data.summary()
    if s["rows"] == 0:
        raise _fail(f"{file}: no valid rows left after dropping {len(data.dropped)} bad row(s) "
                    f"(first: row {data.dropped[0][0]}, column '{data.dropped[0][1]}': {data.dropped[0][2]})", 2)
    if as_json:
        _print_json({"file": file, "valid": True, **s,
                     "dropped": [{"row": row, "column": column, "reason": reason} for row, column, reason in data.dropped]})
        return
    typer.echo(f"{file}: valid EMA data: {s['participants']} participant(s), {s['rows']:,} row(s), "
               f"{s['signal_prompts']:,} signal prompt(s), {s['answered_share']:.1%} answered, "
               f"{s['acts_reported_at_prompts']:,} prompt(s) reporting an act, {s['event_reports']:,} event report(s)")
    if data.dropped:
        typer.echo(f"dropped {len(data.dropped)} bad row(s):")
        for row, column, reason in data.dropped:
            typer.echo(f"  row {row}, column '{column}': {reason}")


def ema_simulate(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output file: .csv or .parquet.")],
    participants: Annotated[int, typer.Option("--participants", "-n", min=1, help="Number of participants (p001, ...).")] = 30,
    days: Annotated[int, typer.Option("--days", min=1, help="Study days.")] = 14,
    prompts_per_day: Annotated[int, typer.Option("--prompts-per-day", min=1, help="Signal prompts a day (one per block of the waking day).")] = 6,
    compliance: Annotated[float, typer.Option("--compliance", min=0.0, max=1.0, help="Probability that a prompt is answered.")] = 0.75,
    preset: Annotated[str, typer.Option("--preset", help=f"Person preset: {', '.join(PRESETS)}.")] = "vulnerable",
    seed: Annotated[int, typer.Option("--seed", help="Seed of the simulation and of the observation model.")] = 1,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing --out file.")] = False,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Progress bar over the simulation.")] = True,
) -> None:
    """Simulate a synthetic EMA study (model at dt = 0.25 h seen through prompts) in the documented format."""
    if out.suffix.lower() not in (".csv", ".parquet"):
        raise _fail(f"--out {out}: expected a .csv or .parquet file", 2)
    _check_preset(preset)
    _check_out(out, overwrite=overwrite)
    from ..ema import simulate_study, write_ema

    t0 = time.perf_counter()
    from ..core import RunTooLargeError

    with _interruptible(f"nothing was written ({out} is written when the study is complete); run the same command again"):
        try:
            study = simulate_study(seed, preset, participants, days=days, prompts_per_day=prompts_per_day,
                                   compliance=compliance, progress=progress)
        except RunTooLargeError as err:
            raise _fail(f"--participants: {err}", 2) from None
    with _writing():
        write_ema(study.data, out)
    d = study.data
    sig = d["prompt_type"] == "signal"
    typer.echo(f"wrote {out}: {participants} participant(s), {days} day(s), {int(sig.sum()):,} signal prompts "
               f"({d.loc[sig, 'answered'].mean():.1%} answered), {int((d['prompt_type'] == 'event').sum()):,} event "
               f"report(s), preset '{preset}', seed {seed} ({time.perf_counter() - t0:.1f} s)")


def fit_cmd(
    file: Annotated[Path, typer.Argument(help="EMA file (.csv or .parquet) in the format of docs/ema.md.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output directory (posterior.nc, summary.csv, diagnostics.json, PPC plots).")],
    seed: Annotated[int, typer.Option("--seed", help="Seed of the sampler (a fit is deterministic given seed and settings).")] = 0,
    warmup: Annotated[int, typer.Option("--warmup", min=1, help="NUTS warm-up iterations per chain.")] = NUM_WARMUP,
    samples: Annotated[int, typer.Option("--samples", min=1, help="Posterior draws per chain.")] = NUM_SAMPLES,
    chains: Annotated[int, typer.Option("--chains", min=1, help="Chains (run one after the other; R-hat needs 2 or more).")] = NUM_CHAINS,
    target_accept: Annotated[float, typer.Option("--target-accept", min=0.5, max=0.999, help="NUTS target acceptance probability.")] = TARGET_ACCEPT,
    scale_max: Annotated[int | None, typer.Option("--scale-max", min=1, help="Top of both rating scales (0..N); default: the sidecar, else 100.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing outputs in --out.")] = False,
    keep_path: Annotated[bool, typer.Option("--keep-path", help="Store the data file's full path in posterior.nc (default: its name only).")] = False,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Progress bar over the chains.")] = True,
) -> None:
    """Fit the EMA inference model (NumPyro NUTS, hierarchical) to a file; see docs/ema.md. Research use only."""
    from ..ema import EMAError, PPC_FILES, read_ema

    _check_out(out, kind="dir", overwrite=overwrite, names=FIT_FILES + PPC_FILES)
    scales = {"negative_affect": (0, scale_max), "urge": (0, scale_max)} if scale_max is not None else None
    try:
        data = read_ema(file, scales=scales)
        from ..ema import prepare

        prepared = prepare(data)
    except (EMAError, ValueError, OSError) as err:
        raise _fail(str(err), 2) from None
    import json
    import warnings

    from ..ema import diagnostics, fit, FitDiagnosticWarning, plot_ppc, posterior_dataset, ppc, summary_table
    from ..files import atomic_write_netcdf, atomic_write_text, write_csv

    with warnings.catch_warnings(), _interruptible("nothing was written (a fit writes its files when it is complete); "
                                                   "run the same command again"):
        warnings.simplefilter("ignore", FitDiagnosticWarning)
        f = fit(prepared, seed=seed, num_warmup=warmup, num_samples=samples, num_chains=chains,
                target_accept=target_accept, progress=progress)
    diag = diagnostics(f)
    checks = ppc(f, seed=seed)
    with _writing():
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_netcdf(posterior_dataset(f, full_path=keep_path), out / "posterior.nc")
        write_csv(summary_table(f), out / "summary.csv")
        plot_ppc(checks, out)
        atomic_write_text(out / "diagnostics.json", json.dumps(
            {"per_parameter": diag["per_parameter"], "divergences": diag["divergences"], "transitions": diag["transitions"],
             "warnings": diag["warnings"], "settings": f.settings, "sampling_seconds": f.seconds}, indent=2))
    rmax = max((v["rhat_max"] for v in diag["per_parameter"].values() if v["rhat_max"] == v["rhat_max"]), default=float("nan"))
    emin = min(v["ess_min"] for v in diag["per_parameter"].values())
    typer.echo(f"fitted {len(f.participants)} participant(s) from {file} in {f.seconds:.1f} s: max R-hat {rmax:.3f}, "
               f"min ESS {emin:.0f}, {diag['divergences']} divergence(s); wrote {out}/posterior.nc, summary.csv, "
               "diagnostics.json, ppc_act_rate.png/.csv" + (", ppc_affect_around_acts.png" if checks["n_act_prompts"] else
                                                             " (no prompt reported an act: no affect-around-acts check)"))
    for msg in diag["warnings"]:
        typer.echo(f"warning: {msg}", err=True)


def recover_cmd(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output directory (study, truth, posterior, recovery.csv/json, plots).")],
    participants: Annotated[int, typer.Option("--participants", "-n", min=3, help="Simulated participants.")] = 30,
    days: Annotated[int, typer.Option("--days", min=2, help="Study days that are fitted.")] = 14,
    prompts_per_day: Annotated[int, typer.Option("--prompts-per-day", min=1, help="Signal prompts a day.")] = 6,
    heldout_days: Annotated[int, typer.Option("--heldout-days", min=0, help="Days simulated after the study; 7 or more: the 7-day forecast is checked on them.")] = 7,
    preset: Annotated[str, typer.Option("--preset", help=f"Base preset of the participants: {', '.join(PRESETS)}.")] = "clinical",
    compliance: Annotated[float, typer.Option("--compliance", min=0.0, max=1.0, help="Probability that a prompt is answered.")] = 0.75,
    burn_in_days: Annotated[int, typer.Option("--burn-in-days", min=0, help="Days simulated before the study (history).")] = 90,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the simulation, the parameter draws and the sampler.")] = 1,
    warmup: Annotated[int, typer.Option("--warmup", min=1, help="NUTS warm-up iterations per chain.")] = NUM_WARMUP,
    samples: Annotated[int, typer.Option("--samples", min=1, help="Posterior draws per chain.")] = NUM_SAMPLES,
    chains: Annotated[int, typer.Option("--chains", min=1, help="Chains.")] = NUM_CHAINS,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Write into a non-empty --out.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the recovery scores (and the forecast check) as JSON (stdout).")] = False,
) -> None:
    """Parameter recovery: simulate a study from known parameters (full simulator), fit it, score it."""
    _check_preset(preset)
    _check_out(out, kind="dir")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise _fail(f"refusing to write into non-empty {out}: pass --overwrite", 1)
    from ..core import RunTooLargeError
    from ..ema import recover

    with _quiet_stdout(as_json), _interruptible(f"the files written so far are in {out}; run the same command again "
                                                "with --overwrite"), _writing():
        try:
            r = recover(out, n_participants=participants, days=days, prompts_per_day=prompts_per_day, seed=seed, preset=preset,
                        compliance=compliance, burn_in_days=burn_in_days, heldout_days=heldout_days, num_warmup=warmup,
                        num_samples=samples, num_chains=chains, overwrite=overwrite)
        except RunTooLargeError as err:
            raise _fail(f"--participants: {err}", 2) from None
    for msg in r["diagnostic_warnings"]:
        typer.echo(f"warning: {msg}", err=True)
    if as_json:
        _print_json({"participants": participants, "days": days, "prompts_per_day": prompts_per_day, "seed": seed,
                     "preset": preset, "fit_seconds": r["fit_seconds"], "recovery": r["recovery"],
                     "forecast": r.get("forecast"), "diagnostic_warnings": r["diagnostic_warnings"], "out": out})
        return
    typer.echo(f"recovery: {participants} participant(s), {days} day(s) x {prompts_per_day} prompts, fit {r['fit_seconds']:.1f} s")
    for row in r["recovery"]:
        num = {k: "n/a" if row[k] is None else f"{row[k]:.2f}" for k in ("correlation", "coverage50", "coverage90")}
        typer.echo(f"  {row['parameter']:<20} vs {row['truth']:<20} ({row['kind']}): r = {num['correlation']}, "
                   f"50% cov = {num['coverage50']}, 90% cov = {num['coverage90']}, goal met: {row['goal_met']}")
    if "forecast" in r:
        fc = r["forecast"]
        typer.echo(f"  7-day forecast: Brier {fc['brier']:.3f} (base rate {fc['brier_base_rate']:.3f}), n = {fc['n']}")
    typer.echo(f"wrote {out}/recovery.csv, recovery.json")
