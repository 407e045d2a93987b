"""The explorer behind ``nssisim explore``: a local page in the browser (Bokeh server, bound to
127.0.0.1) with widgets for a preset, traits, the environment and an intervention, and the views
of one adolescent's trajectory, its slow learning states, the regime reached and a small cohort.

- ``compute.py``: settings -> one simulation -> the numbers drawn (no Bokeh; unit-testable);
- ``app.py``: the Bokeh document (widgets and figures; it only draws what compute returns);
- ``server.py``: the local server (localhost only, a chosen or free port).

Bokeh is imported only by ``app.py`` and ``server.py`` (the ``explore`` extra of pyproject.toml).
A research instrument, not a clinical tool.
"""

from .compute import (
    check_settings,
    COHORT,
    explorer_params,
    explorer_schedule,
    EXPLORE_ENVIRONMENT,
    EXPLORE_INTERVENTIONS,
    EXPLORE_TRAITS,
    EXPLORE_YEARS,
    ExploreError,
    ExploreSettings,
    preset_values,
    run_explorer,
    simulation_kwargs,
)

__all__ = ["check_settings", "COHORT", "explorer_params", "explorer_schedule", "EXPLORE_ENVIRONMENT",
           "EXPLORE_INTERVENTIONS", "EXPLORE_TRAITS", "EXPLORE_YEARS", "ExploreError", "ExploreSettings",
           "preset_values", "run_explorer", "simulation_kwargs"]
