"""Structural M13 settings against the three places attempts show: the community (the attempt hazard refitted
on the calibration's confirmation cohort against attempt_lifetime and attempt_12m), the outpatient rule's
referred sample (its attempt pathway refitted on the rule's grid; the share with NSSI and an attempt against
nssi_attempt_mental, published 0.26) and the DBT-A vs supportive trial drawn through that rule (the share
attempt-free and NSSI-free per arm and window; no calibration target, a plausibility check).

Each argument is ``name=value,name=value;lam,lam,...``: M13 parameters set on the shipped community spec,
then the hazard values tried. Run from the repository root: ``python tools/m13_course_probe.py ARG [ARG ...]``
(about 90 s an argument with three hazard values on 2 cores); the record of 2026-12-04 is
docs/calibration_trials/m13_course_probe_2026-12-04.txt. A research instrument.
"""

import sys
import time
from dataclasses import replace

from nssisim.population import load_population
from nssisim.population.calibration import evaluate, load_setup, load_targets
from nssisim.population.referral_calibration import evaluate_grid, load_setup as load_referral_setup, tabulate
from nssisim.trials.design import load_design
from nssisim.trials.run import run_trial

DESIGN = "src/nssisim/configs/trials/dbt_vs_supportive.toml"
SCREENED = 8192


def settings(text: str) -> dict[str, float]:
    """``name=value,name=value`` as model-parameter overrides (empty items skipped)."""
    return {k: float(v) for k, v in (item.split("=", 1) for item in text.split(",") if item)}

if __name__ == "__main__":
    setup = load_setup("community")
    spec0 = load_population(setup.population)
    entries = load_targets(setup.targets_file, required=setup.fit)
    ref = load_referral_setup("outpatient")
    n, seed = setup.method["confirm_subjects"], setup.method["seed"] + 2
    design0 = load_design(DESIGN)
    for arg in sys.argv[1:]:
        pars, lams = arg.split(";")
        ov = settings(pars)
        t = time.perf_counter()
        base = {**spec0.parameters, **ov}
        rows = []
        for lam in (float(x) for x in lams.split(",")):
            spec = replace(spec0, parameters={**base, "lam_attempt": lam})
            m, imp = evaluate(spec, {}, n, seed, setup.course, entries)
            rows.append((max(imp["attempt_lifetime"], imp["attempt_12m"]), lam, m["attempt_lifetime"][0], m["attempt_12m"][0]))
            print(f"   lam_attempt {lam:.3g}: attempt_lifetime {rows[-1][2]:.4f} attempt_12m {rows[-1][3]:.4f} "
                  f"(larger I {rows[-1][0]:.2f})", flush=True)
        i_att, lam, a_life, a_12 = min(rows)
        spec = replace(spec0, parameters={**base, "lam_attempt": lam})
        table = tabulate(ref.rule, spec, SCREENED, ref.seed, ref.start_age, ref.inclusion, inclusions=dict(ref.own_inclusions))
        grid = evaluate_grid(ref, table)
        k = int(grid["I_max"].to_numpy().argmin())
        p_att = float(grid["p_suicide_attempt"].iloc[k])
        rule = replace(design0.rule, pathways=tuple(replace(p, probability=p_att) if p.name == "suicide_attempt" else p
                                                    for p in design0.rule.pathways))
        ds = run_trial(replace(design0.on_population(spec), rule=rule))
        share = {v: ds[v].mean(("stratum", "replicate", "patient")).to_pandas() for v in ("attempt_free", "nssi_free")}
        trial = "; ".join(f"{v} {w}: " + ", ".join(f"{a} {share[v].loc[a, w]:.3f}" for a in share[v].index)
                          for v in share for w in share[v].columns)
        print(f"{ov}: lam_attempt {lam:.3g} (attempt_lifetime {a_life:.4f}, attempt_12m {a_12:.4f}, larger I {i_att:.2f}) | "
              f"referral: I_max {grid['I_max'].iloc[k]:.2f} at attempt pathway {p_att:g}, NSSI and attempt "
              f"{grid['nssi_and_attempt'].iloc[k]:.3f}, diary acts {grid.filter(like='diary_acts').iloc[k, 0]:.2f} | "
              f"trial ({ds.attrs.get('age_at_randomisation', float('nan')):.1f} y at randomisation): {trial} | "
              f"{time.perf_counter() - t:.0f} s", flush=True)
