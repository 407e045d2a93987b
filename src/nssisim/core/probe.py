"""A standard stress probe: one fixed stressor, and the affect response read off the model's own step.

Limbic reactivity and prefrontal regulation before and after treatment are measured here the way a
laboratory stress task measures them in a person: one stressor of fixed size, the rise of negative
affect it causes and how fast affect recovers. They are outputs of the person's state and parameters
at the time of the probe, run through :func:`nssisim.core.model.step` itself, not values read off the
parameters: whatever a treatment or the course changes (trait settings, rumination, mood, allostatic
load, prefrontal maturity, the puberty factor at the person's age) shows in the response, and nothing
that does not reach the response does.

The probe, per person, from the recorded state at the probe's time:

1. rest for :data:`PROBE_REST_H` hours with no events (every draw of the step is above its
   probability, so no stressor, urge or attempt happens), so that acute stress and affect settle on
   the person's current drive; affect then is ``rest``;
2. **the stressor** (limbic reactivity): acute stress raised by :data:`PROBE_STRESS` (clipped at 1)
   and followed for :data:`PROBE_HOURS` hours at :data:`PROBE_DT`, still with no events.
   ``reactivity`` is the peak rise of affect above ``rest`` as a share of the room left above it
   (affect is bounded at 1, so a raw rise would shrink as the rest level climbs);
3. **the affect challenge** (prefrontal regulation), from the same rest, without a stressor: affect
   raised by :data:`PROBE_AFFECT` of the room above rest, and its rate of return over
   :data:`PROBE_RECOVERY_H` hours. Affect relaxes as drive (1 - a) - regulation a (M3), so that rate
   is drive + regulation and the rest level is drive / (drive + regulation); ``regulation`` (1/h) is
   the rate times the room at rest (1 - rest), the part of the return that regulation does, which a
   lower drive alone does not raise.

The numbers are the model's and abstract (affect on [0, 1]); they are proxies of what a stress task
with negative-affect ratings would show, and are compared only within the model (change under
treatment, arm against arm). Research instrument, not a clinical tool.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from .model import N_UNIFORMS, STATE_FIELDS, State, step, step_constants

#: The probe's stressor: acute stress raised by this much (on its 0-1 scale) at the probe's start.
PROBE_STRESS = 0.5
#: The affect challenge: affect raised by this share of the room above rest, with no stressor.
PROBE_AFFECT = 0.3
#: Step of the probe (h), hours at rest before it, hours followed after the stressor, hours over which
#: the return from the affect challenge is measured.
PROBE_DT, PROBE_REST_H, PROBE_HOURS, PROBE_RECOVERY_H = 0.25, 12.0, 8.0, 1.0


@partial(jax.jit, static_argnames=("n_rest", "n_probe"))
def _probe(p, s, age, on, n_rest: int, n_probe: int):
    def one(pp, ss, aa):
        const = step_constants(pp, on, PROBE_DT)
        u = jnp.ones(N_UNIFORMS, jnp.float32)  # every draw above its probability: no event during the probe

        def advance(st, _):
            st, _ev = step(u, st, pp, on, PROBE_DT, const, age=aa)
            return st, st.affect

        ss, _ = jax.lax.scan(advance, ss, None, length=n_rest)
        rest = ss.affect
        room = jnp.maximum(1.0 - rest, 1e-6)
        # the stressor: the peak rise of affect, as a share of the room left above rest (affect is bounded at 1)
        _, path = jax.lax.scan(advance, ss._replace(stress=jnp.minimum(ss.stress + PROBE_STRESS, 1.0)), None,
                               length=n_probe)
        reactivity = jnp.max(path - rest) / room
        # the affect challenge: affect raised by a share of the room, no stressor; its rate of return over the first hour
        start = rest + PROBE_AFFECT * room
        _, path2 = jax.lax.scan(advance, ss._replace(affect=start), None, length=n_recover)
        gap = jnp.maximum(path2[-1] - rest, 1e-9)
        rate = jnp.log((start - rest) / gap) / (n_recover * PROBE_DT)
        # affect relaxes as drive (1 - a) - regulation a, so its return rate is drive + regulation and the
        # rest level is drive / (drive + regulation): the rate times the room at rest is the regulation
        return rest, reactivity, rate * room

    n_recover = int(round(PROBE_RECOVERY_H / PROBE_DT))
    return jax.vmap(one)(p, s, age)


def stress_probe(params: Mapping[str, np.ndarray], state: Mapping[str, np.ndarray], age_years: np.ndarray,
                 on: np.ndarray) -> dict[str, np.ndarray]:
    """Run the probe on ``n`` persons.

    ``params``: every model parameter as an array ``(n,)`` (those in force at the probe's time, a
    treatment's included: :func:`nssisim.core.simulation.effective_params`); ``state``: every field of
    :class:`~nssisim.core.model.State` as an array ``(n,)``; ``age_years``: ``(n,)``; ``on``: the
    mechanism switches (:func:`nssisim.core.simulation.mechanism_switches`).

    Returns float64 arrays ``(n,)``: ``rest`` (affect at rest), ``reactivity`` (peak rise of affect
    after the stressor, as a share of the room above rest) and ``regulation`` (1/h: the return rate
    from the affect challenge times the room at rest).
    """
    missing = [f for f in STATE_FIELDS if f not in state]
    if missing:
        raise ValueError(f"stress_probe: the state lacks {', '.join(missing)}")
    p = {k: jnp.asarray(np.asarray(v, np.float32)) for k, v in params.items()}
    s = State(**{f: jnp.asarray(np.asarray(state[f], np.float32)) for f in STATE_FIELDS})
    rest, peak, recovery = _probe(p, s, jnp.asarray(np.asarray(age_years, np.float32)), jnp.asarray(on, jnp.float32),
                                  int(round(PROBE_REST_H / PROBE_DT)), int(round(PROBE_HOURS / PROBE_DT)))
    return {"rest": np.asarray(rest, np.float64), "reactivity": np.asarray(peak, np.float64),
            "regulation": np.asarray(recovery, np.float64)}


__all__ = ["PROBE_AFFECT", "PROBE_DT", "PROBE_HOURS", "PROBE_RECOVERY_H", "PROBE_REST_H", "PROBE_STRESS", "stress_probe"]
