"""The single source of truth for every model parameter.

Each :class:`Param` carries its default, bounds, unit, one-line meaning, the mechanism it
belongs to (M1-M13 of the design brief, ``MODEL.md`` section 3) and the evidence keys
(author-year keys resolved in ``data/references.toml``). Config validation
(:mod:`nssisim.core.scenario`), the generated parameter table in ``docs/model.md``
(:mod:`nssisim.modeldoc`), and later priors and sensitivity ranges are all derived from
:data:`PARAMS`; nothing else in the package states a default or a bound.

Conventions: time in hours; ``tau_*`` are time constants (h), ``lam_*`` base hazards
(1/h), ``k_*`` / ``w_*`` dimensionless gains or weights, ``eta_*`` / ``alpha_*`` learning
rates per act (dimensionless, in [0, 1]). Person traits are dimensionless scores; the
population layer (a later issue) samples them jointly.

Defaults describe a *typical* adolescent in a community sample (most never self-injure).
The course mechanisms added on 2026-12-01 (pubertal bump, stressful periods, extinction,
reinforced habit) have moderate defaults, and ``relief_value_prior`` moved from 0.3 to 0.25,
chosen so that the one-year behaviour of the presets the explanatory targets are designed on
stays close to what it was (the "vulnerable" preset from age 12: 89 % with any act, 4.2 acts a
year, against 88 % and 3.8 before; 256 subjects). The population's course is set by the shared
overrides of its spec (``configs/population_community.toml``, ``[parameters]``), not here.
Presets for vulnerable or clinical persons are TOML files in ``nssisim/configs``.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

HOURS_PER_DAY = 24.0
HOURS_PER_YEAR = 24.0 * 365.25
#: M13: depressive mood enters ideation relative to the distress-tolerance threshold, scaled by
#: ``IDEATION_MOOD_REFERENCE / distress_threshold``: at the table's threshold (0.4) mood counts at face
#: value, the scale the illustrative ideation weights were set on. A calibration that moves the arousal
#: scale together with the threshold (the joint calibration of 2026-12-02 fitted 0.90, and community
#: arousal rose from 0.23 to 0.43) then leaves ideation where the weights put it, instead of at a
#: ceiling (docs/calibration_trials/ideation_level_probe_2026-12-03.txt).
IDEATION_MOOD_REFERENCE = 0.4

MECHANISMS: dict[str, str] = {
    "M1": "stressors",
    "M2": "HPA axis",
    "M3": "fronto-limbic regulation",
    "M4": "rumination and mood",
    "M5": "urge",
    "M6": "action selection",
    "M7": "relief (negative reinforcement)",
    "M8": "endogenous opioids and tolerance",
    "M9": "learning (relief value, harm expectancy)",
    "M10": "habit",
    "M11": "protective factors",
    "M12": "development (puberty and prefrontal maturation)",
    "M13": "suicidal ideation and attempts",
}


@dataclass(frozen=True)
class Param:
    """Properties of one parameter (its value lives elsewhere)."""

    name: str
    default: float
    low: float
    high: float
    unit: str
    meaning: str
    mechanism: str
    evidence: tuple[str, ...] = ()
    kind: str = "mechanism"  # "trait" (differs between persons) or "mechanism" (shared)

    def __post_init__(self) -> None:
        if not (self.low <= self.default <= self.high):
            raise ValueError(f"parameter {self.name}: default {self.default} outside [{self.low}, {self.high}]")
        if self.mechanism not in MECHANISMS:
            raise ValueError(f"parameter {self.name}: unknown mechanism {self.mechanism}")
        if self.kind not in ("trait", "mechanism"):
            raise ValueError(f"parameter {self.name}: kind must be 'trait' or 'mechanism'")


def _p(*args, **kw) -> Param:
    return Param(*args, **kw)


_TABLE: list[Param] = [
    # ---------------------------------------------------------------- traits (persons differ)
    _p("limbic_reactivity", 1.3, 0.3, 3.0, "1/h", "limbic (amygdala/insula) reactivity: rate at which unit stress drives aversive arousal",
       "M3", ("Auerbach2021", "Schreiner2017"), "trait"),
    _p("pfc_adult", 1.0, 0.2, 2.0, "capacity", "adult prefrontal regulatory capacity (dlPFC, vlPFC, ACC)",
       "M3", ("Auerbach2021", "Schmaal2020"), "trait"),
    _p("pfc_child_fraction", 0.55, 0.2, 1.0, "fraction", "prefrontal capacity at age 10 (late childhood) as a fraction of the adult value",
       "M12", ("Auerbach2021", "ChenZhuo2026", "Casey2008"), "trait"),
    _p("reactive_inhibition", 1.0, 0.0, 3.0, "score", "reactive inhibitory control: raises the bar for acting on an urge (intact or enhanced in NSSI)",
       "M6", ("Mirabella2024", "Fikke2011"), "trait"),
    _p("allostatic_sensitivity", 1.0, 0.0, 4.0, "gain", "how strongly acute cortisol accumulates into allostatic load",
       "M2", ("Kaess2012", "SporniakSzewczuk2025"), "trait"),
    _p("hpa_reactivity", 1.0, 0.2, 2.0, "gain", "acute cortisol response per unit stress",
       "M2", ("Kaess2012",), "trait"),
    _p("opioid_tone", 0.5, 0.1, 1.0, "level", "resting endogenous opioid level (lower in NSSI)",
       "M8", ("BresinGordon2013",), "trait"),
    _p("pain_sensitivity", 1.0, 0.2, 2.0, "gain", "pain per unit injury severity (reduced in NSSI)",
       "M8", ("Franklin2012", "BoyneHamza2022"), "trait"),
    _p("reward_sensitivity", 1.0, 0.2, 2.0, "gain", "scales the learning rate of relief value (heightened in NSSI)",
       "M9", ("Poon2019",), "trait"),
    _p("punishment_learning", 0.3, 0.0, 1.5, "gain", "scales the learning rate of harm expectancy (blunted in NSSI)",
       "M9", ("Nicolaou2025",), "trait"),
    _p("rumination_trait", 0.5, 0.0, 1.0, "score", "rumination tendency (brooding)",
       "M4", ("Cheung2024", "Buelens2019"), "trait"),
    _p("alexithymia", 0.3, 0.0, 1.0, "score", "difficulty identifying and describing feelings: weakens regulation",
       "M3", ("Guo2024", "Zhang2023"), "trait"),
    _p("maltreatment", 0.0, 0.0, 1.0, "score", "childhood maltreatment (emotional abuse above all): raises limbic gain and stressor rate",
       "M1", ("Liu2018", "GongZhang2024", "Hu2023"), "trait"),
    _p("parental_control", 0.2, 0.0, 1.0, "score", "parental psychological control, parenting stress and hostility: family stressors",
       "M1", ("Guo2022", "Wichstrom2024"), "trait"),
    _p("peer_victimisation", 0.1, 0.0, 1.0, "score", "exposure to peer victimisation and cybervictimisation: proximal stressors",
       "M1", ("Li2024", "Ruan2024", "Xu2025"), "trait"),
    _p("burdensomeness", 0.2, 0.0, 1.0, "score", "perceived burdensomeness (thwarted interpersonal needs)",
       "M13", ("Li2024",), "trait"),
    _p("resilience", 0.5, 0.0, 1.0, "score", "psychological resilience: buffers alexithymia and distress on the path to acts",
       "M11", ("Zhang2023",), "trait"),
    _p("regulatory_self_efficacy", 0.5, 0.0, 1.0, "score", "regulatory emotional self-efficacy: moderates parental control",
       "M11", ("Guo2022",), "trait"),
    _p("hope", 0.5, 0.0, 1.0, "score", "trait hope: attenuates the depressive mood to urge path",
       "M11", ("Jiang2018",), "trait"),
    _p("self_esteem", 0.5, 0.0, 1.0, "score", "self-esteem: low self-esteem amplifies limbic reactivity to stressors",
       "M11", ("Zou2024", "Guo2024"), "trait"),
    _p("female", 0.0, 0.0, 1.0, "indicator", "sex (1 girl, 0 boy): acts only through the sex pathways (earlier puberty, M12; pubertal rise of depressive mood, M4; interpersonal stress, M1)",
       "M12", ("HankinAbramson2001", "Rudolph2002", "PattonViner2007"), "trait"),
    _p("puberty_timing", 0.0, -3.0, 3.0, "years", "individual pubertal timing: years later (+) or earlier (-) than the norm for the person's sex",
       "M12", ("PattonViner2007",), "trait"),
    # ---------------------------------------------------------------- M1 stressors
    _p("lam_stress", 1.0 / 48.0, 0.0, 0.5, "1/h", "base rate of stressful events (one every two days)",
       "M1", ("ChenZhuo2026",)),
    _p("w_stress_peer", 2.0, 0.0, 6.0, "weight", "stressor rate increase per unit peer victimisation",
       "M1", ("Li2024", "Ruan2024")),
    _p("w_stress_family", 1.5, 0.0, 6.0, "weight", "stressor rate increase per unit parental control",
       "M1", ("Guo2022", "Wichstrom2024")),
    _p("w_stress_maltreatment", 1.0, 0.0, 6.0, "weight", "stressor rate increase per unit maltreatment",
       "M1", ("Liu2018",)),
    _p("w_limbic_maltreatment", 0.5, 0.0, 2.0, "weight", "limbic gain increase per unit maltreatment (sensitisation)",
       "M3", ("GongZhang2024", "Hu2023")),
    _p("stress_severity_mean", 0.5, 0.05, 2.0, "severity", "mean severity of a stressful event (exponential marks)",
       "M1", ("ChenZhuo2026",)),
    _p("stress_baseline", 0.08, 0.0, 0.5, "level", "daily-hassle stress level that stress relaxes to",
       "M1", ("ChenZhuo2026",)),
    _p("lam_period", 1.0 / HOURS_PER_YEAR, 0.0, 2e-3, "1/h", "base rate of entering a stressful period (weeks to months of raised stress; one a year at no risk), raised by the same risk factors as stressful events",
       "M1", ("ChenZhuo2026", "Li2024", "Guo2022")),
    _p("tau_period", 60.0 * 24.0, 168.0, 8760.0, "h", "mean duration of a stressful period",
       "M1", ("ChenZhuo2026",)),
    _p("k_period_stressors", 1.0, 0.0, 10.0, "weight", "relative increase of the stressful-event rate during a stressful period",
       "M1", ("ChenZhuo2026", "Li2024")),
    _p("period_stress_baseline", 0.0, 0.0, 0.5, "level", "rise of the daily-hassle stress level during a stressful period",
       "M1", ("ChenZhuo2026",)),
    _p("k_female_interpersonal", 0.5, 0.0, 3.0, "weight", "relative increase of the rate of stressful (interpersonal) periods in girls",
       "M1", ("Rudolph2002", "HankinAbramson2001")),
    _p("tau_stress", 3.0, 0.25, 48.0, "h", "decay time of acute stress",
       "M1", ("ChenZhuo2026",)),
    # ---------------------------------------------------------------- M2 HPA axis
    _p("tau_cortisol", 1.5, 0.25, 12.0, "h", "time constant of acute cortisol",
       "M2", ("Kaess2012",)),
    _p("tau_load", 720.0, 48.0, 8760.0, "h", "time constant of allostatic load (weeks to months)",
       "M2", ("Kaess2012", "SporniakSzewczuk2025")),
    _p("hpa_blunting", 0.5, -1.0, 1.0, "weight", "change of acute cortisol gain per unit load (+: blunted, as Kaess 2012; -: amplified)",
       "M2", ("Kaess2012", "SporniakSzewczuk2025")),
    _p("k_load_affect", 1.0, 0.0, 4.0, "weight", "amplification of stress-driven affect per unit allostatic load",
       "M2", ("Kaess2012", "Nock2009")),
    _p("k_load_threshold", 0.5, 0.0, 0.9, "weight", "fractional lowering of the distress-tolerance threshold per unit load",
       "M2", ("Nock2009", "Kaess2012")),
    # ---------------------------------------------------------------- M3 fronto-limbic regulation
    _p("tau_affect", 2.0, 0.25, 24.0, "h", "time constant of unregulated affect recovery",
       "M3", ("Auerbach2021",)),
    _p("k_pfc_regulation", 2.0, 0.0, 8.0, "weight", "extra recovery rate (in units of 1/tau_affect) per unit prefrontal capacity",
       "M3", ("Schmaal2020", "Auerbach2021")),
    _p("w_alexithymia_regulation", 0.6, 0.0, 1.0, "weight", "fractional loss of prefrontal regulation per unit alexithymia",
       "M3", ("Guo2024", "Zhang2023")),
    _p("w_load_regulation", 0.4, 0.0, 1.0, "weight", "fractional loss of prefrontal regulation per unit allostatic load",
       "M3", ("Kaess2012", "Schmaal2020")),
    _p("w_stress_regulation", 0.3, 0.0, 1.0, "weight", "fractional loss of prefrontal regulation per unit acute stress",
       "M3", ("Schmaal2020",)),
    # ---------------------------------------------------------------- M4 rumination and mood
    _p("k_rumination_gain", 0.15, 0.0, 2.0, "1/h", "growth rate of rumination per unit distress and rumination trait",
       "M4", ("Buelens2019", "Cheung2024")),
    _p("tau_rumination", 12.0, 1.0, 168.0, "h", "decay time of rumination",
       "M4", ("Buelens2019",)),
    _p("k_rumination_affect", 0.4, 0.0, 2.0, "1/h", "drive of aversive arousal per unit rumination",
       "M4", ("Buelens2019", "Cheung2024")),
    _p("tau_mood", 336.0, 24.0, 2160.0, "h", "time constant of depressive mood (weeks)",
       "M4", ("Guo2022", "Hu2023")),
    _p("k_female_mood", 0.5, 0.0, 3.0, "weight", "pubertal rise of depressive mood in girls: relative gain of the mood target at the pubertal peak",
       "M4", ("HankinAbramson2001",)),
    _p("k_mood_affect", 0.3, 0.0, 2.0, "1/h", "drive of aversive arousal per unit depressive mood",
       "M4", ("Guo2022", "Hu2023")),
    # ---------------------------------------------------------------- M5 urge
    _p("distress_threshold", 0.4, 0.05, 0.95, "affect", "distress-tolerance threshold above which distress feeds a goal-directed urge",
       "M5", ("Nock2009", "NockPrinstein2004")),
    _p("lam_urge", 0.5, 0.0, 20.0, "1/h", "hazard of a goal-directed urge at full expected relief and maximal excess distress",
       "M5", ("NockPrinsteinSterba2009",)),
    _p("lam_cue", 0.05, 0.0, 1.0, "1/h", "rate of habit cues (contexts) that trigger an urge in proportion to habit strength",
       "M5", ("Zhu2024", "CarenysAdan2025")),
    _p("w_habit_cue_affect", 0.3, 0.0, 1.0, "weight", "how much current distress raises the habit-cue rate (habit urges are largely distress-independent)",
       "M5", ("Zhu2024",)),
    # ---------------------------------------------------------------- M6 action selection
    _p("act_bias", -3.0, -6.0, 4.0, "logit", "baseline log-odds of acting on an urge",
       "M6", ("ChenZhuo2026",)),
    _p("w_act_value", 8.0, 0.0, 20.0, "logit", "log-odds per unit expected relief times distress",
       "M6", ("NockPrinstein2004", "Fikke2011")),
    _p("w_act_habit", 6.0, 0.0, 20.0, "logit", "log-odds per unit habit strength (habit-triggered urges)",
       "M6", ("Zhu2024", "CarenysAdan2025")),
    _p("w_act_inhibition", 1.0, 0.0, 5.0, "logit", "log-odds lost per unit reactive inhibition",
       "M6", ("Mirabella2024", "Fikke2011")),
    _p("k_inhibition_override", 4.0, 0.0, 10.0, "weight", "decay of the inhibition penalty with the strength of the go drive (race between going and stopping)",
       "M6", ("Mirabella2024", "Fikke2011", "LoganCowan1984")),
    _p("w_act_harm", 4.0, 0.0, 20.0, "logit", "log-odds lost per unit harm expectancy",
       "M6", ("Nicolaou2025",)),
    _p("w_act_skill", 4.0, 0.0, 20.0, "logit", "log-odds lost per unit skill (alternative action)",
       "M6", ("Linehan2015",)),
    _p("habit_bypass", 0.7, 0.0, 1.0, "fraction", "share of deliberation (inhibition, harm, skill) bypassed by habit-triggered urges",
       "M6", ("CarenysAdan2025", "Zhu2024")),
    _p("skill_habit_reach", 1.0, 0.0, 1.0, "fraction", "share of the skill's weight that reaches habit-triggered urges in full (skills such as urge surfing and distress tolerance act on the urge itself); 0: skills are bypassed like other deliberation",
       "M6", ("Linehan2015", "ChenZhuo2026")),
    _p("skill_relief", 0.3, 0.0, 1.0, "fraction", "fraction of distress removed by a used skill when an urge is resisted",
       "M6", ("Linehan2015",)),
    # ---------------------------------------------------------------- M7 relief
    _p("relief_base", 0.2, 0.0, 3.0, "rate", "non-opioid relief drive of an act (fraction removed = 1 - exp(-drive))",
       "M7", ("NockPrinstein2004", "BlascoFontecilla2016")),
    _p("relief_positive", 0.05, 0.0, 0.5, "value", "positive reinforcement (calm) added to the learned outcome",
       "M7", ("NockPrinstein2004", "Turner2019")),
    _p("p_interpersonal", 0.35, 0.0, 1.0, "probability", "chance an act has an interpersonal consequence (social response)",
       "M7", ("Taylor2018",)),
    _p("interpersonal_stress_relief", 0.3, 0.0, 1.0, "fraction", "fraction of acute stress removed by an interpersonal consequence",
       "M7", ("Taylor2018",)),
    _p("intrapersonal_relief_min", 0.15, 0.0, 1.0, "fraction", "relief fraction above which an act counts as serving an intrapersonal function",
       "M7", ("Taylor2018",)),
    # ---------------------------------------------------------------- M8 opioids and tolerance
    _p("severity_base", 0.3, 0.05, 1.0, "severity", "injury severity (abstract, [0, 1]) of an act without tolerance",
       "M8", ("CarenysAdan2025",)),
    _p("k_severity_tolerance", 0.5, 0.0, 3.0, "weight", "severity escalation per unit tolerance (compensation)",
       "M8", ("CarenysAdan2025", "BlascoFontecilla2016")),
    _p("opioid_release", 2.0, 0.0, 6.0, "level", "opioid release per unit severity without tolerance",
       "M8", ("BresinGordon2013", "Stoerkel2021")),
    _p("k_relief_opioid", 0.8, 0.0, 3.0, "rate", "relief drive per unit opioid release",
       "M8", ("BresinGordon2013", "Wu2023")),
    _p("k_analgesia", 1.0, 0.0, 4.0, "weight", "analgesia per unit opioid level (pain = sensitivity x severity x exp(-k O))",
       "M8", ("BresinGordon2013", "Franklin2012")),
    _p("tau_opioid", 2.0, 0.25, 24.0, "h", "time constant of opioid level",
       "M8", ("Stoerkel2021",)),
    _p("eta_tolerance", 0.08, 0.0, 0.5, "per act", "tolerance gained per act at full severity",
       "M8", ("CarenysAdan2025", "BresinGordon2013")),
    _p("tolerance_initial", 0.0, 0.0, 1.0, "level", "tolerance at the start of a run (a person with a history)",
       "M8", ("CarenysAdan2025",)),
    _p("tau_tolerance", 2160.0, 168.0, 17520.0, "h", "decay time of tolerance during abstinence (months)",
       "M8", ("CarenysAdan2025",)),
    # ---------------------------------------------------------------- M9 learning
    _p("alpha_relief", 0.25, 0.0, 1.0, "per act", "relief-value learning rate at unit reward sensitivity",
       "M9", ("Poon2019", "NockPrinstein2004")),
    _p("alpha_harm", 0.25, 0.0, 1.0, "per act", "harm-expectancy learning rate at unit punishment learning",
       "M9", ("Nicolaou2025",)),
    _p("relief_value_prior", 0.25, 0.0, 1.0, "value", "expected relief before any act (and the level forgetting returns to)",
       "M9", ("NockPrinstein2004",)),
    _p("harm_prior", 0.1, 0.0, 1.0, "value", "expected harm before any act",
       "M9", ("Nicolaou2025",)),
    _p("tau_forget", 8760.0, 720.0, 87660.0, "h", "time constant with which harm expectancy drifts back to its prior",
       "M9", ("ChenZhuo2026",)),
    _p("tau_extinction", 4380.0, 720.0, 87660.0, "h", "time constant of the extinction of learned relief without acts (months)",
       "M9", ("ChenZhuo2026", "CarenysAdan2025")),
    _p("relief_extinction_floor", 0.0, 0.0, 1.0, "fraction", "level learned relief extinguishes to without acts, as a fraction of the prior, once a person has acted (0: to zero; 1: back to the prior)",
       "M9", ("ChenZhuo2026",)),
    _p("relief_reinstatement", 0.0, 0.0, 1.0, "fraction", "stress-induced reinstatement: during a stressful period, learned relief that has extinguished below this fraction of the prior returns towards it, once a person has acted (0: off; a hypothesis of this model, from the addiction account of relapse: extinction leaves the learned relief latent, and a new bad period brings it back)",
       "M9", ("ChenZhuo2026", "CarenysAdan2025")),
    _p("tau_reinstatement", 336.0, 24.0, 8760.0, "h", "time constant of stress-induced reinstatement of learned relief during a stressful period (weeks)",
       "M9", ("ChenZhuo2026",)),
    _p("w_harm_pain", 1.0, 0.0, 2.0, "weight", "harm per unit felt pain",
       "M9", ("Nicolaou2025",)),
    _p("w_harm_injury", 1.0, 0.0, 2.0, "weight", "harm per unit severity (injury, social cost)",
       "M9", ("Nicolaou2025",)),
    # ---------------------------------------------------------------- M10 habit
    _p("eta_habit", 0.08, 0.0, 0.5, "per act", "habit strength gained per fully reinforced act",
       "M10", ("Zhu2024", "CarenysAdan2025")),
    _p("w_habit_reinforcement", 1.0, 0.0, 1.0, "fraction", "share of habit growth that depends on the act's reinforcement (its relief outcome); 0: every act builds habit alike",
       "M10", ("Zhu2024", "CarenysAdan2025")),
    _p("habit_initial", 0.0, 0.0, 1.0, "strength", "habit strength at the start of a run (a person with a history)",
       "M10", ("Zhu2024",)),
    _p("tau_habit", 4380.0, 168.0, 43830.0, "h", "decay time of habit strength without acts (months)",
       "M10", ("Zhu2024",)),
    _p("k_habit_control", 3.0, 0.0, 8.0, "per capacity", "arbitration between goal-directed and habitual control: habit cues that become urges fall by exp(-k (capacity - 0.5)) with the person's current regulation capacity (prefrontal maturity, alexithymia, load, acute stress), so mature control tames habits and weak control lets them persist",
       "M10", ("ChenZhuo2026", "Zhu2024", "CarenysAdan2025")),
    # ---------------------------------------------------------------- M11 protective factors
    _p("k_resilience_threshold", 0.2, 0.0, 0.5, "affect", "distress-tolerance threshold raised per unit resilience",
       "M11", ("Zhang2023",)),
    _p("k_resilience_alexithymia", 0.5, 0.0, 1.0, "weight", "fraction of alexithymia's effect buffered per unit resilience",
       "M11", ("Zhang2023",)),
    _p("k_self_efficacy_control", 0.6, 0.0, 1.0, "weight", "fraction of the parental-control stressor rate buffered per unit regulatory self-efficacy",
       "M11", ("Guo2022",)),
    _p("k_hope_mood", 0.6, 0.0, 1.0, "weight", "fraction of the mood-to-urge path attenuated per unit hope",
       "M11", ("Jiang2018",)),
    _p("k_self_esteem_limbic", 0.6, 0.0, 2.0, "weight", "limbic gain change per unit self-esteem below 0.5 (low self-esteem amplifies, high dampens)",
       "M11", ("Zou2024", "Guo2024")),
    _p("w_mood_urge", 0.3, 0.0, 1.0, "affect", "depressive mood added to distress when it is compared with the threshold",
       "M4", ("Jiang2018", "Guo2022")),
    # ---------------------------------------------------------------- M12 development
    _p("tau_maturation", 6.0 * HOURS_PER_YEAR, 1.0 * HOURS_PER_YEAR, 15.0 * HOURS_PER_YEAR, "h",
       "time constant of prefrontal maturation from age 10 (years; maturation goes on into the mid-twenties)",
       "M12", ("ChenZhuo2026", "Auerbach2021", "Casey2008")),
    _p("puberty_peak_age", 14.5, 11.0, 18.0, "years", "age of peak pubertal limbic and reward reactivity in boys (the inverted U of the dual-systems account)",
       "M12", ("Steinberg2008", "Casey2008", "ChenZhuo2026")),
    _p("puberty_offset_female", 1.0, 0.0, 3.0, "years", "how much earlier the pubertal peak comes in girls",
       "M12", ("PattonViner2007",)),
    _p("puberty_width", 2.0, 0.5, 5.0, "years", "width (standard deviation) of the pubertal rise and fall",
       "M12", ("Steinberg2008",)),
    _p("k_puberty_limbic", 0.3, 0.0, 3.0, "weight", "relative increase of limbic gain at the pubertal peak",
       "M12", ("Steinberg2008", "Casey2008", "Auerbach2021")),
    _p("k_puberty_reward", 0.3, 0.0, 3.0, "weight", "relative increase of reward sensitivity (relief learning rate) at the pubertal peak",
       "M12", ("Steinberg2008", "Poon2019")),
    # ---------------------------------------------------------------- M13 suicidal ideation
    _p("tau_ideation", 72.0, 6.0, 720.0, "h", "time constant of suicidal ideation",
       "M13", ("Li2025", "Ye2022")),
    _p("ideation_bias", -2.5, -8.0, 0.0, "logit", "log-odds of ideation target at zero mood, burden and history",
       "M13", ("Ye2022",)),
    _p("w_ideation_mood", 6.0, 0.0, 10.0, "logit", "ideation log-odds per unit depressive mood (relative to the distress threshold: mood x 0.4 / distress_threshold)",
       "M13", ("Li2025", "Ye2022")),
    _p("w_ideation_burden", 2.0, 0.0, 6.0, "logit", "ideation log-odds per unit burdensomeness",
       "M13", ("Li2024",)),
    _p("w_ideation_pfc", 1.5, 0.0, 6.0, "logit", "ideation log-odds lost per unit prefrontal capacity",
       "M13", ("Li2025",)),
    _p("w_ideation_history", 3.0, 0.0, 6.0, "logit", "ideation log-odds at a long self-injury history (saturating)",
       "M13", ("Ye2022", "Voss2020")),
    _p("n_history_scale", 20.0, 1.0, 200.0, "acts", "number of acts at which the history term reaches 63% of its maximum",
       "M13", ("Ye2022",)),
    _p("w_history_recent", 0.0, 0.0, 1.0, "fraction",
       "share of the history term carried by recent acts (a recency-weighted count) instead of the lifetime count; 0 = lifetime only",
       "M13", ("Ye2022", "ChenZhuo2026")),
    _p("tau_history_recent", 4380.0, 720.0, 43800.0, "h", "time constant over which an act stops counting as recent in the history term",
       "M13", ("Ye2022",)),
    _p("lam_attempt", 2e-4, 0.0, 1e-2, "1/h", "attempt hazard at maximal ideation (rare events)",
       "M13", ("Ye2022",)),
    _p("attempt_ideation_power", 4.0, 1.0, 8.0, "exponent", "steepness of attempt hazard in ideation",
       "M13", ("Ye2022",)),
    _p("attempt_ideation_floor", 0.0, 0.0, 0.9, "ideation",
       "ideation below which the attempt hazard is zero (an assumption: an attempt presupposes suicidal ideation; "
       "above it the hazard rises as a power of the excess); 0 = the power of ideation itself",
       "M13", ("Ye2022", "Voss2020")),
]

PARAMS: MappingProxyType[str, Param] = MappingProxyType({p.name: p for p in _TABLE})
if len(PARAMS) != len(_TABLE):  # pragma: no cover - guards the table itself
    raise RuntimeError("duplicate parameter names in the parameter table")

TRAITS: tuple[str, ...] = tuple(p.name for p in _TABLE if p.kind == "trait")


def defaults() -> dict[str, float]:
    """Default value of every parameter, by name."""
    return {name: p.default for name, p in PARAMS.items()}


def check_value(name: str, value: float, where: str = "parameters") -> float:
    """Return ``value`` as float if ``name`` is a known parameter and ``value`` lies within bounds.

    Raises ``KeyError``/``ValueError`` naming the field, the bound and ``where`` it came from.
    """
    if name not in PARAMS:
        raise KeyError(f"{where}: unknown parameter '{name}'")
    p = PARAMS[name]
    v = float(value)
    if not np.isfinite(v) or v < p.low or v > p.high:
        raise ValueError(f"{where}: parameter '{name}' = {value!r} is outside its bounds [{p.low}, {p.high}] ({p.unit})")
    return v


__all__ = ["check_value", "defaults", "HOURS_PER_DAY", "HOURS_PER_YEAR", "IDEATION_MOOD_REFERENCE", "MECHANISMS", "Param",
           "PARAMS", "TRAITS"]
