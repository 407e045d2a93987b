"""nssisim: an executable, testable and fittable model of non-suicidal self-injury (NSSI)
with addictive features in adolescents, after the integrative model of Chen & Zhuo (2026).

A research instrument for theory building, in-silico trials and fitting to research data;
never a clinical tool. Injury severity is an abstract number in [0, 1].
"""

__version__ = "0.1.0"

from .parameters import MECHANISMS, PARAMS, defaults  # noqa: E402
from .simulate import events_table, simulate, simulate_cohort  # noqa: E402

__all__ = ["MECHANISMS", "PARAMS", "defaults", "simulate", "simulate_cohort", "events_table", "__version__"]
