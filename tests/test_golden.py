"""Golden numbers of a small fixed run (3 subjects with the ACTIVE parameters of
``conftest``, seed 7, 60 days, dt 1 h, a record per day).

Any change of the model, its defaults or the random stream changes these numbers. If the change
is deliberate, regenerate the file with ``.venv/bin/python tests/regen_golden.py`` and say so in
the commit; otherwise the failure is a regression.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from regen_golden import GOLDEN_PATH, RUN, compute_golden

REGEN = (
    "golden numbers changed. If this is a deliberate model change, regenerate them with "
    "`.venv/bin/python tests/regen_golden.py` and say so in the commit message; otherwise this is a regression."
)


@pytest.fixture(scope="module")
def golden() -> dict:
    assert GOLDEN_PATH.exists(), f"{GOLDEN_PATH} is missing: run `.venv/bin/python tests/regen_golden.py`"
    return json.loads(GOLDEN_PATH.read_text())


@pytest.fixture(scope="module")
def current() -> dict:
    return compute_golden()


def test_golden_run_definition_unchanged(golden):
    stored = {k: v for k, v in golden["run"].items() if k != "params"}
    assert stored == RUN, f"the golden run itself was changed: {stored} vs {RUN}; {REGEN}"


def test_golden_counts(golden, current):
    want, got = golden["values"], current["values"]
    for key in ("acts_per_subject", "urges_per_subject", "stressors_per_subject", "n_event_rows"):
        assert got[key] == want[key], f"{key}: got {got[key]}, golden {want[key]}; {REGEN}"
    assert sum(want["acts_per_subject"]) > 0, "the golden run should contain acts (choose a more active run)"


def test_golden_states(golden, current):
    want, got = golden["values"], current["values"]
    keys = sorted(k for k in want if k.startswith(("final_", "mean_")))
    assert keys == sorted(k for k in got if k.startswith(("final_", "mean_")))
    for key in keys:
        np.testing.assert_allclose(got[key], want[key], rtol=1e-5, atol=1e-7, err_msg=f"{key}: {REGEN}")
