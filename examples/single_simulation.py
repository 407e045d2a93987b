"""One simulated adolescent over a stretch of time, drawn as the report's trajectory figure.

    python examples/single_simulation.py --out person.png [--days 365] [--preset vulnerable] [--seed 1]

The output path may also be given as NSSISIM_EXAMPLE_OUT. The figure shows aversive arousal with
the distress threshold, urge intensity, the raster of resisted urges, acts and attempts, the slow
learning states (relief value, habit, tolerance, harm expectancy), allostatic load and mood, and
suicidal ideation. Presets describe directions of risk, not real people; injury severity is an
abstract number. A research instrument, not a clinical tool.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def main(argv: list[str] | None = None) -> Path:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(os.environ.get("NSSISIM_EXAMPLE_OUT", "person.png")),
                    help="PNG to write (default: $NSSISIM_EXAMPLE_OUT or person.png)")
    ap.add_argument("--days", type=int, default=365, help="simulated days")
    ap.add_argument("--dt", type=float, default=1.0, help="step in hours (0.25 for episode-level detail)")
    ap.add_argument("--preset", default="vulnerable", help="person preset: typical, vulnerable or clinical")
    ap.add_argument("--seed", type=int, default=1, help="root seed")
    ap.add_argument("--subject", type=int, default=0, help="subject id: which random stream of the seed")
    args = ap.parse_args(argv)

    # imported after the arguments are parsed, so that --help answers without starting JAX
    from nssisim import events_table, simulate
    from nssisim.core import HOURS_PER_DAY, load_preset
    from nssisim.report import plot_person

    # every step recorded: the figure draws the daily range of arousal from these snapshots
    ds = simulate(seed=args.seed, params=load_preset(args.preset), subject_id=args.subject,
                  horizon_hours=args.days * HOURS_PER_DAY, dt=args.dt, record_every=1,
                  start_age_years=13.0)
    events = events_table(ds)
    counts = events["kind"].value_counts()
    path = plot_person(ds, args.subject, args.out,
                       title=f"one simulated adolescent ({args.preset} preset, seed {args.seed}, {args.days} days)")
    print(f"{args.preset}, subject {args.subject}, {args.days} days: {int(counts.get('act', 0))} acts, "
          f"{int(counts.get('resisted', 0))} resisted urges, {int(counts.get('attempt', 0))} attempts -> {path}")
    return path


if __name__ == "__main__":
    main()
