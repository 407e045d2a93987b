"""Generated model documentation (``docs/model.md``) and reference checks.

:func:`render_model_md` assembles the whole of ``docs/model.md``. The prose and the equations
are Markdown files shipped with the package (``modeldoc/text/*.md``, one per section, and
``M1.md`` .. ``M13.md`` for the mechanisms); the equations mirror :func:`nssisim.core.model.step`
line by line (change them together). This module fills their ``{{name}}`` placeholders and
generates every table from the code: state variables from :class:`nssisim.core.model.State` and
:data:`nssisim.core.model.STATE_BOUNDS`, parameters from :data:`nssisim.core.parameters.PARAMS`,
explanatory targets from :data:`nssisim.targets.TARGETS`, references from
``data/references.toml``. The committed ``docs/model.md`` must equal the rendered text
(``tests/test_docs.py``); regenerate it with ``nssisim docs --out docs/model.md`` (``make docs``).

:func:`check_references` lists evidence keys (of parameters, targets and the mechanism
sections) that ``data/references.toml`` does not resolve.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
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
    "pfc_child_fraction": r"f_{P}",
    "female": r"z_{\mathrm{fem}}",
    "puberty_timing": r"\delta_{\mathrm{pub}}",
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
    "lam_period": r"\lambda_\Pi",
    "tau_period": r"\tau_\Pi",
    "k_period_stressors": r"k_{\Pi,S}",
    "period_stress_baseline": r"S_\Pi",
    "k_female_interpersonal": r"k_{\Pi,\mathrm{fem}}",
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
    "k_female_mood": r"k_{M,\mathrm{fem}}",
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
    "skill_habit_reach": r"r_K",
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
    "tau_extinction": r"\tau_X",
    "relief_extinction_floor": r"f_X",
    "w_harm_pain": r"w_{E,\mathrm{pain}}",
    "w_harm_injury": r"w_{E,\mathrm{inj}}",
    # M10
    "eta_habit": r"\eta_H",
    "w_habit_reinforcement": r"w_{H,\omega}",
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
    "puberty_peak_age": r"a_{\mathrm{pub}}",
    "puberty_offset_female": r"\Delta_{\mathrm{fem}}",
    "puberty_width": r"s_{\mathrm{pub}}",
    "k_puberty_limbic": r"k_{\mathrm{pub},g}",
    "k_puberty_reward": r"k_{\mathrm{pub},Q}",
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


def evidence_usage() -> dict[str, list[str]]:
    """Every evidence key used by the code, with where it is used (parameters, targets, mechanism sections)."""
    used: dict[str, list[str]] = {}
    for p in PARAMS.values():
        for k in p.evidence:
            used.setdefault(k, []).append(f"parameter {p.name}")
    for t in TARGETS.values():
        for k in t.evidence:
            used.setdefault(k, []).append(f"target {t.id}")
    for m in mechanism_texts():
        for k in m.evidence:
            used.setdefault(k, []).append(f"docs section {m.id}")
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


# ============================================================================ text files
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


@cache
def _text(name: str) -> str:
    """The shipped text file ``modeldoc/text/<name>``."""
    return resource("modeldoc", "text", name).read_text(encoding="utf-8")


def _fill(name: str, **values: object) -> str:
    """The text file ``name`` with its ``{{key}}`` placeholders replaced by ``values`` (all of them, exactly)."""
    text = _text(name)
    wanted = set(_PLACEHOLDER.findall(text))
    if wanted != set(values):
        raise KeyError(f"modeldoc/text/{name}: placeholders {sorted(wanted)}, given {sorted(values)}")
    return _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), text)


@dataclass(frozen=True)
class MechanismText:
    """One mechanism section (``modeldoc/text/<id>.md``): its equations and what switching it off does,
    the parameters whose symbols appear in them, and the evidence the design brief names for it (the
    parameters' own evidence is added when rendering)."""

    id: str
    source: str
    params: tuple[str, ...]
    evidence: tuple[str, ...]
    equations: str
    off: str


_HEADER = re.compile(r"<!--\s*(\w+):(.*?)-->")
_OFF = "<!-- switched off -->"


def _mechanism_text(mid: str) -> MechanismText:
    name = f"{mid}.md"
    text = _text(name)
    header = {k: v.strip() for k, v in _HEADER.findall(text)}
    body = _HEADER.sub("", text)
    if _OFF not in body or set(header) != {"source", "parameters", "evidence"}:
        raise ValueError(f"modeldoc/text/{name}: expected <!-- source: -->, <!-- parameters: -->, "
                         f"<!-- evidence: --> and {_OFF}")
    eq, off = body.split(_OFF)
    names = lambda s: tuple(x.strip() for x in s.split(",") if x.strip())  # noqa: E731
    return MechanismText(mid, header["source"], names(header["parameters"]), names(header["evidence"]),
                         eq.strip(), off.strip())


def mechanism_texts() -> list[MechanismText]:
    """The mechanism sections, in the order of :data:`nssisim.core.parameters.MECHANISMS`."""
    return [_mechanism_text(mid) for mid in MECHANISMS]


# ============================================================================ sections
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
    return _fill(
        "state.md",
        state_table=_table(["field", "symbol", "meaning", "domain (stated)", "domain (checked)"], rows),
        events_table=_table(["event field", "meaning"], events),
        h0=SYMBOLS["habit_initial"] if "habit_initial" in PARAMS else "0",
        t0=SYMBOLS["tolerance_initial"] if "tolerance_initial" in PARAMS else "0",
    )


def _mechanism_evidence(mid: str, brief: Iterable[str]) -> list[str]:
    keys: list[str] = []
    for k in list(brief) + [k for p in PARAMS.values() if p.mechanism == mid for k in p.evidence]:
        if k not in keys:
            keys.append(k)
    return keys


def _fill_equations(m: MechanismText) -> str:
    """The equations of one mechanism with the model constants they name filled in."""
    values = {"pfc_neutral": _num(PFC_NEUTRAL)}
    return _PLACEHOLDER.sub(lambda x: values[x.group(1)], m.equations)


def _mechanisms_section() -> str:
    texts = mechanism_texts()
    out = [_text("mechanisms.md")]
    for m in texts:
        used = [n for n in m.params if n in PARAMS]
        out.append(_fill(
            "mechanism.md", id=m.id, title=MECHANISMS[m.id], source=m.source, number=m.id[1:],
            equations=_fill_equations(m), off=m.off,
            symbols=", ".join(f"{_sym(n)} = `{n}`" for n in used),
            evidence=", ".join(_mechanism_evidence(m.id, m.evidence)) or "—",
        ))
    documented = {n for m in texts for n in m.params}
    missing = [n for n in PARAMS if n not in documented]
    if missing:
        out.append("**Parameters not yet written into the equations above** (update "
                   "`src/nssisim/modeldoc/text/M*.md`): " + ", ".join(f"`{n}`" for n in missing) + ".\n")
    return "\n".join(out)


def _targets_section() -> str:
    head = _text("targets.md")
    if not TARGETS:
        return head + "\n*No targets are registered yet.*\n"
    rows = [(t.id, t.phenomenon, t.statistic, t.bar, ", ".join(t.evidence)) for t in TARGETS.values()]
    return head + "\n" + _table(["id", "phenomenon", "statistic", "bar", "evidence"], rows) + "\n"


def _parameters_section() -> str:
    out = [_text("parameters.md")]
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
    lines = [_text("references.md")]
    lines += [_format_reference(k, refs[k]) for k in sorted(refs, key=str.lower)]
    if missing:
        lines.append("\n**Unresolved evidence keys:** " + ", ".join(missing) + ".")
    return "\n".join(lines) + "\n"


def render_model_md() -> str:
    """The full text of ``docs/model.md``: the sections in order, blank-line runs collapsed."""
    parts = [
        _fill("purpose.md", cmd=DOCS_COMMAND),
        _text("time.md"),
        _state_section(),
        _text("step_length.md"),
        _mechanisms_section(),
        _targets_section(),
        _parameters_section(),
        _text("regimes.md"),
        _text("where.md"),
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


__all__ = ["DOCS_COMMAND", "render_model_md", "write_model_md", "check_references", "load_references",
           "evidence_usage", "mechanism_texts", "MechanismText", "SYMBOLS"]
