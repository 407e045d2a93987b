"""The step function: mechanisms M1-M13 as one pure JAX function over a person's state.

Everything here is pure and traceable: no I/O, no Python branching on values. Parameters
arrive as a flat dict of arrays (one entry per row of :data:`nssisim.core.parameters.PARAMS`),
mechanism switches as a float vector ``on`` of length 13 (1 = on, 0 = off), so ablations
and (later) intervention arms are data and one compiled simulator serves them all.

Time is in hours. Within a step of length ``dt``:

1. the fast block (acute stress and aversive arousal) is solved along its exact path over
   the step, and the urge hazard is averaged over that path; every slower state relaxes by
   an exact exponential update with its couplings frozen at start-of-step values (operator
   splitting). Cohort statistics at dt = 1 h stay within about 5 % of dt = 0.1 h (docs, §3b);
2. events are drawn from hazards ``h`` as probabilities ``1 - exp(-h dt)``: a stressor
   (M1), an urge (M5) that is acted on or resisted (M6), a suicide attempt (M13);
3. an act is an instantaneous jump: relief (M7), opioid release and pain (M8), learning
   (M9), habit (M10) and tolerance (M8) updates.

States stay in their domain by construction: bounded states relax toward targets inside
their domain and jump by convex combinations (``x + a (1 - x)`` or ``x (1 - a)`` with
``a`` in [0, 1]).

The equations are written out in ``docs/model.md``; each block below names its mechanism.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from .parameters import HOURS_PER_YEAR, IDEATION_MOOD_REFERENCE, MECHANISMS

N_MECHANISMS = len(MECHANISMS)
MECHANISM_IDS = tuple(MECHANISMS)  # ("M1", ..., "M13"), index i <-> switch on[i]

#: Prefrontal regulatory capacity used when M3 is switched off (trait-independent regulation).
PFC_NEUTRAL = 0.5
#: Self-esteem at which it neither amplifies nor dampens limbic gain (so M11 off is neutral for a typical person).
SELF_ESTEEM_NEUTRAL = 0.5
#: Number of uniforms drawn per person-step: one for the stressor, the attempt and the switch
#: between calm and stressful periods (and the stressor's mark), one for the urge (acted on or
#: resisted, habit or not, and the act's marks).
N_UNIFORMS = 2
#: Age (years) from which prefrontal maturation is counted (late childhood; M12).
DEVELOPMENT_REF_AGE = 10.0
#: Age used by :func:`step` when the caller gives none (single steps in tests and examples).
DEFAULT_AGE = 15.0


class State(NamedTuple):
    """A person's state. All fields are scalars per person (arrays under ``vmap``)."""

    stress: jax.Array  # S, acute stress, [0, 1]
    cortisol: jax.Array  # C, acute cortisol, [0, 1]
    allostatic_load: jax.Array  # L, allostatic load, [0, 1]
    affect: jax.Array  # A, aversive arousal / negative affect, [0, 1]
    rumination: jax.Array  # R, [0, 1]
    mood: jax.Array  # M, slow depressive mood, [0, 1]
    pfc: jax.Array  # P, prefrontal regulatory capacity during the last step (set by age, M12), [0, pfc_adult]
    relief_value: jax.Array  # Q, learned expected relief, [0, 1]
    harm: jax.Array  # E, learned harm expectancy, [0, 1]
    habit: jax.Array  # H, stimulus-response habit strength, [0, 1]
    tolerance: jax.Array  # T, opioid tolerance, [0, 1]
    opioid: jax.Array  # O, endogenous opioid level, >= 0
    skill: jax.Array  # K, strength of an alternative (skill) response, [0, 1]
    ideation: jax.Array  # I, suicidal ideation, [0, 1]
    n_acts: jax.Array  # cumulative number of acts, >= 0
    recent_acts: jax.Array  # number of acts weighted by recency (each fades with tau_history_recent; M13), >= 0
    period: jax.Array  # 1 during a stressful period (weeks to months), 0 in a calm one (M1)


STATE_FIELDS = State._fields

#: Domain of each state field (used by tests and validity checks); ``None`` = unbounded above.
STATE_BOUNDS: dict[str, tuple[float, float | None]] = {
    "stress": (0.0, 1.0), "cortisol": (0.0, 1.0), "allostatic_load": (0.0, 1.0), "affect": (0.0, 1.0),
    "rumination": (0.0, 1.0), "mood": (0.0, 1.0), "pfc": (0.0, None), "relief_value": (0.0, 1.0),
    "harm": (0.0, 1.0), "habit": (0.0, 1.0), "tolerance": (0.0, 1.0), "opioid": (0.0, None),
    "skill": (0.0, 1.0), "ideation": (0.0, 1.0), "n_acts": (0.0, None), "recent_acts": (0.0, None),
    "period": (0.0, 1.0),
}


class StepEvents(NamedTuple):
    """What happened in one step (per person)."""

    urge: jax.Array  # bool: an urge occurred
    act: jax.Array  # bool: the urge was acted on
    habitual: jax.Array  # bool: the urge was habit-triggered (cue), not distress-driven
    severity: jax.Array  # abstract injury severity in [0, 1] (0 if no act)
    relief: jax.Array  # absolute drop of affect caused by the act (0 if none)
    relief_fraction: jax.Array  # fraction of affect removed by the act
    distress: jax.Array  # affect at the moment of the urge (after the step's relaxation, before any relief)
    intrapersonal: jax.Array  # bool: the act brought relief above the intrapersonal-function bar
    interpersonal: jax.Array  # bool: the act had an interpersonal consequence
    attempt: jax.Array  # bool: a suicide attempt occurred
    stressor: jax.Array  # bool: a stressful event occurred
    urge_intensity: jax.Array  # urge intensity in [0, 1] at the start of the step (for EMA-style ratings)


def initial_state(p: dict[str, jax.Array]) -> State:
    """Resting state of a person before the simulation starts."""
    z = jnp.zeros_like(p["pfc_adult"])
    return State(
        stress=z + p["stress_baseline"], cortisol=z, allostatic_load=z, affect=z + 0.05, rumination=z, mood=z + 0.05,
        pfc=p["pfc_adult"] * p["pfc_child_fraction"], relief_value=z + p["relief_value_prior"],
        harm=z + p["harm_prior"], habit=z + p["habit_initial"], tolerance=z + p["tolerance_initial"], opioid=z + p["opioid_tone"], skill=z, ideation=z, n_acts=z,
        recent_acts=z, period=z,
    )


def _relax(x, target, rate, dt):
    """Exact solution of dx/dt = rate (target - x) over dt with target and rate constant."""
    return target + (x - target) * jnp.exp(-rate * dt)


def _linear_bounded(x, rate_up, rate_down, dt):
    """Exact update of dx/dt = rate_up (1 - x) - rate_down x; stays in [0, 1]."""
    total = rate_up + rate_down
    target = rate_up / jnp.maximum(total, 1e-12)
    return _relax(x, target, total, dt)


def _linear_bounded_path(x, rate_up, rate_down, dt):
    """As :func:`_linear_bounded`, also returning the exact path at mid-step and its mean.

    Returns ``(x_end, x_mid, x_mean)``.
    """
    total = jnp.maximum(rate_up + rate_down, 1e-12)
    target = rate_up / total
    half = jnp.exp(-0.5 * total * dt)
    gap = x - target
    return target + gap * half * half, target + gap * half, target + gap * (1.0 - half * half) / (total * dt)


def _mean_factor(x):
    """Mean of exp(-t) over t in [0, x]: (1 - exp(-x)) / x, which tends to 1 as x -> 0."""
    return jnp.where(x > 1e-6, -jnp.expm1(-x) / jnp.maximum(x, 1e-6), 1.0 - 0.5 * x)


def urge_distress(affect, mood, p, m4=1.0, m11=1.0):
    """Distress compared with the urge threshold (M5): affect plus the depressive-mood term,
    which trait hope attenuates (M11)."""
    return affect + m4 * p["w_mood_urge"] * mood * (1.0 - m11 * p["k_hope_mood"] * p["hope"])


def urge_threshold(load, p, m11=1.0):
    """Effective distress-tolerance threshold (M5): lowered by allostatic load (M2, pass the
    switched load ``m2 * L``), raised by resilience (M11)."""
    return jnp.clip(
        p["distress_threshold"] * (1.0 - p["k_load_threshold"] * load) + m11 * p["k_resilience_threshold"] * p["resilience"],
        0.05, 0.95,
    )


def development(p, age, m12=1.0, xp=jnp):
    """M12, the two systems at ``age`` (years): ``(puberty, maturity)``.

    ``puberty`` in [0, 1] is the pubertal rise and fall of limbic and reward reactivity, a
    Gaussian bump in age peaking at ``puberty_peak_age`` (earlier in girls by
    ``puberty_offset_female``, shifted by the person's ``puberty_timing``) with width
    ``puberty_width``. ``maturity`` in (0, 1] is prefrontal capacity as a fraction of the adult
    value: ``pfc_child_fraction`` at :data:`DEVELOPMENT_REF_AGE` (10), approaching 1 with time
    constant ``tau_maturation`` (so it keeps rising into the mid-twenties). M12 off: no
    pubertal bump and capacity stays at the childhood fraction.
    """
    peak = p["puberty_peak_age"] - p["puberty_offset_female"] * p["female"] + p["puberty_timing"]
    z = (age - peak) / p["puberty_width"]
    puberty = m12 * xp.exp(-0.5 * z * z)
    years = xp.maximum(age - DEVELOPMENT_REF_AGE, 0.0)
    maturity = 1.0 - (1.0 - p["pfc_child_fraction"]) * xp.exp(-m12 * years * (HOURS_PER_YEAR / p["tau_maturation"]))
    return puberty, maturity


def limbic_gain(p, m11=1.0, xp=jnp, puberty=0.0):
    """Limbic gain (M3), 1/h: the rate at which unit stress drives arousal; trait reactivity
    sensitised by maltreatment, modulated around neutral self-esteem (M11) and raised at
    puberty (``puberty`` from :func:`development`, M12). Without the M3 switch (:func:`step`
    applies it). ``xp``: the array module (``numpy`` for numpy inputs)."""
    return (
        p["limbic_reactivity"] * (1.0 + p["w_limbic_maltreatment"] * p["maltreatment"])
        * xp.maximum(1.0 + m11 * p["k_self_esteem_limbic"] * (SELF_ESTEEM_NEUTRAL - p["self_esteem"]), 0.0)
        * (1.0 + p["k_puberty_limbic"] * puberty)
    )


def regulation_capacity(p, pfc, load, stress=None, m11=1.0):
    """Regulation capacity (M3): prefrontal capacity ``pfc`` weakened by alexithymia (buffered
    by resilience, M11), allostatic load (pass the switched load ``m2 * L``) and acute stress
    (the step's mean; ``None``: at rest, no stress factor). Without the M3 switch (:func:`step`
    applies it). Plain arithmetic, so it accepts JAX and numpy arrays alike."""
    alexithymia = p["alexithymia"] * (1.0 - m11 * p["k_resilience_alexithymia"] * p["resilience"])
    capacity = pfc * (1.0 - p["w_alexithymia_regulation"] * alexithymia) * (1.0 - p["w_load_regulation"] * load)
    return capacity if stress is None else capacity * (1.0 - p["w_stress_regulation"] * stress)


def habit_cue_rate(p, habit, affect, capacity, xp=jnp):
    """Hazard (1/h) of habit-triggered urges (M5/M10, without the M10 switch): cues in proportion
    to habit strength, raised a little by current ``affect``, and tamed by goal-directed control:
    the factor ``exp(-k_habit_control (capacity - PFC_NEUTRAL))`` falls with the current
    regulation ``capacity`` (:func:`regulation_capacity`, or ``PFC_NEUTRAL`` with M3 off)."""
    cue = p["lam_cue"] * habit * (1.0 - p["w_habit_cue_affect"] + p["w_habit_cue_affect"] * affect)
    return cue * xp.exp(-p["k_habit_control"] * (capacity - PFC_NEUTRAL))


def event_prob(hazard, dt):
    """Probability of at least one event in dt for a constant hazard (1/h)."""
    return -jnp.expm1(-hazard * dt)


def stress_risk(p, m11=1.0):
    """Risk multiplier of stressful events and periods (M1): 1 raised by peer victimisation,
    family stress (parental control, buffered by regulatory self-efficacy, M11) and maltreatment."""
    family = p["parental_control"] * (1.0 - m11 * p["k_self_efficacy_control"] * p["regulatory_self_efficacy"])
    return (1.0 + p["w_stress_peer"] * p["peer_victimisation"] + p["w_stress_family"] * family
            + p["w_stress_maltreatment"] * p["maltreatment"])


def stressor_hazard(p, on, period=0.0):
    """Hazard of a stressful event (M1), 1/h: base rate times :func:`stress_risk`, raised
    during a stressful period (``period`` = 1)."""
    return on[0] * p["lam_stress"] * stress_risk(p, on[10]) * (1.0 + p["k_period_stressors"] * period)


def period_hazards(p, on):
    """Hazards (1/h) of entering and of leaving a stressful period (M1): entry at
    ``lam_period`` times :func:`stress_risk`, raised in girls (interpersonal stress); exit
    after ``tau_period`` on average."""
    m1 = on[0]
    enter = m1 * p["lam_period"] * stress_risk(p, on[10]) * (1.0 + p["k_female_interpersonal"] * p["female"])
    return enter, m1 / p["tau_period"]


def step_constants(p: dict[str, jax.Array], on: jax.Array, dt: float) -> dict[str, jax.Array]:
    """Quantities that are constant over a run for one person: decay factors ``exp(-dt/tau)``
    of the relaxations whose rate is a parameter, the factor giving the mean of acute stress
    over a step, and the stressor probability per step.

    :func:`step` computes them itself when not given; the simulator computes them once per
    person, outside the time loop.
    """
    decay = lambda tau: jnp.exp(-dt / tau)  # noqa: E731
    enter, leave = period_hazards(p, on)
    return {
        "stress": decay(p["tau_stress"]), "cortisol": decay(p["tau_cortisol"]), "mood": decay(p["tau_mood"]),
        "forget": decay(p["tau_forget"]), "extinction": decay(p["tau_extinction"]),
        "reinstatement": decay(p["tau_reinstatement"]),
        "habit": decay(p["tau_habit"]), "tolerance": decay(p["tau_tolerance"]), "opioid": decay(p["tau_opioid"]),
        "ideation": decay(p["tau_ideation"]), "history_recent": decay(p["tau_history_recent"]),
        "p_stress": event_prob(stressor_hazard(p, on), dt),
        "p_stress_period": event_prob(stressor_hazard(p, on, 1.0), dt),
        "p_period_enter": event_prob(enter, dt), "p_period_leave": event_prob(leave, dt),
        "stress_mean": _mean_factor(dt / p["tau_stress"]),
    }


def _toward(x, target, factor):
    """Relaxation toward ``target`` with a precomputed decay factor ``exp(-rate dt)``."""
    return target + (x - target) * factor


def step(u: jax.Array, s: State, p: dict[str, jax.Array], on: jax.Array, dt: float,
         const: dict[str, jax.Array] | None = None, age: jax.Array | float = DEFAULT_AGE) -> tuple[State, StepEvents]:
    """Advance one person by ``dt`` hours.

    Parameters
    ----------
    u : array (2,)
        Uniforms in [0, 1) for this person-step: ``u[0]`` decides the stressor, then (rescaled
        within the stressor's outcome) the attempt, then (rescaled again, when there is no
        attempt) the switch of period, and what is left is the stressor's severity mark;
        ``u[1]`` decides the urge (acted on or resisted), then (rescaled) whether it was
        habit-triggered, then (rescaled again) the act's marks (interpersonal consequence,
        severity). A uniform rescaled within the interval of an outcome is again uniform and
        independent of that outcome, so the events are independent as with separate draws.
    s : State
    p : dict of parameter arrays (see :data:`nssisim.core.parameters.PARAMS`).
    on : array (13,)
        Mechanism switches M1..M13 (1.0 on, 0.0 off).
    dt : float
        Step length in hours.
    const : dict, optional
        :func:`step_constants` for this person, ``on`` and ``dt`` (computed here if omitted).
    age : float
        The person's age (years) at the start of the step (M12 development).
    """
    c = step_constants(p, on, dt) if const is None else const
    m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13 = (on[i] for i in range(N_MECHANISMS))
    u_event, u_urge = u[0], u[1]

    # ---- fast block: stress, then affect, integrated along their exact paths over the step ---
    # Stress relaxes on its own between stressors, so its path over the step is exact; the
    # couplings that stress drives (regulation load, affect drive, cortisol) use its mean over
    # the step rather than its start value. Affect is then solved exactly for that mean drive,
    # and the urge hazard uses the mean of affect over the step. This keeps the step's bias
    # small at dt = 1 h, where fast states move within a step (see the dt check in the docs).
    load = m2 * s.allostatic_load
    in_period = s.period > 0.5
    # M12: the pubertal bump and prefrontal maturity at this age; M1: hassles rise in a stressful period
    puberty, maturity = development(p, age, m12)
    pfc = p["pfc_adult"] * maturity
    baseline = jnp.minimum(p["stress_baseline"] + m1 * p["period_stress_baseline"] * s.period, 1.0)
    stress = _toward(s.stress, baseline, c["stress"])
    stress_mean = baseline + (s.stress - baseline) * c["stress_mean"]
    # M3 limbic gain and regulation capacity (with the M11 buffers)
    limbic = m3 * limbic_gain(p, m11, puberty=puberty) + (1.0 - m3) * 1.0
    reg_capacity = m3 * regulation_capacity(p, pfc, load, stress_mean, m11) + (1.0 - m3) * PFC_NEUTRAL
    recovery = (1.0 + p["k_pfc_regulation"] * reg_capacity) / p["tau_affect"]
    drive = (
        limbic * stress_mean * (1.0 + p["k_load_affect"] * load)
        + m4 * (p["k_rumination_affect"] * s.rumination + p["k_mood_affect"] * s.mood)
    )
    affect, affect_mid, affect_mean = _linear_bounded_path(s.affect, drive, recovery, dt)

    # ---- M5 urge hazards (averaged over the step's affect path; slow states at its start) -----
    # The goal-directed hazard is a thresholded function of distress, so its step average is
    # taken by Simpson's rule over the exact affect path (start, middle, end), not at the mean.
    threshold = urge_threshold(load, p, m11)
    mood_term = urge_distress(0.0, s.mood, p, m4, m11)

    def _excess(a):
        return jnp.clip((a + mood_term - threshold) / (1.0 - threshold), 0.0, 1.0)

    w0, w_mid, w1 = _excess(s.affect), 4.0 * _excess(affect_mid), _excess(affect)
    excess = (w0 + w_mid + w1) / 6.0
    # distress at the moment of a goal-directed urge: the path weighted by the urge hazard
    w_sum = w0 + w_mid + w1
    distress_goal = jnp.where(
        w_sum > 0, (w0 * s.affect + w_mid * affect_mid + w1 * affect) / jnp.maximum(w_sum, 1e-12), affect_mean
    ) + mood_term
    h_goal = p["lam_urge"] * s.relief_value * excess
    h_habit = m10 * habit_cue_rate(p, s.habit, affect_mean, reg_capacity)
    urge_intensity = 1.0 - (1.0 - s.relief_value * excess) * (1.0 - m10 * s.habit * affect_mean)  # for EMA ratings

    # ---- M13 ideation target and attempt hazard ------------------------------------------------
    # the injury history: the lifetime count, or in part (w_history_recent) a count of recent acts
    w_recent = p["w_history_recent"]
    history = ((1.0 - w_recent) * (1.0 - jnp.exp(-s.n_acts / p["n_history_scale"]))
               + w_recent * (1.0 - jnp.exp(-s.recent_acts / p["n_history_scale"])))
    # mood counts relative to the distress-tolerance threshold (IDEATION_MOOD_REFERENCE: face value at 0.4)
    mood_scale = IDEATION_MOOD_REFERENCE / p["distress_threshold"]
    ideation_target = jax.nn.sigmoid(
        p["ideation_bias"] + p["w_ideation_mood"] * m4 * s.mood * mood_scale + p["w_ideation_burden"] * p["burdensomeness"]
        - p["w_ideation_pfc"] * pfc + p["w_ideation_history"] * history
    )
    # the hazard rises as a power of ideation above a floor (0: of ideation itself), scaled to reach lam_attempt at 1
    floor = p["attempt_ideation_floor"]
    h_attempt = m13 * p["lam_attempt"] * (jnp.maximum(s.ideation - floor, 0.0) / (1.0 - floor)) ** p["attempt_ideation_power"]

    # ---- 1. the slower relaxations over dt -----------------------------------------------------
    # M2: acute cortisol tracks stress with a gain that chronic load blunts (or amplifies)
    cort_gain = jnp.maximum(p["hpa_reactivity"] * (1.0 - p["hpa_blunting"] * load), 0.0)
    cortisol = m2 * _toward(s.cortisol, -jnp.expm1(-cort_gain * stress_mean), c["cortisol"])
    new_load = m2 * _linear_bounded(s.allostatic_load, p["allostatic_sensitivity"] * s.cortisol / p["tau_load"], 1.0 / p["tau_load"], dt)
    rumination = m4 * _linear_bounded(s.rumination, p["k_rumination_gain"] * p["rumination_trait"] * affect_mean,
                                      1.0 / p["tau_rumination"], dt)
    # M4 with the pubertal rise of depressive mood in girls
    mood_target = jnp.minimum(affect_mean * (1.0 + p["k_female_mood"] * p["female"] * puberty), 1.0)
    mood = m4 * _toward(s.mood, mood_target, c["mood"])
    # M9 extinction: without acts, learned relief fades to a floor (0 by default) once a person has
    # acted; before the first act it stays at the prior expectation
    relief_rest = jnp.where(m9 * s.n_acts > 0, p["relief_extinction_floor"] * p["relief_value_prior"],
                            p["relief_value_prior"])
    relief_value = _toward(s.relief_value, relief_rest, c["extinction"])
    # M9 stress-induced reinstatement: in a stressful period, relief that has extinguished below the
    # reinstated level (a fraction of the prior) returns towards it; off at relief_reinstatement = 0
    reinstated = p["relief_reinstatement"] * p["relief_value_prior"]
    relief_value = jnp.where((m9 * s.n_acts > 0) & in_period & (relief_value < reinstated),
                             _toward(relief_value, reinstated, c["reinstatement"]), relief_value)
    harm = _toward(s.harm, p["harm_prior"], c["forget"])
    habit = s.habit * c["habit"]
    tolerance = s.tolerance * c["tolerance"]
    opioid = _toward(s.opioid, p["opioid_tone"], c["opioid"])
    ideation = m13 * _toward(s.ideation, ideation_target, c["ideation"])

    # ---- 2a. M1 stressor at the end of the step: a convex jump with an exponential severity mark
    # (placing it at mid-step instead was tried: mean affect then matched dt = 0.1 h exactly but
    # act rates at dt = 1 h fell 20% short, against 8% for this placement; see docs, step length)
    p_stress = jnp.where(in_period, c["p_stress_period"], c["p_stress"])
    stressor = u_event < p_stress
    # u rescaled within the stressor's outcome is uniform on [0, 1) and independent of it: it
    # decides the M13 attempt; rescaled within the attempt's outcome, the switch of period (only
    # without an attempt); rescaled within the switch's outcome, it is the stressor's mark
    v = jnp.where(stressor, u_event / jnp.maximum(p_stress, 1e-30),
                  (u_event - p_stress) / jnp.maximum(1.0 - p_stress, 1e-30))
    p_attempt = event_prob(h_attempt, dt)
    attempt = v < p_attempt
    v = jnp.where(attempt, v / jnp.maximum(p_attempt, 1e-30), (v - p_attempt) / jnp.maximum(1.0 - p_attempt, 1e-30))
    # ---- M1 calm <-> stressful period: the uniform given no attempt
    p_switch = jnp.where(in_period, c["p_period_leave"], c["p_period_enter"])
    switch = ~attempt & (v < p_switch)
    period = jnp.where(switch, 1.0 - s.period, s.period)
    v = jnp.where(attempt, v, jnp.where(switch, v / jnp.maximum(p_switch, 1e-30),
                                        (v - p_switch) / jnp.maximum(1.0 - p_switch, 1e-30)))
    v = jnp.clip(v, 1e-7, 1.0)
    severity_stress = -p["stress_severity_mean"] * jnp.log(v)
    stress = jnp.where(stressor, 1.0 - (1.0 - stress) * jnp.exp(-severity_stress), stress)

    # ---- 2b. M5 urge, M6 action selection: acted-on and resisted urges as competing risks ------
    # Reactive inhibition races the go drive: the stronger the drive (learned relief times
    # distress, or habit), the less of the inhibition penalty is left. So inhibition guards
    # against first, weakly valued acts but cannot override strong learned relief.
    go_goal = s.relief_value * distress_goal
    go_habit = s.habit
    inhibition = p["w_act_inhibition"] * p["reactive_inhibition"]
    harm_term, skill_term = p["w_act_harm"] * s.harm, p["w_act_skill"] * s.skill
    others = harm_term + skill_term
    # skills (urge surfing, distress tolerance) act on the urge itself, so habit-triggered urges do
    # not bypass them: a share skill_habit_reach of the skill term reaches them in full
    reach = p["skill_habit_reach"] + (1.0 - p["skill_habit_reach"]) * (1.0 - p["habit_bypass"])
    logit_goal = (p["act_bias"] + p["w_act_value"] * go_goal
                  - inhibition * jnp.exp(-p["k_inhibition_override"] * go_goal) - others)
    logit_habit = (p["act_bias"] + p["w_act_habit"] * go_habit
                   - (1.0 - p["habit_bypass"]) * (inhibition * jnp.exp(-p["k_inhibition_override"] * go_habit) + harm_term)
                   - reach * skill_term)
    # M6 off: no competition, every urge is acted on
    p_goal = m6 * jax.nn.sigmoid(logit_goal) + (1.0 - m6)
    p_habit = m6 * jax.nn.sigmoid(logit_habit) + (1.0 - m6)
    # Each urge is acted on with its probability, so in continuous time acts and resisted urges
    # are two Poisson streams, thinned from the urge stream. Drawing them as competing risks
    # (not "at most one urge per step, then a coin") keeps act rates right at coarse dt, where
    # a resisted urge would otherwise use up the step.
    h_act_goal, h_act_habit = m5 * h_goal * p_goal, m5 * h_habit * p_habit
    h_res_goal, h_res_habit = m5 * h_goal * (1.0 - p_goal), m5 * h_habit * (1.0 - p_habit)
    p_act_step = event_prob(h_act_goal + h_act_habit, dt)
    p_res_step = event_prob(h_res_goal + h_res_habit, dt)
    act = u_urge < p_act_step
    resisted = ~act & (u_urge < p_act_step + (1.0 - p_act_step) * p_res_step)
    urge = act | resisted
    # given the event, the rescaled uniform decides whether the urge was habit-triggered
    w = jnp.where(act, u_urge / jnp.maximum(p_act_step, 1e-30),
                  (u_urge - p_act_step) / jnp.maximum((1.0 - p_act_step) * p_res_step, 1e-30))
    share_habit = jnp.where(act, h_act_habit / jnp.maximum(h_act_goal + h_act_habit, 1e-30),
                            h_res_habit / jnp.maximum(h_res_goal + h_res_habit, 1e-30))
    habitual = urge & (w < share_habit)
    # the act's marks: w rescaled within the habit split decides the interpersonal consequence,
    # then, rescaled within that split, the severity noise
    z = jnp.where(w < share_habit, w / jnp.maximum(share_habit, 1e-30),
                  (w - share_habit) / jnp.maximum(1.0 - share_habit, 1e-30))
    p_inter = p["p_interpersonal"]
    interpersonal = act & (z < p_inter) & (m7 > 0)
    z_sev = jnp.where(z < p_inter, z / jnp.maximum(p_inter, 1e-30), (z - p_inter) / jnp.maximum(1.0 - p_inter, 1e-30))

    # ---- 3. the act: M8 severity and opioids, M7 relief, M9 learning, M10 habit, M8 tolerance
    severity = jnp.clip(p["severity_base"] * (1.0 + m8 * p["k_severity_tolerance"] * s.tolerance)
                        * (0.75 + 0.5 * z_sev), 0.01, 1.0)
    release = m8 * p["opioid_release"] * severity * (1.0 - s.tolerance)
    relief_fraction = m7 * -jnp.expm1(-(p["relief_base"] + p["k_relief_opioid"] * release))
    relief_abs = affect * relief_fraction
    opioid_after = opioid + release
    pain = p["pain_sensitivity"] * severity * jnp.exp(-p["k_analgesia"] * opioid_after)
    outcome = jnp.clip(relief_fraction + m7 * p["relief_positive"], 0.0, 1.0)
    harm_outcome = jnp.clip(p["w_harm_pain"] * pain + p["w_harm_injury"] * severity, 0.0, 1.0)
    a_relief = m9 * jnp.clip(p["alpha_relief"] * p["reward_sensitivity"] * (1.0 + p["k_puberty_reward"] * puberty), 0.0, 1.0)
    a_harm = m9 * jnp.clip(p["alpha_harm"] * p["punishment_learning"], 0.0, 1.0)

    affect_before = affect
    affect = jnp.where(act, affect * (1.0 - relief_fraction), affect)
    stress = jnp.where(interpersonal, stress * (1.0 - p["interpersonal_stress_relief"]), stress)
    opioid = jnp.where(act, opioid_after, opioid)
    relief_value = jnp.where(act, relief_value + a_relief * (outcome - relief_value), relief_value)
    harm = jnp.where(act, harm + a_harm * (harm_outcome - harm), harm)
    # M10: habit grows with reinforced repetition (the act's relief outcome)
    reinforcement = 1.0 - p["w_habit_reinforcement"] + p["w_habit_reinforcement"] * outcome
    habit = jnp.where(act, habit + m10 * p["eta_habit"] * reinforcement * (1.0 - habit), habit)
    tolerance = jnp.where(act, tolerance + m8 * p["eta_tolerance"] * severity * (1.0 - tolerance), tolerance)
    n_acts = s.n_acts + act
    recent_acts = s.recent_acts * c["history_recent"] + act

    # a resisted urge: a skill, if there is one, removes part of the distress
    affect = jnp.where(resisted, affect * (1.0 - p["skill_relief"] * s.skill), affect)

    # ---- M13 attempt (rare) and the M1 switch of period: decided with the stressor above -------

    new = State(
        stress=stress, cortisol=cortisol, allostatic_load=new_load, affect=affect, rumination=rumination, mood=mood, pfc=pfc,
        relief_value=relief_value, harm=harm, habit=habit, tolerance=tolerance, opioid=opioid, skill=s.skill,
        ideation=ideation, n_acts=n_acts, recent_acts=recent_acts, period=period,
    )
    zero = jnp.zeros_like(severity)
    ev = StepEvents(
        urge=urge, act=act, habitual=habitual, severity=jnp.where(act, severity, zero),
        relief=jnp.where(act, relief_abs, zero), relief_fraction=jnp.where(act, relief_fraction, zero),
        distress=affect_before, intrapersonal=act & (relief_fraction >= p["intrapersonal_relief_min"]),
        interpersonal=interpersonal, attempt=attempt, stressor=stressor, urge_intensity=urge_intensity,
    )
    return new, ev


__all__ = ["DEFAULT_AGE", "development", "DEVELOPMENT_REF_AGE", "period_hazards", "stress_risk",
           "event_prob", "habit_cue_rate", "initial_state", "MECHANISM_IDS", "N_MECHANISMS", "N_UNIFORMS", "PFC_NEUTRAL",
           "SELF_ESTEEM_NEUTRAL", "State", "STATE_BOUNDS", "STATE_FIELDS", "step", "step_constants", "StepEvents",
           "stressor_hazard", "urge_distress", "urge_threshold", "limbic_gain", "regulation_capacity"]
