"""Why DBT-A does not change attempts (issue 12): the dbt_vs_supportive trial on the shipped community
with model-parameter overrides (e.g. the M13 recent history), and per arm the mean ideation, its
fourth power (the attempt hazard's shape), mood, rumination, affect, the act counts and attempts
over each patient's 182 days of treatment (from randomisation, the day the arms diverge).

Usage: .venv/bin/python tools/attempts_decomposition.py N_PATIENTS '{"w_history_recent": 1}'
Archived output: docs/calibration_trials/recent_history_probe_2026-12-02.txt. A model probe, not evidence.
"""
import sys, json, numpy as np
from dataclasses import replace
import nssisim.trials.run as tr  # the trial's simulated histories are captured from its simulate_cohort call
from nssisim.trials.design import load_design
from nssisim.population.spec import load_population
cap = {}
orig = tr.simulate_cohort
def wrap(*a, **k):
    ds = orig(*a, **k); cap["ds"] = ds; cap["kw"] = k; return ds
tr.simulate_cohort = wrap
ov = json.loads(sys.argv[2])
d = replace(load_design("dbt_vs_supportive").on_population(load_population("community"), ov), n_patients=int(sys.argv[1]))
out = tr.run_trial(d)
ds = cap["ds"]
print("overrides", ov)
print(tr.arm_summary(out)[["arm", "window", "nssi_free", "attempt_free", "nssi_per_month"]].to_string(index=False))
arms = list(out["arm"].values); k = len(arms); n = ds.sizes["subject"] // k
aff = ds["affect"].values.reshape(k, n, -1)
diff = np.abs(aff[0] - aff[1]) > 0
t0 = np.where(diff.any(axis=1), diff.argmax(axis=1), -1)
ok = t0 >= 0
print("patients whose arms diverge:", int(ok.sum()), "of", n)
T = aff.shape[-1]
idx = t0[ok, None] + np.arange(182)[None, :]
idx = np.minimum(idx, T - 1)
att = ds["attempts"].values.reshape(k, n, -1)
for name in ("ideation", "mood", "rumination", "affect", "pfc", "recent_acts", "n_acts", "acts"):
    x = ds[name].values.reshape(k, n, -1)
    w = {a: np.take_along_axis(x[i][ok], idx, axis=1) for i, a in enumerate(arms)}
    print(f"{name:12s}", {a: round(float(v.mean()), 4) for a, v in w.items()})
    if name == "ideation":
        print(f"{'ideation^4':12s}", {a: round(float((v ** 4).mean()), 4) for a, v in w.items()})
        print(f"{'ideation day>0.5':12s}", {a: round(float((v > 0.5).mean()), 4) for a, v in w.items()})
w = {a: np.take_along_axis(att[i][ok], idx, axis=1).sum(axis=1) for i, a in enumerate(arms)}
print("attempt in 182 d", {a: round(float((v > 0).mean()), 4) for a, v in w.items()})
