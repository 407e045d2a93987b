"""Measurement for docs/calibration.md: generic history matching on a 20-parameter toy with a known truth.

Run: PYTHONPATH=src python docs/calibration_trials/toy20_history_matching.py (about 12 min on 2 busy cores).
"""
import math, time
import numpy as np
from scipy.special import expit
from nssisim.population.history_matching import Observation, Range, history_match, non_implausible_cloud, emulated_implausibility

K = 20
RANGES = [Range(f"t{i}", 0.0, 1.0) for i in range(K)]
TRUTH = {f"t{i}": 0.2 + 0.6 * ((i * 7) % 11) / 10 for i in range(K)}
N = 500

def means(x):
    # summary j depends on t_j and t_{j+1}: identifiable as a chain
    return {f"p{j}": expit(-1.5 + 2.0 * x[f"t{j}"] + 1.0 * x[f"t{(j + 1) % K}"]) for j in range(K)}

def sim(x, seed):
    rng = np.random.default_rng(seed)
    return {k: rng.binomial(N, v) / N for k, v in means(x).items()}

obs = {k: Observation.point(v, v * (1 - v) / 2000, var_sim=v * (1 - v) / N) for k, v in means(TRUTH).items()}
t = time.time()
res = history_match(sim, RANGES, obs, waves=3, wave_size=60, seed=1, cloud_size=20000, log=print)
print("seconds", round(time.time() - t, 1))
u_truth = np.array([[TRUTH[r.name] for r in RANGES]])
print("truth passes every wave's emulators:", all(emulated_implausibility(u_truth, e, obs)[0] <= 3 for e in res.all_emulators))
print("truth I per wave:", [round(float(emulated_implausibility(u_truth, e, obs)[0]), 2) for e in res.all_emulators])
print("non-implausible runs:", len(res.non_implausible()))
ok = np.array([r["u"] for r in res.non_implausible()])
if len(ok):
    span = ok.max(0) - ok.min(0)
    print("NI runs' span per parameter: mean", round(float(span.mean()), 3), "max", round(float(span.max()), 3))
    print("NI runs' mean abs error vs truth:", round(float(np.abs(ok.mean(0) - u_truth[0]).mean()), 3))
