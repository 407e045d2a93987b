"""The benchmark's yardstick (:mod:`nssisim.core.compiled`) computes what the reference computes.

Three checks:

1. :func:`compiled_step` (a transcription of ``reference_step`` on records) agrees with the
   reference on random parameters, states, switches, uniforms and step lengths. Both compute in
   float64 with the same operations in the same order, so they agree to float64 rounding
   (``rtol = 1e-12``); draws within 1e-9 of a decision boundary are skipped. Without Numba the
   transcription runs as plain Python, so this check runs in every environment.
2. Its Threefry-2x32 and uniform conversion give exactly the numbers of JAX's
   (``jax.extend.random.threefry_2x32`` and ``simulation.step_uniforms``): always checked.
3. The compiled cohort loop (needs Numba; skipped with the reason otherwise) gives the JAX
   simulator's events: the same per-day counts for (almost) every subject, and states within
   float32 rounding. The two differ only by float32 against float64 arithmetic, which can flip a
   draw lying within ~1e-7 of a boundary and make that subject diverge; with 64 subjects over 30
   days of the busy ACTIVE person that has not happened, and at most 2 of 64 are allowed.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from jax.extend.random import threefry_2x32

from conftest import ACTIVE, HORIZON_30D
from nssisim import simulate_cohort
from nssisim.core import COUNT_FIELDS, EVENT_FIELDS, N_MECHANISMS, N_UNIFORMS, PARAMS, STATE_BOUNDS, STATE_FIELDS
from nssisim.core import mechanism_switches, reference_params, reference_step, stack_params, step_uniforms
from nssisim.core import compiled

MARGIN = 1e-9
STATE_MAX = {"pfc": 2.0, "opioid": 2.0, "n_acts": 100.0, "recent_acts": 100.0}
PARAM_NAMES = sorted(PARAMS)


@st.composite
def parameters(draw):
    p = reference_params()
    for name in draw(st.lists(st.sampled_from(PARAM_NAMES), max_size=16, unique=True)):
        p[name] = draw(st.floats(PARAMS[name].low, PARAMS[name].high, allow_nan=False))
    return p


@st.composite
def states(draw):
    s = {}
    for name in STATE_FIELDS:
        lo, hi = STATE_BOUNDS[name]
        hi = STATE_MAX.get(name, hi)
        s[name] = float(draw(st.integers(0, int(hi)))) if name == "n_acts" else draw(st.floats(lo, hi))
    return s


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(p=parameters(), s=states(), u=st.lists(st.floats(0.0, 1.0, exclude_max=True), min_size=N_UNIFORMS,
                                               max_size=N_UNIFORMS),
       on=st.lists(st.sampled_from([0.0, 1.0]), min_size=N_MECHANISMS, max_size=N_MECHANISMS),
       dt=st.floats(0.05, 2.0), age=st.floats(5.0, 30.0))
def test_compiled_step_agrees_with_reference(p, s, u, on, dt, age):
    comparisons: dict[str, tuple[float, float]] = {}
    want_s, want_ev = reference_step(u, s, p, on, dt, comparisons=comparisons, age=age)
    assume(not any(abs(a - b) <= MARGIN * max(abs(a), abs(b), 1.0) for a, b in comparisons.values()))
    got_s, got_ev = compiled.one_step(u, s, p, on, dt, age)
    assert list(got_ev) == list(EVENT_FIELDS)
    for k, v in want_ev.items():
        if isinstance(v, bool):
            assert got_ev[k] == v, f"event {k}: compiled {got_ev[k]} vs reference {v}"
        else:
            assert math.isclose(got_ev[k], v, rel_tol=1e-12, abs_tol=1e-14), (k, got_ev[k], v)
    for k, v in want_s.items():
        assert math.isclose(got_s[k], v, rel_tol=1e-12, abs_tol=1e-14), (k, got_s[k], v)


def test_threefry_and_uniforms_are_jax_s():
    rng = np.random.default_rng(5)
    for _ in range(20):
        k = rng.integers(0, 2**32, size=2, dtype=np.uint64).astype(np.uint32)
        x = rng.integers(0, 2**32, size=2, dtype=np.uint64).astype(np.uint32)
        want = np.asarray(threefry_2x32(jnp.asarray(k), jnp.asarray(x)))
        got = compiled.threefry2x32(*map(int, k), *map(int, x))
        assert [int(g) for g in got] == [int(w) for w in want]
    keys = compiled.subject_keys(3, np.array([0, 7, 123456]))
    for i, sid in enumerate((0, 7, 123456)):
        key = jax.random.fold_in(jax.random.PRNGKey(3), np.uint32(sid))
        np.testing.assert_array_equal(keys[i], np.asarray(jax.random.key_data(key)))
        for t in (0, 1, 8759, 2**20 + 3):
            want = np.asarray(step_uniforms(key, jnp.int32(t)))
            got = compiled.step_uniforms(int(keys[i, 0]), int(keys[i, 1]), t)
            np.testing.assert_array_equal(np.float32(got), want)  # exact: float32 values widened to float64


@pytest.mark.skipif(compiled.NUMBA_VERSION is None, reason=compiled.NUMBA_MISSING or "")
def test_compiled_cohort_matches_the_jax_simulator():
    n = 64
    ds = simulate_cohort(7, ACTIVE, n_subjects=n, horizon_hours=HORIZON_30D, record_every=24)
    r = compiled.run_compiled(7, stack_params(ACTIVE, n), mechanism_switches(), n_steps=int(HORIZON_30D))
    same = np.ones(n, bool)
    for j, f in enumerate(COUNT_FIELDS[:6]):  # the event counts
        same &= (ds[f].values == r["counts"][:, :, j]).all(axis=1)
    assert ds["acts"].values.sum() > 500, "the comparison needs a busy cohort"
    assert same.sum() >= n - 2, f"only {same.sum()} of {n} subjects have the JAX simulator's events"
    for f in STATE_FIELDS:
        np.testing.assert_allclose(r["states"][f][same], ds[f].values[same], rtol=1e-3, atol=1e-5, err_msg=f)
    rows = np.bincount(ds["event_subject"].values, minlength=n)  # subject ids are 0..n-1
    np.testing.assert_array_equal(np.minimum(r["n_events"], 512)[same], rows[same])


def test_transcription_is_line_for_line():
    """``compiled_step``'s equations are ``reference_step``'s text (from the fast block to the act),
    except that the nested ``excess_at`` helper is the module-level ``_excess_at``. A change of
    ``reference.py`` that is not copied here fails with the lines that differ."""
    import difflib
    import inspect

    from nssisim.core import reference

    start, stop = "    # ---- fast block: stress and affect along their exact paths", "    # ---- M13 attempt (rare)"
    ref = inspect.getsource(reference.reference_step)
    ref = ref[ref.index(start):ref.index(stop)]
    ref = ref.replace('''    def excess_at(a):
        return _clip((a + mood_term - threshold) / (1.0 - threshold), 0.0, 1.0)

    w0, w_mid, w1 = excess_at(s["affect"]), 4.0 * excess_at(affect_mid), excess_at(affect)''', '''    w0 = _excess_at(s["affect"], mood_term, threshold)
    w_mid = 4.0 * _excess_at(affect_mid, mood_term, threshold)
    w1 = _excess_at(affect, mood_term, threshold)''')
    src = inspect.getsource(getattr(compiled.compiled_step, "py_func", compiled.compiled_step))
    got = src[src.index(start):src.index('    new["stress"] = stress')]
    diff = "\n".join(difflib.unified_diff(ref.splitlines(), got.splitlines(), "reference.py", "compiled.py", lineterm=""))
    assert got == ref, f"core/compiled.py is not in step with core/reference.py:\n{diff}"
