"""Analytic checks of the model's building blocks.

Each test compares a pure function of :mod:`nssisim.core.model` (or the random stream of
:mod:`nssisim.core.simulation`) with a result derived by hand: the solution of a linear ODE, the
probability of a Poisson event, the uniform distribution.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import AT_RISK, N_SUBJECTS
from nssisim import simulate_cohort
from nssisim.core import MECHANISM_IDS, N_UNIFORMS, event_prob, initial_state, step
from nssisim.core.model import _linear_bounded, _relax
from nssisim.core import mechanism_switches, stack_params, step_uniforms

RNG = np.random.default_rng(20260126)


# ---------------------------------------------------------------------------------- _relax

def test_relax_matches_closed_form():
    x = RNG.uniform(-1, 2, 200)
    target = RNG.uniform(-1, 2, 200)
    rate = RNG.uniform(0, 3, 200)
    dt = RNG.uniform(0, 5, 200)
    got = np.asarray(_relax(jnp.float32(x), jnp.float32(target), jnp.float32(rate), jnp.float32(dt)))
    want = target + (x - target) * np.exp(-rate * dt)  # float64 reference
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=2e-6)
    # hand values: half-life ln2/rate halves the distance to the target; dt = 0 is the identity
    assert float(_relax(1.0, 0.0, math.log(2.0), 1.0)) == pytest.approx(0.5, rel=1e-6)
    assert float(_relax(0.2, 0.7, 3.0, 0.0)) == pytest.approx(0.2, rel=1e-7, abs=0)  # float32 rounding only
    assert float(_relax(0.2, 0.7, 3.0, 1e4)) == pytest.approx(0.7, rel=1e-7)


def test_relax_solves_the_ode():
    """d/d(dt) of the update equals rate * (target - x(dt)): it is the exact solution."""
    for x, target, rate, dt in [(0.9, 0.1, 0.5, 0.3), (0.0, 1.0, 2.0, 1.7), (0.4, 0.4, 1.0, 2.0), (1.5, -0.5, 0.01, 30.0)]:
        d = float(jax.grad(_relax, argnums=3)(x, target, rate, dt))
        xt = float(_relax(x, target, rate, dt))
        assert d == pytest.approx(rate * (target - xt), rel=1e-5, abs=1e-7)


@pytest.mark.parametrize("n", [2, 10, 240])
def test_relax_semigroup(n):
    """n substeps of dt equal one step of n*dt (why results do not depend on dt for linear parts)."""
    x = jnp.asarray(RNG.uniform(0, 1, 50), jnp.float32)
    target = jnp.asarray(RNG.uniform(0, 1, 50), jnp.float32)
    rate = jnp.asarray(RNG.uniform(0.01, 2, 50), jnp.float32)
    dt = 0.1
    y = x
    for _ in range(n):
        y = _relax(y, target, rate, dt)
    np.testing.assert_allclose(np.asarray(y), np.asarray(_relax(x, target, rate, n * dt)), rtol=0, atol=4e-6 * math.sqrt(n))


# ------------------------------------------------------------------------- _linear_bounded

def test_linear_bounded_stays_in_unit_interval_and_converges():
    grid = np.array([0.0, 1e-9, 1e-3, 0.1, 1.0, 10.0, 1e3], np.float32)
    x = np.array([0.0, 0.3, 1.0], np.float32)
    X, U, D, T = np.meshgrid(x, grid, grid, np.array([0.0, 0.01, 1.0, 24.0, 1e4], np.float32), indexing="ij")
    y = np.asarray(_linear_bounded(jnp.asarray(X), jnp.asarray(U), jnp.asarray(D), jnp.asarray(T)))
    assert np.isfinite(y).all()
    assert (y >= 0).all() and (y <= 1).all(), f"out of [0, 1]: {y[(y < 0) | (y > 1)][:5]}"
    # both rates zero: nothing moves
    zero = (U == 0) & (D == 0)
    np.testing.assert_array_equal(y[zero], X[zero])
    # long time: the fixed point rate_up / (rate_up + rate_down)
    total = U.astype(np.float64) + D
    far = (T == 1e4) & (total >= 0.01)
    np.testing.assert_allclose(y[far], (U / np.where(total > 0, total, 1))[far], rtol=1e-6, atol=1e-7)


def test_linear_bounded_solves_the_ode():
    for x, up, down, dt in [(0.2, 0.5, 0.1, 0.7), (0.9, 0.0, 2.0, 0.3), (0.0, 3.0, 0.0, 0.05), (0.5, 0.25, 0.25, 4.0)]:
        d = float(jax.grad(_linear_bounded, argnums=3)(x, up, down, dt))
        xt = float(_linear_bounded(x, up, down, dt))
        assert d == pytest.approx(up * (1 - xt) - down * xt, rel=1e-5, abs=1e-7)


# ---------------------------------------------------------------------------- event_prob

def test_event_prob_is_poisson_probability():
    h = RNG.uniform(0, 3, 300)
    dt = RNG.uniform(0, 10, 300)
    got = np.asarray(event_prob(jnp.float32(h), jnp.float32(dt)))
    np.testing.assert_allclose(got, 1.0 - np.exp(-h * dt), rtol=2e-6, atol=1e-7)
    assert float(event_prob(0.0, 1.0)) == 0.0
    # tiny hazards keep their relative precision (1 - exp(-x) in float32 would round to 0)
    assert float(event_prob(jnp.float32(1e-9), jnp.float32(0.1))) == pytest.approx(1e-10, rel=1e-6)
    assert 0.0 <= float(event_prob(50.0, 24.0)) <= 1.0


@pytest.mark.parametrize("n", [2, 10, 1000])
def test_event_prob_composes(n):
    """No event in n steps of dt has the probability of no event in one step of n*dt."""
    h, dt = jnp.float32(0.37), jnp.float32(0.01)
    p = float(event_prob(h, dt))
    assert 1.0 - (1.0 - p) ** n == pytest.approx(float(event_prob(h, n * dt)), rel=1e-5)


# ------------------------------------------------------------------- stressors (M1 alone)

@pytest.mark.parametrize("dt", [0.25, 1.0, 2.0])
def test_stressor_frequency_matches_hazard(dt):
    """With only M1 on, every step has a stressor with probability 1 - exp(-h dt), h constant.

    (M11 off, so parental control enters the rate unbuffered.) 10 subjects x 720 steps; the
    count must lie within 4 binomial standard deviations. At dt = 1 the first-order
    probability h*dt would be 13% too high, about 4.5 sigma: the test tells them apart.
    """
    lam = 0.1
    params = dict(AT_RISK, lam_stress=lam, lam_period=0.0)  # no stressful periods: a constant hazard
    p = stack_params(params, 1)
    h = lam * (1 + p["w_stress_peer"][0] * p["peer_victimisation"][0] + p["w_stress_family"][0] * p["parental_control"][0]
               + p["w_stress_maltreatment"][0] * p["maltreatment"][0])
    n_steps = 720
    ds = simulate_cohort(3, params, n_subjects=N_SUBJECTS, horizon_hours=n_steps * dt, dt=dt, record_every=24,
                         mechanisms_off=[m for m in MECHANISM_IDS if m != "M1"])
    count = float(ds["stressors"].sum())
    n = N_SUBJECTS * n_steps
    prob = 1.0 - math.exp(-h * dt)
    sd = math.sqrt(n * prob * (1 - prob))
    assert abs(count - n * prob) <= 4 * sd, f"{count} stressors in {n} steps, expected {n * prob:.1f} +- {sd:.1f}"


# ------------------------------------------------------------- relaxation inside step

@pytest.fixture(scope="module")
def run_steps():
    """Run ``step`` for one person from a given state with fixed uniforms (a lax.scan); returns
    the stress trajectory and the stressor flags."""

    @jax.jit
    def run(u, s, p, on, dt):
        def body(c, ut):
            new, ev = step(ut, c, p, on, dt)
            return new, (new.stress, ev.stressor)

        return jax.lax.scan(body, s, u)[1]

    return run


@pytest.mark.parametrize("dt", [0.1, 1.0, 3.0])
def test_stress_relaxes_along_analytic_curve(run_steps, dt):
    """Without stressors (M1 off), acute stress decays exactly as b + (S0 - b) exp(-t / tau_stress)."""
    n = 24
    p = {k: jnp.asarray(v[0]) for k, v in stack_params(AT_RISK, 1).items()}
    s0 = initial_state(p)._replace(stress=jnp.float32(0.9))
    on = jnp.asarray(mechanism_switches(["M1"]))
    u = jnp.full((n, N_UNIFORMS), 0.5, jnp.float32)
    stress, stressor = run_steps(u, s0, p, on, jnp.float32(dt))
    assert not np.asarray(stressor).any()
    b, tau = float(p["stress_baseline"]), float(p["tau_stress"])
    t = dt * np.arange(1, n + 1)
    np.testing.assert_allclose(np.asarray(stress), b + (0.9 - b) * np.exp(-t / tau), rtol=1e-5)


# ------------------------------------------------------------------ M13 recent history

def test_recent_history_fades_and_lowers_ideation_only_when_weighted():
    """The recency-weighted act count decays as N_rec(0) exp(-t / tau_history_recent) between
    acts; with w_history_recent = 1 the ideation of a person who has stopped falls with it, with
    w_history_recent = 0 (the lifetime count) it does not depend on the recent count at all."""
    n, dt = 730, 24.0  # two years without acts, daily steps
    u = jnp.full((n, N_UNIFORMS), 0.999, jnp.float32)  # no stressor, urge, attempt or switch of period
    on = jnp.asarray(mechanism_switches())

    @jax.jit
    def run(p, s):
        def body(c, ut):
            new, ev = step(ut, c, p, on, jnp.float32(dt))
            return new, (new.recent_acts, new.ideation, ev.act)

        return jax.lax.scan(body, s, u)[1]

    out = {}
    for w in (0.0, 1.0):
        p = {k: jnp.asarray(v[0]) for k, v in stack_params(dict(AT_RISK, w_history_recent=w), 1).items()}
        s0 = initial_state(p)._replace(n_acts=jnp.float32(60.0), recent_acts=jnp.float32(60.0), ideation=jnp.float32(0.5))
        recent, ideation, act = (np.asarray(x) for x in run(p, s0))
        assert not act.any()
        tau = float(p["tau_history_recent"])
        np.testing.assert_allclose(recent, 60.0 * np.exp(-dt * np.arange(1, n + 1) / tau), rtol=1e-4)
        out[w] = ideation
    assert out[1.0][-1] < 0.5 * out[0.0][-1]  # stopping lowers ideation when the history is recent (0.19 vs 0.78)
    # the lifetime run does not see the recent count: the same run with recent_acts = 0 is identical
    p0 = {k: jnp.asarray(v[0]) for k, v in stack_params(dict(AT_RISK, w_history_recent=0.0), 1).items()}
    s_none = initial_state(p0)._replace(n_acts=jnp.float32(60.0), ideation=jnp.float32(0.5))
    np.testing.assert_array_equal(np.asarray(run(p0, s_none)[1]), out[0.0])


# --------------------------------------------------------------------------- uniforms

N_UNIF_STEPS = 50_000


@pytest.fixture(scope="module")
def uniforms():
    key = jax.random.fold_in(jax.random.PRNGKey(11), 5)
    f = jax.jit(jax.vmap(step_uniforms, in_axes=(None, 0)))
    return key, f, np.asarray(f(key, jnp.arange(N_UNIF_STEPS, dtype=jnp.int32)))


def test_step_uniforms_in_unit_interval_and_reproducible(uniforms):
    key, f, u = uniforms
    assert u.shape == (N_UNIF_STEPS, N_UNIFORMS) and u.dtype == np.float32
    assert (u >= 0).all() and (u < 1).all()
    # same (key, t): identical, whether computed alone, in another batch or unjitted
    again = np.asarray(step_uniforms(key, jnp.int32(12345)))
    np.testing.assert_array_equal(again, u[12345])
    np.testing.assert_array_equal(np.asarray(f(key, jnp.arange(40000, 40010, dtype=jnp.int32))), u[40000:40010])
    # different t, different numbers (no repeated rows; almost all values distinct)
    assert len(np.unique(u, axis=0)) == N_UNIF_STEPS
    assert len(np.unique(u)) > 0.97 * u.size
    # a different subject key gives a different stream
    other = np.asarray(f(jax.random.fold_in(jax.random.PRNGKey(11), 6), jnp.arange(100, dtype=jnp.int32)))
    assert not np.any(np.all(other == u[:100], axis=1))


def test_step_uniforms_are_uniform_and_uncorrelated(uniforms):
    _, _, u = uniforms
    n = u.shape[0]
    try:
        from scipy import stats
    except ImportError:  # pragma: no cover - scipy is optional
        stats = None
    for lane in range(N_UNIFORMS):
        x = u[:, lane].astype(np.float64)
        if stats is not None:
            pval = stats.kstest(x, "uniform").pvalue
            assert pval > 1e-3, f"lane {lane}: KS p = {pval:.2g}"
        else:  # chi-square on 10 equal bins; 27.88 is the 0.999 quantile of chi2 with 9 dof
            counts = np.bincount(np.minimum((x * 10).astype(int), 9), minlength=10)
            chi2 = float(((counts - n / 10) ** 2 / (n / 10)).sum())
            assert chi2 < 27.88, f"lane {lane}: chi2 = {chi2:.1f}"
    # lanes and consecutive steps uncorrelated: |r| below 4 standard errors (1/sqrt(n))
    r = np.corrcoef(np.concatenate([u[:-1], u[1:]], axis=1).T)
    off = r[~np.eye(2 * N_UNIFORMS, dtype=bool)]
    assert np.abs(off).max() < 4 / math.sqrt(n), np.round(r, 4)


@pytest.mark.parametrize("floor, ideation", [(0.0, 0.6), (0.3, 0.6), (0.3, 0.25)])
def test_attempt_hazard_is_a_power_of_ideation_above_its_floor(floor, ideation):
    """M13: h = lam_attempt ((I - I0)+ / (1 - I0))^n. Over 400,000 draws of one state the attempt share is
    1 - exp(-h dt) (binomial z-score below 5); below the floor there is no attempt at all."""
    n = 400_000
    p = {k: jnp.asarray(v[0]) for k, v in stack_params(dict(AT_RISK, lam_attempt=0.01, attempt_ideation_power=2.0,
                                                             attempt_ideation_floor=floor), 1).items()}
    s = initial_state(p)._replace(ideation=jnp.float32(ideation))
    on, dt = jnp.asarray(mechanism_switches()), jnp.float32(1.0)
    u = jax.random.uniform(jax.random.PRNGKey(1), (n, N_UNIFORMS), jnp.float32)
    _, ev = jax.jit(jax.vmap(lambda u_: step(u_, s, p, on, dt)))(u)
    att = np.asarray(ev.attempt)
    h = 0.01 * (max(ideation - floor, 0.0) / (1.0 - floor)) ** 2.0
    want = -math.expm1(-h * 1.0)
    if want == 0.0:
        assert not att.any()
    else:
        assert abs(att.mean() - want) / math.sqrt(want * (1 - want) / n) < 5, (att.mean(), want)


def test_rescaled_uniforms_keep_events_and_marks_independent():
    """Two uniforms per step serve six decisions by rescaling (model.step): the attempt must not
    depend on the stressor, the interpersonal mark not on habit, and the severity noise must stay
    uniform. Binomial z-scores below 5 and a KS test over 400,000 draws of one busy state."""
    n = 400_000
    p = {k: jnp.asarray(v[0]) for k, v in stack_params(dict(AT_RISK, lam_stress=0.3, lam_attempt=0.01,
                                                             severity_base=0.3, lam_urge=4.0), 1).items()}
    s = initial_state(p)._replace(affect=jnp.float32(0.8), relief_value=jnp.float32(0.8), habit=jnp.float32(0.6),
                                  ideation=jnp.float32(0.9), tolerance=jnp.float32(0.0))
    on, dt = jnp.asarray(mechanism_switches()), jnp.float32(1.0)
    u = jax.random.uniform(jax.random.PRNGKey(0), (n, N_UNIFORMS), jnp.float32)
    _, ev = jax.jit(jax.vmap(lambda u_: step(u_, s, p, on, dt)))(u)
    ev = jax.tree_util.tree_map(np.asarray, ev)

    def z_same(a, b):  # two-sample z-score of two proportions
        pa, pb, pool = a.mean(), b.mean(), np.concatenate([a, b]).mean()
        return abs(pa - pb) / math.sqrt(pool * (1 - pool) * (1 / a.size + 1 / b.size))

    st, att = ev.stressor, ev.attempt
    assert 0.2 < st.mean() < 0.8 and att.sum() > 500
    assert z_same(att[st], att[~st]) < 5, (att[st].mean(), att[~st].mean())
    act, hab, inter = ev.act, ev.habitual, ev.interpersonal
    assert (act & hab).sum() > 2000 and (act & ~hab).sum() > 2000
    assert z_same(inter[act & hab], inter[act & ~hab]) < 5
    p_inter = float(p["p_interpersonal"])
    k, m = inter[act].sum(), act.sum()
    assert abs(k / m - p_inter) / math.sqrt(p_inter * (1 - p_inter) / m) < 5
    # severity = base (0.75 + 0.5 xi) at zero tolerance: xi uniform on [0, 1), whatever the marks before it
    xi = (ev.severity[act] / float(p["severity_base"]) - 0.75) / 0.5
    from scipy import stats
    assert stats.kstest(xi, "uniform").pvalue > 1e-4
    assert stats.kstest((ev.severity[act & inter] / float(p["severity_base"]) - 0.75) / 0.5, "uniform").pvalue > 1e-4
