"""nssisim: an executable, testable and fittable model of non-suicidal self-injury (NSSI)
with addictive features in adolescents, after the integrative model of Chen & Zhuo (2026).

A research instrument for theory building, in-silico trials and fitting to research data;
never a clinical tool. Injury severity is an abstract number in [0, 1].
"""

import os as _os

# Cohorts are split across XLA host devices, one per CPU core, so that a CPU run uses every
# core (measured: 2 devices on 2 cores run a 10,000-subject year 1.8x faster than one). This
# must be set before JAX starts its CPU backend; it changes nothing on GPU. Opt out with
# NSSISIM_HOST_DEVICES=1, or choose the count; an XLA_FLAGS that already sets it wins.
if "xla_force_host_platform_device_count" not in _os.environ.get("XLA_FLAGS", ""):
    _n = _os.environ.get("NSSISIM_HOST_DEVICES") or str(len(_os.sched_getaffinity(0)) if hasattr(_os, "sched_getaffinity") else (_os.cpu_count() or 1))
    if int(_n) > 1:
        _os.environ["XLA_FLAGS"] = (_os.environ.get("XLA_FLAGS", "") + f" --xla_force_host_platform_device_count={int(_n)}").strip()

from ._version import __version__  # noqa: E402
from .core.parameters import MECHANISMS, PARAMS, defaults  # noqa: E402
from .core.simulation import events_table, simulate, simulate_cohort  # noqa: E402

__all__ = ["MECHANISMS", "PARAMS", "defaults", "simulate", "simulate_cohort", "events_table", "__version__"]
