"""EMA data: the documented long format, a validating reader and a writer.

A research instrument, not a clinical tool. The format is described in ``docs/ema.md``; in short,
one row per prompt or event report, sorted by participant and then time:

============== ======== ==================================================================
column         required meaning
============== ======== ==================================================================
participant    yes      participant id (a string, e.g. ``p001``)
timestamp      yes      ISO 8601 time **with** UTC offset (``2026-03-02T09:41:00+01:00``)
prompt_type    yes      ``signal`` (a scheduled prompt), ``event`` (a self-initiated report
                        of an act) or ``daily`` (an end-of-day diary)
answered       yes      ``true``/``false`` (also 1/0, yes/no). A prompt that was sent but not
                        answered has ``answered=false`` and every item empty
negative_affect yes     rating on its declared scale (default integers 0..100); may be empty
                        on an answered prompt (item not answered)
urge           yes      rating on its declared scale (default integers 0..100); may be empty
act            yes      0/1: an act since the previous answered prompt of the same type; on an
                        event report, the act itself (must be 1)
stressor       no       0/1: a stressful event since the previous answered prompt
skill_use      no       0/1: a coping skill used since the previous answered prompt
============== ======== ==================================================================

*Not answered* and *nothing happened* are kept apart: a missed prompt has ``answered`` False and
all its items unobserved (``observed`` False), while an answered prompt without an act has
``act == 0`` with ``observed['act']`` True.

Scales of ``negative_affect`` and ``urge`` are declared by ``scales=`` of :func:`read_ema` or by a
sidecar ``<stem>.scales.json`` next to the data file (``{"negative_affect": [0, 100], "urge":
[0, 100]}``); the argument wins over the sidecar, the sidecar over the default 0..100.

Rows are numbered as in a spreadsheet: the header is row 1, the first data row is row 2 (for
Parquet files too).

Data flow: a CSV/Parquet file (and its scales sidecar) -> :func:`read_ema` (validated) ->
:class:`EMAData` (arrays per participant, :meth:`EMAData.to_xarray`); a DataFrame in the format ->
:func:`write_ema` -> file. Synthetic studies in this format are made in :mod:`.study`.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import xarray as xr

from ..files import atomic_write, SpecError, write_csv

#: Columns of the format, in the order they are written.
REQUIRED_COLUMNS = ("participant", "timestamp", "prompt_type", "answered", "negative_affect", "urge", "act")
OPTIONAL_COLUMNS = ("stressor", "skill_use")
COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
#: Items per prompt: two ratings on declared scales and binary (0/1) items.
RATING_ITEMS = ("negative_affect", "urge")
BINARY_ITEMS = ("act", "stressor", "skill_use")
ITEMS = RATING_ITEMS + BINARY_ITEMS
#: Prompt types and their integer codes in :class:`EMAData`.
PROMPT_TYPES = ("signal", "event", "daily")
#: Default scale of both ratings: integers ``0..100``.
DEFAULT_SCALE = (0, 100)

_TRUE = {"true", "1", "yes", "t", "y"}
_FALSE = {"false", "0", "no", "f", "n"}


class EMAError(SpecError):
    """A bad EMA file. ``str(err)`` names the file, row (1-based, header = row 1), column and what was expected."""

    def __init__(self, path: str, row: int, column: str, reason: str):
        self.path, self.row, self.column, self.reason = str(path), int(row), column, reason
        super().__init__(f"{path}: row {row}, column '{column}': {reason}")


@dataclasses.dataclass
class ParticipantData:
    """One participant's prompts in time order (arrays of equal length, one entry per row).

    ``time_h`` is hours since the participant's first row (``start``); ``prompt_type`` holds codes
    into :data:`PROMPT_TYPES`; ratings are rescaled to [0, 1] and NaN where not observed; binary
    items are 0.0/1.0 and NaN where not observed; ``observed[item]`` says which entries are observed.
    """

    start: pd.Timestamp
    time_h: np.ndarray
    prompt_type: np.ndarray
    answered: np.ndarray
    items: dict[str, np.ndarray]
    observed: dict[str, np.ndarray]
    rows: np.ndarray  # 1-based spreadsheet row of each entry

    def __len__(self) -> int:
        return int(self.time_h.shape[0])


@dataclasses.dataclass
class EMAData:
    """A validated EMA file as arrays per participant (see :func:`read_ema`).

    ``dropped`` lists ``(row, column, reason)`` for each row skipped with ``on_error="skip"``.
    """

    source: str
    scales: dict[str, tuple[float, float]]
    participants: dict[str, ParticipantData]
    columns: tuple[str, ...]
    dropped: list[tuple[int, str, str]] = dataclasses.field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """Counts: participants, rows, signal prompts, answered share of signal prompts, acts, event reports."""
        signal = answered = acts = events = rows = 0
        for p in self.participants.values():
            rows += len(p)
            sig = p.prompt_type == PROMPT_TYPES.index("signal")
            signal += int(sig.sum())
            answered += int((sig & p.answered).sum())
            events += int((p.prompt_type == PROMPT_TYPES.index("event")).sum())
            acts += int(np.nansum(p.items["act"][sig]))
        return {"participants": len(self.participants), "rows": rows, "signal_prompts": signal,
                "answered_share": answered / signal if signal else float("nan"),
                "acts_reported_at_prompts": acts, "event_reports": events, "dropped_rows": len(self.dropped)}

    def to_xarray(self) -> xr.Dataset:
        """Dims ``participant`` x ``prompt`` (rows in time order, NaN-padded) plus ``item``.

        Variables: ``time_h``, ``prompt_type`` (code, -1 = padding), ``answered``, one variable per
        item (NaN where unobserved or padding), ``observed`` (participant x prompt x item) and
        ``present`` (False on padding). ``start`` gives each participant's time 0 (ISO 8601).
        """
        ids = list(self.participants)
        n = max((len(p) for p in self.participants.values()), default=0)
        shape = (len(ids), n)
        time_h = np.full(shape, np.nan)
        ptype = np.full(shape, -1, dtype=np.int8)
        answered = np.zeros(shape, dtype=bool)
        present = np.zeros(shape, dtype=bool)
        items = {k: np.full(shape, np.nan) for k in ITEMS}
        observed = np.zeros((*shape, len(ITEMS)), dtype=bool)
        for i, pid in enumerate(ids):
            p = self.participants[pid]
            m = len(p)
            time_h[i, :m], ptype[i, :m], answered[i, :m], present[i, :m] = p.time_h, p.prompt_type, p.answered, True
            for j, k in enumerate(ITEMS):
                items[k][i, :m] = p.items[k]
                observed[i, :m, j] = p.observed[k]
        dims = ("participant", "prompt")
        ds = xr.Dataset(
            {"time_h": (dims, time_h, {"units": "hours since the participant's first row"}),
             "prompt_type": (dims, ptype, {"flag_meanings": "0=signal, 1=event, 2=daily, -1=padding"}),
             "answered": (dims, answered), "present": (dims, present),
             **{k: (dims, v) for k, v in items.items()},
             "observed": ((*dims, "item"), observed)},
            coords={"participant": ids, "prompt": np.arange(n), "item": list(ITEMS),
                    "start": ("participant", [self.participants[p].start.isoformat() for p in ids])},
        )
        for k in RATING_ITEMS:
            ds[k].attrs.update(scale=f"{self.scales[k][0]:g}..{self.scales[k][1]:g}", units="fraction of scale [0, 1]")
        ds.attrs.update(source=self.source, title="EMA data (nssisim research instrument)")
        return ds


# ------------------------------------------------------------------------------- reading
def _is_empty(v: Any) -> bool:
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    if isinstance(v, float) and math.isnan(v):
        return True
    return isinstance(v, str) and v.strip() == ""


def _parse_time(v: Any) -> pd.Timestamp:
    """A tz-aware Timestamp, or ValueError with what was expected."""
    if isinstance(v, (pd.Timestamp, datetime)):
        ts = pd.Timestamp(v)
    else:
        s = str(v).strip()
        try:
            ts = pd.Timestamp(datetime.fromisoformat(s))
        except ValueError:
            raise ValueError(f"cannot parse '{s}' as an ISO 8601 time: expected e.g. 2026-03-02T09:41:00+01:00") from None
    if ts.tzinfo is None:
        raise ValueError(f"time '{v}' has no UTC offset: expected e.g. 2026-03-02T09:41:00+01:00 (or Z for UTC)")
    return ts


def _parse_bool(v: Any) -> bool:
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    s = str(v).strip().lower()
    if s.endswith(".0"):
        s = s[:-2]
    if s in _TRUE:
        return True
    if s in _FALSE:
        return False
    raise ValueError(f"'{v}' is not a boolean: expected true or false (also 1/0, yes/no)")


def _parse_number(v: Any) -> float:
    if isinstance(v, (bool, np.bool_)):
        raise ValueError(f"'{v}' is a boolean, not a number")
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise ValueError(f"'{v}' is not a number") from None
    if not math.isfinite(x):
        raise ValueError(f"'{v}' is not a finite number")
    return x


def _check_scales(scales: Mapping[str, Any]) -> dict[str, tuple[float, float]]:
    out = {}
    for k, v in scales.items():
        if k not in RATING_ITEMS:
            raise ValueError(f"scales: unknown item '{k}': expected {', '.join(RATING_ITEMS)}")
        lo, hi = (float(x) for x in v)
        if not hi > lo:
            raise ValueError(f"scales: {k} = [{lo:g}, {hi:g}] must have max > min")
        out[k] = (lo, hi)
    return out


def sidecar_path(path: str | Path) -> Path:
    """Where the scales sidecar of a data file lives: ``study.csv`` -> ``study.scales.json``."""
    path = Path(path)
    return path.with_name(f"{path.stem}.scales.json")


def _resolve_scales(path: Path, scales: Mapping[str, Any] | None) -> dict[str, tuple[float, float]]:
    out = {k: (float(DEFAULT_SCALE[0]), float(DEFAULT_SCALE[1])) for k in RATING_ITEMS}
    side = sidecar_path(path)
    if side.exists():
        try:
            out.update(_check_scales(json.loads(side.read_text(encoding="utf-8"))))
        except (ValueError, TypeError, AttributeError) as err:
            raise ValueError(f"{side}: bad scales sidecar: {err} (expected e.g. "
                             '{"negative_affect": [0, 100], "urge": [0, 100]})') from None
    if scales:
        out.update(_check_scales(scales))
    return out


def _load_table(path: Path) -> pd.DataFrame:
    """The file as a table of text cells (Parquet: its own types), or a :class:`EMAError`/``ValueError``
    that names the file and what was expected."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        try:
            return pd.read_parquet(path)
        except (OSError, ValueError) as err:  # pyarrow's errors derive from these
            raise ValueError(f"{path}: cannot read it as Parquet ({type(err).__name__}: {err}); expected a Parquet "
                             "file in the format of docs/ema.md") from None
    if suffix in (".csv", ".txt"):
        what = "CSV" if suffix == ".csv" else "CSV (a .txt file is read as CSV)"
        try:
            return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
        except UnicodeDecodeError as err:
            raise ValueError(f"{path}: not UTF-8 text (byte 0x{err.object[err.start]:02x} is not valid UTF-8; "
                             f"Latin-1 or Windows-1252, perhaps): expected a UTF-8 {what} file; save it as UTF-8") from None
        except pd.errors.EmptyDataError:
            raise ValueError(f"{path}: the file is empty: expected a header row ({', '.join(REQUIRED_COLUMNS)}) "
                             "and one row per prompt (docs/ema.md)") from None
        except pd.errors.ParserError as err:
            raise ValueError(f"{path}: cannot be read as {what}: {str(err).strip()}; expected comma-separated "
                             "values with a header row (docs/ema.md)") from None
    raise ValueError(f"{path}: unknown file type '{path.suffix}': expected .csv or .parquet")


def _check_columns(path: Path, columns: list[str]) -> None:
    for c in columns:
        if c not in COLUMNS:
            close = difflib.get_close_matches(str(c), COLUMNS, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise EMAError(str(path), 1, str(c), f"unknown column{hint} (expected columns: {', '.join(COLUMNS)})")
    for c in REQUIRED_COLUMNS:
        if c not in columns:
            close = difflib.get_close_matches(c, [str(x) for x in columns], n=1)
            hint = f"; is '{close[0]}' meant to be it?" if close else ""
            raise EMAError(str(path), 1, c, f"missing required column{hint}")
    dup = [c for c in set(columns) if columns.count(c) > 1]
    if dup:
        raise EMAError(str(path), 1, dup[0], "column appears more than once")


def _parse_row(raw: Mapping[str, Any], scales, columns) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Parse one row; returns the values and a list of (column, reason) problems (first one matters)."""
    v: dict[str, Any] = {}
    pid = raw["participant"]
    if _is_empty(pid):
        return v, [("participant", "empty participant id: expected a string such as p001")]
    v["participant"] = str(pid).strip()
    if _is_empty(raw["timestamp"]):
        return v, [("timestamp", "empty time: expected ISO 8601 with UTC offset, e.g. 2026-03-02T09:41:00+01:00")]
    try:
        v["timestamp"] = _parse_time(raw["timestamp"])
    except ValueError as err:
        return v, [("timestamp", str(err))]
    pt = "" if _is_empty(raw["prompt_type"]) else str(raw["prompt_type"]).strip().lower()
    if pt not in PROMPT_TYPES:
        return v, [("prompt_type", f"'{raw['prompt_type']}' is not a prompt type: expected one of {', '.join(PROMPT_TYPES)}")]
    v["prompt_type"] = pt
    if _is_empty(raw["answered"]):
        return v, [("answered", "empty: expected true or false")]
    try:
        v["answered"] = _parse_bool(raw["answered"])
    except ValueError as err:
        return v, [("answered", str(err))]
    for k in ITEMS:
        if k not in columns or _is_empty(raw[k]):
            v[k] = None
            continue
        if not v["answered"]:
            return v, [(k, f"a value ('{raw[k]}') on a prompt with answered=false: "
                           "an unanswered prompt has every item empty")]
        try:
            x = _parse_number(raw[k])
        except ValueError as err:
            return v, [(k, str(err))]
        if k in RATING_ITEMS:
            lo, hi = scales[k]
            if not (lo <= x <= hi) or x != round(x):
                return v, [(k, f"{raw[k]} is off the scale: expected an integer in {lo:g}..{hi:g}")]
        elif x not in (0.0, 1.0):
            return v, [(k, f"'{raw[k]}' is not 0 or 1")]
        v[k] = x
    if pt == "event":
        if not v["answered"]:
            return v, [("answered", "an event report is always answered: expected true")]
        if v["act"] != 1.0:
            return v, [("act", "an event report reports an act: expected act = 1")]
    return v, []


def read_ema(
    path: str | Path,
    scales: Mapping[str, tuple[float, float]] | None = None,
    on_error: Literal["raise", "skip"] = "raise",
) -> EMAData:
    """Read, validate and convert an EMA file (CSV or Parquet) in the documented long format.

    Parameters
    ----------
    path : str or Path
        A ``.csv`` or ``.parquet`` file.
    scales : mapping, optional
        ``{"negative_affect": (min, max), "urge": (min, max)}``: integer rating scales; defaults to
        the sidecar ``<stem>.scales.json`` if present, else 0..100.
    on_error : "raise" or "skip"
        ``"raise"``: the first bad row raises :class:`EMAError`. ``"skip"``: bad rows are dropped and
        listed in ``EMAData.dropped`` as ``(row, column, reason)``. Problems with the header (unknown
        or missing columns) always raise.

    Notes
    -----
    Checks: parseable time with a UTC offset; known prompt type; boolean ``answered``; ratings that
    are integers on their scale; binary items 0/1; no values on unanswered prompts; event reports
    answered with ``act = 1``; rows sorted by participant (as strings) and then time; no duplicate
    prompt (same participant, instant and prompt type).
    """
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    sc = _resolve_scales(path, scales)
    df = _load_table(path)
    columns = [str(c) for c in df.columns]
    _check_columns(path, columns)
    df.columns = columns
    if len(df) == 0:
        raise EMAError(str(path), 2, columns[0], "no data rows: the file has a header only, expected one row per "
                                                 "prompt or event report below it (docs/ema.md)")
    dropped: list[tuple[int, str, str]] = []
    kept: list[tuple[int, dict[str, Any]]] = []
    seen: set[tuple[str, int, str]] = set()
    last: tuple[str, pd.Timestamp] | None = None
    records = df.to_dict(orient="records")
    for i, raw in enumerate(records):
        row = i + 2
        v, problems = _parse_row(raw, sc, columns)
        if not problems:
            key = (v["participant"], v["timestamp"].value, v["prompt_type"])
            if last is not None and v["participant"] < last[0]:
                problems = [("participant", f"rows are not sorted by participant: '{v['participant']}' comes after "
                                            f"'{last[0]}' (expected sorted by participant, then time)")]
            elif last is not None and v["participant"] == last[0] and v["timestamp"] < last[1]:
                problems = [("timestamp", f"rows are not sorted by time within participant '{v['participant']}': "
                                          f"{v['timestamp'].isoformat()} comes after {last[1].isoformat()}")]
            elif key in seen:
                problems = [("timestamp", f"duplicate prompt: participant '{v['participant']}' already has a "
                                          f"{v['prompt_type']} prompt at {v['timestamp'].isoformat()}")]
        if problems:
            column, reason = problems[0]
            if on_error == "raise":
                raise EMAError(str(path), row, column, reason)
            dropped.append((row, column, reason))
            continue
        seen.add(key)
        last = (v["participant"], v["timestamp"])
        kept.append((row, v))

    participants: dict[str, ParticipantData] = {}
    by_pid: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for row, v in kept:
        by_pid.setdefault(v["participant"], []).append((row, v))
    for pid, entries in by_pid.items():
        start = entries[0][1]["timestamp"]
        t = np.array([(v["timestamp"] - start).total_seconds() / 3600.0 for _, v in entries])
        items, observed = {}, {}
        for k in ITEMS:
            vals = np.array([np.nan if v[k] is None else v[k] for _, v in entries], dtype=float)
            if k in RATING_ITEMS:
                lo, hi = sc[k]
                vals = (vals - lo) / (hi - lo)
            items[k] = vals
            observed[k] = ~np.isnan(vals)
        participants[pid] = ParticipantData(
            start=start, time_h=t,
            prompt_type=np.array([PROMPT_TYPES.index(v["prompt_type"]) for _, v in entries], dtype=np.int8),
            answered=np.array([v["answered"] for _, v in entries], dtype=bool),
            items=items, observed=observed, rows=np.array([r for r, _ in entries], dtype=np.int64))
    return EMAData(source=str(path), scales=sc, participants=participants, columns=tuple(columns), dropped=dropped)


def write_ema(df: pd.DataFrame, path: str | Path, scales: Mapping[str, tuple[float, float]] | None = None) -> Path:
    """Write a DataFrame in the documented format as CSV or Parquet (chosen by the extension).

    Columns are written in the documented order (optional ones only if present); items are
    nullable integers (empty where unobserved); ``timestamp`` is written as ISO 8601 text with its
    offset. If ``scales`` differ from the default 0..100, the sidecar ``<stem>.scales.json`` is
    written too. In a CSV file, text cells that a spreadsheet would run as a formula (starting with
    ``= + - @``, tab or CR) get a leading ``'`` (:func:`nssisim.files.spreadsheet_safe`).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise ValueError(f"{path}: unknown file type '{path.suffix}': expected .csv or .parquet")
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"cannot write EMA data without column(s) {', '.join(missing)}")
    out = df[[c for c in COLUMNS if c in df.columns]].copy()
    out["participant"] = out["participant"].astype(str)
    out["timestamp"] = [t.isoformat() if isinstance(t, (datetime, pd.Timestamp)) else str(t) for t in out["timestamp"]]
    out["answered"] = out["answered"].astype(bool)
    for k in ITEMS:
        if k in out.columns:
            out[k] = pd.array(pd.to_numeric(out[k]).round(), dtype="Int64")
    if suffix == ".csv":  # spreadsheet-safe: a participant id such as "=..." is written as "'=..."
        out["answered"] = out["answered"].map({True: "true", False: "false"})
        write_csv(out, path, index=False, lineterminator="\n")
    else:
        atomic_write(path, lambda tmp: out.to_parquet(tmp, index=False))
    sc = _check_scales(scales or {})
    if any(v != (float(DEFAULT_SCALE[0]), float(DEFAULT_SCALE[1])) for v in sc.values()):
        sidecar_path(path).write_text(json.dumps({k: list(v) for k, v in sc.items()}), encoding="utf-8")
    return path


__all__ = [
    "COLUMNS", "EMAData", "EMAError", "ITEMS", "OPTIONAL_COLUMNS", "PROMPT_TYPES", "ParticipantData",
    "REQUIRED_COLUMNS", "read_ema", "sidecar_path", "write_ema",
]
