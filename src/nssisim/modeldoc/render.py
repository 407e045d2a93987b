"""Generated model documentation (``docs/model.md``) and reference checks.

:func:`render_model_md` writes the whole of ``docs/model.md``. The equations are written
by hand below (they mirror :func:`nssisim.model.step` line by line; change them together),
but every table is generated from the code: state variables from
:class:`nssisim.model.State` and :data:`nssisim.model.STATE_BOUNDS`, parameters from
:data:`nssisim.parameters.PARAMS`, explanatory targets from
:data:`nssisim.targets.TARGETS`, references from ``data/references.toml``. The committed
``docs/model.md`` must equal the rendered text (``tests/test_docs.py``); regenerate it with
``nssisim docs --out docs/model.md``, ``make docs`` or ``python -m nssisim.docs --out docs/model.md``.

:func:`check_references` lists evidence keys (of parameters, targets and the mechanism
sections below) that ``data/references.toml`` does not resolve.
"""

from __future__ import annotations

import argparse
import inspect
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from ..core import model
from ..core.model import PFC_NEUTRAL
from ..core.parameters import HOURS_PER_DAY, HOURS_PER_YEAR, MECHANISMS, PARAMS
from ..files import resource, toml_file
from ..targets import TARGETS

REFERENCES_PATH = resource("data", "references.toml")
DOCS_COMMAND = "nssisim docs --out docs/model.md"

#: Math symbol of each parameter in the equations (LaTeX, without dollars).
SYMBOLS: dict[str, str] = {
    # traits
    "limbic_reactivity": r"z_{\mathrm{lim}}",
    "pfc_adult": r"P_{\mathrm{adult}}",
    "pfc_initial_fraction": r"f_{P}",
    "reactive_inhibition": r"z_{\mathrm{inh}}",
    "allostatic_sensitivity": r"z_{\mathrm{allo}}",
    "hpa_reactivity": r"z_{\mathrm{hpa}}",
    "opioid_tone": r"O_0",
    "pain_sensitivity": r"z_{\mathrm{pain}}",
    "reward_sensitivity": r"z_{\mathrm{rew}}",
    "punishment_learning": r"z_{\mathrm{pun}}",
    "rumination_trait": r"z_{\mathrm{rum}}",
    "alexithymia": r"z_{\mathrm{alex}}",
    "maltreatment": r"z_{\mathrm{mal}}",
    "parental_control": r"z_{\mathrm{pc}}",
    "peer_victimisation": r"z_{\mathrm{peer}}",
    "burdensomeness": r"z_{\mathrm{bur}}",
    "resilience": r"z_{\mathrm{res}}",
    "regulatory_self_efficacy": r"z_{\mathrm{rese}}",
    "hope": r"z_{\mathrm{hope}}",
    "self_esteem": r"z_{\mathrm{se}}",
    # M1
    "lam_stress": r"\lambda_S",
    "w_stress_peer": r"w_{S,\mathrm{peer}}",
    "w_stress_family": r"w_{S,\mathrm{fam}}",
    "w_stress_maltreatment": r"w_{S,\mathrm{mal}}",
    "w_limbic_maltreatment": r"w_{\mathrm{lim,mal}}",
    "stress_severity_mean": r"\bar{\sigma}",
    "stress_baseline": r"S_0",
    "tau_stress": r"\tau_S",
    # M2
    "tau_cortisol": r"\tau_C",
    "tau_load": r"\tau_L",
    "hpa_blunting": r"b_{\mathrm{hpa}}",
    "k_load_affect": r"k_{L,A}",
    "k_load_threshold": r"k_{L,\theta}",
    # M3
    "tau_affect": r"\tau_A",
    "k_pfc_regulation": r"k_P",
    "w_alexithymia_regulation": r"w_{\mathrm{alex}}",
    "w_load_regulation": r"w_L",
    "w_stress_regulation": r"w_S",
    # M4
    "k_rumination_gain": r"k_R",
    "tau_rumination": r"\tau_R",
    "k_rumination_affect": r"k_{R,A}",
    "tau_mood": r"\tau_M",
    "k_mood_affect": r"k_{M,A}",
    # M5
    "distress_threshold": r"\theta_0",
    "lam_urge": r"\lambda_U",
    "lam_cue": r"\lambda_{\mathrm{cue}}",
    "w_habit_cue_affect": r"w_{\mathrm{cue}}",
    # M6
    "act_bias": r"\beta_0",
    "w_act_value": r"\beta_Q",
    "w_act_habit": r"\beta_H",
    "w_act_inhibition": r"\beta_{\mathrm{inh}}",
    "k_inhibition_override": r"k_{\mathrm{ov}}",
    "w_act_harm": r"\beta_E",
    "w_act_skill": r"\beta_K",
    "habit_bypass": r"b_H",
    "skill_relief": r"s_K",
    # M7
    "relief_base": r"r_0",
    "relief_positive": r"r_{+}",
    "p_interpersonal": r"p_{\mathrm{int}}",
    "interpersonal_stress_relief": r"s_{\mathrm{int}}",
    "intrapersonal_relief_min": r"\phi_{\mathrm{intra}}",
    # M8
    "severity_base": r"v_0",
    "k_severity_tolerance": r"k_{v,T}",
    "opioid_release": r"\psi_0",
    "k_relief_opioid": r"k_{\phi,O}",
    "k_analgesia": r"k_{\mathrm{an}}",
    "tau_opioid": r"\tau_O",
    "eta_tolerance": r"\eta_T",
    "tolerance_initial": r"T_0",
    "tau_tolerance": r"\tau_T",
    # M9
    "alpha_relief": r"\alpha_Q",
    "alpha_harm": r"\alpha_E",
    "relief_value_prior": r"Q_0",
    "harm_prior": r"E_0",
    "tau_forget": r"\tau_F",
    "w_harm_pain": r"w_{E,\mathrm{pain}}",
    "w_harm_injury": r"w_{E,\mathrm{inj}}",
    # M10
    "eta_habit": r"\eta_H",
    "habit_initial": r"H_0",
    "tau_habit": r"\tau_H",
    # M11
    "k_resilience_threshold": r"k_{\mathrm{res},\theta}",
    "k_resilience_alexithymia": r"k_{\mathrm{res,alex}}",
    "k_self_efficacy_control": r"k_{\mathrm{rese}}",
    "k_hope_mood": r"k_{\mathrm{hope}}",
    "k_self_esteem_limbic": r"k_{\mathrm{se}}",
    "w_mood_urge": r"w_{M,U}",
    # M12
    "tau_maturation": r"\tau_P",
    # M13
    "tau_ideation": r"\tau_I",
    "ideation_bias": r"\beta_{I,0}",
    "w_ideation_mood": r"\beta_{I,M}",
    "w_ideation_burden": r"\beta_{I,\mathrm{bur}}",
    "w_ideation_pfc": r"\beta_{I,P}",
    "w_ideation_history": r"\beta_{I,N}",
    "n_history_scale": r"N_0",
    "lam_attempt": r"\lambda_{\mathrm{att}}",
    "attempt_ideation_power": r"n_{\mathrm{att}}",
}


# ============================================================================ references
def load_references(path: str | Path | None = None) -> dict[str, dict]:
    """The reference table (``data/references.toml``): evidence key -> fields."""
    return toml_file(path or REFERENCES_PATH)


def _targets() -> Mapping:
    return TARGETS


def evidence_usage() -> dict[str, list[str]]:
    """Every evidence key used by the code, with where it is used (parameters, targets, mechanism sections)."""
    used: dict[str, list[str]] = {}
    for p in PARAMS.values():
        for k in p.evidence:
            used.setdefault(k, []).append(f"parameter {p.name}")
    for t in _targets().values():
        for k in t.evidence:
            used.setdefault(k, []).append(f"target {t.id}")
    for m in _MECHANISM_DOCS:
        for k in m["brief"]:
            used.setdefault(k, []).append(f"docs section {m['id']}")
    return used


def check_references(references: Mapping[str, object] | None = None) -> list[str]:
    """Evidence keys used in PARAMS, TARGETS and the mechanism sections that ``references.toml`` lacks (sorted)."""
    refs = load_references() if references is None else references
    return sorted(k for k in evidence_usage() if k not in refs)


# ============================================================================ formatting helpers
def _cell(text: object) -> str:
    """Text safe inside a Markdown table cell."""
    return str(text).replace("\n", " ").replace("|", r"\|").strip()


def _num(x: float) -> str:
    if x == 0:
        return "0"
    if float(x).is_integer() and abs(x) < 1e7:
        return str(int(x))
    return f"{x:.6g}"


def _hours_note(x: float) -> str:
    """A human-readable equivalent of a duration in hours (for long time constants)."""
    if x >= HOURS_PER_YEAR:
        return f" (≈ {x / HOURS_PER_YEAR:.3g} y)"
    if x >= 60 * HOURS_PER_DAY:
        return f" (≈ {x / (HOURS_PER_YEAR / 12):.3g} mo)"
    if x >= 14 * HOURS_PER_DAY:
        return f" (≈ {x / (7 * HOURS_PER_DAY):.3g} wk)"
    if x >= 2 * HOURS_PER_DAY:
        return f" (≈ {x / HOURS_PER_DAY:.3g} d)"
    return ""


def _value(p, x: float) -> str:
    s = _num(x)
    return s + (_hours_note(x) if p.unit == "h" else "")


def _sym(name: str) -> str:
    return f"${SYMBOLS[name]}$" if name in SYMBOLS else "—"


def _table(header: Iterable[str], rows: Iterable[Iterable[object]]) -> str:
    header = list(header)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _field_comments(cls) -> list[tuple[str, str]]:
    """(field, trailing comment) for each field of a NamedTuple, read from its source."""
    src = inspect.getsource(cls)
    out = []
    for line in src.splitlines():
        m = re.match(r"^\s+(\w+):\s*[\w.\[\]]+\s*#\s*(.*)$", line)
        if m and m.group(1) in cls._fields:
            out.append((m.group(1), m.group(2).strip()))
    found = {f for f, _ in out}
    out += [(f, "") for f in cls._fields if f not in found]
    order = {f: i for i, f in enumerate(cls._fields)}
    return sorted(out, key=lambda fc: order[fc[0]])


# ============================================================================ sections
_PURPOSE = """\
# The integrative model of NSSI with addictive features: model reference

*Generated by `nssisim.docs.render_model_md()`; do not edit by hand. Regenerate with
`{cmd}` (or `make docs`) whenever the parameter table, the targets, the references or the
equations change. `tests/test_docs.py` fails when this file and the code disagree.*

## 1. Purpose

`nssisim` is a formal, executable model of non-suicidal self-injury (NSSI) with addictive
features in adolescents. It formalises the integrative model proposed in the narrative review
by Chen & Zhuo (2026, *Front. Psychol.*, doi:10.3389/fpsyg.2026.1704139): repetitive NSSI is
sustained by negative reinforcement, learned relief, habit and opioid tolerance, on a background
of stress physiology (HPA axis), fronto-limbic regulation, risk and protective factors and
development, and it responds to treatment (DBT above all). The model makes that verbal theory
precise enough to simulate, test against the phenomena it claims to explain, ablate mechanism by
mechanism, and fit to research data. Every mechanism and parameter names the evidence it rests on
(section 9).

> **Research instrument, not a clinical tool.** The model is for theory building, in-silico
> experiments, study design and fitting to research data. It does not assess or predict any
> individual's risk and gives no advice of any kind about self-injury. Injury *severity* is an
> abstract number in [0, 1]; no method of self-injury is modelled or named. Anyone affected by
> self-injury should seek help from local health or crisis services.

Numbers in this document are model defaults, not findings: the defaults describe a typical
adolescent of a community sample (most never self-injure); calibration against published data is
recorded separately.
"""

_TIME = r"""
## 2. Timescales and units

- **Time is in hours** everywhere: time constants $\tau_\ast$ are in h, base hazards $\lambda_\ast$ in
  1/h. One model spans three timescales: minutes to hours (stress, arousal, urge, act, relief,
  opioids), days to weeks (rumination, mood, ideation), months to years (allostatic load, learned
  relief value and harm expectancy, habit, tolerance, prefrontal maturation).
- **The step $\Delta t$ is a run setting**, not a parameter: minutes for episode studies, up to an
  hour for cohorts over years. How far results move with $\Delta t$ is measured, not assumed: see
  section 3b.
- **Exact exponential updates.** Within a step the couplings between slow states are frozen at
  their start-of-step values (operator splitting), and each state is advanced by the exact
  solution of its linear equation. For $\dot x = k\,(x^\ast - x)$ with constant $x^\ast, k$:

  $$\mathcal{E}(x;\,x^\ast,k) \;=\; x^\ast + (x - x^\ast)\,e^{-k\,\Delta t}.$$

  A bounded state with $\dot x = a\,(1-x) - b\,x$ ($a, b \ge 0$) is advanced as
  $\mathcal{E}\big(x;\,a/(a+b),\,a+b\big)$ (with $a+b$ floored at $10^{-12}$), so it stays in $[0,1]$.
  Below, an equation $\dot x = \dots$ always means this exact update over one step.
- **The fast block is integrated along its exact path.** Acute stress $S$ and arousal $A$ move
  within an hour, so freezing them at start-of-step values biases hourly steps. Between stressors
  $S$ relaxes on its own, so its mean over the step is exact:
  $\bar S = S_0 + (S - S_0)\,\varphi(\Delta t/\tau_S)$ with $\varphi(x) = (1 - e^{-x})/x$. Every
  coupling that stress drives (regulation capacity, arousal drive, cortisol) uses $\bar S$.
  Arousal is then solved exactly for that drive, giving its end value $A_1$, its mid-step value
  $A_{1/2}$ and its mean $\bar A$. The goal-directed urge hazard, a thresholded function of
  arousal, is averaged over the path by Simpson's rule, $\bar x = (x(A) + 4x(A_{1/2}) + x(A_1))/6$;
  the distress that enters the act decision is the path weighted by that hazard (the arousal at
  the moment an urge is most likely); rumination, mood and the habit-cue rate use $\bar A$.
- **Events from hazards.** An event with hazard $h$ (1/h) happens in a step with probability
  $p = 1 - e^{-h\,\Delta t}$ (computed as `-expm1(-h dt)`). Each person-step draws four uniforms
  $u_1..u_4 \in [0,1)$: stressor, urge (acted on or resisted), the act's marks, attempt. Given
  an event, $u/p$ is again uniform and is reused for the event's mark (stressor severity; habit
  vs goal-directed urge; the act's interpersonal consequence and severity noise).
- **Jumps are convex.** An act, a stressor, a resisted urge change states by jumps of the form
  $x + a\,(1-x)$ or $x\,(1-a)$ with $a \in [0,1]$, so bounded states never leave their domain.
- **Order within a step.** (1) the fast block (stress path, arousal path, urge hazard over the
  path); (2) relaxation of the slower states; (3) stressor event (M1, at the end of the step);
  (4) urge (M5) and act decision (M6); (5) if acted on: severity, opioid release and relief (M7,
  M8), learning (M9), habit (M10), tolerance (M8); if resisted: skill relief (M6); (6) suicide
  attempt (M13). Slow states enter hazards at their start-of-step values; relief and opioid jumps
  apply to the relaxed values.
- **Mechanism switches.** Each mechanism M1..M13 has a switch $m_k \in \{0, 1\}$ (the vector
  `on` of `model.step`). Switching one off multiplies its terms by zero exactly as written in
  section 4; ablation runs use this to ask which mechanism each target needs.
"""


def _state_section() -> str:
    rows = []
    for field, comment in _field_comments(model.State):
        parts = [c.strip() for c in comment.split(",")]
        symbol = ""
        if parts and re.fullmatch(r"[A-Z]", parts[0] or ""):
            symbol = parts.pop(0)
        stated = ""
        rest = ", ".join(parts)
        m = re.search(r",?\s*(\[[^\]]*\]|>=\s*\S+)\s*$", rest)
        if m:
            stated = m.group(1)
            rest = rest[: m.start()].strip().rstrip(",")
        lo, hi = model.STATE_BOUNDS.get(field, (None, None))
        if lo is None:
            checked = "—"
        else:
            checked = f"[{_num(lo)}, {_num(hi)}]" if hi is not None else f"[{_num(lo)}, ∞)"
        rest = rest or field.replace("_", " ")
        rows.append((f"`{field}`", f"${symbol}$" if symbol else "", rest, stated, checked))
    events = [(f"`{f}`", c) for f, c in _field_comments(model.StepEvents)]
    h0 = r"H_0" if "habit_initial" in PARAMS else "0"
    t0 = r"T_0" if "tolerance_initial" in PARAMS else "0"
    return f"""
## 3. State variables

A person's state (`nssisim.model.State`); all fields are per person. The domain column
"stated" is the comment in `model.State`, "checked" is `model.STATE_BOUNDS` (used by the tests).

{_table(["field", "symbol", "meaning", "domain (stated)", "domain (checked)"], rows)}

Initial state (`model.initial_state`): $S = S_0$, $C = L = 0$, $A = 0.05$, $R = 0$, $M = 0.05$,
$P = f_P\\,P_{{\\mathrm{{adult}}}}$, $Q = Q_0$, $E = E_0$, $H = {h0}$, $T = {t0}$, $O = O_0$, $K = 0$,
$I = 0$, $N = 0$ (acts so far). The skill $K$ is not changed by the step function; interventions
set it.

What a step reports (`nssisim.model.StepEvents`):

{_table(["event field", "meaning"], events)}
"""


# Hand-written mechanism sections. They mirror model.step exactly; "params" lists the
# parameters whose symbols appear in the equations, "brief" the evidence the design brief
# (MODEL.md section 3) names for the mechanism (the parameters' own evidence is added).
_MECHANISM_DOCS: list[dict] = [
    dict(
        id="M1",
        review="review §5 (risk factors); MODEL.md §3",
        eq=r"""
Stressful events arrive as a marked point process. The rate rises with peer victimisation,
parental psychological control (buffered by regulatory self-efficacy, M11) and maltreatment:

$$F = z_{\mathrm{pc}}\,\big(1 - m_{11}\,k_{\mathrm{rese}}\,z_{\mathrm{rese}}\big), \qquad
h_S = m_1\,\lambda_S\,\big(1 + w_{S,\mathrm{peer}}\,z_{\mathrm{peer}} + w_{S,\mathrm{fam}}\,F + w_{S,\mathrm{mal}}\,z_{\mathrm{mal}}\big).$$

Acute stress relaxes to the daily-hassle level, $\dot S = (S_0 - S)/\tau_S$ (its mean over the step,
$\bar S$, feeds M2 and M3; section 2). A stressor happens with
probability $p_S = 1 - e^{-h_S\Delta t}$ ($u_1 < p_S$); its severity is exponential with mean
$\bar\sigma$, drawn from the same uniform, $\sigma = -\bar\sigma \ln v$ with
$v = \mathrm{clip}(u_1/p_S,\,10^{-7},\,1)$, and acute stress jumps to

$$S \leftarrow 1 - (1 - S)\,e^{-\sigma}.$$

Maltreatment also sensitises the limbic gain by the factor $(1 + w_{\mathrm{lim,mal}}\,z_{\mathrm{mal}})$;
that term sits in the limbic gain $g$ of M3 and is switched by $m_3$, not $m_1$.
""",
        off=r"""$h_S = 0$: no stressful events; acute stress only relaxes to $S_0$ (daily hassles remain),
so peer victimisation, parental control and maltreatment no longer raise the event rate. The
maltreatment sensitisation of the limbic gain stays (it is gated by M3).""",
        params=["lam_stress", "w_stress_peer", "w_stress_family", "w_stress_maltreatment", "parental_control",
                "peer_victimisation", "maltreatment", "regulatory_self_efficacy", "k_self_efficacy_control",
                "stress_baseline", "tau_stress", "stress_severity_mean", "w_limbic_maltreatment"],
        brief=["ChenZhuo2026"],
    ),
    dict(
        id="M2",
        review="review §3.1, §3.3; MODEL.md §3",
        eq=r"""
Acute cortisol $C$ tracks stress with a gain that chronic (allostatic) load $L$ blunts
($b_{\mathrm{hpa}} > 0$) or amplifies ($b_{\mathrm{hpa}} < 0$: the direction is a parameter because
the cortisol evidence is mixed). The load seen by every other mechanism is $\ell = m_2\,L$.

$$\gamma = \max\!\big(z_{\mathrm{hpa}}\,(1 - b_{\mathrm{hpa}}\,\ell),\;0\big), \qquad
\dot C = \frac{\big(1 - e^{-\gamma \bar S}\big) - C}{\tau_C}, \qquad
\dot L = \frac{z_{\mathrm{allo}}\,C}{\tau_L}\,(1 - L) - \frac{L}{\tau_L}.$$

Both updates are multiplied by $m_2$: $C \leftarrow m_2\,\mathcal{E}(\dots)$, $L \leftarrow m_2\,\mathcal{E}(\dots)$.
Load acts elsewhere (experiential avoidance: load amplifies negative affect and lowers distress
tolerance): the affect drive factor $(1 + k_{L,A}\,\ell)$ and the regulation factor $(1 - w_L\,\ell)$ in
M3, the threshold factor $(1 - k_{L,\theta}\,\ell)$ in M5.
""",
        off=r"""$\ell = 0$ at once, and $C = L = 0$ from the end of the first step: load no longer amplifies
affect, weakens regulation, lowers the distress threshold or changes the cortisol gain.""",
        params=["hpa_reactivity", "hpa_blunting", "tau_cortisol", "allostatic_sensitivity", "tau_load",
                "k_load_affect", "w_load_regulation", "k_load_threshold"],
        brief=["Kaess2012", "Nock2009", "SporniakSzewczuk2025"],
    ),
    dict(
        id="M3",
        review="review §3.2, §3.3; MODEL.md §3",
        eq=r"""
Stress drives aversive arousal (negative affect) $A$ through the limbic gain $g$; prefrontal
regulation (capacity $c$) speeds recovery. With the alexithymia buffered by resilience (M11),

$$\tilde z_{\mathrm{alex}} = z_{\mathrm{alex}}\,\big(1 - m_{11}\,k_{\mathrm{res,alex}}\,z_{\mathrm{res}}\big),$$

$$g = m_3\,z_{\mathrm{lim}}\,(1 + w_{\mathrm{lim,mal}}\,z_{\mathrm{mal}})\,\max\!\big(0,\ 1 + m_{11}\,k_{\mathrm{se}}\,(\tfrac12 - z_{\mathrm{se}})\big) + (1 - m_3),$$

$$c = m_3\,P\,(1 - w_{\mathrm{alex}}\,\tilde z_{\mathrm{alex}})\,(1 - w_L\,\ell)\,(1 - w_S\,\bar S) + (1 - m_3)\,P_{\mathrm{neutral}}, \qquad P_{\mathrm{neutral}} = PFC_NEUTRAL,$$

$$r_A = \frac{1 + k_P\,c}{\tau_A}, \qquad
D = g\,\bar S\,(1 + k_{L,A}\,\ell) + m_4\,\big(k_{R,A}\,R + k_{M,A}\,M\big), \qquad
\dot A = D\,(1 - A) - r_A\,A.$$

$\bar S$ is the mean of acute stress over the step (section 2); the other inputs are start-of-step
values. The limbic gain $z_{\mathrm{lim}}$ carries the
unit 1/h: it is the rate at which unit stress drives arousal, so $D$ is a rate like the rumination
and mood terms beside it.
""",
        off=r"""$g = 1$ and $c = P_{\mathrm{neutral}}$ for everyone: trait limbic reactivity, the maltreatment
sensitisation, the self-esteem modulation (M11), alexithymia, load and acute stress no longer
shape the affect dynamics, and prefrontal capacity $P$ (hence maturation, M12) no longer affects
affect ($P$ still enters ideation, M13).""",
        params=["limbic_reactivity", "w_limbic_maltreatment", "maltreatment", "k_self_esteem_limbic", "self_esteem",
                "alexithymia", "k_resilience_alexithymia", "resilience", "w_alexithymia_regulation",
                "w_load_regulation", "w_stress_regulation", "k_pfc_regulation", "tau_affect", "k_load_affect",
                "k_rumination_affect", "k_mood_affect"],
        brief=["Auerbach2021", "Schmaal2020", "Schreiner2017"],
    ),
    dict(
        id="M4",
        review="review §5; MODEL.md §3",
        eq=r"""
Rumination $R$ grows with distress and feeds affect (through $D$, M3); depressive mood $M$
integrates affect over weeks and feeds affect, distress (M5) and ideation (M13):

$$\dot R = k_R\,z_{\mathrm{rum}}\,\bar A\,(1 - R) - \frac{R}{\tau_R}, \qquad \dot M = \frac{\bar A - M}{\tau_M},$$

with $R \leftarrow m_4\,\mathcal{E}(\dots)$ and $M \leftarrow m_4\,\mathcal{E}(\dots)$. The couplings are the
$m_4$-gated terms $m_4(k_{R,A}R + k_{M,A}M)$ in $D$ (M3), $m_4\,w_{M,U}\,M(\dots)$ in the distress
$\delta$ (M5) and $m_4\,\beta_{I,M}\,M$ in the ideation target (M13).
""",
        off=r"""$R = M = 0$ from the end of the first step, and the $m_4$ gates remove them from the
affect drive, the distress and the ideation target at once: distress is then affect alone.""",
        params=["k_rumination_gain", "rumination_trait", "tau_rumination", "tau_mood", "k_rumination_affect",
                "k_mood_affect", "w_mood_urge", "w_ideation_mood"],
        brief=["Buelens2019"],
    ),
    dict(
        id="M5",
        review="review §2; MODEL.md §3",
        eq=r"""
An urge has a goal-directed part (expected relief times distress above a tolerance threshold)
and a habitual, cue-triggered part that depends little on distress. For an arousal level $a$,

$$\delta(a) = a + m_4\,w_{M,U}\,M\,\big(1 - m_{11}\,k_{\mathrm{hope}}\,z_{\mathrm{hope}}\big), \qquad
\theta = \mathrm{clip}\big(\theta_0\,(1 - k_{L,\theta}\,\ell) + m_{11}\,k_{\mathrm{res},\theta}\,z_{\mathrm{res}},\;0.05,\;0.95\big),$$

$$x(a) = \mathrm{clip}\Big(\frac{\delta(a) - \theta}{1 - \theta},\,0,\,1\Big), \qquad
\bar x = \tfrac16\big(x(A) + 4\,x(A_{1/2}) + x(A_1)\big),$$

$$h_{\mathrm{goal}} = \lambda_U\,Q\,\bar x, \qquad
h_{\mathrm{hab}} = m_{10}\,\lambda_{\mathrm{cue}}\,H\,\big(1 - w_{\mathrm{cue}} + w_{\mathrm{cue}}\,\bar A\big),$$

$$h_U = m_5\,(h_{\mathrm{goal}} + h_{\mathrm{hab}}).$$

Each urge is acted on with the probability of M6 ($p_{\mathrm{goal}}$ or $p_{\mathrm{hab}}$), so acts
and resisted urges are two thinned Poisson streams, drawn as competing risks with one uniform:

$$h_{\mathrm{act}} = m_5\,(h_{\mathrm{goal}}\,p_{\mathrm{goal}} + h_{\mathrm{hab}}\,p_{\mathrm{hab}}), \qquad
h_{\mathrm{res}} = m_5\,\big(h_{\mathrm{goal}}\,(1 - p_{\mathrm{goal}}) + h_{\mathrm{hab}}\,(1 - p_{\mathrm{hab}})\big),$$

an act when $u_2 < P_a = 1 - e^{-h_{\mathrm{act}}\Delta t}$, otherwise a resisted urge when
$u_2 < P_a + (1 - P_a)\,(1 - e^{-h_{\mathrm{res}}\Delta t})$. The rescaled uniform then says whether
the urge was *habitual*, with probability $h_{\mathrm{hab}}p_{\mathrm{hab}}/h_{\mathrm{act}}$ for an act
and $h_{\mathrm{hab}}(1-p_{\mathrm{hab}})/h_{\mathrm{res}}$ for a resisted urge. (A first version drew
one urge per step and then a coin; at dt = 1 h a resisted urge used up the step and acts were
undercounted.)

Urges that are resisted are reported too (EMA-style thoughts/urges; at most one per step). The
reported urge intensity (for EMA ratings) is

$$U = 1 - (1 - Q\,\bar x)\,(1 - m_{10}\,H\,\bar A),$$

and the distress that enters the act decision (M6) is the hazard-weighted arousal on the path,
$\delta^\ast = \delta\big((x(A)\,A + 4x(A_{1/2})\,A_{1/2} + x(A_1)\,A_1)/(x(A) + 4x(A_{1/2}) + x(A_1))\big)$,
or $\delta(\bar A)$ when the path never crosses the threshold.
""",
        off=r"""$h_U = 0$: no urges, hence no acts and no resisted urges. The reported intensity $U$ is not
gated by $m_5$ and is still computed.""",
        params=["w_mood_urge", "k_hope_mood", "hope", "distress_threshold", "k_load_threshold",
                "k_resilience_threshold", "resilience", "lam_urge", "lam_cue", "w_habit_cue_affect"],
        brief=[],
    ),
    dict(
        id="M6",
        review="review §2; MODEL.md §3",
        eq=r"""
An urge competes with its alternatives: reactive inhibition, expected harm and a learned skill.
Reactive inhibition races the go drive, so its penalty shrinks as the drive (learned relief times
distress, or habit) grows: it guards against first, weakly valued acts but cannot override strong
learned relief. With start-of-step $Q, E, H, K$ and $\delta^\ast$ from M5,

$$\Delta_{\mathrm{inh}} = \beta_{\mathrm{inh}}\,z_{\mathrm{inh}}, \qquad \Delta_{\mathrm{oth}} = \beta_E\,E + \beta_K\,K,$$

$$y_{\mathrm{goal}} = \beta_0 + \beta_Q\,Q\,\delta^\ast - \Delta_{\mathrm{inh}}\,e^{-k_{\mathrm{ov}}\,Q\,\delta^\ast} - \Delta_{\mathrm{oth}},$$

$$y_{\mathrm{hab}} = \beta_0 + \beta_H\,H - (1 - b_H)\,\big(\Delta_{\mathrm{inh}}\,e^{-k_{\mathrm{ov}}\,H} + \Delta_{\mathrm{oth}}\big),$$



$p_{\mathrm{goal}} = m_6\,\mathrm{sigmoid}(y_{\mathrm{goal}}) + (1 - m_6)$ and
$p_{\mathrm{hab}} = m_6\,\mathrm{sigmoid}(y_{\mathrm{hab}}) + (1 - m_6)$ thin the urge streams of M5 into
acts and resisted urges. Habit-triggered urges bypass a share $b_H$ of
deliberation ("loss of control"). A resisted urge lets a skill remove part of the (relaxed) affect:

$$A \leftarrow A\,(1 - s_K\,K) \quad\text{(urge resisted)}.$$
""",
        off=r"""$p_{\mathrm{goal}} = p_{\mathrm{hab}} = 1$: no competition, **every urge is acted on**; reactive inhibition,
harm expectancy and skill play no part, and since no urge is resisted the skill relief never
applies.""",
        params=["w_act_inhibition", "reactive_inhibition", "k_inhibition_override", "w_act_harm", "w_act_skill",
                "act_bias", "w_act_value", "w_act_habit", "habit_bypass", "skill_relief"],
        brief=["Mirabella2024"],
    ),
    dict(
        id="M7",
        review="review §2, §3.3; MODEL.md §3",
        eq=r"""
An act removes a fraction $\phi$ of the (relaxed) aversive arousal at once (negative
reinforcement); the opioid release $\psi$ of M8 adds to the relief drive:

$$\phi = m_7\,\big(1 - e^{-(r_0 + k_{\phi,O}\,\psi)}\big), \qquad A \leftarrow A\,(1 - \phi) \quad\text{(act)}.$$

The learned outcome (M9) adds positive reinforcement (calm):
$\omega = \mathrm{clip}(\phi + m_7\,r_{+},\,0,\,1)$. With the act's conditional uniform
$\zeta = u_3$, the act has an interpersonal consequence when
$\zeta < p_{\mathrm{int}}$ and $m_7 = 1$, which removes part of the acute stress,
$S \leftarrow S\,(1 - s_{\mathrm{int}})$. An act is counted as serving an intrapersonal function when
$\phi \ge \phi_{\mathrm{intra}}$.
""",
        off=r"""$\phi = 0$ and $\omega = 0$: acts bring no relief, no positive reinforcement and no
interpersonal consequence; with M9 on, each act then drives the learned relief value toward 0
(extinction).""",
        params=["relief_base", "k_relief_opioid", "relief_positive", "p_interpersonal",
                "interpersonal_stress_relief", "intrapersonal_relief_min"],
        brief=["NockPrinstein2004", "BlascoFontecilla2016", "Taylor2018"],
    ),
    dict(
        id="M8",
        review="review §3.1, §3.3; MODEL.md §3",
        eq=r"""
Severity (abstract, in [0, 1]) escalates with tolerance $T$ (start-of-step value). With
$\xi \in [0,1)$ the act uniform rescaled within the interpersonal / non-interpersonal split
($\xi = \zeta/p_{\mathrm{int}}$ if $\zeta < p_{\mathrm{int}}$, else $(\zeta - p_{\mathrm{int}})/(1 - p_{\mathrm{int}})$):

$$v = \mathrm{clip}\big(v_0\,(1 + m_8\,k_{v,T}\,T)\,(0.75 + 0.5\,\xi),\;0.01,\;1\big), \qquad
\psi = m_8\,\psi_0\,v\,(1 - T).$$

The opioid level relaxes to its tone, $\dot O = (O_0 - O)/\tau_O$, and jumps on an act,
$O \leftarrow O^{+} = O + \psi$. Felt pain (an input to harm learning, M9) is reduced by opioids:

$$\pi = z_{\mathrm{pain}}\,v\,e^{-k_{\mathrm{an}}\,O^{+}}.$$

Tolerance decays in abstinence and grows with each act:

$$\dot T = -\frac{T}{\tau_T}, \qquad T \leftarrow T + m_8\,\eta_T\,v\,(1 - T) \quad\text{(act)}.$$
""",
        off=r"""No opioid release ($\psi = 0$, relief is $r_0$ alone), no severity escalation with
tolerance, no tolerance gain (existing tolerance decays and has no effect). Analgesia by the
resting opioid level $O_0$ remains.""",
        params=["severity_base", "k_severity_tolerance", "opioid_release", "opioid_tone", "tau_opioid",
                "pain_sensitivity", "k_analgesia", "tau_tolerance", "eta_tolerance", "tolerance_initial"],
        brief=["BresinGordon2013", "CarenysAdan2025", "Franklin2013"],
    ),
    dict(
        id="M9",
        review="review §3.2; MODEL.md §3",
        eq=r"""
Each act updates the learned relief value $Q$ toward the outcome $\omega$ (M7) at a rate scaled by
reward sensitivity, and the harm expectancy $E$ toward the felt harm at a rate scaled by
punishment learning (blunted in NSSI):

$$a_Q = m_9\,\mathrm{clip}(\alpha_Q\,z_{\mathrm{rew}},0,1), \qquad a_E = m_9\,\mathrm{clip}(\alpha_E\,z_{\mathrm{pun}},0,1), \qquad
\varepsilon = \mathrm{clip}\big(w_{E,\mathrm{pain}}\,\pi + w_{E,\mathrm{inj}}\,v,\;0,\;1\big),$$

$$Q \leftarrow Q + a_Q\,(\omega - Q), \qquad E \leftarrow E + a_E\,(\varepsilon - E) \qquad\text{(act)}.$$

Between acts both drift back to their priors: $\dot Q = (Q_0 - Q)/\tau_F$, $\dot E = (E_0 - E)/\tau_F$.
""",
        off=r"""$a_Q = a_E = 0$: acts no longer change the relief value or the harm expectancy; both stay
at (or drift back to) their priors $Q_0$, $E_0$.""",
        params=["alpha_relief", "reward_sensitivity", "alpha_harm", "punishment_learning", "w_harm_pain",
                "w_harm_injury", "relief_value_prior", "harm_prior", "tau_forget"],
        brief=["Poon2019", "Nicolaou2025"],
    ),
    dict(
        id="M10",
        review="review §2; MODEL.md §3",
        eq=r"""
Each act strengthens a stimulus-response habit $H$ that decays slowly without acts:

$$\dot H = -\frac{H}{\tau_H}, \qquad H \leftarrow H + m_{10}\,\eta_H\,(1 - H) \quad\text{(act)}.$$

Habit triggers urges through $h_{\mathrm{hab}}$ (M5, gated by $m_{10}$), which are acted on through
$y_{\mathrm{hab}}$ (M6), and enters the reported urge intensity $U$ through $m_{10}\,H\,A$.
""",
        off=r"""No habit cues ($h_{\mathrm{hab}} = 0$, so no habitual urges and $y_{\mathrm{hab}}$ is never
used), no habit growth, and the habit term drops out of $U$. Existing habit decays without
effect.""",
        params=["eta_habit", "tau_habit", "habit_initial", "lam_cue"],
        brief=["Zhu2024", "CarenysAdan2025"],
    ),
    dict(
        id="M11",
        review="review §5; MODEL.md §3",
        eq=r"""
Protective factors enter as five $m_{11}$-gated terms, written out in the mechanisms they modify:

- resilience buffers alexithymia: $\tilde z_{\mathrm{alex}} = z_{\mathrm{alex}}\,(1 - m_{11}\,k_{\mathrm{res,alex}}\,z_{\mathrm{res}})$ (M3);
- resilience raises the distress-tolerance threshold by $m_{11}\,k_{\mathrm{res},\theta}\,z_{\mathrm{res}}$ (M5);
- regulatory emotional self-efficacy buffers parental control: $F = z_{\mathrm{pc}}\,(1 - m_{11}\,k_{\mathrm{rese}}\,z_{\mathrm{rese}})$ (M1);
- trait hope attenuates the mood-to-distress path: $m_4\,w_{M,U}\,M\,(1 - m_{11}\,k_{\mathrm{hope}}\,z_{\mathrm{hope}})$ (M5);
- self-esteem modulates the limbic gain around a neutral 0.5: $g \propto \max(0, 1 + m_{11}\,k_{\mathrm{se}}\,(\tfrac12 - z_{\mathrm{se}}))$ (M3): low self-esteem amplifies, high self-esteem dampens.
""",
        off=r"""All five terms vanish: resilience neither buffers alexithymia nor raises the threshold,
self-efficacy does not buffer parental control, hope does not attenuate the mood path, and
self-esteem no longer modulates the limbic gain (neutral at the default self-esteem of 0.5). The
mood-to-distress path itself ($w_{M,U}$, M4) stays.""",
        params=["k_resilience_alexithymia", "k_resilience_threshold", "resilience", "k_self_efficacy_control",
                "regulatory_self_efficacy", "k_hope_mood", "hope", "k_self_esteem_limbic",
                "self_esteem"],
        brief=["ChenZhuo2026"],
    ),
    dict(
        id="M12",
        review="review §3.2, §6; MODEL.md §3",
        eq=r"""
Prefrontal capacity matures toward its adult value from a start-age fraction of it:

$$\dot P = m_{12}\,\frac{P_{\mathrm{adult}} - P}{\tau_P}, \qquad P(0) = f_P\,P_{\mathrm{adult}}.$$

$P$ sets regulation capacity $c$ (M3) and lowers the ideation target (M13).
""",
        off=r"""$P$ is frozen at its current (initially $f_P\,P_{\mathrm{adult}}$) value: no maturation.""",
        params=["pfc_adult", "pfc_initial_fraction", "tau_maturation"],
        brief=["ChenZhuo2026"],
    ),
    dict(
        id="M13",
        review="review §3.2, §3.3; MODEL.md §3",
        eq=r"""
Suicidal ideation $I$ relaxes toward a target set by mood, burdensomeness, prefrontal capacity and
the (saturating) self-injury history; attempts are rare events with a steep hazard in ideation
(start-of-step $I$):

$$\eta_N = 1 - e^{-N/N_0}, \qquad
I^{\ast} = \mathrm{sigmoid}\big(\beta_{I,0} + \beta_{I,M}\,m_4\,M + \beta_{I,\mathrm{bur}}\,z_{\mathrm{bur}} - \beta_{I,P}\,P + \beta_{I,N}\,\eta_N\big),$$

$$\dot I = \frac{I^{\ast} - I}{\tau_I}\ \ (I \leftarrow m_{13}\,\mathcal{E}(\dots)), \qquad
h_{\mathrm{att}} = m_{13}\,\lambda_{\mathrm{att}}\,I^{\,n_{\mathrm{att}}},$$

and an attempt occurs when $u_4 < 1 - e^{-h_{\mathrm{att}}\Delta t}$.
""",
        off=r"""$I = 0$ from the end of the first step and $h_{\mathrm{att}} = 0$: no ideation, no attempts.""",
        params=["n_history_scale", "ideation_bias", "w_ideation_mood", "w_ideation_burden", "burdensomeness",
                "w_ideation_pfc", "w_ideation_history", "tau_ideation", "lam_attempt", "attempt_ideation_power"],
        brief=["Ye2022", "Li2025"],
    ),
]


def _mechanism_evidence(mid: str, brief: Iterable[str]) -> list[str]:
    keys: list[str] = []
    for k in list(brief) + [k for p in PARAMS.values() if p.mechanism == mid for k in p.evidence]:
        if k not in keys:
            keys.append(k)
    return keys


def _mechanisms_section() -> str:
    out = [
        "\n## 4. Mechanisms and equations\n",
        "Each mechanism is a switchable block of `nssisim.model.step`. States: $S$ stress, $C$ cortisol, "
        "$L$ allostatic load, $A$ aversive arousal, $R$ rumination, $M$ mood, $P$ prefrontal capacity, "
        "$Q$ relief value, $E$ harm expectancy, $H$ habit, $T$ tolerance, $O$ opioid level, $K$ skill, "
        "$I$ ideation, $N$ number of acts. Every other symbol is a parameter (listed under each "
        "mechanism and in section 6). Jumps marked *(act)* happen only when an urge is acted on.\n",
    ]
    for m in _MECHANISM_DOCS:
        mid = m["id"]
        eq = m["eq"].replace("PFC_NEUTRAL", _num(PFC_NEUTRAL)).strip()
        used = [n for n in m["params"] if n in PARAMS]
        symbols = ", ".join(f"{_sym(n)} = `{n}`" for n in used)
        evidence = ", ".join(_mechanism_evidence(mid, m["brief"])) or "—"
        out.append(f"### {mid}: {MECHANISMS[mid]}\n\n*Source: {m['review']}.*\n\n{eq}\n\n"
                   f"**Switched off ($m_{{{mid[1:]}}} = 0$):** {m['off'].strip()}\n\n"
                   f"**Symbols:** {symbols}.\n\n**Evidence:** {evidence}.\n")
    documented = {n for m in _MECHANISM_DOCS for n in m["params"]}
    missing = [n for n in PARAMS if n not in documented]
    if missing:
        out.append("**Parameters not yet written into the equations above** (update `nssisim/docs.py`): "
                   + ", ".join(f"`{n}`" for n in missing) + ".\n")
    return "\n".join(out)


def _targets_section() -> str:
    targets = _targets()
    head = """
## 5. Explanatory targets

Each target runs its own designed simulation experiment (`nssisim.targets`) and reports whether
the phenomenon holds, a statistic and the bar it must pass. Bars are fixed in the code and shown
here; they are never tuned per run. Running the suite with one mechanism off at a time gives the
phenomena-by-mechanism ablation table (`nssisim ablate`); its last recorded run, with the
statistic of every target under every condition, is [`docs/ablation.md`](ablation.md).

What the ablation says that was not built in: the shift to habit-triggered acts (P3) survives
without relief (M7 off), because habit strengthens with repetition, not with outcome; escalation
(P2) needs tolerance (M8), so the review's caution about the opioid account (Franklin et al. 2013)
is a caution about P2. Not every "-" is a mechanism, and cells near a bar can flip between
versions, so read the statistics in `docs/ablation.md`, not only the signs: with protective
factors off (M11), P5 fails because incidence in its moderate-risk design rises to 74 % and 96 %
and the ceiling compresses the contrast (RR 1.30), a limit of the design rather than evidence
that M11 carries the HPA diathesis; with maturation off (M12), P5 misses its mediation bar by a
hair (24 % through the threshold against 25 %).
"""
    if not targets:
        return head + "\n*No targets are registered yet.*\n"
    rows = [(t.id, t.phenomenon, t.statistic, t.bar, ", ".join(t.evidence)) for t in targets.values()]
    return head + "\n" + _table(["id", "phenomenon", "statistic", "bar", "evidence"], rows) + "\n"


def _parameters_section() -> str:
    out = ["""
## 6. Parameters

Generated from `nssisim.parameters.PARAMS`, the single source of every default and bound.
Kind *trait*: differs between persons (the population layer samples it); *mechanism*: shared.
Durations in hours carry an approximate equivalent in days (d), weeks (wk), months (mo) or years (y).
"""]
    for mid, title in MECHANISMS.items():
        rows = [
            (f"`{p.name}`", _sym(p.name), p.kind, _value(p, p.default), f"[{_num(p.low)}, {_num(p.high)}]", p.unit,
             p.meaning, ", ".join(p.evidence))
            for p in PARAMS.values() if p.mechanism == mid
        ]
        if not rows:
            continue
        out.append(f"### {mid}: {title}\n\n"
                   + _table(["name", "symbol", "kind", "default", "bounds", "unit", "meaning", "evidence"], rows) + "\n")
    return "\n".join(out)


def _format_reference(key: str, r: Mapping[str, object]) -> str:
    parts = [f"**{key}**: {r.get('authors', '?')} ({r.get('year', 'n.d.')})."]
    if r.get("title"):
        parts.append(f"{str(r['title']).rstrip('.')}.")
    if r.get("journal"):
        journal = str(r["journal"])
        parts.append(f"*{journal}*" + ("" if journal.endswith(".") else "."))
    if r.get("doi"):
        parts.append(f"[doi:{r['doi']}](https://doi.org/{r['doi']}).")
    if r.get("cited_in"):
        parts.append(f"Cited in: {r['cited_in']}.")
    if r.get("note"):
        parts.append(f"Note: {str(r['note']).rstrip('.')}.")
    return "- " + " ".join(parts)


def _references_section() -> str:
    refs = load_references()
    missing = check_references(refs)
    lines = ["""
## 9. References

Rendered from `src/nssisim/data/references.toml`, keyed by the evidence keys used above. DOIs are
given only where the review, the design brief or `targets/calibration.toml` states them; the
review's reference list is truncated, so most entries carry only an author-year citation.
"""]
    lines += [_format_reference(k, refs[k]) for k in sorted(refs, key=str.lower)]
    if missing:
        lines.append("\n**Unresolved evidence keys:** " + ", ".join(missing) + ".")
    return "\n".join(lines) + "\n"


_REGIMES = """
## 7. Two regimes

The loops (relief raises relief value, acts build habit and tolerance, distress and rumination
feed each other) give the model two regimes: *sporadic* NSSI, where acts follow rare peaks of
distress and the loop dies out as distress falls, and *addictive* NSSI, where learned relief,
habit and tolerance sustain the behaviour on their own. The boundary between them, and what
announces its crossing, is the model's version of the review's first future direction.
"""

_WHERE = """
## 8. Where things live

For newcomers, in the order data flows:

1. `src/nssisim/parameters.py`: the parameter table `PARAMS` (default, bounds, unit, meaning,
   mechanism, evidence keys) and the mechanism list `MECHANISMS`. Nothing else states a default.
2. `src/nssisim/model.py`: the state (`State`, `STATE_BOUNDS`), `initial_state` and the pure JAX
   step function `step` with all equations of section 4 (and the mechanism switches).
3. `src/nssisim/simulation.py`: runs `step` for one person or a cohort (`vmap` over persons,
   `lax.scan` over time) and returns a labelled xarray Dataset (`simulate`, `simulate_cohort`,
   `events_table`).
4. `src/nssisim/targets.py`: the explanatory targets (`TARGETS`), their experiments and bars, the
   runner and the ablation table.
5. `src/nssisim/report.py` (figures and a Markdown summary of a run) and the command line
   (`src/nssisim/cli.py`: `nssisim ...`; `make demo`, `make targets`, `make ablate`, `make docs`)
   sit on top.

Alongside: `src/nssisim/config.py` (scenario files, validated against `PARAMS`),
`src/nssisim/presets.py` with `src/nssisim/configs/*.toml` (illustrative person presets),
`src/nssisim/reference.py` (a plain-Python copy of `step`, used to cross-check `model.py`),
`src/nssisim/data/references.toml` (the references of section 9), `src/nssisim/docs.py`
(this document) and `tests/`.
A change to an equation touches `model.py`, `reference.py` and the matching section in `docs.py`; a change to a
parameter touches `parameters.py` only, and then `docs/model.md` is regenerated.
"""


_STEP_LENGTH = r"""
## 3b. Step length: how far results move with $\Delta t$

Measured, not assumed (`tests/test_dt.py`; the numbers below are one run of 10,000 at-risk
adolescents, the `vulnerable` preset, over one year, seed 11; each dt draws its own random
numbers, so differences of about 1-2 % are Monte Carlo noise (standard error of a difference in
acts per year: about 1.3 %)):

| $\Delta t$ (h) | any act | acts / year | >= 5 acts | mean arousal | habit at 1 y | urges / year |
|---|---|---|---|---|---|---|
| 0.1 | 0.873 | 3.99 | 0.341 | 0.3145 | 0.0722 | 44.4 |
| 0.25 | 0.866 (-0.8 %) | 3.84 (-3.8 %) | 0.328 (-3.8 %) | 0.3144 | 0.0694 (-3.8 %) | 43.8 (-1.3 %) |
| 0.5 | 0.875 (+0.2 %) | 3.89 (-2.7 %) | 0.335 (-1.8 %) | 0.3141 (-0.1 %) | 0.0702 (-2.7 %) | 43.5 (-1.9 %) |
| 1.0 | 0.869 (-0.5 %) | 3.81 (-4.5 %) | 0.326 (-4.5 %) | 0.3136 (-0.3 %) | 0.0692 (-4.2 %) | 42.4 (-4.5 %) |

The tolerance, fixed before measuring, is 10 % of the dt = 0.1 h value (or 4 combined Monte
Carlo standard errors where larger). **Every dt up to 1 h agrees within it**, with a small
downward bias of at most about 5 % at 1 h (a second run, 4,000 subjects, seed 2027, in the slow
test: acts per year -4.0 %, >= 5 acts -3.3 %, habit -3.1 %). Use dt = 0.1-0.25 h for episode
studies and event-locked analyses (P1 uses 0.25 h), and dt = 1 h for cohorts over years.

Why it holds: acute stress and arousal move within an hour, so the step integrates them along
their exact paths (section 2), and acts and resisted urges are drawn as competing risks (M5).
A first version froze stress and arousal at start-of-step values and drew one urge per step: at
dt = 1 h it doubled acts per year (+108 %) and quintupled the share with >= 5 acts, which is why
the scheme was changed rather than the tolerance. With the exact paths but one urge per step,
acts at 1 h were 7-11 % low (a resisted urge used up the step). Placing stressors at mid-step
instead of at the end of a step was also tried: mean arousal then matched exactly, but act rates
fell 20 % short at 1 h.
"""


def render_model_md() -> str:
    """The full text of ``docs/model.md``."""
    parts = [
        _PURPOSE.format(cmd=DOCS_COMMAND),
        _TIME,
        _state_section(),
        _STEP_LENGTH,
        _mechanisms_section(),
        _targets_section(),
        _parameters_section(),
        _REGIMES,
        _WHERE,
        _references_section(),
    ]
    text = "\n".join(p.strip("\n") + "\n" for p in parts)
    return re.sub(r"\n{3,}", "\n\n", text)


def write_model_md(path: str | Path = "docs/model.md") -> Path:
    """Render and write ``docs/model.md``; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_model_md(), encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m nssisim.docs", description="Render docs/model.md")
    ap.add_argument("--out", default="docs/model.md", help="output path (default docs/model.md)")
    ap.add_argument("--check", action="store_true", help="only check that the file is up to date")
    args = ap.parse_args(argv)
    if args.check:
        current = Path(args.out).read_text(encoding="utf-8") if Path(args.out).exists() else None
        if current != render_model_md():
            print(f"{args.out} is out of date: run `{DOCS_COMMAND}`")
            return 1
        return 0
    missing = check_references()
    print(f"wrote {write_model_md(args.out)}")
    if missing:
        print("unresolved evidence keys: " + ", ".join(missing))
    return 0


__all__ = ["DOCS_COMMAND", "render_model_md", "write_model_md", "check_references", "load_references", "evidence_usage", "SYMBOLS"]

if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
