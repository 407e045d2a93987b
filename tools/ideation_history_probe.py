"""The ideation history term (M13 w_ideation_history) against the attempt targets of the community and of the
clinic, after M13's mood was re-anchored to the distress threshold: for each weight, the attempt hazard is
refitted on the calibration's confirmation cohort (attempt_lifetime, attempt_12m), then the outpatient rule's
referred sample is screened and its share with NSSI and an attempt read over the rule's attempt-pathway grid
(calibrate_referral_outpatient.toml; published 0.26, cooccurrence.nssi_and_suicide_attempt_mental_disorders).

Run from the repository root: ``python tools/ideation_history_probe.py [weight[:power[:lam,lam,...]] ...]``
(about 20 s a hazard value and 40 s a screening on 2 cores; ``power``: attempt_ideation_power, default the
spec's; the hazard values default to a log grid from 2e-5 to 1e-2); the record of 2026-12-03 is docs/calibration_trials/ideation_history_probe_2026-12-03.txt.
A research instrument.
"""

import sys
import time
from dataclasses import replace

import numpy as np

from nssisim.population import load_population
from nssisim.population.calibration import evaluate, load_setup, load_targets
from nssisim.population.referral_calibration import evaluate_grid, load_setup as load_referral_setup, tabulate

LAMS = tuple(float(v) for v in np.geomspace(2e-5, 1e-2, 10))
SCREENED = 8192

if __name__ == "__main__":
    # weight[:power[:lam,lam,...]]
    points = [v.split(":") for v in sys.argv[1:]] or [["3"], ["1.5"], ["0"]]
    setup = load_setup("community")
    spec0 = load_population(setup.population)
    entries = load_targets(setup.targets_file, required=setup.fit)
    ref = load_referral_setup("outpatient")
    n, seed = setup.method["confirm_subjects"], setup.method["seed"] + 2
    for point in points:
        w = float(point[0])
        power = float(point[1]) if len(point) > 1 else float(spec0.parameters.get("attempt_ideation_power", 4.0))
        lams = [float(x) for x in point[2].split(",")] if len(point) > 2 else LAMS
        t = time.perf_counter()
        rows = []
        base = {**spec0.parameters, "w_ideation_history": w, "attempt_ideation_power": power}
        for lam in lams:
            spec = replace(spec0, parameters={**base, "lam_attempt": lam})
            m, imp = evaluate(spec, {}, n, seed, setup.course, entries)
            rows.append((max(imp["attempt_lifetime"], imp["attempt_12m"]), lam, m["attempt_lifetime"][0], m["attempt_12m"][0]))
        i_att, lam, a_life, a_12 = min(rows)
        spec = replace(spec0, parameters={**base, "lam_attempt": lam})
        table = tabulate(ref.rule, spec, SCREENED, ref.seed, ref.start_age, ref.inclusion,
                         inclusions=dict(ref.own_inclusions))
        grid = evaluate_grid(ref, table)
        k = int(grid["I_max"].to_numpy().argmin())
        co = grid["nssi_and_attempt"].to_numpy()
        print(f"w_ideation_history {w:g}, attempt_ideation_power {power:g}: lam_attempt {lam:.3g} (attempt_lifetime {a_life:.4f}, attempt_12m {a_12:.4f}, "
              f"largest I {i_att:.2f}); referred with NSSI and an attempt {co.min():.3f}-{co.max():.3f} over the pathway "
              f"grid; referral I_max {grid['I_max'].iloc[k]:.2f} at attempt pathway {grid['p_suicide_attempt'].iloc[k]:g} "
              f"(NSSI and attempt {co[k]:.3f}, diary acts {grid.filter(like='diary_acts').iloc[k, 0]:.2f}, "
              f"{int(grid['sample'].iloc[k])} referred of {SCREENED}); {time.perf_counter() - t:.0f} s", flush=True)
