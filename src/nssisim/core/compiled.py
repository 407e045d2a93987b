"""The yardstick of the benchmark: the equations of :mod:`nssisim.core.reference` as a compiled scalar loop.

What it is for
--------------
``nssisim bench`` compares the JAX cohort simulator with a loop that a careful modeller would
write with a compiler at hand: one person at a time, one step at a time, scalar float64
arithmetic, compiled by Numba, subjects spread over the cores with ``prange``. If the JAX code
is not at least as fast as this loop, the vectorised design is not paying for itself.

How it is kept in step
----------------------
:func:`compiled_step` is a line-by-line transcription of
:func:`nssisim.core.reference.reference_step`: the same names, the same order, ``p["name"]`` and
``s["name"]`` on NumPy records instead of dicts (Numba compiles field access on records), and
the events returned as a tuple in the order of ``reference.EVENT_FIELDS``. When ``reference.py``
changes, change this function in the same way; ``tests/test_compiled.py`` feeds both the same
inputs and checks that they agree to float64 rounding (the transcription runs as plain Python
when Numba is missing, so that check always runs; the compiled loop's checks skip then).

Random numbers are those of the JAX simulator: subject keys ``fold_in(PRNGKey(seed), id)``
(computed with JAX, on the host), then per step one Threefry-2x32 hash over ``(t, 0)`` and the
same conversion to uniforms as :func:`nssisim.core.simulation.step_uniforms` (:func:`threefry2x32`
is a scalar transcription of JAX's). A subject therefore draws exactly the numbers it draws in
the JAX simulator, and the two differ only by float32 against float64 rounding.

Numba is an optional dependency (``pip install nssisim[bench]``); without it
:data:`NUMBA_VERSION` is ``None`` and :func:`run_compiled` raises ``ImportError``.
"""

from __future__ import annotations

import math

import numpy as np

from .parameters import HOURS_PER_YEAR, IDEATION_MOOD_REFERENCE, MECHANISMS, PARAMS
from .reference import DEVELOPMENT_REF_AGE, EVENT_FIELDS, PFC_NEUTRAL, SELF_ESTEEM_NEUTRAL, STATE_FIELDS

try:  # optional: the `bench` extra
    import numba
    from numba import njit, prange

    NUMBA_VERSION: str | None = numba.__version__
except ImportError:  # the transcription still runs as plain Python (slowly), for the tests
    NUMBA_VERSION = None
    prange = range

    def njit(*args, **kwargs):
        if len(args) == 1 and callable(args[0]) and not kwargs:
            return args[0]
        return lambda f: f

#: Why the compiled loop is unavailable (None when Numba is installed).
NUMBA_MISSING = None if NUMBA_VERSION else "numba is not installed (pip install 'nssisim[bench]')"

N_MECHANISMS = len(MECHANISMS)
#: Records of float64 fields: the parameters (every row of PARAMS) and the state.
PARAM_DTYPE = np.dtype([(name, np.float64) for name in PARAMS])
STATE_DTYPE = np.dtype([(name, np.float64) for name in STATE_FIELDS])
#: Per-block counters, in the order of ``simulation.COUNT_FIELDS``.
N_COUNTS = 10
_M32 = 0xFFFFFFFF
_U_SCALE = 2.0 ** -31
_U_MAX = float(np.nextafter(np.float32(1.0), np.float32(0.0)))


def param_record(p) -> np.ndarray:
    """A parameter dict (every row of PARAMS) as a record (a 0-d structured array)."""
    rec = np.zeros((), PARAM_DTYPE)
    for name in PARAMS:
        rec[name] = p[name]
    return rec


def state_record(s) -> np.ndarray:
    """A state dict as a record (a 0-d structured array)."""
    rec = np.zeros((), STATE_DTYPE)
    for name in STATE_FIELDS:
        rec[name] = s[name]
    return rec


# ---------------------------------------------------------------------------------------------
# small helpers (the same as in core/reference.py)
# ---------------------------------------------------------------------------------------------


@njit(cache=False)
def _clip(x, lo, hi):
    return min(max(x, lo), hi)


@njit(cache=False)
def _sigmoid(x):
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


@njit(cache=False)
def _relax(x, target, rate, dt):
    return target + (x - target) * math.exp(-rate * dt)


@njit(cache=False)
def _linear_bounded(x, rate_up, rate_down, dt):
    total = rate_up + rate_down
    target = rate_up / max(total, 1e-12)
    return _relax(x, target, total, dt)


@njit(cache=False)
def event_prob(hazard, dt):
    return -math.expm1(-hazard * dt)


@njit(cache=False)
def _excess_at(a, mood_term, threshold):
    return _clip((a + mood_term - threshold) / (1.0 - threshold), 0.0, 1.0)


# ---------------------------------------------------------------------------------------------
# the model: a transcription of reference.reference_step
# ---------------------------------------------------------------------------------------------


@njit(cache=False)
def compiled_step(u_event, u_urge, s, p, on, dt, age, new):
    """One step of one person at ``age`` (years): ``reference_step`` on records. Writes the new state into the
    record ``new`` and returns the events as a tuple in the order of ``reference.EVENT_FIELDS``."""
    m1, m2, m3, m4, m5, m6, m7 = on[0], on[1], on[2], on[3], on[4], on[5], on[6]
    m8, m9, m10, m11, m12, m13 = on[7], on[8], on[9], on[10], on[11], on[12]

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

    w0 = _excess_at(s["affect"], mood_term, threshold)
    w_mid = 4.0 * _excess_at(affect_mid, mood_term, threshold)
    w1 = _excess_at(affect, mood_term, threshold)
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

    new["stress"] = stress
    new["cortisol"] = cortisol
    new["allostatic_load"] = new_load
    new["affect"] = affect
    new["rumination"] = rumination
    new["mood"] = mood
    new["pfc"] = pfc
    new["relief_value"] = relief_value
    new["harm"] = harm
    new["habit"] = habit
    new["tolerance"] = tolerance
    new["opioid"] = opioid
    new["skill"] = s["skill"]
    new["ideation"] = ideation
    new["n_acts"] = n_acts
    new["recent_acts"] = recent_acts
    new["period"] = period
    return (urge, act, habitual, severity if act else 0.0, relief_abs if act else 0.0,
            relief_fraction if act else 0.0, affect_before, act and relief_fraction >= p["intrapersonal_relief_min"],
            interpersonal, attempt, stressor, urge_intensity)


@njit(cache=False)
def _step_arrays(u_event, u_urge, s, p, on, dt, age, new):
    return compiled_step(u_event, u_urge, s[0], p[0], on, dt, age, new[0])


def one_step(u, state, p, on, dt, age) -> tuple[dict, dict]:
    """:func:`compiled_step` on dicts, as ``reference_step(u, state, p, on, dt, age=age)`` (for the tests)."""
    s_arr, p_arr, new = np.zeros(1, STATE_DTYPE), np.zeros(1, PARAM_DTYPE), np.zeros(1, STATE_DTYPE)
    for name in STATE_FIELDS:
        s_arr[name] = state[name]
    for name in PARAMS:
        p_arr[name] = p[name]
    ev = _step_arrays(float(u[0]), float(u[1]), s_arr, p_arr, np.asarray(on, np.float64), float(dt), float(age), new)
    events = {k: (bool(v) if isinstance(v, (bool, np.bool_)) else float(v)) for k, v in zip(EVENT_FIELDS, ev)}
    return {name: float(new[name][0]) for name in STATE_FIELDS}, events


def step_events(events: tuple) -> dict:
    """The tuple returned by :func:`compiled_step` as a dict keyed like ``reference.EVENT_FIELDS``."""
    return dict(zip(EVENT_FIELDS, events))


# ---------------------------------------------------------------------------------------------
# random numbers: JAX's Threefry-2x32 and step_uniforms, as scalar code
# ---------------------------------------------------------------------------------------------


@njit(cache=False)
def _rotl(x, r):
    return ((x << r) | (x >> (32 - r))) & _M32


@njit(cache=False)
def _rounds(x0, x1, r0, r1, r2, r3):
    x0 = (x0 + x1) & _M32
    x1 = _rotl(x1, r0) ^ x0
    x0 = (x0 + x1) & _M32
    x1 = _rotl(x1, r1) ^ x0
    x0 = (x0 + x1) & _M32
    x1 = _rotl(x1, r2) ^ x0
    x0 = (x0 + x1) & _M32
    x1 = _rotl(x1, r3) ^ x0
    return x0, x1


@njit(cache=False)
def threefry2x32(k0, k1, x0, x1):
    """Threefry-2x32 with 20 rounds, as ``jax.extend.random.threefry_2x32`` (ints below 2**32)."""
    k2 = k0 ^ k1 ^ 0x1BD11BDA
    x0 = (x0 + k0) & _M32
    x1 = (x1 + k1) & _M32
    x0, x1 = _rounds(x0, x1, 13, 15, 26, 6)
    x0 = (x0 + k1) & _M32
    x1 = (x1 + k2 + 1) & _M32
    x0, x1 = _rounds(x0, x1, 17, 29, 16, 24)
    x0 = (x0 + k2) & _M32
    x1 = (x1 + k0 + 2) & _M32
    x0, x1 = _rounds(x0, x1, 13, 15, 26, 6)
    x0 = (x0 + k0) & _M32
    x1 = (x1 + k1 + 3) & _M32
    x0, x1 = _rounds(x0, x1, 17, 29, 16, 24)
    x0 = (x0 + k1) & _M32
    x1 = (x1 + k2 + 4) & _M32
    x0, x1 = _rounds(x0, x1, 13, 15, 26, 6)
    x0 = (x0 + k2) & _M32
    x1 = (x1 + k0 + 5) & _M32
    return x0, x1


@njit(cache=False)
def _uniform(word):
    """``simulation.step_uniforms``' conversion of one 32-bit word (as float64)."""
    return min(float(np.float32(word >> 1)) * _U_SCALE, _U_MAX)


@njit(cache=False)
def step_uniforms(k0, k1, t):
    """The two uniforms of step ``t`` of the subject with key ``(k0, k1)``."""
    b0, b1 = threefry2x32(k0, k1, t, 0)
    return _uniform(b0), _uniform(b1)


# ---------------------------------------------------------------------------------------------
# the cohort loop
# ---------------------------------------------------------------------------------------------


@njit(parallel=True, cache=False)
def _run(keys, params, work, age0, on, dt, n_steps, record_every, cap, states, counts, buf, n_ev):
    """Every subject (in parallel), every step: states and counts per block, event rows.

    ``work[i, 0]`` holds subject ``i``'s start state; ``work[i, 1]`` is the scratch record the
    step writes into (the two swap roles every step)."""
    n = keys.shape[0]
    years_per_step = dt / HOURS_PER_YEAR
    for i in prange(n):
        k0, k1 = np.int64(keys[i, 0]), np.int64(keys[i, 1])
        p = params[i]
        w = work[i]
        c = 0
        acc = np.zeros(N_COUNTS)
        rows = 0
        for t in range(n_steps):
            u_event, u_urge = step_uniforms(k0, k1, t)
            urge, act, habitual, severity, relief, _, distress, intra, inter, attempt, stressor, _ = compiled_step(
                u_event, u_urge, w[c], p, on, dt, age0[i] + t * years_per_step, w[1 - c])
            c = 1 - c
            acc[0] += act
            acc[1] += urge
            acc[2] += act and habitual
            acc[3] += urge and not act
            acc[4] += attempt
            acc[5] += stressor
            acc[6] += severity
            acc[7] += relief
            acc[8] += intra
            acc[9] += inter
            if urge:
                if rows < cap:
                    buf[i, rows, 0] = t
                    buf[i, rows, 1] = 1.0 if act else 0.0
                    buf[i, rows, 2] = habitual
                    buf[i, rows, 3] = severity
                    buf[i, rows, 4] = relief
                    buf[i, rows, 5] = distress
                    buf[i, rows, 6] = intra
                    buf[i, rows, 7] = inter
                rows += 1
            if attempt:
                if rows < cap:
                    buf[i, rows, 0] = t
                    buf[i, rows, 1] = 2.0
                rows += 1
            if (t + 1) % record_every == 0:
                b = t // record_every
                states[i, b] = w[c]
                counts[i, b, :] = acc
                acc[:] = 0.0
        n_ev[i] = rows


def subject_keys(seed: int, subject_ids: np.ndarray) -> np.ndarray:
    """``(n, 2)`` uint32: the Threefry key of each subject, exactly as the JAX simulator derives it."""
    import jax

    root = jax.random.PRNGKey(int(seed))
    ids = np.asarray(subject_ids).astype(np.uint32)
    return np.asarray(jax.vmap(lambda i: jax.random.key_data(jax.random.fold_in(root, i)))(ids))


def run_compiled(seed: int, params: dict[str, np.ndarray], on, *, n_steps: int, dt: float = 1.0,
                 record_every: int = 24, event_capacity: int = 512, subject_ids: np.ndarray | None = None,
                 start_age_years: float | np.ndarray = 12.0, init: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Run a cohort with the compiled loop.

    ``params`` maps every name of PARAMS to a per-subject array (``simulation.stack_params``);
    ``on`` holds the 13 mechanism switches; step ``t`` of subject ``i`` runs at age
    ``start_age_years[i] + t dt / HOURS_PER_YEAR`` (as in ``simulate_cohort``). Returns ``states`` (n, records) records of
    :data:`STATE_DTYPE`, ``counts`` (n, records, 10) in the order of ``COUNT_FIELDS``, ``events``
    (n, event_capacity, 8) rows in the order of ``EVENT_FIELDS`` and ``n_events`` (n,).
    """
    if NUMBA_VERSION is None:
        raise ImportError(NUMBA_MISSING)
    from .reference import reference_initial_state

    n = len(next(iter(params.values())))
    ids = np.arange(n) if subject_ids is None else np.asarray(subject_ids)
    if n_steps % record_every:
        raise ValueError("n_steps must be a multiple of record_every")
    prec = np.zeros(n, PARAM_DTYPE)
    for name in PARAMS:
        prec[name] = np.asarray(params[name], np.float64)
    if init is None:
        init = np.zeros(n, STATE_DTYPE)
        for i in range(n):
            s0 = reference_initial_state({name: float(prec[name][i]) for name in PARAMS})
            for f in STATE_FIELDS:
                init[f][i] = s0[f]
    n_rec = n_steps // record_every
    states = np.zeros((n, n_rec), STATE_DTYPE)
    counts = np.zeros((n, n_rec, N_COUNTS))
    buf = np.zeros((n, event_capacity, 8))
    n_ev = np.zeros(n, np.int64)
    keys = subject_keys(seed, ids).astype(np.int64)
    work = np.zeros((n, 2), STATE_DTYPE)
    work[:, 0] = init
    age0 = np.broadcast_to(np.asarray(start_age_years, np.float64), (n,)).copy()
    _run(keys, prec, work, age0, np.asarray(on, np.float64), float(dt), int(n_steps), int(record_every), int(event_capacity),
         states, counts, buf, n_ev)
    return {"states": states, "counts": counts, "events": buf, "n_events": n_ev}


__all__ = ["compiled_step", "one_step", "NUMBA_MISSING", "NUMBA_VERSION", "PARAM_DTYPE", "param_record", "run_compiled",
           "state_record", "STATE_DTYPE", "step_events", "step_uniforms", "subject_keys", "threefry2x32"]
