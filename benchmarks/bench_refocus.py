"""History matching: time of the refocusing search for the next wave of a real calibration run, with every
emulator evaluated on every point against the bounded evaluation (``history_matching._imax(..., bound=)``).

Usage: PYTHONPATH=src python benchmarks/bench_refocus.py RUN_DIR SETUP.toml WAVES [OUT.json]
Fits the emulators of waves 1..WAVES from RUN_DIR's wave_*.jsonl as ``history_match`` does, then runs
``refocus`` for wave WAVES + 1 twice from the same random state and checks that both give the same points.
A ratio measured in one run on one machine.
"""

import json
import math
import platform
import sys
import time
from pathlib import Path

import numpy as np

from nssisim.population import history_matching as hm
from nssisim.population.calibration import TARGET_IDS, load_setup, load_targets, observation


def main(run: str, setup_path: str, upto: int) -> dict:
    setup = load_setup(setup_path)
    entries = load_targets()
    obs = {tid: observation(TARGET_IDS[tid], entries[tid]) for tid in setup.fit}
    seed = setup.method["seed"]
    runs, sets = [], []
    t0 = time.perf_counter()
    for w in range(1, upto + 1):
        runs += sorted(hm._read_runs(Path(run) / f"wave_{w:02d}.jsonl"), key=lambda r: r["index"])
        u = np.array([r["u"] for r in runs])
        y = {n: np.array([hm._value(r["summaries"].get(n, math.nan)) for r in runs]) for n in obs}
        rv = {n: np.array([hm._variance(r["summaries"].get(n, math.nan)) for r in runs]) for n in obs}
        sets.append(hm.fit_emulators(u, y, seed=hm._seed(seed, w, hm._EMULATOR), reported_var=rv))
    fit_s = time.perf_counter() - t0
    k = u.shape[1]
    bounded = hm._imax

    def timed(imax):
        hm._imax = imax
        try:
            rng = np.random.default_rng(hm._seed(seed, upto + 1, hm._CLOUD))
            t = time.perf_counter()
            ok, share, source, _ = hm.refocus(sets, obs, np.zeros(k), np.ones(k), setup.method["wave_size"],
                                              setup.method["cloud_size"], rng, setup.method["cutoff"], np.zeros((0, k)))
            return ok, time.perf_counter() - t, source
        finally:
            hm._imax = bounded

    old, t_old, src = timed(lambda x, s, o, bound=None: bounded(x, s, o))
    new, t_new, _ = timed(bounded)
    return {"run": run, "waves_fitted": upto, "emulators": sum(len(s) for s in sets), "emulator_fit_seconds": fit_s,
            "refocus_seconds_every_emulator": t_old, "refocus_seconds_bounded": t_new, "speed_up": t_old / t_new,
            "points": len(new), "design_from": src, "same_points": bool(old.shape == new.shape and np.array_equal(old, new)),
            "machine": platform.platform(), "cpus": __import__("os").cpu_count()}


if __name__ == "__main__":
    r = main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
    print(json.dumps(r, indent=1))
    if len(sys.argv) > 4:
        Path(sys.argv[4]).write_text(json.dumps(r, indent=1) + "\n")
