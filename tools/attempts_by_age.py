"""Suicide attempts by age in the shipped community life course (or with M13 settings given as
``name=value,name=value``): per year of age from 10 to 18, the share with a first attempt, with any
attempt, with NSSI, the mean ideation and the share of days with ideation above the targets' cutoff
(0.5); and the share of attempters with more than one attempt. 4,096 subjects, seed 7, daily records,
about 40 s on 2 cores.

Run from the repository root: ``python tools/attempts_by_age.py [SETTINGS]``; the record of 2026-12-04 is
docs/calibration_trials/m13_course_probe_2026-12-04.txt. A research instrument.
"""

import sys
from dataclasses import replace

import numpy as np

from m13_course_probe import settings
from nssisim.core.simulation import simulate_cohort
from nssisim.population import load_population
from nssisim.population.spec import params_of, sample_population
from nssisim.targets import IDEATION_CUTOFF

SUBJECTS, SEED = 4096, 7
START_AGE, END_AGE = 10.0, 19.0  # the last row is the year from 18 to 19


def by_age(overrides: dict[str, float]) -> None:
    """Print one row per year of age and the share of repeat attempters."""
    spec = load_population("community")
    spec = replace(spec, parameters={**spec.parameters, **overrides})
    ids = np.arange(SUBJECTS)
    pop = params_of(sample_population(spec, SUBJECTS, SEED, subject_ids=ids))
    days = round((END_AGE - START_AGE) * 365.25)
    ds = simulate_cohort(SEED, pop, subject_ids=ids, horizon_hours=days * 24, dt=1.0, record_every=24,
                         event_capacity=1, start_age_years=START_AGE)
    att, acts, ide = ds["attempts"].values, ds["acts"].values, ds["ideation"].values
    age = START_AGE + np.arange(att.shape[1]) / 365.25
    ever = att.any(axis=1)
    first_age = np.where(ever, age[att.argmax(axis=1)], np.nan)
    print(overrides)
    for a in range(int(START_AGE), int(END_AGE)):
        sel = (age >= a) & (age < a + 1)
        print(f"age {a}: first-attempt incidence {((first_age >= a) & (first_age < a + 1)).mean():.4f}, "
              f"any attempt {(att[:, sel].sum(1) > 0).mean():.4f}, NSSI 12m {(acts[:, sel].sum(1) > 0).mean():.3f}, "
              f"mean ideation {ide[:, sel].mean():.3f}, ideation>{IDEATION_CUTOFF:g} share-days "
              f"{(ide[:, sel] > IDEATION_CUTOFF).mean():.3f}")
    print("attempters with >1 attempt:", (att.sum(1) > 1).sum() / max(ever.sum(), 1))


if __name__ == "__main__":
    by_age(settings(sys.argv[1]) if len(sys.argv) > 1 else {})
