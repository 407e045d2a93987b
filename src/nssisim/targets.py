"""Explanatory targets: the model's tests of itself (design brief section 5).

Each target runs its own designed simulation experiment (fixed seeds, enough subjects for
a stable statistic) and returns a :class:`TargetResult`: whether the phenomenon holds, the
statistic and the bar. Bars are written once, here, in :data:`TARGETS` (and rendered into
``docs/model.md``); they are never tuned per run.

``run_targets(mechanisms_off=...)`` runs the suite with mechanisms switched off; the
ablation table (:func:`ablation`) is the model's own account of which part of the theory
each phenomenon needs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .model import MECHANISM_IDS


@dataclass(frozen=True)
class TargetResult:
    """Outcome of one explanatory target."""

    id: str
    passed: bool
    statistic: float
    bar: str
    detail: str = ""
    mechanisms_off: tuple[str, ...] = ()


@dataclass(frozen=True)
class Target:
    """An explanatory target: a phenomenon, its evidence, its statistic and bar, and its experiment."""

    id: str
    phenomenon: str
    evidence: tuple[str, ...]
    statistic: str
    bar: str
    experiment: Callable[[tuple[str, ...]], TargetResult] = field(repr=False)

    def run(self, mechanisms_off: Iterable[str] = ()) -> TargetResult:
        return self.experiment(tuple(mechanisms_off))


TARGETS: dict[str, Target] = {}


def _register(target: Target) -> Target:
    TARGETS[target.id] = target
    return target


def run_targets(ids: Sequence[str] | None = None, mechanisms_off: Iterable[str] = (), progress: bool = False) -> list[TargetResult]:
    """Run the named targets (all by default) with the given mechanisms off."""
    ids = list(TARGETS) if ids is None else list(ids)
    for i in ids:
        if i not in TARGETS:
            raise KeyError(f"unknown target '{i}': expected one of {', '.join(TARGETS)}")
    it = ids
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(ids, desc="targets", unit="target")
    off = tuple(mechanisms_off)
    return [TARGETS[i].run(off) for i in it]


def ablation(ids: Sequence[str] | None = None, mechanisms: Sequence[str] = MECHANISM_IDS, progress: bool = False) -> pd.DataFrame:
    """Phenomena-by-mechanism table: does each target hold with each mechanism off?

    Returns a DataFrame indexed by target id with a column ``full`` (all mechanisms on) and
    one column per mechanism; cells are booleans (target holds).
    """
    ids = list(TARGETS) if ids is None else list(ids)
    cols = {"full": ()} | {m: (m,) for m in mechanisms}
    items = list(cols.items())
    if progress:
        from tqdm.auto import tqdm

        items = tqdm(items, desc="ablation", unit="condition")
    table = {}
    stats = {}
    for name, off in items:
        res = run_targets(ids, mechanisms_off=off)
        table[name] = {r.id: r.passed for r in res}
        stats[name] = {r.id: r.statistic for r in res}
    df = pd.DataFrame(table).loc[ids]
    df.attrs["statistics"] = pd.DataFrame(stats).loc[ids]
    return df


def format_results(results: Sequence[TargetResult]) -> str:
    """Plain-text table of target results."""
    lines = [f"{'id':4s} {'holds':5s} {'statistic':>10s}  bar / detail"]
    for r in results:
        t = TARGETS[r.id]
        lines.append(f"{r.id:4s} {'yes' if r.passed else 'NO':5s} {r.statistic:10.3f}  {t.statistic}; bar: {r.bar}")
        if r.detail:
            lines.append(f"{'':22s}{r.detail}")
    return "\n".join(lines)


def format_ablation(df: pd.DataFrame) -> str:
    """Plain-text phenomena-by-mechanism table (``+`` holds, ``-`` fails)."""
    cols = list(df.columns)
    head = "     " + " ".join(f"{c:>4s}" for c in cols)
    rows = [head]
    for tid, row in df.iterrows():
        rows.append(f"{tid:4s} " + " ".join(f"{'+' if v else '-':>4s}" for v in row.values))
    rows.append("+ target holds with that mechanism off; - it fails (so the phenomenon needs that mechanism).")
    return "\n".join(rows)


__all__ = ["TARGETS", "Target", "TargetResult", "run_targets", "ablation", "format_results", "format_ablation"]
