"""Person presets: named sets of parameter overrides shipped as TOML files.

Each preset is a file ``nssisim/configs/<name>.toml`` with a single ``[person]`` table of
parameter overrides (parameters not named keep their defaults from
:data:`nssisim.core.parameters.PARAMS`). The presets are illustrative, not calibrated: they show
the direction of the reviewed risk factors, not any real person or sample.

- ``typical``: all defaults (a typical adolescent of a community sample);
- ``vulnerable``: an at-risk adolescent;
- ``clinical``: a high-risk adolescent, as seen in clinical samples.

A scenario config selects a preset with ``preset = "vulnerable"`` and may override single
parameters in its own ``[person]`` table (see :mod:`nssisim.core.scenario`).
"""

from __future__ import annotations

import tomllib

from ..files import did_you_mean, resource
from .parameters import check_value

#: Names of the shipped presets.
PRESETS: tuple[str, ...] = ("typical", "vulnerable", "clinical")


def preset_text(name: str) -> str:
    """The TOML source of a preset (with its explanatory comment)."""
    if name not in PRESETS:
        raise KeyError(f"unknown preset '{name}'{did_you_mean(name, PRESETS)}: expected one of {', '.join(PRESETS)}")
    return resource("configs", f"{name}.toml").read_text(encoding="utf-8")


def load_preset(name: str) -> dict[str, float]:
    """Parameter overrides of the preset ``name`` (an empty dict for ``typical``).

    Values are checked against the parameter table; an error names the preset file and the
    field (e.g. ``preset 'vulnerable': person.limbic_reactivity``).
    """
    data = tomllib.loads(preset_text(name))
    where = f"preset '{name}' (configs/{name}.toml)"
    extra = set(data) - {"person"}
    if extra:
        raise ValueError(f"{where}: unexpected table(s) {sorted(extra)}; a preset holds only [person]")
    person = data.get("person", {})
    return {k: check_value(k, v, f"{where}: person.{k}") for k, v in person.items()}


__all__ = ["PRESETS", "load_preset", "preset_text"]
