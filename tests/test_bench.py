"""The benchmark runs end to end at a tiny size (no wall-clock assertions: timings vary by machine)."""

from __future__ import annotations

import math

from nssisim.bench import format_benchmark, run_benchmark

NUMBERS = ("jax_first_call_s", "jax_s", "jax_person_steps_per_s", "python_s", "python_steps_per_s", "speedup")


def test_tiny_benchmark_reports_positive_finite_numbers():
    r = run_benchmark(n_subjects=64, horizon_hours=240.0, dt=1.0, python_steps=500, seed=1)
    for k in NUMBERS:
        assert isinstance(r[k], float) and math.isfinite(r[k]) and r[k] > 0, (k, r[k])
    assert r["person_steps"] == 64 * 240 and r["n_steps"] == 240 and r["python_steps"] == 500
    assert math.isclose(r["jax_person_steps_per_s"], r["person_steps"] / r["jax_s"])
    assert math.isclose(r["speedup"], r["jax_person_steps_per_s"] / r["python_steps_per_s"])
    assert r["goal_person_steps_per_s"] == 1e7 and r["goal_speedup"] == 300.0
    assert isinstance(r["goal_person_steps_met"], bool) and isinstance(r["goal_speedup_met"], bool)
    assert r["jax_acts_per_person_year"] >= 0 and r["python_acts_per_person_year"] >= 0
    m = r["machine"]
    assert m["cpu_count"] >= 1 and m["jax_version"] and m["jax_backend"] and m["jax_device"]
    text = format_benchmark(r)
    assert "person-steps/s" in text and "speedup" in text and m["jax_version"] in text
