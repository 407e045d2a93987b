"""The regime map: where the boundary between sporadic and addictive NSSI lies, and whether history moves a person across it.

MODEL.md ("Two regimes, and the transition between them"): the relief, habit and tolerance loops give
the model a sporadic regime (acts follow rare peaks of distress and die out) and an addictive regime
(learned relief, habit and tolerance sustain the behaviour). This module maps the boundary over two
model parameters and tests whether a passing change of environment leaves a lasting mark.

**The map** (:func:`regime_map`). For each cell of a grid over two model parameters ``x`` and ``y``
(names and values checked against :data:`nssisim.core.parameters.PARAMS`), ``n_persons`` persons are
drawn from a population spec (the calibrated community by default: every other trait, risk and
protective factor and the age-varying environment as the spec draws them), the two parameters set to
the cell's values, and their life course simulated from ``start_age`` (after the life course's burn-in)
to ``end_age``. Each person is judged at every whole age from ``start_age + 1`` to ``end_age`` on the
past year, with the package's one definition of the addictive profile
(:func:`nssisim.core.measures.measure`: repetitive NSSI, five or more acts, and at least three of the
four addictive components). Per cell:

* ``p_addictive``: the share who met the addictive profile at some judged age, by ``end_age``
  ("reached the addictive regime"), with its Wilson 95 % interval;
* ``p_persist``: the share in the addictive profile in the year before ``end_age``;
* ``p_nssi``: the share with any act by ``end_age``; ``p_sporadic``: any act, never the profile.

Cells hold different persons (subject ids are cell-major, so each cell is an independent sample and
its interval is its own); the persons of a cell depend on the seed and the cell's position only.

**The boundary** (:func:`boundary`): each cell is on the *addictive* side when the lower end of its
interval lies above ``level`` (0.5 by default: more likely than not), on the *sporadic* side when the
upper end lies below, and *on the boundary* when its interval contains ``level``. Along each ``x`` value,
the ``y`` at which ``p_addictive`` crosses ``level`` is interpolated linearly between the cells around
the first crossing, and the same for the interval's two ends: the crossing's uncertainty from sampling
(parameter uncertainty needs the calibration ensemble).

**History dependence** (:func:`hysteresis`). The same persons (same subject ids, same random streams)
live the same life twice, once in the spec's environment and once with a passing rise of one schedule
parameter (by default the rate of entering stressful periods, ``lam_period``, tripled from 12 to 14 and
back within weeks), so that from the end of the rise on both lives share one environment. If the map's
regimes were a plain function of traits and environment, both lives would be in the addictive profile
equally often at ``end_age``; a lasting difference (paired, with its 95 % interval) means that history
moved persons across the boundary: the model is history dependent (hysteresis) there. This is not a
proof of bistability in the strict sense (maturation keeps changing the person); it is the check a
researcher can run.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from .._version import __version__
from ..core.measures import measure
from ..core.parameters import PARAMS
from ..core.simulation import SCHEDULE_TARGETS
from ..population.lifecourse import LifeCourse, simulate_chunk
from ..population.spec import EnvironmentComponent, PopulationSpec, load_population
from ..stats import paired_difference, wilson_interval

#: Defaults of the map: the life course judged (ages), persons per cell, the boundary's level.
START_AGE, END_AGE = 10.0, 18.0
N_PERSONS = 256
LEVEL = 0.5
#: Event-table rows per person: an addictive person acts most days for years.
EVENT_CAPACITY = 4096
#: The passing change of environment of :func:`hysteresis`: the rate of entering stressful periods,
#: tripled (+200 %) from 12 to 14, rising and falling within about three weeks.
PULSE = {"parameter": "lam_period", "change": 2.0, "onset_age": 12.0, "peak_age": 14.0,
         "rise_years": 0.05, "decline_years": 0.05}
PULSE_NAME = "regimes_pulse"

OUTCOMES = ("p_addictive", "p_persist", "p_nssi", "p_sporadic")


class RegimeError(ValueError):
    """A regime-map request that cannot run (an unknown parameter, a value out of bounds, a bad grid)."""


def check_axis(name: str, values: Sequence[float], what: str) -> np.ndarray:
    """The grid values of one axis: a known model parameter, at least two distinct finite values inside its bounds."""
    if name not in PARAMS:
        close = [p for p in PARAMS if name.lower() in p.lower()][:5]
        hint = f" (did you mean {', '.join(close)}?)" if close else " (`nssisim params` lists them)"
        raise RegimeError(f"{what}: unknown model parameter '{name}'{hint}")
    v = np.asarray(values, dtype=np.float64)
    p = PARAMS[name]
    if v.ndim != 1 or v.size < 2 or not np.isfinite(v).all() or np.unique(v).size != v.size:
        raise RegimeError(f"{what} {name}: expected at least two distinct finite values, got {list(values)}")
    bad = v[(v < p.low) | (v > p.high)]
    if bad.size:
        raise RegimeError(f"{what} {name}: {bad.tolist()} outside the parameter's bounds [{p.low:g}, {p.high:g}] {p.unit}")
    return np.sort(v)


def check_value(name: str, value: float, what: str) -> float:
    """One value of a known model parameter, inside its bounds."""
    if name not in PARAMS:
        raise RegimeError(f"{what}: unknown model parameter '{name}' (`nssisim params` lists them)")
    p, v = PARAMS[name], float(value)
    if not (np.isfinite(v) and p.low <= v <= p.high):
        raise RegimeError(f"{what} {name} = {value}: expected a value in the parameter's bounds [{p.low:g}, {p.high:g}] {p.unit}")
    return v


def parse_values(text: str, what: str) -> list[float]:
    """Grid values from the command line: ``LOW:HIGH:N`` (N evenly spaced values) or ``A,B,C``."""
    try:
        if ":" in text:
            lo, hi, n = text.split(":")
            if int(n) < 2:
                raise ValueError
            return np.linspace(float(lo), float(hi), int(n)).tolist()
        return [float(s) for s in text.split(",")]
    except ValueError:
        raise RegimeError(f"{what}: expected LOW:HIGH:N (N >= 2) or comma-separated numbers, got '{text}'") from None


def _spec(population: PopulationSpec | str) -> PopulationSpec:
    return population if isinstance(population, PopulationSpec) else load_population(population)


def addictive_by_age(ds: xr.Dataset, ages: Sequence[float], sim_start_age: float) -> np.ndarray:
    """Whether each subject meets the addictive profile on the past year at each of ``ages``: ``(subjects, ages)``.

    Each judgement is :func:`nssisim.core.measures.measure` on the run cut at that age (its records and
    events up to then), so the profile is defined once, in ``core.measures``."""
    time = np.asarray(ds["time"].values, dtype=np.float64)
    ev_t = np.asarray(ds["event_time"].values, dtype=np.float64)
    out = np.zeros((ds.sizes["subject"], len(ages)), bool)
    for j, a in enumerate(ages):
        end = (a - sim_start_age) * 24.0 * 365.25
        k = int(np.searchsorted(time, end + 1e-6, side="right"))
        head = ds.isel(time=slice(0, k), event=ev_t <= time[k - 1] + 1e-9)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an overflowing event table: despite-harm a lower bound
            out[:, j] = measure(head)["addictive"].to_numpy()
    return out


def _judged_ages(start_age: float, end_age: float) -> list[float]:
    ages = list(np.arange(math.floor(start_age) + 1, math.floor(end_age) + 1, dtype=float))
    if not ages:
        raise RegimeError(f"the life course from {start_age} to {end_age} holds no whole year to judge")
    return ages


def _simulate(spec: PopulationSpec, ids: np.ndarray, seed: int, course: LifeCourse, overrides: Mapping,
              ages: Sequence[float], mechanisms_off: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """One call of the life course: (addictive profile at each judged age, any act by the end), per subject."""
    seen: dict = {}

    def keep(ds, pop, sub_ids):
        seen["addictive"] = addictive_by_age(ds, ages, course.sim_start_age)

    table = simulate_chunk(spec, ids, seed, course, overrides=dict(overrides), with_events=True,
                           event_capacity=EVENT_CAPACITY, mechanisms_off=mechanisms_off, on_dataset=keep)
    acts = table[[c for c in table.columns if c.startswith("acts_age_")]].to_numpy().sum(axis=1)
    return seen["addictive"], acts > 0


def regime_map(x: str, x_values: Sequence[float], y: str, y_values: Sequence[float], *,
               population: PopulationSpec | str = "community", n_persons: int = N_PERSONS, seed: int = 0,
               start_age: float = START_AGE, end_age: float = END_AGE, overrides: Mapping[str, float] | None = None,
               mechanisms_off: Iterable[str] = (), level: float = LEVEL, progress: bool = False,
               checkpoint: str | Path | None = None) -> xr.Dataset:
    """The regime map over ``x`` by ``y`` (module docstring): a Dataset with dims ``(x, y)``, the outcomes in
    :data:`OUTCOMES` with ``<outcome>_low``/``_high`` (Wilson 95 %), ``n``, and the settings in ``attrs``.

    ``overrides``: model parameters set for everyone (checked against the bounds); ``x`` and ``y`` win.
    ``checkpoint``: a folder where each finished row of the grid is kept (``row-<i>.npz``, keyed by a hash of
    the map's settings), so an interrupted map continues where it stopped; rows of other settings are ignored."""
    if x == y:
        raise RegimeError(f"x and y are both '{x}': map two different parameters")
    xv, yv = check_axis(x, x_values, "x"), check_axis(y, y_values, "y")
    overrides = {k: check_value(k, v, "override") for k, v in (overrides or {}).items() if k not in (x, y)}
    if not 0.0 < level < 1.0:
        raise RegimeError(f"level: expected a share strictly between 0 and 1, got {level}")
    if n_persons < 2:
        raise RegimeError(f"n_persons: expected at least 2, got {n_persons}")
    spec = _spec(population)
    course = LifeCourse(start_age=start_age, end_age=end_age)
    ages = _judged_ages(start_age, end_age)
    off = tuple(mechanisms_off)
    nx, ny, n = xv.size, yv.size, int(n_persons)
    keys = ("addictive", "persist", "nssi", "sporadic")
    counts = {k: np.zeros((nx, ny), np.int64) for k in keys}
    settings = json.dumps({"x": x, "xv": xv.tolist(), "y": y, "yv": yv.tolist(), "spec": repr(spec), "n": n,
                           "seed": int(seed), "ages": [start_age, end_age], "over": sorted(overrides.items()),
                           "off": off, "version": __version__}, sort_keys=True, default=str)
    key = hashlib.sha256(settings.encode()).hexdigest()[:16]
    if checkpoint is not None:
        checkpoint = Path(checkpoint)
        checkpoint.mkdir(parents=True, exist_ok=True)
    rows = range(nx)
    if progress:
        from tqdm.auto import tqdm

        rows = tqdm(rows, desc=f"regime map ({x} rows)", unit="row")
    for i in rows:
        part = None if checkpoint is None else checkpoint / f"row-{i:04d}-{key}.npz"
        if part is not None and part.exists():
            with np.load(part) as z:
                for k in keys:
                    counts[k][i] = z[k]
            continue
        ids = (i * ny * n + np.arange(ny * n)).astype(np.int64)  # cell-major: cell (i, j) holds ids (i*ny + j)*n + k
        over = {**overrides, x: np.full(ny * n, xv[i]), y: np.repeat(yv, n)}
        addictive, nssi = _simulate(spec, ids, seed, course, over, ages, off)
        reached, persist = addictive.any(axis=1), addictive[:, -1]
        for name, flag in (("addictive", reached), ("persist", persist), ("nssi", nssi), ("sporadic", nssi & ~reached)):
            counts[name][i] = flag.reshape(ny, n).sum(axis=1)
        if part is not None:
            tmp = part.with_name(part.name + f".{os.getpid()}.tmp.npz")
            np.savez(tmp, **{k: counts[k][i] for k in keys})
            os.replace(tmp, part)
    data = {}
    for out, key in zip(OUTCOMES, ("addictive", "persist", "nssi", "sporadic")):
        c = counts[key]
        data[out] = (("x", "y"), c / n)
        lohi = np.array([[wilson_interval(float(c[i, j]), float(n)) for j in range(ny)] for i in range(nx)])
        data[out + "_low"] = (("x", "y"), lohi[..., 0])
        data[out + "_high"] = (("x", "y"), lohi[..., 1])
    data["n"] = (("x", "y"), np.full((nx, ny), n, np.int64))
    ds = xr.Dataset(data, coords={"x": xv, "y": yv})
    ds.attrs.update({"x_parameter": x, "y_parameter": y, "population": spec.name, "seed": int(seed),
                     "n_persons": n, "start_age": float(start_age), "end_age": float(end_age),
                     "judged_ages": ",".join(f"{a:g}" for a in ages), "level": float(level),
                     "overrides": ",".join(f"{k}={v:g}" for k, v in overrides.items()),
                     "mechanisms_off": ",".join(off), "nssisim_version": __version__,
                     "definition": "p_addictive: share meeting the addictive profile (core.measures) on the past year "
                                   "at some judged age; Wilson 95 % intervals"})
    return ds


def _crossing(yv: np.ndarray, p: np.ndarray, level: float) -> float:
    """The y of the first crossing of ``level`` along ``p`` (linear between the two cells around it), NaN if none."""
    above = p >= level
    idx = np.flatnonzero(above[1:] != above[:-1])
    if idx.size == 0:
        return float("nan")
    k = int(idx[0])
    p0, p1 = p[k], p[k + 1]
    return float(yv[k] + (level - p0) * (yv[k + 1] - yv[k]) / (p1 - p0))


def boundary(ds: xr.Dataset, level: float | None = None) -> tuple[pd.DataFrame, np.ndarray]:
    """The boundary of a regime map (module docstring): ``(table, sides)``.

    ``table``: one row per ``x`` value with ``y_cross`` (where ``p_addictive`` crosses ``level``) and
    ``y_cross_upper``/``y_cross_lower`` (where the upper and the lower end of the cells' intervals cross it:
    the crossing's sampling range; NaN where that end does not cross inside the grid). ``sides``: ``(x, y)`` strings,
    ``"addictive"``, ``"sporadic"`` or ``"boundary"``."""
    level = float(ds.attrs["level"] if level is None else level)
    yv = np.asarray(ds["y"].values)
    p, lo, hi = (np.asarray(ds[k].values) for k in ("p_addictive", "p_addictive_low", "p_addictive_high"))
    sides = np.where(lo > level, "addictive", np.where(hi < level, "sporadic", "boundary"))
    rows = []
    for i, xv in enumerate(np.asarray(ds["x"].values)):
        rows.append({ds.attrs["x_parameter"]: float(xv), "y_cross": _crossing(yv, p[i], level),
                     "y_cross_upper": _crossing(yv, hi[i], level), "y_cross_lower": _crossing(yv, lo[i], level),
                     "cells_on_boundary": int((sides[i] == "boundary").sum())})
    return pd.DataFrame(rows), sides


def boundary_point(ds: xr.Dataset) -> dict[str, float]:
    """A point on the map's boundary, for :func:`hysteresis`: the crossing of the middle ``x`` row that has one,
    else the cell whose ``p_addictive`` is closest to ``level``."""
    table, _ = boundary(ds)
    x, y = ds.attrs["x_parameter"], ds.attrs["y_parameter"]
    crossed = table[np.isfinite(table["y_cross"])]
    if len(crossed):
        r = crossed.iloc[len(crossed) // 2]
        return {x: float(r[x]), y: float(r["y_cross"])}
    p = np.asarray(ds["p_addictive"].values)
    i, j = np.unravel_index(int(np.argmin(np.abs(p - float(ds.attrs["level"])))), p.shape)
    return {x: float(ds["x"].values[i]), y: float(ds["y"].values[j])}


def tidy(ds: xr.Dataset) -> pd.DataFrame:
    """One row per cell: the two parameters' values, each outcome with its interval, and the cell's side."""
    _, sides = boundary(ds)
    df = ds.to_dataframe().reset_index().rename(columns={"x": ds.attrs["x_parameter"], "y": ds.attrs["y_parameter"]})
    df["side"] = sides.reshape(-1)
    return df


def hysteresis(values: Mapping[str, float], *, population: PopulationSpec | str = "community", n_persons: int = 1024,
               seed: int = 0, start_age: float = START_AGE, end_age: float = END_AGE, pulse: Mapping | None = None,
               mechanisms_off: Iterable[str] = ()) -> dict:
    """History dependence at one point of a map (module docstring): the same persons with and without a passing
    change of environment. ``values``: model parameters set for everyone (e.g. a boundary cell's ``x`` and ``y``).

    Returns the settings and, for both lives, the share in the addictive profile in the year before the pulse's
    onset, at its peak (during it), and at ``end_age`` (after it), with the paired difference at ``end_age``
    and its 95 % interval."""
    pulse = {**PULSE, **(pulse or {})}
    over = {k: check_value(k, v, "value") for k, v in values.items()}
    if pulse["parameter"] not in SCHEDULE_TARGETS:
        raise RegimeError(f"pulse.parameter: '{pulse['parameter']}' is not a model parameter that can vary with age")
    if not start_age < pulse["onset_age"] < pulse["peak_age"] < end_age - 1.0:
        raise RegimeError(f"pulse: expected start_age < onset_age < peak_age < end_age - 1, got {start_age}, "
                          f"{pulse['onset_age']}, {pulse['peak_age']}, {end_age}")
    spec = _spec(population)
    comp = EnvironmentComponent(PULSE_NAME, pulse["parameter"], float(pulse["change"]), float(pulse["onset_age"]),
                                float(pulse["peak_age"]), float(pulse["rise_years"]), float(pulse["decline_years"]), ())
    pulsed = replace(spec, environment=spec.environment + (comp,))
    pulsed.with_environment(PULSE_NAME)  # validates the component as the spec parser does
    course = LifeCourse(start_age=start_age, end_age=end_age)
    ages = [float(pulse["onset_age"]), float(pulse["peak_age"]), float(end_age)]
    ids = np.arange(int(n_persons), dtype=np.int64)
    a_base, _ = _simulate(spec, ids, seed, course, over, ages, tuple(mechanisms_off))
    a_pulse, _ = _simulate(pulsed, ids, seed, course, over, ages, tuple(mechanisms_off))
    diff, lo, hi = paired_difference(a_pulse[:, -1].astype(float), a_base[:, -1].astype(float))
    moved_in = int((a_pulse[:, -1] & ~a_base[:, -1]).sum())
    moved_out = int((~a_pulse[:, -1] & a_base[:, -1]).sum())
    return {"values": over, "pulse": pulse, "n_persons": int(n_persons), "seed": int(seed),
            "ages": ages, "addictive_base": a_base.mean(axis=0).tolist(), "addictive_pulse": a_pulse.mean(axis=0).tolist(),
            "difference_at_end": diff, "difference_low": lo, "difference_high": hi,
            "moved_in": moved_in, "moved_out": moved_out,
            "history_dependent": bool(lo > 0 or hi < 0)}


def format_hysteresis(h: dict) -> str:
    p = h["pulse"]
    a0, a1, a2 = h["ages"]
    b, q = h["addictive_base"], h["addictive_pulse"]
    vals = ", ".join(f"{k} = {v:g}" for k, v in h["values"].items()) or "the population as drawn"
    verdict = ("history dependent: the passing change left a lasting difference" if h["history_dependent"]
               else "no lasting difference detected")
    return (f"History dependence at {vals} ({h['n_persons']} persons, each living twice): {p['parameter']} "
            f"{1 + p['change']:g}x from {p['onset_age']:g} to {p['peak_age']:g}, then back.\n"
            f"  in the addictive profile at {a0:g} (before): {b[0]:.3f} without vs {q[0]:.3f} with the change; "
            f"at {a1:g} (during): {b[1]:.3f} vs {q[1]:.3f}; at {a2:g} (after): {b[2]:.3f} vs {q[2]:.3f}\n"
            f"  difference at {a2:g}: {h['difference_at_end']:+.3f} [{h['difference_low']:+.3f}, {h['difference_high']:+.3f}] "
            f"({h['moved_in']} moved into the profile, {h['moved_out']} out of it): {verdict}")


def format_map(ds: xr.Dataset) -> str:
    """The map as text: ``p_addictive`` per cell (rows ``x``, columns ``y``), cells on the boundary marked ``*``,
    and the crossing per row."""
    x, y = ds.attrs["x_parameter"], ds.attrs["y_parameter"]
    table, sides = boundary(ds)
    yv = ds["y"].values
    head = (f"P(addictive profile reached by {ds.attrs['end_age']:g}), {ds.attrs['n_persons']} persons a cell from "
            f"population '{ds.attrs['population']}'; rows {x}, columns {y}; * = the cell's 95 % interval contains "
            f"{ds.attrs['level']:g} (on the boundary)")
    lines = [head, f"{x:>14} | " + " ".join(f"{v:>8.3g}" for v in yv) + " | crossing of " + y]
    for i, xv in enumerate(ds["x"].values):
        cells = " ".join(f"{p:>7.3f}{'*' if s == 'boundary' else ' '}" for p, s in zip(ds["p_addictive"].values[i], sides[i]))
        r = table.iloc[i]
        ends = " and ".join("none in the grid" if np.isnan(v) else f"{v:.3g}" for v in (r["y_cross_upper"], r["y_cross_lower"]))
        cross = "none in the grid" if np.isnan(r["y_cross"]) else f"{r['y_cross']:.3g} (the interval's ends: {ends})"
        lines.append(f"{xv:>14.4g} | {cells} | {cross}")
    return "\n".join(lines)


def plot_map(ds: xr.Dataset, path) -> object:
    """The map as a figure: ``p_addictive`` as colour, the ``level`` contour with the contours of the interval's
    ends (the boundary's sampling band), and the cells on the boundary marked."""
    from ..plotting import figure, save, style

    style()
    fig = figure(4.6, 3.6)
    ax = fig.add_subplot(111)
    xv, yv = ds["x"].values, ds["y"].values
    p = ds["p_addictive"].values
    mesh = ax.pcolormesh(xv, yv, p.T, shading="nearest", cmap="magma_r", vmin=0.0, vmax=max(float(p.max()), 1e-3))
    fig.colorbar(mesh, ax=ax, label=f"P(addictive profile by {ds.attrs['end_age']:g})")
    level = float(ds.attrs["level"])
    labelled = set()
    for key, ls in (("p_addictive", "-"), ("p_addictive_low", ":"), ("p_addictive_high", ":")):
        z = ds[key].values.T
        if xv.size > 1 and yv.size > 1 and z.min() < level < z.max():
            ax.contour(xv, yv, z, levels=[level], colors="#1b6ca8", linestyles=ls, linewidths=1.2)
            if ls not in labelled:  # one legend entry for the crossing, one for its band
                labelled.add(ls)
                ax.plot([], [], color="#1b6ca8", ls=ls, lw=1.2,
                        label=f"boundary: P = {level:g}" if ls == "-" else "its 95 % band")
    _, sides = boundary(ds)
    ii, jj = np.nonzero(sides == "boundary")
    if ii.size:
        ax.scatter(xv[ii], yv[jj], s=10, c="#1b6ca8", marker="o", label=f"cell's interval contains {level:g}")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", fontsize=7, frameon=False)
    ax.set_xlabel(ds.attrs["x_parameter"])
    ax.set_ylabel(ds.attrs["y_parameter"])
    ax.set_title(f"Regime map: {ds.attrs['n_persons']} persons a cell, ages {ds.attrs['start_age']:g}-{ds.attrs['end_age']:g}",
                 fontsize=8)
    return save(fig, path)


__all__ = ["END_AGE", "LEVEL", "N_PERSONS", "OUTCOMES", "PULSE", "RegimeError", "START_AGE", "addictive_by_age",
           "boundary", "boundary_point", "check_axis", "check_value", "format_hysteresis", "format_map", "hysteresis", "parse_values", "plot_map",
           "regime_map", "tidy"]
