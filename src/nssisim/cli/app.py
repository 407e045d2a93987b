"""Command-line interface: ``nssisim <command>`` (``nssisim --help`` lists them).

Exit codes: 0 success; 1 a run was refused or failed (an output exists and ``--overwrite``
was not given, a missing optional module, ``targets --strict`` with a failing target);
2 bad input (an invalid scenario config, an unknown mechanism, target or preset).

This module creates the Typer app and registers the commands, which live in one module per
domain: ``simulate.py`` (simulate, targets, ablate, bench, docs, params), ``demo.py``,
``ema.py`` (the ``ema`` sub-app, fit, recover), ``sweeps.py`` (sensitivity, sweep),
``population.py`` (population, calibrate, calibration-report), ``trial.py``, ``clinical.py``
(clinical-profile), ``phenotype.py`` (regimes, forecast), ``explore.py`` and ``completion.py``; their shared
helpers are in ``common.py``. The command modules never import this one.

Option names follow one convention (``--out/-o``, ``--seed``, ``--overwrite``, ``--resume``,
``--progress/--no-progress``, ``--subjects/-n``, ``--json``); ``conventions.py`` lists the exceptions
and generates the command table of docs/reference/cli.md, and tests/test_cli_conventions.py checks
both. Shell completion: ``--install-completion``, ``--show-completion`` and ``nssisim completion SHELL``.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from .._version import __version__, CITATION_HINT, MODEL_CARD_NOTE
from . import clinical, completion, demo, ema, explore, phenotype, population, simulate, sweeps, trial

app = typer.Typer(
    name="nssisim",
    help="nssisim: an executable model of non-suicidal self-injury with addictive features in adolescents "
         "(a research instrument, not a clinical tool).\n\n" + MODEL_CARD_NOTE,
    no_args_is_help=True,
    # `--install-completion` / `--show-completion`, and `nssisim completion SHELL` below (docs/reference/cli.md)
    add_completion=True,
    pretty_exceptions_show_locals=False,
    # plain (click) help: it wraps long option names and help words instead of cutting them with "…"
    # as the boxed rich tables do in an 80-column terminal
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"nssisim {__version__}")
        typer.echo(CITATION_HINT)
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and how to cite it, and exit.")] = False,
) -> None:
    """nssisim: an executable model of NSSI with addictive features (research instrument)."""


# Registration order is the order of `nssisim --help`.
app.command()(simulate.simulate)
app.command()(demo.demo)
app.command("targets")(simulate.targets_cmd)
app.command()(simulate.ablate)
# extra arguments: the old form `bench --json FILE` (now --out FILE) is still read
app.command(context_settings={"allow_extra_args": True})(simulate.bench)
app.command()(simulate.docs)
app.command()(simulate.params)

ema_app = typer.Typer(help=ema.EMA_HELP, no_args_is_help=True, rich_markup_mode=None)
ema_app.command("validate")(ema.ema_validate)
ema_app.command("simulate")(ema.ema_simulate)
app.add_typer(ema_app, name="ema")
app.command("fit")(ema.fit_cmd)
app.command("recover")(ema.recover_cmd)

app.command()(sweeps.sensitivity)
app.command()(population.population)
app.command()(population.calibrate)
app.command("calibration-report")(population.calibration_report)
app.command()(trial.trial)
app.command()(phenotype.regimes)
app.command()(phenotype.forecast)
app.command("calibrate-treatment")(trial.calibrate_treatment_cmd)
app.command("clinical-profile")(clinical.clinical_profile)
app.command("calibrate-referral")(clinical.calibrate_referral_cmd)
app.command("sweep")(sweeps.sweep_cmd)
app.command()(explore.explore)
app.command()(completion.completion)


def main() -> None:  # pragma: no cover - console entry point alternative
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
