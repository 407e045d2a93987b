"""How much suicidal ideation the calibrated default produces in community persons (P14's design: the
community persons of seed 1414, the year before 16, daily records): its level, its peak and the days above
P14's cut-off 0.5, by NSSI in that year; then the same persons on the parameter table's defaults (the scale
M13's illustrative weights were set on). A probe for issue 12 (P14 at the ceiling); nothing is fitted.

Run from the repository root: ``python tools/ideation_level_probe.py`` (about 40 s on 2 cores); the record of
2026-12-03 is docs/calibration_trials/ideation_level_probe_2026-12-03.txt. A research instrument.
"""

import numpy as np

from nssisim import targets as T
from nssisim.core.parameters import PARAMS


def report(label: str) -> None:
    run = T._community([{}], (), seed=1414, record_every=24, states=("ideation", "mood", "affect"))
    w = run.window(T.COMMUNITY_END_AGE - 1.0)
    idea, mood, affect = (run.counts[v][0][:, w] for v in ("ideation", "mood", "affect"))
    nssi_y = run.counts["acts"][0][:, w].sum(1) > 0
    print(f"{label}: {idea.shape[0]} persons, the year before 16: mean ideation {idea.mean():.3f}, mood {mood.mean():.3f}, "
          f"affect {affect.mean():.3f}; NSSI in the year {nssi_y.mean():.3f}")
    for q in (0.1, 0.25, 0.5, 0.75, 0.9):
        print(f"  person-mean ideation q{q}: {np.quantile(idea.mean(1), q):.3f}; peak q{q}: {np.quantile(idea.max(1), q):.3f}")
    days = (idea > T.IDEATION_CUTOFF).sum(1)
    for k in (1, 14, 30, 90, 180):
        print(f"  share with ideation > {T.IDEATION_CUTOFF} on >= {k} days: {np.mean(days >= k):.3f} (NSSI in the year "
              f"{np.mean(days[nssi_y] >= k):.3f}, none {np.mean(days[~nssi_y] >= k):.3f})")
    print(f"  mean ideation, NSSI in the year vs none: {idea[nssi_y].mean():.3f} vs {idea[~nssi_y].mean():.3f}")


if __name__ == "__main__":
    report("calibrated default")
    table = {k: PARAMS[k].default for k in T._population_spec().parameters if k in PARAMS}
    token = T._BASE.set(T.check_base(table))
    try:
        report("parameter table's defaults (the spec's fitted values replaced)")
    finally:
        T._BASE.reset(token)
