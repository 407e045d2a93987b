"""Life-course population throughput (subject-years per second), e.g. 100,000 subjects aged 11 to 18.

Usage: PYTHONPATH=src python benchmarks/bench_population.py N [CHUNK] [OUT.json]
Runs nssisim.bench.run_population_benchmark (one warm-up chunk timed separately, then the whole cohort end
to end: sampling, simulation, reduction to measurements) and prints/writes the result.
"""

import json
import sys
import time

from nssisim.bench import format_population_benchmark, run_population_benchmark

if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    chunk = int(sys.argv[2]) if len(sys.argv) > 2 else 1024
    t0 = time.time()
    r = run_population_benchmark(n, chunk_size=chunk)
    print(format_population_benchmark(r), flush=True)
    if len(sys.argv) > 3:
        with open(sys.argv[3], "w") as f:
            json.dump(r, f, indent=1, default=str)
