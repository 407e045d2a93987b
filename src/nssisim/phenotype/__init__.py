"""Precision phenotyping: the regime map (where the boundary between sporadic and addictive NSSI lies, and
whether history moves a person across it) and the forecast of the transition (who among sporadic
self-injurers enters the addictive regime within a year, from what a study could observe). Builds on ``core`` and ``population``; used by ``cli``."""

from .forecast import (
    FEATURE_SETS,
    OBSERVABLE,
    ORACLE,
    WARNING_SIGNS,
    evaluate,
    features_at_index,
    forecast_cohort,
    format_forecast,
    lead_time,
    plot_forecast,
)
from .regimes import (
    END_AGE,
    LEVEL,
    N_PERSONS,
    OUTCOMES,
    PULSE,
    RegimeError,
    START_AGE,
    addictive_by_age,
    boundary,
    boundary_point,
    check_axis,
    check_value,
    format_hysteresis,
    format_map,
    hysteresis,
    parse_values,
    plot_map,
    regime_map,
    tidy,
)

__all__ = ["FEATURE_SETS", "OBSERVABLE", "ORACLE", "WARNING_SIGNS", "evaluate", "features_at_index", "forecast_cohort",
           "format_forecast", "lead_time", "plot_forecast",
           "END_AGE", "LEVEL", "N_PERSONS", "OUTCOMES", "PULSE", "RegimeError", "START_AGE", "addictive_by_age",
           "boundary", "boundary_point", "check_axis", "check_value", "format_hysteresis", "format_map", "hysteresis", "parse_values",
           "plot_map", "regime_map", "tidy"]
