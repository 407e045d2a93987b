"""Shared constants, fixtures and checks for the test suite.

Compile time dominates the suite, so tests share a few canonical run shapes (the static
arguments of ``nssisim.core.simulation._run_segment`` are the chunk size, number of records,
``record_every`` and ``event_capacity``; ``dt``, parameters, seeds and mechanism switches are
traced and never recompile).
"""

from __future__ import annotations

import numpy as np
import pytest

from nssisim.core import STATE_BOUNDS, STATE_FIELDS
from nssisim.core import load_preset

#: An at-risk adolescent: acts happen within weeks (use it where activity is needed).
AT_RISK = load_preset("vulnerable")

#: Busier than AT_RISK: urges, acts (some habit-triggered) and attempts all occur within 30 days
#: for a cohort of 10 (used where every event kind must be exercised).
ACTIVE = dict(AT_RISK, lam_urge=4.0, distress_threshold=0.3, act_bias=-1.0, lam_attempt=0.01, ideation_bias=0.0)

#: Canonical cohort run shape shared by several test modules (one compilation).
N_SUBJECTS = 10
HORIZON_30D = 30 * 24.0


@pytest.fixture(scope="session")
def at_risk() -> dict[str, float]:
    return dict(AT_RISK)


def domain_violations(states, pfc_max) -> list[str]:
    """Describe every state field that is non-finite or outside :data:`STATE_BOUNDS`.

    ``states`` maps field names to arrays (or is a ``State``); ``pfc`` is bounded above by
    ``pfc_max`` (the larger of ``pfc_adult`` and the starting value), which must broadcast
    against the ``pfc`` array. Bounds are exact: one float ulp outside the domain is a violation.
    """
    get = states.__getitem__ if isinstance(states, dict) else (lambda f: getattr(states, f))
    out = []
    for f in STATE_FIELDS:
        x = np.asarray(get(f))
        lo, hi = STATE_BOUNDS[f]
        if f == "pfc":
            hi = pfc_max
        bad = ~np.isfinite(x) | (x < lo)
        if hi is not None:
            bad = bad | (x > np.asarray(hi))
        if bad.any():
            out.append(f"{f}: {int(bad.sum())} value(s) outside its domain, e.g. {x[bad].ravel()[:3]}")
    return out

