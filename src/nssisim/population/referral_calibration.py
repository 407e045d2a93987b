"""Calibration of a referral rule's pathway probabilities to the profile of a published clinical sample.

Who reaches care is stated as data (:mod:`nssisim.population.referral`), but the pathway
probabilities of the shipped rules began as illustrative magnitudes. A published clinical sample
pins their *ratios*: the profile of a sample (its share self-injuring more than weekly, with almost
daily urges) depends on which pathway brought its members in. This module fits the probabilities
of the pathways named in a setup, on a grid, to the sample's published shares.

**The setup** (shipped: ``configs/calibrate_referral_<name>.toml``, named in :data:`SETUPS`)::

    rule = "inpatient"                   # the referral rule whose probabilities are fitted
    population = "community"             # the community life course it screens
    description = "..."
    evidence = ["NixonCloutierAggarwal2002"]

    [screen]
    subjects = 4096                      # community pool (ids 0 .. n-1), its seed and life-course start
    seed = 2002
    start_age = 10.0

    [sample]                             # the study's own inclusion, evaluated at the referral day
    inclusion = { all = [ { measure = "nssi_days", window_days = 365, min = 5 } ] }

    [fit]                                # target id (nssisim.population.calibration.TARGET_IDS) -> profile column
    clinical_more_than_weekly = "more_than_weekly"
    clinical_daily_urges = "almost_daily_urges"
    # or a table: the column and an inclusion of its own (instead of [sample]'s) for that target
    clinical_ema_acts = { column = "diary_acts", inclusion = { all = [ { measure = "acts", min = 1 } ] } }

    [report]                             # optional, as [fit]: evaluated and shown, not fitted
    nssi_attempt_mental = "nssi_and_attempt"

    [grid]                               # per fitted pathway: the probabilities tried
    suicide_attempt = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5]

A column is a share of :data:`nssisim.population.referral.PROFILE_CRITERIA` (the referral
profile's boolean definitions as criteria) or a mean of
:data:`nssisim.population.referral.PROFILE_COUNTS` (its counts, e.g. acts in the 14 days before
referral). Pathways not in ``[grid]`` keep the rule's probability.

**Method.** The expensive part, the life course, does not depend on the referral probabilities:
the pool is simulated once, and for every subject and check the table of which pathways' criteria
hold, whether the study's inclusion (and each target's own inclusion) holds, each profile share's
criterion and each profile count is kept (:func:`tabulate`), with the subject's help-seeking
propensity and per-check uniform (the same counter-based draws as
:func:`nssisim.population.referral.referral_days`). For any
probabilities, referral is then the first check at which the uniform falls below the largest
pathway probability whose criteria hold (:func:`refer_with`, equal to ``referral_days``: a test
checks it), and the sample is the referred who meet the inclusion at referral. Every grid point
is evaluated on the same pool (common random numbers). Each target's implausibility uses the
observation model of :mod:`nssisim.population.calibration` plus the sampling variance of the
share (binomial) or of the mean count (the sample variance over the sample size); the chosen point
has the smallest largest implausibility over the fitted targets.

What the fit can and cannot say: only the relative weight of the pathways is identified (no
target states how many adolescents reach care), so the setup fixes the other pathways and fits
the ones it names. A research instrument, not a clinical tool: the fitted probabilities are
properties of the model's referral rule, not of any service.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from ..files import check_keys, read_toml, SpecError
from .calibration import load_targets, observation, published, TARGET_IDS
from .criteria import Criterion, measure_values, meets, Node, parse_node, WindowCache
from .referral import (check_days, check_uniforms, help_seeking, load_rule, PROFILE_COUNTS, PROFILE_CRITERIA,
                       ReferralRule, SCREEN_CHUNK, screen_chunk)
from .spec import load_population, PopulationSpec

#: Shipped setups (``configs/calibrate_referral_<name>.toml``).
SETUPS = ("inpatient", "outpatient")
_TOP = {"rule", "population", "description", "evidence", "screen", "sample", "fit", "report", "grid"}
_SCREEN = {"subjects", "seed", "start_age"}


class ReferralSetupError(SpecError):
    """A referral calibration setup is invalid; the message names the file and the field."""


@dataclass(frozen=True)
class ReferralSetup:
    """A validated referral calibration setup."""

    source: str
    rule: ReferralRule
    population: str
    description: str
    evidence: tuple[str, ...]
    subjects: int
    seed: int
    start_age: float
    inclusion: Node
    fit: tuple[tuple[str, str], ...]  # (target id, profile column)
    grid: tuple[tuple[str, tuple[float, ...]], ...]  # (pathway name, probabilities)
    own_inclusions: tuple[tuple[str, Node], ...] = ()  # (fitted or reported target id, its own inclusion)
    report: tuple[tuple[str, str], ...] = ()  # (target id, profile column): evaluated, not fitted


def parse_setup(data: Mapping, source: str = "<dict>") -> ReferralSetup:
    """Validate a setup; errors name ``source`` and the field."""
    w = source
    check_keys(data, _TOP, w, ReferralSetupError)
    for key in ("rule", "population"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise ReferralSetupError(f"{w}: {key}: missing (expected a name or a path)")
    try:
        rule = load_rule(data["rule"])
    except SpecError as err:
        raise ReferralSetupError(f"{w}: rule: {err}") from None
    scr = data.get("screen", {})
    if not isinstance(scr, Mapping):
        raise ReferralSetupError(f"{w}: screen: expected a table")
    check_keys(scr, _SCREEN, f"{w}: screen", ReferralSetupError)
    n = scr.get("subjects", 4096)
    seed = scr.get("seed", 0)
    for key, v in (("subjects", n), ("seed", seed)):
        if isinstance(v, bool) or not isinstance(v, int) or v < (1 if key == "subjects" else 0):
            raise ReferralSetupError(f"{w}: screen.{key}: expected a whole number{' >= 1' if key == 'subjects' else ''}, "
                                     f"got {v!r}")
    a0 = scr.get("start_age", 10.0)
    if isinstance(a0, bool) or not isinstance(a0, (int, float)) or a0 > rule.age_min:
        raise ReferralSetupError(f"{w}: screen.start_age: expected a number at or below the rule's age_min "
                                 f"{rule.age_min}, got {a0!r}")
    sample = data.get("sample", {})
    if not isinstance(sample, Mapping) or set(sample) - {"inclusion"}:
        raise ReferralSetupError(f"{w}: sample: expected a table with one key, inclusion")
    inclusion = parse_node(sample.get("inclusion", {}), f"{w}: sample.inclusion", ReferralSetupError)
    fit = data.get("fit")
    if not isinstance(fit, Mapping) or not fit:
        raise ReferralSetupError(f"{w}: fit: expected a table of target id = profile column")
    report = data.get("report", {})
    if not isinstance(report, Mapping):
        raise ReferralSetupError(f"{w}: report: expected a table of target id = profile column")
    both = sorted(set(fit) & set(report))
    if both:
        raise ReferralSetupError(f"{w}: report.{both[0]}: the target is fitted as well (fit.{both[0]})")
    own = []

    def columns_of(tab: Mapping, key: str) -> dict[str, str]:
        out = {}
        for tid, col in tab.items():
            if tid not in TARGET_IDS:
                raise ReferralSetupError(f"{w}: {key}.{tid}: unknown target id (expected one of nssisim.population."
                                         f"calibration.TARGET_IDS)")
            if isinstance(col, Mapping):
                check_keys(col, {"column", "inclusion"}, f"{w}: {key}.{tid}", ReferralSetupError)
                if "inclusion" in col:
                    own.append((tid, parse_node(col["inclusion"], f"{w}: {key}.{tid}.inclusion", ReferralSetupError)))
                col = col.get("column")
            if col not in PROFILE_CRITERIA and col not in PROFILE_COUNTS:
                raise ReferralSetupError(f"{w}: {key}.{tid}: unknown profile column {col!r}: expected a share ("
                                         f"{', '.join(PROFILE_CRITERIA)}) or a count ({', '.join(PROFILE_COUNTS)})")
            out[tid] = col
        return out

    columns, reported = columns_of(fit, "fit"), columns_of(report, "report")
    grid = data.get("grid")
    if not isinstance(grid, Mapping) or not grid:
        raise ReferralSetupError(f"{w}: grid: expected a table of pathway name = [probabilities]")
    names = [p.name for p in rule.pathways]
    out = []
    for pw, vals in grid.items():
        if pw not in names:
            raise ReferralSetupError(f"{w}: grid.{pw}: the rule '{rule.name}' has no such pathway (expected one of "
                                     f"{', '.join(names)})")
        if (not isinstance(vals, list) or not vals
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 1 for v in vals)):
            raise ReferralSetupError(f"{w}: grid.{pw}: expected a list of probabilities in [0, 1], got {vals!r}")
        out.append((pw, tuple(float(v) for v in vals)))
    ev = data.get("evidence", [])
    if not isinstance(ev, list) or not all(isinstance(e, str) for e in ev):
        raise ReferralSetupError(f"{w}: evidence: expected a list of reference keys")
    return ReferralSetup(w, rule, data["population"], str(data.get("description", "")), tuple(ev), int(n), int(seed),
                         float(a0), inclusion, tuple(columns.items()), tuple(out), tuple(own), tuple(reported.items()))


def load_setup(name_or_path: str | Path) -> ReferralSetup:
    """Load a shipped setup by name or a TOML file by path."""
    src, data = read_toml(name_or_path, kind="referral calibration setup", shipped=SETUPS,
                          location=lambda s: f"configs/calibrate_referral_{s}.toml",
                          error=lambda source, message: ReferralSetupError(f"{source}: {message}"))
    return parse_setup(data, src)


# ----------------------------------------------------------------------------- the checks, tabulated once
@dataclass(frozen=True)
class CheckTable:
    """For ``n`` screened subjects and ``M`` checks: what the rule needs to refer them under any
    probabilities, and what a sample's profile needs at any referral check.

    ``met[j, i, m]``: pathway ``j``'s criteria hold for subject ``i`` at check ``m``;
    ``needs_help[j]``; ``help[i]``; ``u[i, m]``: the per-check uniform; ``included[i, m]``: the
    study's inclusion holds; ``shares[col][i, m]``: the profile share's criterion holds;
    ``counts[col][i, m]``: the profile count; ``inclusions[key][i, m]``: a target's own inclusion.
    """

    rule: ReferralRule
    days: np.ndarray
    met: np.ndarray
    needs_help: np.ndarray
    help: np.ndarray
    u: np.ndarray
    included: np.ndarray
    shares: dict[str, np.ndarray]
    counts: dict[str, np.ndarray] = field(default_factory=dict)
    inclusions: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def screened(self) -> int:
        return int(self.help.size)


def tabulate_history(rule: ReferralRule, hist, seed: int, ids: np.ndarray, inclusion: Node | None = None,
                     shares: tuple[str, ...] = tuple(PROFILE_CRITERIA), counts: tuple[str, ...] = tuple(PROFILE_COUNTS),
                     inclusions: Mapping[str, Node] | None = None) -> CheckTable:
    """The :class:`CheckTable` of subjects ``ids`` with daily history ``hist`` (from its life-course start);
    ``inclusions``: further inclusions by key (a fitted target's own)."""
    ids = np.asarray(ids, np.int64)
    days = check_days(rule, hist.start_age)
    days = days[days <= hist.n_days]
    cache = WindowCache(hist)
    nodes = {c: parse_node(PROFILE_CRITERIA[c], f"PROFILE_CRITERIA[{c!r}]", ValueError) for c in shares}

    def table(node) -> np.ndarray:
        if days.size == 0:
            return np.zeros((ids.size, 0), bool)
        return np.stack([meets(node, hist, int(d), cache) for d in days], axis=1)

    def values(col) -> np.ndarray:
        c = Criterion(PROFILE_COUNTS[col]["measure"], PROFILE_COUNTS[col].get("window_days"), ())
        if days.size == 0:
            return np.zeros((ids.size, 0))
        return np.stack([measure_values(c, hist, int(d), cache) for d in days], axis=1)

    met = (np.stack([table(p.criteria) for p in rule.pathways]) if rule.pathways
           else np.zeros((0, ids.size, days.size), bool))
    inc = table(inclusion) if inclusion is not None else np.ones((ids.size, days.size), bool)
    return CheckTable(rule, days, met, np.array([p.help_seeking for p in rule.pathways], bool),
                      help_seeking(rule, seed, ids), check_uniforms(seed, ids, days.size), inc,
                      {c: table(n) for c, n in nodes.items()}, {c: values(c) for c in counts},
                      {k: table(n) for k, n in (inclusions or {}).items()})


def concat_tables(parts: list[CheckTable]) -> CheckTable:
    """Join the tables of consecutive chunks of one pool."""
    a = parts[0]
    return replace(a, met=np.concatenate([p.met for p in parts], axis=1),
                   help=np.concatenate([p.help for p in parts]), u=np.concatenate([p.u for p in parts]),
                   included=np.concatenate([p.included for p in parts]),
                   shares={c: np.concatenate([p.shares[c] for p in parts]) for c in a.shares},
                   counts={c: np.concatenate([p.counts[c] for p in parts]) for c in a.counts},
                   inclusions={k: np.concatenate([p.inclusions[k] for p in parts]) for k in a.inclusions})


def tabulate(rule: ReferralRule, population: PopulationSpec | str, n: int, seed: int, start_age: float,
             inclusion: Node | None = None, shares: tuple[str, ...] = tuple(PROFILE_CRITERIA),
             chunk_size: int = SCREEN_CHUNK, progress: bool = False, counts: tuple[str, ...] = tuple(PROFILE_COUNTS),
             inclusions: Mapping[str, Node] | None = None) -> CheckTable:
    """Simulate community subjects ``0 .. n-1`` once (as :func:`nssisim.population.referral.refer`
    does) and tabulate their checks."""
    spec = population if isinstance(population, PopulationSpec) else load_population(population)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=int(n), desc=f"screening ({rule.name})", unit="subject")
    parts = []
    for a in range(0, int(n), int(chunk_size)):
        ids = np.arange(a, min(a + int(chunk_size), int(n)))
        _, _, hist = screen_chunk(rule, spec, ids, seed, start_age)
        parts.append(tabulate_history(rule, hist, seed, ids, inclusion, shares, counts, inclusions))
        if bar is not None:
            bar.update(ids.size)
    if bar is not None:
        bar.close()
    return concat_tables(parts)


def refer_with(table: CheckTable, probabilities: Mapping[str, float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Referral check index of each subject (-1: never) and the referring pathway's index, with the
    rule's probabilities replaced by ``probabilities`` (pathway name -> probability) where given.
    The same rule as :func:`nssisim.population.referral.referral_days`."""
    probabilities = dict(probabilities or {})
    n, m = table.u.shape
    if m == 0 or table.met.shape[0] == 0:
        return np.full(n, -1, np.int64), np.full(n, -1, np.int64)
    q = np.stack([np.where(table.met[j], float(probabilities.get(p.name, p.probability))
                           * (table.help[:, None] if table.needs_help[j] else 1.0), 0.0)
                  for j, p in enumerate(table.rule.pathways)])
    best = q.max(axis=0)
    hit = table.u < best
    any_hit = hit.any(axis=1)
    first = np.where(any_hit, hit.argmax(axis=1), -1)
    rows = np.flatnonzero(any_hit)
    via = np.full(n, -1, np.int64)
    via[rows] = q[:, rows, first[rows]].argmax(axis=0)
    return first.astype(np.int64), via


def sample_profile(table: CheckTable, probabilities: Mapping[str, float] | None = None,
                   inclusion: str | None = None) -> dict:
    """The sample under ``probabilities``: referral rate, sample size (referred and included at
    referral; ``inclusion``: the key of one of ``table.inclusions`` instead of the study's) and each
    profile share with its binomial sampling variance and each profile count's mean with the
    variance of the mean."""
    first, via = refer_with(table, probabilities)
    rows = np.flatnonzero(first >= 0)
    included = table.included if inclusion is None else table.inclusions[inclusion]
    inc = included[rows, first[rows]]
    rows, at = rows[inc], first[rows][inc]
    k = int(rows.size)
    out = {"referred": int((first >= 0).sum()), "sample": k, "rate": float((first >= 0).mean()) if first.size else math.nan}
    for c, x in table.shares.items():
        s = float(x[rows, at].mean()) if k else math.nan
        out[c] = (s, s * (1 - s) / k if k else math.nan)
    for c, x in table.counts.items():
        v = x[rows, at].astype(np.float64)
        out[c] = (float(v.mean()), float(v.var(ddof=1)) / k if k > 1 else math.nan) if k else (math.nan, math.nan)
    names = [p.name for p in table.rule.pathways]
    for j, name in enumerate(names):
        out[f"via_{name}"] = float((via[rows] == j).mean()) if k else math.nan
    return out


# ----------------------------------------------------------------------------- the fit
def grid_points(setup: ReferralSetup) -> list[dict[str, float]]:
    """Every combination of the setup's grid."""
    names = [pw for pw, _ in setup.grid]
    return [dict(zip(names, combo)) for combo in itertools.product(*(vals for _, vals in setup.grid))]


def evaluate_grid(setup: ReferralSetup, table: CheckTable, targets: str | Path | None = None) -> pd.DataFrame:
    """One row per grid point: the probabilities, the sample, each fitted share, its implausibility, ``I_max``."""
    tids = tuple(t for t, _ in setup.fit)
    entries = load_targets(targets, required=tids + tuple(t for t, _ in setup.report))
    own = dict(setup.own_inclusions)
    rows = []
    for point in grid_points(setup):
        prof = sample_profile(table, point)
        row = {f"p_{k}": v for k, v in point.items()}
        row.update(referred=prof["referred"], sample=prof["sample"], rate=prof["rate"])
        for c in list(table.shares) + list(table.counts):
            row[c] = prof[c][0]
        for name in (p.name for p in table.rule.pathways):
            row[f"via_{name}"] = prof[f"via_{name}"]
        for tid, col in setup.fit + setup.report:
            if tid in own:  # the target's own sample: its value (and size) is reported under its id
                p2 = sample_profile(table, point, inclusion=tid)
                v, var = p2[col]
                row[f"{col}@{tid}"], row[f"sample@{tid}"] = v, p2["sample"]
            else:
                v, var = prof[col]
            obs = observation(TARGET_IDS[tid], entries[tid])
            row[f"I_{tid}"] = float(obs.implausibility(v, var if math.isfinite(var) else 0.0)) if math.isfinite(v) else math.inf
        row["I_max"] = max(row[f"I_{t}"] for t in tids)
        rows.append(row)
    return pd.DataFrame(rows)


def calibrate_referral(setup: ReferralSetup | str | Path, *, targets: str | Path | None = None,
                       subjects: int | None = None, seed: int | None = None, progress: bool = False,
                       log: Callable[[str], None] = lambda m: None) -> dict:
    """Screen the setup's pool once and evaluate the grid: ``{"setup", "table", "best", "I_max", "screened"}``;
    ``best`` holds the probabilities of the grid point with the smallest ``I_max``."""
    setup = setup if isinstance(setup, ReferralSetup) else load_setup(setup)
    n = int(subjects if subjects is not None else setup.subjects)
    s = int(seed if seed is not None else setup.seed)
    log(f"screening {n} community subjects with rule '{setup.rule.name}' (life course from {setup.start_age:g}) ...")
    # every profile share is tabulated (the fitted ones are among them: parse_setup checks it)
    table = tabulate(setup.rule, setup.population, n, s, setup.start_age, setup.inclusion, progress=progress,
                     inclusions=dict(setup.own_inclusions))
    grid = evaluate_grid(setup, table, targets)
    i = int(grid["I_max"].to_numpy().argmin())
    best = {pw: float(grid.iloc[i][f"p_{pw}"]) for pw, _ in setup.grid}
    return {"setup": setup, "table": grid, "best": best, "I_max": float(grid.iloc[i]["I_max"]), "screened": n,
            "seed": s}


def format_referral(result: dict, targets: str | Path | None = None) -> str:
    """The grid as text, the published values and the chosen probabilities."""
    setup: ReferralSetup = result["setup"]
    t: pd.DataFrame = result["table"]
    entries = load_targets(targets, required=tuple(tid for tid, _ in setup.fit + setup.report))
    own = dict(setup.own_inclusions)
    pcols = [f"p_{pw}" for pw, _ in setup.grid]
    # the fitted values (a target with its own inclusion under "column@target"), then other shares, reported
    fitted = {(f"{c}@{tid}" if tid in own else c): tid for tid, c in setup.fit + setup.report}
    cols = list(fitted) + [c for c in ("more_than_weekly", "almost_daily_urges", "lifetime_attempt")
                           if c in t and c not in fitted]
    head = "  ".join(f"{c[2:]:>26}" for c in pcols) + f"  {'sample':>6}  {'rate':>6}  " + "  ".join(
        f"{c:>24}" for c in cols) + "   I_max"
    lines = [f"referral calibration: {setup.source}; rule '{setup.rule.name}', population '{setup.population}', "
             f"{result['screened']} screened (seed {result['seed']})",
             f"sample: the referred who meet, at referral: {setup.inclusion.describe() or 'no further criterion'}"]
    lines += [f"  {tid}: its own sample, the referred who meet at referral: {node.describe()}" for tid, node in own.items()]
    lines.append(head)
    best = result["best"]
    for _, r in t.iterrows():
        mark = " <" if all(r[f"p_{k}"] == v for k, v in best.items()) else ""
        cells = []
        for c in cols:
            i = r.get(f"I_{fitted[c]}") if c in fitted else None
            cells.append(f"{r[c]:14.3f}" + (f" (I {i:4.1f})" if i is not None and math.isfinite(i) else " " * 9) + " ")
        lines.append("  ".join(f"{r[c]:>26.3g}" for c in pcols) + f"  {int(r['sample']):>6}  {r['rate']:6.3f}  "
                     + "  ".join(f"{x:>24}" for x in cells) + f"   {r['I_max']:.2f}{mark}")
    pub = [f"{tid} ({c}) {published(TARGET_IDS[tid], entries[tid])[0]:g}" for tid, c in setup.fit]
    lines.append("published: " + ", ".join(pub))
    if setup.report:
        lines.append("reported, not fitted (their I is shown, not in I_max): " + ", ".join(
            f"{tid} ({c}) {published(TARGET_IDS[tid], entries[tid])[0]:g}" for tid, c in setup.report))
    lines.append("chosen: " + ", ".join(f"{k} = {v:g}" for k, v in best.items()) + f" (I_max {result['I_max']:.2f}); "
                 "other pathways keep the rule's probabilities")
    return "\n".join(lines)


__all__ = ["CheckTable", "ReferralSetup", "ReferralSetupError", "SETUPS", "calibrate_referral", "concat_tables",
           "evaluate_grid", "format_referral", "grid_points", "load_setup", "parse_setup", "refer_with",
           "sample_profile", "tabulate", "tabulate_history"]
