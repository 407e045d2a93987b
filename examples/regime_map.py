"""The regime map: where sporadic NSSI turns addictive, over limbic reactivity and adult prefrontal capacity.

    python examples/regime_map.py --out regimes.png [--subjects 256] [--points 5] [--end-age 18]

The output path may also be given as NSSISIM_EXAMPLE_OUT. For each cell of the grid, virtual adolescents
of the shipped community population get the cell's two values and live from 10 to the end age; the
figure shows the share who reach the addictive profile, the boundary where that share crosses 0.5 and
the band of its 95 % intervals (docs/regimes.md; `nssisim regimes` is the same with its files and the
history-dependence check). The map is the model's, not an estimate of any real population. A research
instrument, not a clinical tool.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def main(argv: list[str] | None = None) -> Path:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(os.environ.get("NSSISIM_EXAMPLE_OUT", "regimes.png")),
                    help="PNG to write (default: $NSSISIM_EXAMPLE_OUT or regimes.png)")
    ap.add_argument("--subjects", type=int, default=256, help="virtual adolescents per cell")
    ap.add_argument("--points", type=int, default=5, help="grid values per axis")
    ap.add_argument("--end-age", type=float, default=18.0, help="age by which the profile is judged")
    ap.add_argument("--population", default="community", help="shipped population name or a spec TOML path")
    ap.add_argument("--seed", type=int, default=0, help="root seed")
    args = ap.parse_args(argv)

    import numpy as np

    from nssisim.phenotype import boundary, plot_map, regime_map

    ds = regime_map("limbic_reactivity", np.linspace(0.8, 2.6, args.points), "pfc_adult",
                    np.linspace(0.3, 1.5, args.points), population=args.population, n_persons=args.subjects,
                    seed=args.seed, end_age=args.end_age)
    path = plot_map(ds, args.out)
    table, _ = boundary(ds)
    crossed = table["y_cross"].notna().sum()
    print(f"{args.subjects} persons a cell, {args.points} x {args.points} cells, ages 10-{args.end_age:g}: "
          f"P(addictive profile) {float(ds['p_addictive'].min()):.3f}-{float(ds['p_addictive'].max()):.3f}; "
          f"the boundary crosses {crossed} of {args.points} rows -> {path}")
    return path


if __name__ == "__main__":
    main()
