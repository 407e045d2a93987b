"""pytest-benchmark timings (not part of the default test run: ``testpaths`` is ``tests``).

Run with ``pytest benchmarks --benchmark-enable`` (the project's ``addopts`` disable
benchmarks by default). For the headline numbers and the goals use ``nssisim bench`` or
:func:`nssisim.bench.run_benchmark`.
"""

from __future__ import annotations

from nssisim.bench import benchmark_params
from nssisim.core import reference_run
from nssisim.core import simulate_cohort

N_SUBJECTS = 2000
HORIZON = 8760.0


def test_simulate_cohort_year(benchmark):
    params, _ = benchmark_params()

    def run():
        return simulate_cohort(0, params, n_subjects=N_SUBJECTS, horizon_hours=HORIZON, dt=1.0, record_every=24)

    ds = benchmark.pedantic(run, rounds=3, iterations=1, warmup_rounds=1)
    benchmark.extra_info["person_steps"] = N_SUBJECTS * int(HORIZON)
    assert ds.sizes["subject"] == N_SUBJECTS


def test_reference_loop(benchmark):
    params, _ = benchmark_params()
    states, events = benchmark.pedantic(lambda: reference_run(0, params, dt=1.0, n_steps=20_000, record_every=24),
                                        rounds=3, iterations=1, warmup_rounds=1)
    benchmark.extra_info["steps"] = 20_000
    assert len(events) == 20_000
