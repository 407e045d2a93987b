"""Golden numbers of a small fixed run: compute them, or rewrite ``tests/data/golden.json``.

    .venv/bin/python tests/regen_golden.py

Regenerate only on purpose, after a deliberate change of the model or its defaults, and say so
in the commit message; ``tests/test_golden.py`` compares every run with this file.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(HERE))

from conftest import ACTIVE  # noqa: E402

GOLDEN_PATH = HERE / "data" / "golden.json"
RUN = dict(seed=7, n_subjects=3, horizon_hours=60 * 24.0, dt=1.0, record_every=24)
#: Significant digits stored (float32 carries about 7); the test compares with rtol 1e-5.
DIGITS = 7


def _sig(x: float) -> float:
    return float(f"{float(x):.{DIGITS}g}")


def compute_golden() -> dict:
    """Run the fixed simulation and return its golden numbers (JSON-ready)."""
    from nssisim import simulate_cohort

    ds = simulate_cohort(RUN["seed"], ACTIVE, n_subjects=RUN["n_subjects"], horizon_hours=RUN["horizon_hours"],
                         dt=RUN["dt"], record_every=RUN["record_every"])
    end = ds.isel(time=-1)
    values = {
        "acts_per_subject": [int(v) for v in ds["acts"].sum("time").values],
        "urges_per_subject": [int(v) for v in ds["urges"].sum("time").values],
        "stressors_per_subject": [int(v) for v in ds["stressors"].sum("time").values],
        "n_event_rows": int(ds.sizes["event"]),
    }
    for f in ("affect", "habit", "relief_value", "tolerance", "stress", "mood", "harm"):
        values[f"final_{f}"] = [_sig(v) for v in end[f].values]
    values["mean_affect"] = [_sig(v) for v in ds["affect"].mean("time").values]
    return {"run": dict(RUN, params="tests/conftest.py:ACTIVE"), "values": values}


def main() -> None:
    golden = compute_golden()
    GOLDEN_PATH.parent.mkdir(parents=True, exist_ok=True)
    GOLDEN_PATH.write_text(json.dumps(golden, indent=2) + "\n")
    print(f"wrote {GOLDEN_PATH}")
    print(json.dumps(golden["values"], indent=2))


if __name__ == "__main__":
    main()
