"""The standard stress probe (core.probe): its two readings move with what they are meant to measure,
through the person's state as well as the parameters, and not with what a switched-off mechanism holds."""

import numpy as np
import pytest

from nssisim import simulate_cohort
from nssisim.core import load_preset
from nssisim.core.model import STATE_FIELDS
from nssisim.core.probe import stress_probe
from nssisim.core.simulation import mechanism_switches, stack_params


@pytest.fixture(scope="module")
def persons():
    """32 vulnerable adolescents after 90 days from 14: their parameters, their last recorded state, their age."""
    p, n = load_preset("vulnerable"), 32
    ds = simulate_cohort(5, p, n_subjects=n, horizon_hours=90 * 24.0, dt=1.0, record_every=24, start_age_years=14.0)
    return stack_params(p, n), {f: ds[f].values[:, -1] for f in STATE_FIELDS}, np.full(n, 14.25)


def _probe(persons, scale=None, state=None, off=()):
    params, st, age = persons
    q = {k: v * (scale or {}).get(k, 1.0) for k, v in params.items()}
    s = {**st, **(state or {})}
    return stress_probe(q, s, age, mechanism_switches(off))


def test_lower_limbic_reactivity_lowers_reactivity_and_leaves_regulation(persons):
    base, low = _probe(persons), _probe(persons, {"limbic_reactivity": 0.8})
    assert (low["reactivity"] < base["reactivity"]).all()
    np.testing.assert_allclose(low["regulation"], base["regulation"], rtol=0.02)


def test_stronger_prefrontal_regulation_raises_regulation_and_damps_reactivity(persons):
    base, strong = _probe(persons), _probe(persons, {"k_pfc_regulation": 1.3})
    assert (strong["regulation"] > base["regulation"] * 1.05).all()
    assert (strong["reactivity"] < base["reactivity"]).all()


def test_the_readings_depend_on_the_state_not_only_on_parameters(persons):
    # allostatic load weakens regulation capacity (M2/M3): the same parameters, a loaded state
    _, st, _ = persons
    base = _probe(persons)
    loaded = _probe(persons, state={"allostatic_load": np.minimum(st["allostatic_load"] + 0.3, 1.0)})
    assert (loaded["regulation"] < base["regulation"]).all()


def test_with_fronto_limbic_regulation_off_the_probe_does_not_see_its_parameters(persons):
    # M3 off: limbic gain and regulation capacity are neutral, so trait reactivity and alexithymia, which act
    # only through them, cannot move the readings (k_pfc_regulation still scales the neutral capacity)
    off = ("M3",)
    a = _probe(persons, off=off)
    b = _probe(persons, {"limbic_reactivity": 0.8, "alexithymia": 1.5}, off=off)
    np.testing.assert_array_equal(a["reactivity"], b["reactivity"])
    np.testing.assert_array_equal(a["regulation"], b["regulation"])


def test_the_probe_is_deterministic_and_in_range(persons):
    a, b = _probe(persons), _probe(persons)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert ((a["rest"] >= 0) & (a["rest"] < 1)).all()
    assert ((a["reactivity"] > 0) & (a["reactivity"] <= 1)).all() and (a["regulation"] > 0).all()


def test_a_state_without_every_field_is_a_clear_error(persons):
    params, st, age = persons
    with pytest.raises(ValueError, match="state lacks mood"):
        stress_probe(params, {k: v for k, v in st.items() if k != "mood"}, age, mechanism_switches(()))
