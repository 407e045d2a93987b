"""Benchmark of the EMA fit: 30 participants x 14 days x 6 prompts a day (goal: under 5 minutes on 2 cores).

Run: ``PYTHONPATH=src python benchmarks/bench_fit.py [--seed 1] [--preset vulnerable] [--out bench_fit.json]``.
Times ``nssisim fit``'s work (read the file, compile, warm up and sample 2 chains x 500 + 500 NUTS
iterations, write posterior, summary and plots) on a synthetic study from ``nssisim ema simulate``'s
defaults (compliance 0.75), and a second fit of the same data with the compiled sampler reused.
Report the machine and its load with the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import warnings
from pathlib import Path

from nssisim.ema import (
    FitDiagnosticWarning,
    diagnostics,
    fit,
    plot_ppc,
    posterior_dataset,
    ppc,
    read_ema,
    simulate_study,
    summary_table,
    write_ema,
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--preset", default="vulnerable")
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        study = Path(tmp) / "study.csv"
        write_ema(simulate_study(a.seed, a.preset, 30, days=14, prompts_per_day=6).data, study)
        times = []
        for _ in range(2):
            t0 = time.perf_counter()
            data = read_ema(study)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", FitDiagnosticWarning)
                f = fit(data, seed=a.seed)
            posterior_dataset(f).to_netcdf(Path(tmp) / "posterior.nc")
            summary_table(f).to_csv(Path(tmp) / "summary.csv")
            plot_ppc(ppc(f, seed=a.seed), tmp)
            times.append(time.perf_counter() - t0)
    diag = diagnostics(f)
    res = {"participants": 30, "days": 14, "prompts_per_day": 6, "preset": a.preset, "seed": a.seed,
           "answered_prompts": int(f.data.present.sum()), "settings": f.settings,
           "first_fit_seconds_incl_compile": times[0], "second_fit_seconds": times[1], "goal_seconds": 300,
           "goal_met": times[0] < 300, "divergences": diag["divergences"], "warnings": [str(w.message) for w in caught],
           "cpu_count": os.cpu_count(), "load_average_at_end": os.getloadavg()}
    text = json.dumps(res, indent=2)
    print(text)
    if a.out:
        a.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
