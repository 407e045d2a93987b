"""A plain-Python reference implementation of the step function, for one person.

What it is for
--------------
1. **An executable cross-check of** :mod:`nssisim.core.model`. :func:`reference_step` writes out
   exactly the equations of :func:`nssisim.core.model.step`, line by line, with the ``math``
   module and plain (double-precision) floats. ``tests/test_reference.py`` feeds both the
   same parameters, state, switches and uniforms and checks that they agree, so a slip in
   the vectorised JAX code (a wrong sign, a swapped argument, a mask applied to the wrong
   branch) shows up as a disagreement with a version that is easy to read.
2. **The baseline of the benchmark** (:mod:`nssisim.bench`). Simulation models in this
   field are usually written like this: a ``for`` loop over time steps that calls a step
   function for one person and draws its random numbers from the standard library.
   :func:`reference_run` is that loop, written idiomatically (neither deliberately slow
   nor hand-optimised), and the benchmark reports how many times faster the compiled
   cohort simulator is.

It is not used by the simulator itself. When ``core/model.py`` changes, change this file in the
same way (the tests will insist).

Conventions are those of :mod:`nssisim.core.model`: time in hours; a state is a ``dict`` with the
fields of :class:`nssisim.core.model.State`; the events of a step are a ``dict`` with the fields
of :class:`nssisim.core.model.StepEvents`; parameters are a ``dict`` of floats (one entry per
row of :data:`nssisim.core.parameters.PARAMS`); ``on`` holds the 13 mechanism switches M1..M13
(1.0 on, 0.0 off). Severity is an abstract number in [0, 1].
"""

from __future__ import annotations

import math
import numbers
import random
from collections.abc import Iterable, Mapping, Sequence

from .parameters import HOURS_PER_YEAR, IDEATION_MOOD_REFERENCE, MECHANISMS, defaults

N_MECHANISMS = len(MECHANISMS)
#: Uniforms per person-step: stressor, attempt and period switch; urge and act (as in ``core/model.py``).
N_UNIFORMS = 2
#: Prefrontal capacity used when M3 is off (same constant as ``model.PFC_NEUTRAL``).
PFC_NEUTRAL = 0.5
#: Self-esteem at which it neither amplifies nor dampens limbic gain (``model.SELF_ESTEEM_NEUTRAL``).
SELF_ESTEEM_NEUTRAL = 0.5
#: Age from which prefrontal maturation is counted (``model.DEVELOPMENT_REF_AGE``).
DEVELOPMENT_REF_AGE = 10.0
#: Age of a step when none is given (``model.DEFAULT_AGE``).
DEFAULT_AGE = 15.0

STATE_FIELDS = (
    "stress", "cortisol", "allostatic_load", "affect", "rumination", "mood", "pfc", "relief_value", "harm", "habit",
    "tolerance", "opioid", "skill", "ideation", "n_acts", "recent_acts",
    "period",
)
EVENT_FIELDS = (
    "urge", "act", "habitual", "severity", "relief", "relief_fraction", "distress", "intrapersonal", "interpersonal",
    "attempt", "stressor", "urge_intensity",
)


# ---------------------------------------------------------------------------------------------
# small helpers (the same as in core/model.py)
# ---------------------------------------------------------------------------------------------


def _clip(x: float, lo: float, hi: float) -> float:
    return min(max(x, lo), hi)


def _sigmoid(x: float) -> float:
    # numerically stable logistic function (as jax.nn.sigmoid)
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def _relax(x: float, target: float, rate: float, dt: float) -> float:
    """Exact solution of dx/dt = rate (target - x) over dt."""
    return target + (x - target) * math.exp(-rate * dt)


def _linear_bounded(x: float, rate_up: float, rate_down: float, dt: float) -> float:
    """Exact update of dx/dt = rate_up (1 - x) - rate_down x."""
    total = rate_up + rate_down
    target = rate_up / max(total, 1e-12)
    return _relax(x, target, total, dt)


def event_prob(hazard: float, dt: float) -> float:
    """Probability of at least one event in dt for a constant hazard (1/h)."""
    return -math.expm1(-hazard * dt)


# ---------------------------------------------------------------------------------------------
# the model
# ---------------------------------------------------------------------------------------------


def reference_params(overrides: Mapping[str, float] | None = None) -> dict[str, float]:
    """All parameters as plain floats: the defaults, updated with ``overrides``."""
    p = defaults()
    for name, value in (overrides or {}).items():
        if name not in p:
            raise KeyError(f"unknown parameter '{name}'")
        p[name] = float(value)
    return p


def reference_initial_state(p: Mapping[str, float]) -> dict[str, float]:
    """Resting state of a person before the simulation starts (as ``model.initial_state``)."""
    return {
        "stress": p["stress_baseline"],
        "cortisol": 0.0,
        "allostatic_load": 0.0,
        "affect": 0.05,
        "rumination": 0.0,
        "mood": 0.05,
        "pfc": p["pfc_adult"] * p["pfc_child_fraction"],
        "relief_value": p["relief_value_prior"],
        "harm": p["harm_prior"],
        # a person with a history can start with habit and tolerance (0 when the table has no such rows)
        "habit": p.get("habit_initial", 0.0),
        "tolerance": p.get("tolerance_initial", 0.0),
        "opioid": p["opioid_tone"],
        "skill": 0.0,
        "ideation": 0.0,
        "n_acts": 0.0,
        "recent_acts": 0.0,
        "period": 0.0,
    }


def reference_step(
    u: Sequence[float],
    state: Mapping[str, float],
    p: Mapping[str, float],
    on: Sequence[float],
    dt: float,
    comparisons: dict[str, tuple[float, float]] | None = None,
    age: float = DEFAULT_AGE,
) -> tuple[dict[str, float], dict[str, float | bool]]:
    """Advance one person by ``dt`` hours: the equations of :func:`nssisim.core.model.step`.

    Parameters
    ----------
    u : 2 floats in [0, 1)
        Uniforms for this step: the stressor (then, rescaled, the attempt, the switch of period
        and the stressor's mark) and the urge (then, rescaled, habit and the act's marks).
    state : dict
        Fields of :class:`nssisim.core.model.State` as floats.
    p : dict
        Every parameter of :data:`nssisim.core.parameters.PARAMS` as a float.
    on : 13 floats
        Mechanism switches M1..M13 (1.0 on, 0.0 off).
    dt : float
        Step length in hours.
    comparisons : dict, optional
        If given, filled with the two sides ``(lhs, rhs)`` of every ``lhs < rhs`` (or
        ``>=``) test that decides a discrete event. Tests use it to skip draws that lie so
        close to a boundary that single-precision rounding could decide them differently.
    age : float
        The person's age (years) at the start of the step (M12).

    Returns
    -------
    (new_state, events) : two dicts with the fields of ``State`` and ``StepEvents``.
    """
    m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13 = (float(x) for x in on)
    u_event, u_urge = u
    s = state

    # ---- fast block: stress and affect along their exact paths over the step ----------------
    load = m2 * s["allostatic_load"]
    in_period = s["period"] > 0.5
    # M12 development: pubertal bump (inverted U) and prefrontal maturity at this age
    peak = p["puberty_peak_age"] - p["puberty_offset_female"] * p["female"] + p["puberty_timing"]
    zp = (age - peak) / p["puberty_width"]
    puberty = m12 * math.exp(-0.5 * zp * zp)
    years = max(age - DEVELOPMENT_REF_AGE, 0.0)
    maturity = 1.0 - (1.0 - p["pfc_child_fraction"]) * math.exp(-m12 * years * (HOURS_PER_YEAR / p["tau_maturation"]))
    pfc = p["pfc_adult"] * maturity
    # M1: daily hassles rise during a stressful period
    baseline = min(p["stress_baseline"] + m1 * p["period_stress_baseline"] * s["period"], 1.0)
    x_stress = dt / p["tau_stress"]
    stress = _relax(s["stress"], baseline, 1.0 / p["tau_stress"], dt)
    stress_mean_factor = -math.expm1(-x_stress) / x_stress if x_stress > 1e-6 else 1.0 - 0.5 * x_stress
    stress_mean = baseline + (s["stress"] - baseline) * stress_mean_factor
    # M11 buffers
    alexithymia = p["alexithymia"] * (1.0 - m11 * p["k_resilience_alexithymia"] * p["resilience"])
    limbic = (
        p["limbic_reactivity"] * (1.0 + p["w_limbic_maltreatment"] * p["maltreatment"])
        * max(1.0 + m11 * p["k_self_esteem_limbic"] * (SELF_ESTEEM_NEUTRAL - p["self_esteem"]), 0.0)
        * (1.0 + p["k_puberty_limbic"] * puberty)
    )
    limbic = m3 * limbic + (1.0 - m3) * 1.0
    # M3 regulation capacity
    reg_capacity = (
        pfc * (1.0 - p["w_alexithymia_regulation"] * alexithymia)
        * (1.0 - p["w_load_regulation"] * load) * (1.0 - p["w_stress_regulation"] * stress_mean)
    )
    reg_capacity = m3 * reg_capacity + (1.0 - m3) * PFC_NEUTRAL
    recovery = (1.0 + p["k_pfc_regulation"] * reg_capacity) / p["tau_affect"]
    drive = (
        limbic * stress_mean * (1.0 + p["k_load_affect"] * load)
        + m4 * (p["k_rumination_affect"] * s["rumination"] + p["k_mood_affect"] * s["mood"])
    )
    total = max(drive + recovery, 1e-12)
    target = drive / total
    half = math.exp(-0.5 * total * dt)
    gap = s["affect"] - target
    affect = target + gap * half * half
    affect_mid = target + gap * half
    affect_mean = target + gap * (1.0 - half * half) / (total * dt)

    # ---- M5 urge hazards (Simpson's rule over the affect path) -------------------------------
    threshold = _clip(
        p["distress_threshold"] * (1.0 - p["k_load_threshold"] * load) + m11 * p["k_resilience_threshold"] * p["resilience"],
        0.05, 0.95,
    )
    mood_term = m4 * p["w_mood_urge"] * s["mood"] * (1.0 - m11 * p["k_hope_mood"] * p["hope"])

    def excess_at(a):
        return _clip((a + mood_term - threshold) / (1.0 - threshold), 0.0, 1.0)

    w0, w_mid, w1 = excess_at(s["affect"]), 4.0 * excess_at(affect_mid), excess_at(affect)
    excess = (w0 + w_mid + w1) / 6.0
    w_sum = w0 + w_mid + w1
    if w_sum > 0:
        distress_goal = (w0 * s["affect"] + w_mid * affect_mid + w1 * affect) / max(w_sum, 1e-12) + mood_term
    else:
        distress_goal = affect_mean + mood_term
    h_goal = p["lam_urge"] * s["relief_value"] * excess
    h_habit = (m10 * p["lam_cue"] * s["habit"] * (1.0 - p["w_habit_cue_affect"] + p["w_habit_cue_affect"] * affect_mean)
               * math.exp(-p["k_habit_control"] * (reg_capacity - PFC_NEUTRAL)))
    urge_intensity = 1.0 - (1.0 - s["relief_value"] * excess) * (1.0 - m10 * s["habit"] * affect_mean)

    # ---- M1 stressor hazard ------------------------------------------------------------------
    family = p["parental_control"] * (1.0 - m11 * p["k_self_efficacy_control"] * p["regulatory_self_efficacy"])
    risk = (1.0 + p["w_stress_peer"] * p["peer_victimisation"] + p["w_stress_family"] * family
            + p["w_stress_maltreatment"] * p["maltreatment"])
    h_stress = m1 * p["lam_stress"] * risk * (1.0 + p["k_period_stressors"] * (1.0 if in_period else 0.0))
    # M1 periods: entry raised by the same risk factors (and in girls), exit after tau_period on average
    h_enter = m1 * p["lam_period"] * risk * (1.0 + p["k_female_interpersonal"] * p["female"])
    h_leave = m1 / p["tau_period"]

    # ---- M13 ideation target and attempt hazard ------------------------------------------------
    # the injury history: the lifetime count, or in part (w_history_recent) a count of recent acts
    w_recent = p["w_history_recent"]
    history = ((1.0 - w_recent) * (1.0 - math.exp(-s["n_acts"] / p["n_history_scale"]))
               + w_recent * (1.0 - math.exp(-s["recent_acts"] / p["n_history_scale"])))
    # mood counts relative to the distress-tolerance threshold (IDEATION_MOOD_REFERENCE: face value at 0.4)
    mood_scale = IDEATION_MOOD_REFERENCE / p["distress_threshold"]
    ideation_target = _sigmoid(
        p["ideation_bias"] + p["w_ideation_mood"] * m4 * s["mood"] * mood_scale + p["w_ideation_burden"] * p["burdensomeness"]
        - p["w_ideation_pfc"] * pfc + p["w_ideation_history"] * history
    )
    floor = p["attempt_ideation_floor"]  # the hazard: a power of ideation above a floor (0: of ideation itself)
    h_attempt = m13 * p["lam_attempt"] * (max(s["ideation"] - floor, 0.0) / (1.0 - floor)) ** p["attempt_ideation_power"]

    # ---- 1. the slower relaxations over dt -----------------------------------------------------
    cort_gain = max(p["hpa_reactivity"] * (1.0 - p["hpa_blunting"] * load), 0.0)
    cortisol = m2 * _relax(s["cortisol"], -math.expm1(-cort_gain * stress_mean), 1.0 / p["tau_cortisol"], dt)
    new_load = m2 * _linear_bounded(
        s["allostatic_load"], p["allostatic_sensitivity"] * s["cortisol"] / p["tau_load"], 1.0 / p["tau_load"], dt
    )
    rumination = m4 * _linear_bounded(
        s["rumination"], p["k_rumination_gain"] * p["rumination_trait"] * affect_mean, 1.0 / p["tau_rumination"], dt
    )
    mood_target = min(affect_mean * (1.0 + p["k_female_mood"] * p["female"] * puberty), 1.0)
    mood = m4 * _relax(s["mood"], mood_target, 1.0 / p["tau_mood"], dt)
    # M9 extinction: once a person has acted, learned relief fades to the floor without acts
    relief_rest = p["relief_extinction_floor"] * p["relief_value_prior"] if m9 * s["n_acts"] > 0 else p["relief_value_prior"]
    relief_value = _relax(s["relief_value"], relief_rest, 1.0 / p["tau_extinction"], dt)
    # M9 stress-induced reinstatement: in a stressful period, extinguished relief returns towards a fraction of the prior
    reinstated = p["relief_reinstatement"] * p["relief_value_prior"]
    if m9 * s["n_acts"] > 0 and in_period and relief_value < reinstated:
        relief_value = _relax(relief_value, reinstated, 1.0 / p["tau_reinstatement"], dt)
    harm = _relax(s["harm"], p["harm_prior"], 1.0 / p["tau_forget"], dt)
    habit = s["habit"] * math.exp(-dt / p["tau_habit"])
    tolerance = s["tolerance"] * math.exp(-dt / p["tau_tolerance"])
    opioid = _relax(s["opioid"], p["opioid_tone"], 1.0 / p["tau_opioid"], dt)
    ideation = m13 * _relax(s["ideation"], ideation_target, 1.0 / p["tau_ideation"], dt)

    # ---- 2a. M1 stressor: jump in acute stress with an exponential severity mark ----------
    p_stress = event_prob(h_stress, dt)
    stressor = u_event < p_stress
    # the uniform rescaled within the stressor's outcome decides the attempt (M13) ...
    if stressor:
        v_attempt = u_event / max(p_stress, 1e-30)
    else:
        v_attempt = (u_event - p_stress) / max(1.0 - p_stress, 1e-30)
    p_attempt = event_prob(h_attempt, dt)
    attempt = v_attempt < p_attempt
    # ... rescaled within the attempt's outcome, the calm <-> stressful period switch (M1; only
    # without an attempt) ...
    if attempt:
        v_period = v_attempt / max(p_attempt, 1e-30)
    else:
        v_period = (v_attempt - p_attempt) / max(1.0 - p_attempt, 1e-30)
    p_switch = event_prob(h_leave if in_period else h_enter, dt)
    period = s["period"]
    switch = not attempt and v_period < p_switch
    if switch:
        period = 1.0 - period
    # ... and rescaled within the switch's outcome, the stressor's mark
    if attempt:
        v = v_period
    elif switch:
        v = v_period / max(p_switch, 1e-30)
    else:
        v = (v_period - p_switch) / max(1.0 - p_switch, 1e-30)
    if stressor:
        v = _clip(v, 1e-7, 1.0)
        severity_stress = -p["stress_severity_mean"] * math.log(v)
        stress = 1.0 - (1.0 - stress) * math.exp(-severity_stress)

    # ---- 2b. M5 urge, M6 action selection: acted-on and resisted urges as competing risks ------
    # reactive inhibition races the go drive: the stronger the drive, the less inhibition is left
    go_goal = s["relief_value"] * distress_goal
    go_habit = s["habit"]
    inhibition = p["w_act_inhibition"] * p["reactive_inhibition"]
    harm_term, skill_term = p["w_act_harm"] * s["harm"], p["w_act_skill"] * s["skill"]
    others = harm_term + skill_term
    # skills act on the urge itself: a share skill_habit_reach of the skill term reaches habit urges in full
    reach = p["skill_habit_reach"] + (1.0 - p["skill_habit_reach"]) * (1.0 - p["habit_bypass"])
    logit_goal = (p["act_bias"] + p["w_act_value"] * go_goal
                  - inhibition * math.exp(-p["k_inhibition_override"] * go_goal) - others)
    logit_habit = (p["act_bias"] + p["w_act_habit"] * go_habit
                   - (1.0 - p["habit_bypass"]) * (inhibition * math.exp(-p["k_inhibition_override"] * go_habit) + harm_term)
                   - reach * skill_term)
    p_goal = m6 * _sigmoid(logit_goal) + (1.0 - m6)  # M6 off: every urge is acted on
    p_habit = m6 * _sigmoid(logit_habit) + (1.0 - m6)
    h_act_goal, h_act_habit = m5 * h_goal * p_goal, m5 * h_habit * p_habit
    h_res_goal, h_res_habit = m5 * h_goal * (1.0 - p_goal), m5 * h_habit * (1.0 - p_habit)
    p_act_step = event_prob(h_act_goal + h_act_habit, dt)
    p_res_step = event_prob(h_res_goal + h_res_habit, dt)
    bound_resisted = p_act_step + (1.0 - p_act_step) * p_res_step
    act = u_urge < p_act_step
    resisted = (not act) and u_urge < bound_resisted
    urge = act or resisted
    if act:
        w = u_urge / max(p_act_step, 1e-30)
        habit_share = h_act_habit / max(h_act_goal + h_act_habit, 1e-30)
    else:
        w = (u_urge - p_act_step) / max((1.0 - p_act_step) * p_res_step, 1e-30)
        habit_share = h_res_habit / max(h_res_goal + h_res_habit, 1e-30)
    habitual = urge and w < habit_share
    # the act's marks: w rescaled within the habit split decides the interpersonal consequence,
    # then, rescaled within that split, the severity noise
    if w < habit_share:
        z = w / max(habit_share, 1e-30)
    else:
        z = (w - habit_share) / max(1.0 - habit_share, 1e-30)
    p_inter = p["p_interpersonal"]
    interpersonal = act and z < p_inter and m7 > 0
    if z < p_inter:
        z_sev = z / max(p_inter, 1e-30)
    else:
        z_sev = (z - p_inter) / max(1.0 - p_inter, 1e-30)

    # ---- 3. the act: M8 severity and opioids, M7 relief, M9 learning, M10 habit, M8 tolerance
    severity = _clip(
        p["severity_base"] * (1.0 + m8 * p["k_severity_tolerance"] * s["tolerance"]) * (0.75 + 0.5 * z_sev), 0.01, 1.0
    )
    release = m8 * p["opioid_release"] * severity * (1.0 - s["tolerance"])
    relief_fraction = m7 * -math.expm1(-(p["relief_base"] + p["k_relief_opioid"] * release))
    relief_abs = affect * relief_fraction
    opioid_after = opioid + release
    pain = p["pain_sensitivity"] * severity * math.exp(-p["k_analgesia"] * opioid_after)
    outcome = _clip(relief_fraction + m7 * p["relief_positive"], 0.0, 1.0)
    harm_outcome = _clip(p["w_harm_pain"] * pain + p["w_harm_injury"] * severity, 0.0, 1.0)
    a_relief = m9 * _clip(p["alpha_relief"] * p["reward_sensitivity"] * (1.0 + p["k_puberty_reward"] * puberty), 0.0, 1.0)
    a_harm = m9 * _clip(p["alpha_harm"] * p["punishment_learning"], 0.0, 1.0)

    affect_before = affect
    if act:
        affect = affect * (1.0 - relief_fraction)
        opioid = opioid_after
        relief_value = relief_value + a_relief * (outcome - relief_value)
        harm = harm + a_harm * (harm_outcome - harm)
        reinforcement = 1.0 - p["w_habit_reinforcement"] + p["w_habit_reinforcement"] * outcome
        habit = habit + m10 * p["eta_habit"] * reinforcement * (1.0 - habit)
        tolerance = tolerance + m8 * p["eta_tolerance"] * severity * (1.0 - tolerance)
    if interpersonal:
        stress = stress * (1.0 - p["interpersonal_stress_relief"])
    n_acts = s["n_acts"] + (1.0 if act else 0.0)
    recent_acts = s["recent_acts"] * math.exp(-dt / p["tau_history_recent"]) + (1.0 if act else 0.0)

    # a resisted urge: a skill, if there is one, removes part of the distress
    if resisted:
        affect = affect * (1.0 - p["skill_relief"] * s["skill"])

    # ---- M13 attempt (rare) and the M1 switch of period: decided with the stressor above -------

    if comparisons is not None:
        comparisons.update({
            "stressor": (u_event, p_stress),
            "act": (u_urge, p_act_step),
            "urge": (u_urge, bound_resisted),
            "attempt": (v_attempt, p_attempt),
        })
        if not attempt:
            comparisons["period"] = (v_period, p_switch)
        if urge:  # the later tests only matter given the earlier ones
            comparisons["habitual"] = (w, habit_share)
        if act:
            comparisons["interpersonal"] = (z, p_inter)
            comparisons["intrapersonal"] = (relief_fraction, p["intrapersonal_relief_min"])

    new_state = {
        "stress": stress, "cortisol": cortisol, "allostatic_load": new_load, "affect": affect, "rumination": rumination,
        "mood": mood, "pfc": pfc, "relief_value": relief_value, "harm": harm, "habit": habit, "tolerance": tolerance,
        "opioid": opioid, "skill": s["skill"], "ideation": ideation, "n_acts": n_acts,
        "recent_acts": recent_acts, "period": period,
    }
    events = {
        "urge": urge,
        "act": act,
        "habitual": habitual,
        "severity": severity if act else 0.0,
        "relief": relief_abs if act else 0.0,
        "relief_fraction": relief_fraction if act else 0.0,
        "distress": affect_before,
        "intrapersonal": act and relief_fraction >= p["intrapersonal_relief_min"],
        "interpersonal": interpersonal,
        "attempt": attempt,
        "stressor": stressor,
        "urge_intensity": urge_intensity,
    }
    return new_state, events


def reference_run(
    uniforms: int | Iterable[Sequence[float]],
    p: Mapping[str, float] | None = None,
    on: Sequence[float] | None = None,
    dt: float = 1.0,
    n_steps: int = 8760,
    state: Mapping[str, float] | None = None,
    record_every: int = 1,
    start_age: float = 12.0,
) -> tuple[list[dict[str, float]], list[dict[str, float | bool]]]:
    """Simulate one person for ``n_steps`` steps of ``dt`` hours with a plain loop.

    Parameters
    ----------
    uniforms : int or iterable
        A seed for ``random.Random`` (``N_UNIFORMS`` draws per step), or an iterable yielding the
        uniforms of each step (to replay the exact numbers another simulator used).
    p : dict, optional
        Parameter overrides; missing parameters take their defaults.
    on : 13 floats, optional
        Mechanism switches (default: all on).
    dt, n_steps : step length (h) and number of steps.
    state : dict, optional
        Start state (default :func:`reference_initial_state`).
    record_every : int
        Keep the state every this many steps.
    start_age : float
        Age (years) at the start; step ``t`` runs at ``start_age + t dt / HOURS_PER_YEAR``.

    Returns
    -------
    (states, events) : the recorded states (after steps ``record_every``, ``2 record_every``,
    ...) and the events of every step.
    """
    p = reference_params(p)
    on = [1.0] * N_MECHANISMS if on is None else [float(x) for x in on]
    if len(on) != N_MECHANISMS:
        raise ValueError(f"need {N_MECHANISMS} mechanism switches, got {len(on)}")
    if isinstance(uniforms, numbers.Integral):
        rng = random.Random(int(uniforms))
        draws = ([rng.random() for _ in range(N_UNIFORMS)] for _ in range(n_steps))
    else:
        draws = iter(uniforms)
    s = dict(reference_initial_state(p) if state is None else state)

    states: list[dict[str, float]] = []
    events: list[dict[str, float | bool]] = []
    for t in range(n_steps):
        u = next(draws)
        s, ev = reference_step(u, s, p, on, dt, age=start_age + t * dt / HOURS_PER_YEAR)
        events.append(ev)
        if (t + 1) % record_every == 0:
            states.append(s)
    return states, events


__all__ = ["EVENT_FIELDS", "event_prob", "N_MECHANISMS", "N_UNIFORMS", "PFC_NEUTRAL", "reference_initial_state",
           "reference_params", "reference_run", "reference_step", "SELF_ESTEEM_NEUTRAL", "STATE_FIELDS"]
