"""Property-based tests over the parameter bounds (hypothesis).

For parameters anywhere inside the bounds of :data:`nssisim.core.parameters.PARAMS`, any
in-domain state, any uniforms, any step length and any set of switched-off mechanisms, one
step keeps every state finite and inside :data:`nssisim.core.model.STATE_BOUNDS`, produces
consistent events and is deterministic. A multi-step cohort run at the corners of the
parameter box stays in the domain at every step.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import N_SUBJECTS, domain_violations
from nssisim import simulate_cohort
from nssisim.core import MECHANISM_IDS, N_MECHANISMS, N_UNIFORMS, STATE_BOUNDS, STATE_FIELDS, State, step
from nssisim.core import PARAMS, defaults

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NAMES = tuple(PARAMS)
STEP = jax.jit(step)  # one compilation for every example (all inputs are float32 scalars)


@st.composite
def parameter_sets(draw, n_varied: int = 10) -> dict[str, float]:
    """Defaults, with ``n_varied`` random parameters drawn anywhere within their bounds (ends included)."""
    names = draw(st.lists(st.sampled_from(NAMES), min_size=n_varied, max_size=n_varied, unique=True))
    out = defaults()
    for name in names:
        pr = PARAMS[name]
        out[name] = draw(st.one_of(st.sampled_from([pr.low, pr.high]), st.floats(pr.low, pr.high)))
    return out


def unit(width: int = 32):
    return st.floats(0.0, 1.0, width=width)


@st.composite
def states(draw) -> dict[str, float]:
    s = {f: draw(unit()) for f in STATE_FIELDS if STATE_BOUNDS[f][1] == 1.0}
    s["pfc"] = draw(st.floats(0.0, 2.0, width=32))
    s["opioid"] = draw(st.floats(0.0, 10.0, width=32))
    s["n_acts"] = float(draw(st.integers(0, 2000)))
    s["recent_acts"] = draw(st.floats(0.0, s["n_acts"], width=32))  # never more than the lifetime count
    return s


uniforms4 = st.lists(st.floats(0.0, 1.0, exclude_max=True, width=32), min_size=N_UNIFORMS, max_size=N_UNIFORMS)
switches = st.one_of(st.just([True] * N_MECHANISMS), st.lists(st.booleans(), min_size=N_MECHANISMS, max_size=N_MECHANISMS))
step_lengths = st.sampled_from([1 / 60, 0.1, 0.25, 1.0, 6.0, 24.0])


def _inputs(p, s, u, on, dt):
    pj = {k: jnp.float32(v) for k, v in p.items()}
    sj = State(**{f: jnp.float32(s[f]) for f in STATE_FIELDS})
    return jnp.asarray(u, jnp.float32), sj, pj, jnp.asarray(on, jnp.float32), jnp.float32(dt)


@SETTINGS
@given(p=parameter_sets(), s=states(), u=uniforms4, on=switches, dt=step_lengths)
def test_step_stays_in_domain_with_consistent_events(p, s, u, on, dt):
    args = _inputs(p, s, u, on, dt)
    new, ev = STEP(*args)
    pfc_max = max(float(args[1].pfc), float(args[2]["pfc_adult"]))
    bad = domain_violations(new, pfc_max)
    assert not bad, f"state left its domain: {bad}"

    ev = {k: np.asarray(v) for k, v in ev._asdict().items()}
    for k, v in ev.items():
        assert np.isfinite(v).all(), f"event field {k} not finite: {v}"
    assert ev["act"] <= ev["urge"], "act without urge"
    assert ev["habitual"] <= ev["urge"], "habit-triggered flag without urge"
    assert ev["interpersonal"] <= ev["act"] and ev["intrapersonal"] <= ev["act"], "act function without act"
    assert 0.0 <= ev["severity"] <= 1.0
    assert ev["act"] or ev["severity"] == 0.0, "severity without act"
    assert ev["relief"] >= 0.0 and 0.0 <= ev["relief_fraction"] <= 1.0
    assert ev["act"] or (ev["relief"] == 0.0 and ev["relief_fraction"] == 0.0), "relief without act"
    assert 0.0 <= ev["distress"] <= 1.0 and 0.0 <= ev["urge_intensity"] <= 1.0
    assert float(new.n_acts) == s["n_acts"] + float(ev["act"])
    if not on[0]:
        assert not ev["stressor"], "stressor with M1 off"
    if not on[4]:
        assert not ev["urge"], "urge with M5 off"


@SETTINGS
@given(p=parameter_sets(), s=states(), u=uniforms4, on=switches, dt=step_lengths)
def test_step_is_deterministic(p, s, u, on, dt):
    args = _inputs(p, s, u, on, dt)
    a = jax.tree_util.tree_map(np.asarray, STEP(*args))
    b = jax.tree_util.tree_map(np.asarray, STEP(*args))
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b), strict=True):
        np.testing.assert_array_equal(x, y)


# ------------------------------------------------------------------ multi-step, box corners

def _corner_params(seed: int) -> dict[str, np.ndarray]:
    """Per-subject parameters: subject 0 all at low bounds, subject 1 all at high bounds,
    the rest at random corners of the parameter box."""
    rng = np.random.default_rng(seed)
    lows = np.array([PARAMS[k].low for k in NAMES])
    highs = np.array([PARAMS[k].high for k in NAMES])
    pick = rng.random((N_SUBJECTS, len(NAMES))) < 0.5
    pick[0], pick[1] = False, True
    values = np.where(pick, highs, lows)
    return {k: values[:, j] for j, k in enumerate(NAMES)}


@pytest.mark.parametrize("dt", [1.0, 6.0])
@pytest.mark.parametrize("off", ["none", "random"])
def test_corners_stay_in_domain_over_many_steps(dt, off):
    """30 days (dt = 1 h) or 180 days (dt = 6 h), state recorded after every step."""
    rng = np.random.default_rng(5)
    mechanisms_off = [] if off == "none" else [m for m in MECHANISM_IDS if rng.random() < 0.4]
    params = _corner_params(seed=int(dt * 10) + len(mechanisms_off))
    n_steps = 720
    ds = simulate_cohort(17, params, n_subjects=N_SUBJECTS, horizon_hours=n_steps * dt, dt=dt, record_every=1,
                         mechanisms_off=mechanisms_off)
    pfc_max = ds["parameter_value"].sel(parameter="pfc_adult").values[:, None]
    bad = domain_violations({f: ds[f].values for f in STATE_FIELDS}, pfc_max)
    assert not bad, f"state left its domain (mechanisms off: {mechanisms_off}): {bad}"
    for v in ("urge_intensity", "severity_sum", "relief_sum", "acts", "urges"):
        assert np.isfinite(ds[v].values).all() and (ds[v].values >= 0).all(), v
    assert (ds["acts"] <= ds["urges"]).all()
    sev = ds["event_severity"].values
    assert np.isfinite(sev).all() and (sev >= 0).all() and (sev <= 1).all()
    assert (ds["event_relief"].values >= 0).all()
    assert (ds["event_distress"].values >= 0).all() and (ds["event_distress"].values <= 1).all()
