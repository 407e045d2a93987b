"""Virtual trials: interventions as time-varying parameter schedules (interventions.py), trial
designs (design.py), running them with common random numbers, effects and power (run.py), and the
trial's figures and tables (plots.py).
"""

from .interventions import (
    Arm,
    build_schedule,
    Component,
    Intervention,
    InterventionError,
    INTERVENTIONS,
    load_intervention,
    mapping_markdown,
    mapping_rows,
    parse_intervention,
    propensities,
)
from .design import (
    BINARY_OUTCOMES,
    CONTINUOUS_OUTCOMES,
    Design,
    DesignError,
    DESIGNS,
    completion_to_dropout,
    eligible,
    eligible_history,
    load_design,
    OUTCOMES,
    parse_design,
    REMISSION_DAYS,
    SOURCES,
)
from .run import (
    arm_summary,
    calibrate_strength,
    completion_check,
    day_outcomes,
    screen_patients,
    DBT_TARGET_D,
    effects_table,
    randomise,
    run_trial,
    screen,
    simulate_arms,
    strength_curve,
    summary_table,
)
from .ensemble import design_for_set, ENSEMBLE_FILES, ensemble_summary, pick_sets, PICKS, run_trial_ensemble
from .plots import plot_forest, plot_trajectories, TRIAL_FILES, trial_markdown, write_trial

__all__ = ["Arm", "Component", "INTERVENTIONS", "Intervention", "InterventionError", "build_schedule",
           "load_intervention", "mapping_markdown", "mapping_rows", "parse_intervention", "propensities",
           "DBT_TARGET_D", "BINARY_OUTCOMES", "CONTINUOUS_OUTCOMES", "DESIGNS", "Design", "DesignError", "OUTCOMES",
           "REMISSION_DAYS", "arm_summary", "calibrate_strength", "effects_table", "eligible", "load_design",
           "parse_design", "randomise", "run_trial", "screen", "simulate_arms", "strength_curve",
           "summary_table", "completion_check", "completion_to_dropout", "day_outcomes", "eligible_history",
           "screen_patients", "SOURCES", "TRIAL_FILES", "plot_forest", "plot_trajectories", "trial_markdown", "write_trial",
           "ENSEMBLE_FILES", "design_for_set", "ensemble_summary", "pick_sets", "PICKS", "run_trial_ensemble"]
