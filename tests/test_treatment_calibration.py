"""The treatment calibration (nssisim.trials.calibration): its statistics and its target bookkeeping."""

import numpy as np
import pandas as pd
import pytest

from nssisim.population.calibration import load_targets, published, TARGET_IDS
from nssisim.trials.calibration import BLOCKS, FITTED, implausibilities, REPORTED, within_d


def test_within_d_is_the_standardised_change_with_the_average_variance():
    b = np.array([4.0, 6.0, 8.0, 10.0])
    x = b - 2.0  # the same spread, 2 lower
    assert within_d(b, x) == pytest.approx(2.0 / np.std(b, ddof=1))
    assert within_d(b, b) == 0.0
    assert within_d(x, b) < 0  # more in the block: negative


def test_every_treatment_target_is_a_calibration_target_with_an_entry():
    entries = load_targets(required=FITTED + REPORTED)
    for tid in FITTED + REPORTED:
        assert tid in TARGET_IDS and tid in entries
    assert set(BLOCKS) <= set(FITTED) and "dbta_completed" not in FITTED


def test_implausibility_is_zero_at_the_published_values_and_grows_away_from_them():
    entries = load_targets(required=FITTED + REPORTED)
    at = {tid: published(TARGET_IDS[tid], entries[tid])[0] for tid in FITTED + REPORTED}
    rows = [{"strength": 0.0, **at, **{f"{t}_var": 0.0 for t in at}},
            {"strength": 1.0, **{t: v + 0.3 for t, v in at.items()}, **{f"{t}_var": 0.0 for t in at}}]
    imp = implausibilities(pd.DataFrame(rows))
    assert imp["I_max"].iloc[0] == pytest.approx(0.0)
    assert (imp[[f"I_{t}" for t in FITTED]].iloc[1] > 1.0).all()
    # the reported target does not enter I_max
    rows[0]["dbta_completed"] = 0.1
    assert implausibilities(pd.DataFrame(rows))["I_max"].iloc[0] == pytest.approx(0.0)


@pytest.mark.slow
def test_treatment_grid_runs_and_the_strength_moves_the_outcomes():
    from nssisim.trials.calibration import calibrate_treatment

    r = calibrate_treatment([0.0, 1.0], between_patients=16, within_patients=16)
    t = r["table"]
    assert list(t["strength"]) == [0.0, 1.0] and r["strength"] in (0.0, 1.0)
    assert t["dbt_d"].iloc[1] < t["dbt_d"].iloc[0]  # a stronger DBT lowers self-harm against TAU
    assert t["dbta_d_11_15"].iloc[1] > t["dbta_d_11_15"].iloc[0]
    assert np.isfinite(t["I_max"]).all()
