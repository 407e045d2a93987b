"""The sweep benchmark and the bench CLI's sizing options (tiny sizes; no wall-clock assertions)."""

from __future__ import annotations

import math

import pytest
from typer.testing import CliRunner

from nssisim.bench import format_sweep_benchmark, run_benchmark, run_sweep_benchmark
from nssisim.cli import app


@pytest.mark.slow  # 4 tiny sweeps and a cluster: ~10 s on a quiet 2-core machine, ~50 s under load
def test_tiny_sweep_benchmark_reports_both_executors_and_identical_results():
    r = run_sweep_benchmark(n_runs=4, n_subjects_per_run=8, days=5, workers=1, shard_size=2)
    assert r["n_shards"] == 2 and r["shard_size"] == 2 and r["person_steps"] == 4 * 8 * 5 * 24
    for k in ("local_cold_s", "local_warm_s", "dask_start_s", "dask_cold_s", "dask_warmup_s", "dask_warm_s",
              "local_runs_per_s", "dask_runs_per_s", "dask_overhead_ratio"):
        assert isinstance(r[k], float) and math.isfinite(r[k]) and r[k] > 0, (k, r[k])
    assert math.isclose(r["local_runs_per_s"], 4 / r["local_warm_s"])
    assert math.isclose(r["dask_overhead_ratio"], r["dask_warm_s"] / r["local_warm_s"])
    assert r["identical"] is True
    text = format_sweep_benchmark(r)
    assert "runs/s" in text and "overhead" in text and "identical      yes" in text


def test_cohort_benchmark_takes_chunk_size_and_record_interval():
    r = run_benchmark(n_subjects=70, horizon_hours=48.0, python_steps=10, chunk_size=64, record_every=48,
                      event_capacity=16)
    assert r["chunk_size"] == 64 and r["record_every"] == 48 and r["person_steps"] == 70 * 48
    assert r["event_capacity"] == 16


def test_bench_cli_checks_years_and_record_interval():
    r = CliRunner().invoke(app, ["bench", "--years", "0.001"])
    assert r.exit_code == 2 and "less than one day" in r.output
    r = CliRunner().invoke(app, ["bench", "--years", "1", "--record-every", "7"])
    assert r.exit_code == 2 and "must divide the run's 8760 steps" in r.output
