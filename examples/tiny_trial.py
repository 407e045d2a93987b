"""A tiny virtual randomised trial, DBT-A against placebo, drawn as the trial's forest plot.

    python examples/tiny_trial.py --out forest.png [--patients 32] [--replicates 2] [--days 60]

The output path may also be given as NSSISIM_EXAMPLE_OUT. The design is written here as a Python
dict in the grammar of a trial design file (docs/trials.md; the shipped designs are in
src/nssisim/configs/trials/): patients of the shipped clinical population are screened over a
short simulated history, the eligible ones are randomised, and every patient is simulated in every
arm (common random numbers). At this size the effects are noisy; the point is the workflow.
Every result is a prediction of the model, not evidence about any treatment, and never advice.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def tiny_design(patients: int, days: int, seed: int) -> dict:
    """A short design: loose eligibility (one act in the 60-day history, one in the last 30 days)."""
    return {
        "name": "tiny_example", "seed": seed, "population": "clinical", "start_age_years": 14.0,
        "history_days": 60, "n_patients": patients, "screen_batch": 4 * patients, "max_screen": 40 * patients,
        "baseline_days": 30, "control": "placebo",
        "eligibility": {"age_min": 12, "age_max": 18, "min_lifetime_acts": 1, "recent_days": 30},
        "treatment": {"length_days": days},
        "windows": [{"name": "treatment", "start_day": 0, "end_day": days}],
        "arms": {"dbt_a": {"intervention": "dbt_a"}, "placebo": {"intervention": "placebo"}},
    }


def main(argv: list[str] | None = None) -> Path:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(os.environ.get("NSSISIM_EXAMPLE_OUT", "forest.png")),
                    help="PNG to write (default: $NSSISIM_EXAMPLE_OUT or forest.png)")
    ap.add_argument("--patients", type=int, default=32, help="randomised patients per trial")
    ap.add_argument("--replicates", type=int, default=2, help="independent trials (power needs many)")
    ap.add_argument("--days", type=int, default=60, help="days of treatment")
    ap.add_argument("--seed", type=int, default=5, help="seed of the design")
    args = ap.parse_args(argv)

    from nssisim.trials import parse_design, plot_forest, run_trial, summary_table

    design = parse_design(tiny_design(args.patients, args.days, args.seed), "tiny_example (examples/tiny_trial.py)")
    ds = run_trial(design, replicates=args.replicates)
    path = plot_forest(ds, args.out)
    s = summary_table(ds)
    acts = s[(s.analysis == "randomised") & (s.outcome == "nssi_per_month") & (s.measure == "hedges_g")]
    for row in acts.itertuples():
        print(f"{row.contrast}, NSSI acts a month during treatment: Hedges' g {row.estimate:+.2f} "
              f"[{row.low:+.2f}, {row.high:+.2f}] (replicate 0; {row.replicates} replicates)")
    print(f"forest plot -> {path}")
    return path


if __name__ == "__main__":
    main()
