"""Cohort throughput at several sizes and chunk sizes, on whatever JAX backend is present.

Used for the GPU numbers in the README (``nssisim bench`` measures the standard 10,000-subject
year and the speedup over the plain-Python loop; this script measures how throughput scales with
cohort and chunk size, up to 1,000,000 subjects). Each size is timed on a warm call (the first
call compiles). Prints one JSON line per measurement and writes them all to ``--out``.

    python benchmarks/cohort_scaling.py --sizes 10000 1000000 --chunks 16384 131072 --years 1
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000])
    ap.add_argument("--chunks", type=int, nargs="+", default=[16_384])
    ap.add_argument("--years", type=float, default=1.0)
    ap.add_argument("--dt", type=float, default=1.0)
    ap.add_argument("--record-every", type=int, default=24, help="steps per recorded block")
    ap.add_argument("--budget-s", type=float, default=float("inf"),
                    help="skip remaining measurements once this much wall time has been spent")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)

    import jax

    from nssisim.bench import benchmark_params, machine_info
    from nssisim.core import HOURS_PER_YEAR
    from nssisim.core import simulate_cohort

    params, source = benchmark_params()
    block_h = args.record_every * args.dt
    horizon = round(args.years * HOURS_PER_YEAR / block_h) * block_h
    n_steps = round(horizon / args.dt)
    rows = []
    t_start = time.perf_counter()
    print(json.dumps({"machine": machine_info(), "params": source}), flush=True)
    for chunk in args.chunks:
        for n in args.sizes:
            if time.perf_counter() - t_start > args.budget_s:
                print(json.dumps({"skipped": {"n": n, "chunk": chunk}}), flush=True)
                continue
            kw = dict(n_subjects=n, horizon_hours=horizon, dt=args.dt, record_every=args.record_every, chunk_size=chunk)
            t0 = time.perf_counter()
            simulate_cohort(0, params, **kw)
            first = time.perf_counter() - t0
            t0 = time.perf_counter()
            ds = simulate_cohort(0, params, **kw)
            warm = time.perf_counter() - t0
            acts = float(ds["acts"].sum()) / n / (horizon / HOURS_PER_YEAR)
            row = {"n_subjects": n, "chunk_size": chunk, "n_steps": n_steps, "dt": args.dt, "record_every": args.record_every,
                   "first_call_s": round(first, 3), "warm_s": round(warm, 3),
                   "person_steps_per_s": n * n_steps / warm, "subject_years_per_s": n * horizon / HOURS_PER_YEAR / warm,
                   "acts_per_person_year": round(acts, 3), "backend": jax.default_backend()}
            rows.append(row)
            print(json.dumps(row), flush=True)
            del ds
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"machine": machine_info(), "params": source, "rows": rows}, f, indent=2)


if __name__ == "__main__":
    sys.exit(main())
