"""Files in and out, in one place: shipped resources, TOML input with errors that name the file,
"did you mean" hints, TOML value writing and atomic writes.

Every reader of a user's file in the package goes through :func:`read_toml` or
:func:`toml_file`, so a missing file, a file that is not UTF-8 and a TOML syntax error are
reported the same way everywhere: one line that names the file and what was expected. Every
writer of a result file goes through :func:`atomic_write`, so a crash never leaves a half-written
file under the final name.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import tomllib
from collections.abc import Callable, Sequence
from importlib.resources import files
from pathlib import Path
from typing import Any

#: ``error(source, message) -> Exception``: how a caller wants a file problem raised.
ErrorFactory = Callable[[str, str], Exception]


class SpecError(ValueError):
    """Base of every error about an input specification (scenario, population, intervention,
    trial design, sweep manifest, EMA file): the message names the file and field."""


def did_you_mean(name: str, options) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``options`` to a misspelt ``name``, else ``""``."""
    close = difflib.get_close_matches(str(name), [str(o) for o in options], n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def resource(*parts: str) -> Path:
    """A file shipped in the package, e.g. ``resource("configs", "typical.toml")``."""
    return Path(str(files("nssisim").joinpath(*parts)))


def _value_error(source: str, message: str) -> Exception:
    return SpecError(f"{source}: {message}")


def toml_file(path: str | Path, source: str | None = None, error: ErrorFactory = _value_error) -> dict:
    """Parse the TOML file ``path``; every failure is raised as ``error(source, message)``."""
    path = Path(path)
    source = str(path) if source is None else source
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise error(source, "no such file") from None
    except IsADirectoryError:
        raise error(source, "is a directory, expected a TOML file") from None
    except OSError as err:
        raise error(source, f"cannot read the file: {err.strerror or err}") from None
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise error(source, "not a UTF-8 text file") from None
    except tomllib.TOMLDecodeError as err:
        raise error(source, f"not valid TOML: {err}") from None


def read_toml(name_or_path: str | Path, *, kind: str, shipped: Sequence[str], location: Callable[[str], str],
              error: ErrorFactory = _value_error) -> tuple[str, dict]:
    """Load a shipped specification by name or a TOML file by path.

    Parameters
    ----------
    kind : str
        What the file holds, for messages ("population", "intervention", ...).
    shipped : sequence of str
        Names of the shipped files of this kind.
    location : callable
        ``name -> "configs/.../name.toml"``, the shipped file's path inside the package.

    Returns
    -------
    (source, data)
        ``source`` names the file in every later message: ``"<kind> '<name>' (<location>)"``
        for a shipped one, the path as given otherwise.
    """
    s = str(name_or_path)
    if s in shipped:
        rel = location(s)
        return f"{kind} '{s}' ({rel})", toml_file(resource(*rel.split("/")), f"{kind} '{s}' ({rel})", error)
    p = Path(s)
    if not p.is_file():
        raise error(s, f"no such file, and not a shipped {kind}{did_you_mean(s, shipped)}: expected a path to a "
                       f"TOML file or one of {', '.join(shipped)}")
    return s, toml_file(p, s, error)


def toml_value(v: Any) -> str:
    """One value as TOML text (bool, int, float incl. non-finite, str, and lists of these)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if hasattr(v, "item") and not isinstance(v, (list, tuple, str)):  # numpy scalars
        v = v.item()
        if isinstance(v, bool):
            return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else ("nan" if math.isnan(v) else ("inf" if v > 0 else "-inf"))
    if isinstance(v, str):
        return json.dumps(v)  # a JSON string is a valid TOML basic string
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def temp_name(path: str | Path) -> Path:
    """The temporary name :func:`atomic_write` uses for ``path`` (hidden, with the process id)."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def atomic_write(path: str | Path, write: Callable[[Path], Any]) -> Path:
    """Call ``write(tmp)`` and move ``tmp`` onto ``path`` in one step; no partial file is ever left."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_name(path)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def atomic_write_netcdf(ds, path: str | Path) -> Path:
    """Write an xarray Dataset to netCDF (h5netcdf) atomically."""
    return atomic_write(path, lambda tmp: ds.to_netcdf(tmp, engine="h5netcdf"))


__all__ = ["ErrorFactory", "SpecError", "atomic_write", "atomic_write_netcdf", "atomic_write_text", "did_you_mean",
           "read_toml", "resource", "temp_name", "toml_file", "toml_value"]
