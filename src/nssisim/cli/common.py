"""Helpers shared by the command modules of the command line (``cli/app.py`` registers the commands)."""

from __future__ import annotations

from pathlib import Path

import typer

from ..core.parameters import MECHANISMS
from ..core.presets import PRESETS
from ..files import atomic_write_netcdf


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
