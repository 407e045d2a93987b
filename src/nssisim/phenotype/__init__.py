"""Precision phenotyping: the regime map (where the boundary between sporadic and addictive NSSI lies, and
whether history moves a person across it). Builds on ``core`` and ``population``; used by ``cli``."""

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

__all__ = ["END_AGE", "LEVEL", "N_PERSONS", "OUTCOMES", "PULSE", "RegimeError", "START_AGE", "addictive_by_age",
           "boundary", "boundary_point", "check_axis", "check_value", "format_hysteresis", "format_map", "hysteresis", "parse_values",
           "plot_map", "regime_map", "tidy"]
