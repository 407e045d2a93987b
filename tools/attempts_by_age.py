"""Suicide attempts by age in the shipped community life course (or with M13 settings given as
``name=value,name=value``): per year of age from 10 to 18, the share with a first attempt, with any
attempt, with NSSI, the mean ideation and the share of days with ideation above 0.5; and the share of
attempters with more than one attempt. 4,096 subjects, seed 7, daily records, about 40 s on 2 cores.

Run from the repository root: ``python tools/attempts_by_age.py [SETTINGS]``; the record of 2026-12-04 is
docs/calibration_trials/m13_course_probe_2026-12-04.txt. A research instrument.
"""
import sys

import numpy as np

from dataclasses import replace
from nssisim.population import load_population
from nssisim.population.spec import sample_population, params_of
from nssisim.core.simulation import simulate_cohort
spec = load_population("community")
ov = {kv.split("=")[0]: float(kv.split("=")[1]) for kv in sys.argv[1].split(",") if kv} if len(sys.argv) > 1 else {}
spec = replace(spec, parameters={**spec.parameters, **ov})
n = 4096
ids = np.arange(n)
pop = params_of(sample_population(spec, n, 7, subject_ids=ids))
ds = simulate_cohort(7, pop, subject_ids=ids, horizon_hours=3288*24, dt=1.0, record_every=24, event_capacity=1, start_age_years=10.0)
att = ds["attempts"].values; acts = ds["acts"].values; ide = ds["ideation"].values
day = np.arange(att.shape[1]); age = 10 + day/365.25
first = np.where(att.any(1), att.argmax(1), -1)
print(ov)
for a in range(10, 19):
    sel = (age >= a) & (age < a+1)
    if not sel.any(): continue
    inc = ((first >= 0) & (age[np.maximum(first,0)] >= a) & (age[np.maximum(first,0)] < a+1)).mean()
    print(f"age {a}: first-attempt incidence {inc:.4f}, any attempt {(att[:, sel].sum(1)>0).mean():.4f}, NSSI 12m {(acts[:, sel].sum(1)>0).mean():.3f}, mean ideation {ide[:, sel].mean():.3f}, ideation>0.5 share-days {(ide[:, sel]>0.5).mean():.3f}")
print("attempters with >1 attempt:", ((att.sum(1) > 1).sum() / max((att.sum(1) > 0).sum(), 1)))
