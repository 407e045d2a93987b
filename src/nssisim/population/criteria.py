"""Criteria over simulated daily histories, combined with AND / OR / NOT: one grammar for referral
rules (:mod:`nssisim.population.referral`) and trial eligibility (:mod:`nssisim.trials.design`).

Grammar (TOML; a *node* is a criterion table or a combination)::

    all = [ { measure = "nssi_days", window_days = 90, min = 5 },      # AND
            { any = [ { measure = "attempts", window_days = 365, min = 1 },   # OR
                      { measure = "ideation", window_days = 90, above = 0.5 } ] } ]
    none = [ { measure = "days_since_attempt", max = 7 } ]                 # AND NOT (any of)

A node with several of ``all``, ``any``, ``none`` holds when every part holds (``all``: every
member; ``any``: at least one; ``none``: no member). An empty node holds for everyone.

A criterion is ``{ measure = ..., window_days = ..., min/max/above/below = ... }``, evaluated on
the days *before* the evaluation day ``at`` (days ``at - window_days .. at - 1``; without
``window_days`` the whole history from its first day, the life-course start: "lifetime"). Bounds:
``min`` (>=), ``max`` (<=), ``above`` (>), ``below`` (<); at least one is required. Measures
(:data:`MEASURES`):

* ``acts``: NSSI acts in the window. Self-reported "episodes" are counted as acts here;
  ``nssi_days`` counts an act day once (acts on one day are one episode at daily resolution);
* ``nssi_days``: days with at least one act;
* ``attempts``: suicide attempts;
* ``ideation``: peak recorded suicidal ideation (daily state, in [0, 1]);
* ``severity``: visible injury, the largest daily mean severity of the acts (abstract, in [0, 1];
  0 on days without an act);
* ``urges``: urges (acted on or resisted) in the window, each counted;
* ``urge_days``: days with at least one urge (acted on or resisted);
* ``days_since_act`` / ``days_since_attempt``: recency, days from the last day with an act /
  an attempt to ``at`` (1 = the day before; infinite if none in the window);
* ``age``: age in years at ``at`` (no window);
* ``sex_female``: the population factor (1 girls, 0 boys; no window).

Every parse error is raised as the caller's error class, naming the source and the field.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from ..core.parameters import HOURS_PER_DAY, HOURS_PER_YEAR
from ..files import check_keys, did_you_mean as _suggest

#: Measures a criterion may name.
MEASURES = ("acts", "nssi_days", "attempts", "ideation", "severity", "urges", "urge_days", "days_since_act",
            "days_since_attempt", "age", "sex_female")
#: Measures that take no window.
NO_WINDOW = ("age", "sex_female")
#: Bound keys and their comparisons.
BOUNDS = {"min": np.greater_equal, "max": np.less_equal, "above": np.greater, "below": np.less}
_COMBINE = ("all", "any", "none")


@dataclass(frozen=True)
class History:
    """Daily records of ``n`` subjects from the life-course start (day 0).

    ``acts``, ``attempts``, ``urges``: counts per day; ``ideation``: the daily state;
    ``severity``: the mean severity of the day's acts (0 without acts); ``start_age``: age at
    day 0; ``sex_female``: per subject (NaN where the population has no such factor).
    """

    acts: np.ndarray
    attempts: np.ndarray
    urges: np.ndarray
    ideation: np.ndarray
    severity: np.ndarray
    start_age: float
    sex_female: np.ndarray

    @property
    def n_days(self) -> int:
        return self.acts.shape[1]

    def take(self, idx: np.ndarray) -> "History":
        return History(self.acts[idx], self.attempts[idx], self.urges[idx], self.ideation[idx], self.severity[idx],
                       self.start_age, self.sex_female[idx])


def history_of(ds, sex_female: np.ndarray | None = None) -> History:
    """The :class:`History` of a simulated Dataset with daily record blocks."""
    time = np.asarray(ds["time"].values, dtype=np.float64)
    block = float(time[0]) if time.size == 1 else float(time[1] - time[0])
    if abs(block - HOURS_PER_DAY) > 1e-6:
        raise ValueError(f"criteria need daily record blocks, got blocks of {block:g} h")
    acts = np.asarray(ds["acts"].values, dtype=np.float64)
    sev = np.divide(np.asarray(ds["severity_sum"].values, dtype=np.float64), acts, out=np.zeros(acts.shape),
                    where=acts > 0)
    n = acts.shape[0]
    sex = np.full(n, np.nan) if sex_female is None else np.asarray(sex_female, dtype=np.float64)
    return History(acts, np.asarray(ds["attempts"].values, dtype=np.float64),
                   np.asarray(ds["urges"].values, dtype=np.float64), np.asarray(ds["ideation"].values, dtype=np.float64),
                   sev, float(ds.attrs.get("start_age_years", 0.0)), sex)


# ----------------------------------------------------------------------------- the grammar
@dataclass(frozen=True)
class Criterion:
    measure: str
    window_days: int | None
    bounds: tuple[tuple[str, float], ...]

    def describe(self) -> str:
        win = "" if self.measure in NO_WINDOW else (f" in {self.window_days} d" if self.window_days else " (lifetime)")
        sym = {"min": ">=", "max": "<=", "above": ">", "below": "<"}
        return f"{self.measure}{win} " + " and ".join(f"{sym[k]} {v:g}" for k, v in self.bounds)


@dataclass(frozen=True)
class Node:
    """``all`` members AND (``any`` empty or one of ``any``) AND NOT one of ``none``."""

    all: tuple = ()
    any: tuple = ()
    none: tuple = ()

    def describe(self) -> str:
        parts = [m.describe() for m in self.all]
        if self.any:
            parts.append("(" + " OR ".join(m.describe() for m in self.any) + ")")
        if self.none:
            parts.append("NOT (" + " OR ".join(m.describe() for m in self.none) + ")")
        return " AND ".join(parts) or "(everyone)"


def parse_node(tab, where: str, error: Callable[[str], Exception], *, max_window: int | None = None) -> Node:
    """Validate a node (a criterion table or a combination); errors name ``where`` and the field."""
    if not isinstance(tab, Mapping):
        raise error(f"{where}: expected a table (a criterion with 'measure', or 'all'/'any'/'none' lists)")
    if "measure" in tab:
        return Node(all=(_parse_criterion(tab, where, error, max_window),))
    extra = sorted(set(tab) - set(_COMBINE))
    if extra:
        raise error(f"{where}: unknown key '{extra[0]}'{_suggest(extra[0], _COMBINE + ('measure',))}: expected "
                    "'measure' (a criterion) or all/any/none (lists of criteria)")
    parts = {}
    for k in _COMBINE:
        v = tab.get(k, [])
        if not isinstance(v, list):
            raise error(f"{where}.{k}: expected a list of criterion tables")
        members = []
        for i, m in enumerate(v):
            node = parse_node(m, f"{where}.{k}[{i}]", error, max_window=max_window)
            members.append(node.all[0] if (len(node.all) == 1 and not node.any and not node.none
                                           and isinstance(node.all[0], Criterion)) else node)
        parts[k] = tuple(members)
    return Node(**parts)


def _parse_criterion(tab: Mapping, where: str, error, max_window) -> Criterion:
    check_keys(tab, {"measure", "window_days"} | set(BOUNDS), where, error)
    m = tab["measure"]
    if m not in MEASURES:
        raise error(f"{where}.measure: unknown measure {m!r}{_suggest(str(m), MEASURES)}: expected one of "
                    f"{', '.join(MEASURES)}")
    win = tab.get("window_days")
    if win is not None:
        if m in NO_WINDOW:
            raise error(f"{where}.window_days: measure '{m}' takes no window")
        if isinstance(win, bool) or not isinstance(win, int) or win < 1:
            raise error(f"{where}.window_days: expected a whole number of days >= 1, got {win!r}")
        if max_window is not None and win > max_window:
            raise error(f"{where}.window_days: {win} is longer than the simulated history ({max_window} days)")
    bounds = []
    for k in BOUNDS:
        if k in tab:
            v = tab[k]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise error(f"{where}.{k}: expected a number, got {v!r}")
            bounds.append((k, float(v)))
    if not bounds:
        raise error(f"{where}: a criterion needs a bound: min (>=), max (<=), above (>) or below (<)")
    return Criterion(str(m), None if win is None else int(win), tuple(bounds))


# ----------------------------------------------------------------------------- evaluation
class WindowCache:
    """Cumulative sums and running last-event days of a history (windows in O(1) per subject)."""

    def __init__(self, h: History):
        self.h = h
        self._cum: dict[str, np.ndarray] = {}
        self._last: dict[str, np.ndarray] = {}

    def cum(self, key: str) -> np.ndarray:
        if key not in self._cum:
            x = {"acts": self.h.acts, "attempts": self.h.attempts, "nssi_days": self.h.acts > 0,
                 "urges": self.h.urges, "urge_days": self.h.urges > 0}[key]
            c = np.zeros((x.shape[0], x.shape[1] + 1))
            np.cumsum(x, axis=1, out=c[:, 1:])
            self._cum[key] = c
        return self._cum[key]

    def last(self, key: str) -> np.ndarray:
        """``last[:, d]``: the last day < d with an event (-inf if none)."""
        if key not in self._last:
            x = (self.h.acts if key == "days_since_act" else self.h.attempts) > 0
            n, t = x.shape
            day = np.where(x, np.arange(t)[None, :], -np.inf)
            out = np.full((n, t + 1), -np.inf)
            np.maximum.accumulate(day, axis=1, out=out[:, 1:])
            self._last[key] = out
        return self._last[key]


def measure_values(c: Criterion, h: History, at: np.ndarray, cache: WindowCache | None = None) -> np.ndarray:
    """The value of criterion ``c``'s measure for each subject, evaluated at day ``at`` (per subject)."""
    cache = cache or WindowCache(h)
    at = np.broadcast_to(np.asarray(at, dtype=np.int64), (h.acts.shape[0],))
    if (at < 0).any() or (at > h.n_days).any():
        raise ValueError(f"evaluation days must lie in [0, {h.n_days}]")
    if at.size == 0:  # no subject to evaluate (e.g. nobody left at an earlier stage of the screening)
        return np.zeros(0)
    rows = np.arange(at.size)
    lo = at - c.window_days if c.window_days else np.zeros_like(at)
    lo = np.maximum(lo, 0)
    m = c.measure
    if m in ("acts", "attempts", "nssi_days", "urges", "urge_days"):
        cs = cache.cum(m)
        return cs[rows, at] - cs[rows, lo]
    if m in ("ideation", "severity"):
        x = h.ideation if m == "ideation" else h.severity
        if (at == at[0]).all() and (lo == lo[0]).all():  # one window for everyone (a referral check)
            return x[:, lo[0]:at[0]].max(axis=1) if at[0] > lo[0] else np.zeros(at.size)
        out = np.zeros(at.size)
        for i in range(at.size):  # ragged windows; a few hundred days per subject
            if at[i] > lo[i]:
                out[i] = x[i, lo[i]:at[i]].max()
        return out
    if m in ("days_since_act", "days_since_attempt"):
        last = cache.last(m)[rows, at]
        return np.where(last >= lo, at - last, np.inf)
    if m == "age":
        return h.start_age + at * HOURS_PER_DAY / HOURS_PER_YEAR
    if m == "sex_female":
        return h.sex_female.astype(np.float64)
    raise AssertionError(m)  # pragma: no cover - MEASURES is closed


def meets(node: Node | Criterion, h: History, at, cache: WindowCache | None = None) -> np.ndarray:
    """Whether each subject meets ``node`` at day ``at`` (an int or one per subject)."""
    cache = cache or WindowCache(h)
    n = h.acts.shape[0]
    if isinstance(node, Criterion):
        v = measure_values(node, h, at, cache)
        ok = np.ones(n, bool)
        for k, b in node.bounds:
            ok &= BOUNDS[k](v, b)
        return ok
    ok = np.ones(n, bool)
    for m in node.all:
        ok &= meets(m, h, at, cache)
    if node.any:
        a = np.zeros(n, bool)
        for m in node.any:
            a |= meets(m, h, at, cache)
        ok &= a
    for m in node.none:
        ok &= ~meets(m, h, at, cache)
    return ok


def max_window(node: Node | Criterion) -> int:
    """The longest window a node looks back (0 for lifetime-only or windowless nodes)."""
    if isinstance(node, Criterion):
        return node.window_days or 0
    return max([max_window(m) for m in node.all + node.any + node.none] or [0])


__all__ = ["BOUNDS", "Criterion", "History", "MEASURES", "NO_WINDOW", "Node", "WindowCache", "history_of", "max_window",
           "measure_values", "parse_node"]
