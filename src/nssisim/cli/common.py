"""Helpers shared by the command modules of the command line (``cli/app.py`` registers the commands)."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, redirect_stdout
from pathlib import Path
from typing import Any

import typer

from ..core.parameters import MECHANISMS
from ..core.presets import PRESETS
from ..files import atomic_write_netcdf, check_writable, OutputError, OutputExistsError

#: Exit code of a run stopped by Ctrl-C (SIGINT), as shells report it.
EXIT_INTERRUPTED = 130

#: Old option names that still work (hidden from ``--help``): ``(command, old name) -> new name``.
#: ``docs/reference/cli.md`` lists them and ``tests/test_cli_conventions.py`` checks each still works.
DEPRECATED_ALIASES: dict[tuple[str, str], str] = {
    ("ablate", "--markdown"): "--out",
    ("bench", "--json FILE"): "--out",
    ("bench", "--population"): "--population-subjects",
    ("calibrate", "--ensemble"): "--write-ensemble",
    ("sensitivity", "--n"): "--base-samples",
}


def _fail(message: str, code: int) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(code)


def _check_preset(preset: str) -> None:
    """Exit 2 on an unknown person preset."""
    if preset not in PRESETS:
        raise _fail(f"unknown preset '{preset}': expected one of {', '.join(PRESETS)}", 2)


def _check_mechanisms(names: list[str] | None) -> tuple[str, ...]:
    names = list(names or [])
    bad = [m for m in names if m not in MECHANISMS]
    if bad:
        raise _fail(f"unknown mechanism(s) {', '.join(bad)}: expected M1..M13 "
                    f"({', '.join(f'{k} {v}' for k, v in MECHANISMS.items())})", 2)
    return tuple(names)


def _write_netcdf(ds, path: Path) -> None:
    """Write atomically: a crash never leaves a half-written file under ``path``."""
    try:
        atomic_write_netcdf(ds, path)
    except ImportError as err:
        raise _fail(f"cannot write netCDF: {err} (install h5py: pip install h5py)", 1) from None


def _check_out(path: Path, *, overwrite: bool = False, kind: str = "file", option: str = "--out",
               names: Sequence[str] = ()) -> None:
    """Before any work: exit 1 if an output exists and --overwrite was not given, exit 2 if it
    cannot be written (see :func:`nssisim.files.check_writable`)."""
    try:
        check_writable(path, overwrite=overwrite, kind=kind, option=option, names=names)
    except OutputExistsError as err:
        raise _fail(str(err), 1) from None
    except OutputError as err:
        raise _fail(str(err), 2) from None


@contextmanager
def _writing() -> Iterator[None]:
    """Around the final writes: a write that fails after the checks (disk full, a folder removed
    meanwhile) is one line, exit 2, instead of a traceback."""
    try:
        yield
    except OSError as err:
        where = f" {err.filename}" if err.filename else ""
        raise _fail(f"cannot write{where}: {err.strerror or err}", 2) from None


@contextmanager
def _interruptible(saved: str) -> Iterator[None]:
    """Ctrl-C (SIGINT) during the work: one line saying what was saved and how to go on, exit 130."""
    try:
        yield
    except KeyboardInterrupt:
        raise _fail(f"interrupted: {saved}", EXIT_INTERRUPTED) from None


def _echo_warnings(caught) -> None:
    """Print warnings recorded by ``warnings.catch_warnings(record=True)`` as ``warning: ...`` lines (stderr)."""
    for w in caught:
        typer.echo(f"warning: {w.message}", err=True)


def _alias(new_value, old_value, new: str, old: str, default=None):
    """A renamed option whose old name still works: the old name's value when only it was given (with a
    note on stderr), exit 2 when both were."""
    if old_value is None:
        return new_value
    if new_value is not None and new_value != default:
        raise _fail(f"{old} is the old name of {new}: give only {new}", 2)
    typer.echo(f"note: {old} is deprecated, use {new}", err=True)
    return old_value


def _jsonable(x: Any) -> Any:
    """``x`` as plain JSON values: NaN and infinities as null, numpy scalars and arrays as numbers and lists,
    paths as strings, DataFrames as lists of records."""
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple, set)):
        return [_jsonable(v) for v in x]
    if isinstance(x, Path):
        return str(x)
    if hasattr(x, "to_dict") and hasattr(x, "columns"):  # a DataFrame
        return [_jsonable(r) for r in x.to_dict(orient="records")]
    if hasattr(x, "tolist"):  # a numpy scalar or array
        return _jsonable(x.tolist())
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, (str, int, bool)) or x is None:
        return x
    return str(x)


def _print_json(payload: Any) -> None:
    """The machine-readable summary of a command (``--json``): one JSON document on stdout."""
    typer.echo(json.dumps(_jsonable(payload), indent=1, allow_nan=False))


@contextmanager
def _quiet_stdout(active: bool) -> Iterator[None]:
    """With ``--json``: what the work prints (log lines, tables) goes to stderr, so stdout holds the JSON only."""
    if not active:
        yield
        return
    with redirect_stdout(sys.stderr):
        yield
