"""The benchmark runs end to end at a tiny size (no wall-clock assertions: timings vary by machine)."""

from __future__ import annotations

import math

import pytest

from nssisim.bench import (format_benchmark, format_population_benchmark, run_benchmark, run_calibration_benchmark,
                           run_ema_benchmark, run_population_benchmark)
from nssisim.core import compiled
from nssisim.population import LifeCourse

NUMBERS = ("jax_first_call_s", "jax_s", "jax_person_steps_per_s", "python_s", "python_steps_per_s", "speedup")


def test_tiny_benchmark_reports_positive_finite_numbers():
    r = run_benchmark(n_subjects=64, horizon_hours=240.0, dt=1.0, python_steps=500, seed=1, repeats=1)
    for k in NUMBERS:
        assert isinstance(r[k], float) and math.isfinite(r[k]) and r[k] > 0, (k, r[k])
    assert r["person_steps"] == 64 * 240 and r["n_steps"] == 240 and r["python_steps"] == 500
    assert math.isclose(r["jax_person_steps_per_s"], r["person_steps"] / r["jax_s"])
    assert math.isclose(r["speedup"], r["jax_person_steps_per_s"] / r["python_steps_per_s"])
    assert r["goal_person_steps_per_s"] == 1e7 and r["goal_speedup"] == 500.0 and r["goal_vs_compiled"] == 1.0
    assert isinstance(r["goal_person_steps_met"], bool) and isinstance(r["goal_speedup_met"], bool)
    assert r["jax_acts_per_person_year"] >= 0 and r["python_acts_per_person_year"] >= 0
    m = r["machine"]
    assert m["cpu_count"] >= 1 and m["jax_version"] and m["jax_backend"] and m["jax_device"]
    if compiled.NUMBA_VERSION is None:
        assert r["compiled_person_steps_per_s"] is None and r["goal_vs_compiled_met"] is None
    else:  # the same cohort, the same draws: the compiled loop's acts are the JAX simulator's
        assert r["compiled_person_steps_per_s"] > 0 and isinstance(r["goal_vs_compiled_met"], bool)
        assert math.isclose(r["jax_vs_compiled"], r["jax_person_steps_per_s"] / r["compiled_person_steps_per_s"])
        assert r["compiled_acts_per_person_year"] == pytest.approx(r["jax_acts_per_person_year"], rel=0.05, abs=0.5)
    text = format_benchmark(r)
    assert "person-steps/s" in text and "JAX / Python" in text and m["jax_version"] in text
    assert "compiled loop" in text and "JAX >= compiled loop" in text


def test_workload_benchmarks_report_their_rates():
    """Life course (both measure sets), calibration candidates and EMA participants at tiny sizes."""
    course = LifeCourse(start_age=12.0, end_age=13.0)
    for with_events in (False, True):
        r = run_population_benchmark(64, course=course, chunk_size=64, with_events=with_events)
        assert r["with_events"] is with_events and r["subject_years_per_s"] > 0 and 0 <= r["lifetime_share"] <= 1
        assert isinstance(r["goal_subject_years_met"], bool) and "subject-years/s" in format_population_benchmark(r)
    cal = run_calibration_benchmark(1, n_subjects=64, course=course)
    assert cal["candidates_per_hour"] == pytest.approx(3600 / cal["candidate_s"]) and cal["wave_minutes"] > 0
    ema = run_ema_benchmark(4, days=1, burn_in_days=1)
    assert ema["participants_per_s"] == pytest.approx(4 / ema["wall_s"]) and ema["rows"] > 0
