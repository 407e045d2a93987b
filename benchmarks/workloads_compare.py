"""The workloads of ``nssisim bench --workloads`` through APIs that older versions also have.

    PYTHONPATH=<a checkout>/src python benchmarks/workloads_compare.py [population_subjects [ema_participants]]

Run it with one checkout's ``src`` on the path, then another's, alternately, to compare versions
on the same machine (the numbers of one run are only comparable with runs close in time on a
shared machine). Prints one JSON line: life-course subject-years/s with end measures
(``run_in_memory``) and with survey measures only (``simulate_chunk(with_events=False)``, as a
calibration candidate), the time of one calibration candidate (``evaluate``) and EMA
participants per second (``simulate_study``), each warm (a first call compiles).
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np

import nssisim
from nssisim.ema import simulate_study
from nssisim.population import CAL_SEED, CAL_SUBJECTS, LifeCourse, evaluate, load_population
from nssisim.population import load_targets, run_in_memory, simulate_chunk

try:  # the calibrated box: a function before 2026-12-01 (wt-calib), a setup file since
    from nssisim.population import calibrated_ranges
except ImportError:
    calibrated_ranges = None


def main(argv: list[str]) -> dict:
    n = int(argv[0]) if argv else 2048
    n_ema = int(argv[1]) if len(argv) > 1 else 128
    course, chunk = LifeCourse(), 1024
    spec = load_population("community")
    years = course.n_days / 365.25
    out = {"version": nssisim.__file__}

    simulate_chunk(spec, np.arange(chunk), 1, course)
    t0 = time.perf_counter()
    run_in_memory(spec, n, seed=0, course=course, chunk_size=chunk)
    out["lifecourse_full_subject_years_per_s"] = n * years / (time.perf_counter() - t0)

    simulate_chunk(spec, np.arange(chunk), 1, course, with_events=False)
    t0 = time.perf_counter()
    for a in range(0, n, chunk):
        simulate_chunk(spec, np.arange(a, min(a + chunk, n)), 0, course, with_events=False)
    out["lifecourse_counts_subject_years_per_s"] = n * years / (time.perf_counter() - t0)

    entries = load_targets()
    if calibrated_ranges is not None:
        x = {k: 0.5 * (lo + hi) for k, (lo, hi, _) in calibrated_ranges(spec).items()}
    else:
        from nssisim.population import load_setup
        x = {r.name: r.from_unit(0.5) for r in load_setup("community").ranges}
    evaluate(spec, x, CAL_SUBJECTS, CAL_SEED, course, entries)
    t0 = time.perf_counter()
    evaluate(spec, x, CAL_SUBJECTS, CAL_SEED + 1, course, entries)
    out["calibration_candidates_per_hour"] = 3600.0 / (time.perf_counter() - t0)

    simulate_study(1, "vulnerable", n_ema)
    t0 = time.perf_counter()
    simulate_study(0, "vulnerable", n_ema)
    out["ema_participants_per_s"] = n_ema / (time.perf_counter() - t0)
    return out


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:])))
