"""Files in and out, in one place: shipped resources, TOML input with errors that name the file,
"did you mean" hints, TOML value writing, atomic writes, the check that an output location can be
written (before any work is done) and spreadsheet-safe CSV.

Every reader of a user's file in the package goes through :func:`read_toml` or
:func:`toml_file`, so a missing file, a file that is not UTF-8 and a TOML syntax error are
reported the same way everywhere: one line that names the file and what was expected. Every
writer of a result file goes through :func:`atomic_write`, so a crash never leaves a half-written
file under the final name. Every command checks its outputs with :func:`check_writable` before it
computes anything, and every CSV the package writes goes through :func:`write_csv`, which
neutralises text cells that a spreadsheet would run as a formula (:func:`spreadsheet_safe`).
"""

from __future__ import annotations

import difflib
import json
import math
import os
import tempfile
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


def check_keys(table, allowed, where: str, error: Callable[[str], Exception]) -> None:
    """Raise ``error(message)`` naming the first key of ``table`` not in ``allowed``, with a
    did-you-mean hint and the allowed keys (the one wording of every spec parser)."""
    extra = sorted(set(table) - set(allowed))
    if extra:
        raise error(f"{where}: unknown key '{extra[0]}'{did_you_mean(extra[0], allowed)}: expected one of "
                    f"{', '.join(sorted(allowed))}")


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


# ----------------------------------------------------------------------------- output checks
class OutputError(SpecError):
    """An output location that cannot be written; the message names the path and why."""


class OutputExistsError(OutputError):
    """An output that exists and would be replaced, but replacing it was not asked for."""


def _nearest_existing(path: Path) -> Path:
    p = path
    while not os.path.lexists(p) and p.parent != p:
        p = p.parent
    return p


def _check_folder(folder: Path, option: str) -> None:
    """``folder`` exists as a writable folder, or can be created: its nearest existing ancestor is one."""
    base = _nearest_existing(folder)
    if not base.is_dir():
        raise OutputError(f"{option} {folder}: cannot create it, {base} is a file, not a folder")
    try:  # a real probe: permission bits, ACLs, read-only file systems and root all answer truthfully
        fd, probe = tempfile.mkstemp(prefix=".nssisim-write-check-", dir=base)
    except OSError as err:
        where = "it" if base == folder else f"{base}"
        raise OutputError(f"{option} {folder}: cannot write there ({where} is not writable: "
                          f"{err.strerror or err}); choose another location") from None
    os.close(fd)
    os.unlink(probe)


def check_writable(path: str | Path, *, overwrite: bool = False, kind: str = "file", option: str = "--out",
                   names: Sequence[str] = ()) -> Path:
    """Check, before any work, that an output can be written; raise :class:`OutputError` if not.

    Parameters
    ----------
    kind : "file" or "dir"
        ``"file"``: ``path`` must not be a folder; if it exists it is replaced only with
        ``overwrite`` (else :class:`OutputExistsError`); its folder must exist and be writable or be
        creatable. ``"dir"``: ``path`` must be a folder or creatable as one, and writable.
    names : sequence of str
        With ``kind="dir"``: the files that will be written in the folder; each that exists is
        refused without ``overwrite``, and each must not be a folder.
    option : str
        The option or argument that named the path, for messages (``--out``).

    Nothing is created: the check writes and removes one probe file in the nearest existing folder.
    """
    path = Path(path)
    if kind == "file":
        if path.is_dir():
            raise OutputError(f"{option} {path}: is a folder, expected a file name")
        if os.path.lexists(path) and not overwrite:
            raise OutputExistsError(f"refusing to overwrite {path}: pass --overwrite to replace it")
        _check_folder(path.parent if str(path.parent) else Path("."), option)
    elif kind == "dir":
        if os.path.lexists(path) and not path.is_dir():
            raise OutputError(f"{option} {path}: is a file, expected a folder")
        for n in names:
            f = path / n
            if f.is_dir():
                raise OutputError(f"{option} {path}: {f} is a folder, where the output file {n} goes")
            if os.path.lexists(f) and not overwrite:
                raise OutputExistsError(f"refusing to overwrite {f}: pass --overwrite to replace it")
        _check_folder(path, option)
    else:
        raise ValueError(f"kind must be 'file' or 'dir', got {kind!r}")
    return path


# ----------------------------------------------------------------------------- spreadsheet-safe CSV
#: Text cells starting with one of these are run as formulas by spreadsheet programs.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """``value`` with a leading ``'`` if it is text a spreadsheet would run as a formula; other values unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    if isinstance(value, tuple):
        return tuple(safe_cell(v) for v in value)
    return value


def spreadsheet_safe(df):
    """A copy of the DataFrame ``df`` whose text cells, index labels and column names are neutralised
    by :func:`safe_cell`; numbers, booleans and times are left as they are."""
    import pandas as pd

    out = df.copy()
    for i, col in enumerate(out.columns):
        s = out.iloc[:, i]
        if isinstance(s.dtype, pd.CategoricalDtype):
            out.isetitem(i, s.cat.rename_categories([safe_cell(c) for c in s.cat.categories])
                         if any(isinstance(c, str) for c in s.cat.categories) else s)
        elif s.dtype == object or pd.api.types.is_string_dtype(s.dtype):
            out.isetitem(i, s.map(safe_cell))
    for axis in ("index", "columns"):
        labels = getattr(out, axis)
        if isinstance(labels, pd.MultiIndex) or labels.dtype == object or pd.api.types.is_string_dtype(labels.dtype):
            setattr(out, axis, labels.map(safe_cell))
    return out


def write_csv(df, path: str | Path, **kwargs) -> Path:
    """Write the DataFrame ``df`` as CSV (``DataFrame.to_csv`` keywords), spreadsheet-safe and atomically."""
    safe = spreadsheet_safe(df)
    return atomic_write(path, lambda tmp: safe.to_csv(tmp, **kwargs))


__all__ = ["ErrorFactory", "FORMULA_START", "OutputError", "OutputExistsError", "SpecError", "atomic_write",
           "atomic_write_netcdf", "atomic_write_text", "check_keys", "check_writable", "did_you_mean", "read_toml", "resource",
           "safe_cell", "spreadsheet_safe", "temp_name", "toml_file", "toml_value", "write_csv"]
