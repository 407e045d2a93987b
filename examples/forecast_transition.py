"""Forecasting the transition: who among sporadic self-injurers at 15 enters the addictive regime within a year.

    python examples/forecast_transition.py --out forecast.png [--subjects 16384] [--index-age 15]

The output path may also be given as NSSISIM_EXAMPLE_OUT. Virtual adolescents of the shipped community
population live to a year after the index age; the sporadic self-injurers there are followed month by
month, and the figure shows, for the persons not used to train (odd subject ids), the ROC curves of act
frequency alone, of every observable feature, of the oracle (latent states) and of the early-warning
indicators, beside the reliability of the trained forecasts (docs/regimes.md; `nssisim forecast` is
the same with its tables). The forecast is the model's, not a tool for any real person. A research
instrument, not a clinical tool.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def main(argv: list[str] | None = None) -> Path:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(os.environ.get("NSSISIM_EXAMPLE_OUT", "forecast.png")),
                    help="PNG to write (default: $NSSISIM_EXAMPLE_OUT or forecast.png)")
    ap.add_argument("--subjects", type=int, default=16384, help="virtual adolescents simulated")
    ap.add_argument("--index-age", type=float, default=15.0, help="age at which the forecast is made")
    ap.add_argument("--population", default="community", help="shipped population name or a spec TOML path")
    ap.add_argument("--seed", type=int, default=0, help="root seed")
    args = ap.parse_args(argv)

    from nssisim.phenotype import evaluate, forecast_cohort, plot_forecast

    table = forecast_cohort(args.population, args.subjects, seed=args.seed, index_age=args.index_age)
    metrics, _ = evaluate(table)
    path = plot_forecast(table, args.out)
    auc = metrics.set_index("features")["auc"]
    print(f"{len(table)} sporadic self-injurers at {args.index_age:g}, {int(table['enters'].sum())} entering within a "
          f"year; AUC observable {auc['observable']:.3f}, oracle {auc['oracle']:.3f}, frequency alone "
          f"{auc['frequency']:.3f} -> {path}")
    return path


if __name__ == "__main__":
    main()
