"""P2 and P13 against the opioid-tolerance magnitudes: does a faster tolerance (eta_tolerance) or a
larger opioid share of relief (k_relief_opioid) give P2's escalation, and does tolerance shrink
naltrexone's effect (P13's best drug / DBT-A)? Each point puts the values over the calibrated
default (``Target.run(base=...)``): off the calibration, so the community course moves too (the
number of referred patients says how much). A probe, not a fit: nothing is shipped from it.

Run from the repository root: ``python tools/tolerance_probe.py`` (about 5 min on 2 cores); the record
of 2026-12-03 is docs/calibration_trials/tolerance_probe_2026-12-03.txt. A research instrument.
"""

import time

from nssisim.targets import TARGETS

PLAN = [({"eta_tolerance": e, "k_relief_opioid": k}, "P2") for e in (0.08, 0.16, 0.32) for k in (0.8, 1.2)]
PLAN += [({"eta_tolerance": e}, "P13") for e in (0.16, 0.32)]

if __name__ == "__main__":
    for base, tid in PLAN:
        t = time.perf_counter()
        r = TARGETS[tid].run(base=base)
        print(f"{base} {tid} holds={r.passed} stat={r.statistic:.3f} ({time.perf_counter() - t:.0f}s) | {r.detail}",
              flush=True)
