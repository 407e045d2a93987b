"""`nssisim sweep`: a user's manifest file, results.csv, resume, and clear errors for bad manifests."""

from __future__ import annotations

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from nssisim.cli import app
from nssisim.sweeps import OUTPUTS, load_sweep

ARGS = ["--days", "20", "--subjects-per-run", "4", "--seed", "2", "--shard-size", "1", "--no-progress"]


def _invoke(*args):
    return CliRunner().invoke(app, ["sweep", *args])


def test_sweep_of_a_csv_manifest_writes_results_and_resumes(tmp_path):
    m = tmp_path / "runs.csv"
    m.write_text("run_id,limbic_reactivity,pfc_adult\n10,1.0,1.0\n11,2.5,0.4\n12,1.5,0.8\n")
    r = _invoke("--manifest", str(m), "--out", str(tmp_path / "s"), "--stop-after", "1", *ARGS)
    assert r.exit_code == 0, r.output
    assert "1 of 3 done" in r.output and not (tmp_path / "s" / "results.csv").exists()
    r = _invoke("--manifest", str(m), "--out", str(tmp_path / "s"), "--resume", *ARGS)
    assert r.exit_code == 0, r.output
    res = pd.read_csv(tmp_path / "s" / "results.csv", index_col="run_id")
    assert list(res.index) == [10, 11, 12]
    assert set(OUTPUTS) <= set(res.columns) and {"limbic_reactivity", "pfc_adult"} <= set(res.columns)
    np.testing.assert_array_equal(res["pfc_adult"], [1.0, 0.4, 0.8])
    np.testing.assert_array_equal(res["mean_affect"], load_sweep(tmp_path / "s")["mean_affect"].values)
    again = _invoke("--manifest", str(m), "--out", str(tmp_path / "s"), *ARGS)
    assert again.exit_code == 1 and "not empty" in again.output


def test_bad_manifests_are_errors_naming_file_row_and_column(tmp_path):
    cases = {
        "word.csv": ("limbic_reactivity,pfc_adult\n1.0,1.0\n1.2,high\n",
                     "column 'pfc_adult', row 3: 'high' is not a finite number"),
        "bound.csv": ("limbic_reactivity,pfc_adult\n1.0,1.0\n1.2,2.5\n",
                      "'pfc_adult' = 2.5 (row 3) violates its upper bound 2.0"),
        "name.csv": ("limbic_reactivity,nope\n1.0,1.0\n", "unknown parameter 'nope'"),
        "ids.csv": ("run_id,pfc_adult\n1,1.0\n1,1.2\n", "run_ids must be n distinct non-negative integers"),
    }
    for name, (text, message) in cases.items():
        f = tmp_path / name
        f.write_text(text)
        r = _invoke("--manifest", str(f), "--out", str(tmp_path / "never"), *ARGS)
        assert r.exit_code == 2, (name, r.output)
        assert str(f) in r.output and message in r.output, (name, r.output)
    assert not (tmp_path / "never").exists()
    r = _invoke("--manifest", str(tmp_path / "runs.txt"), "--out", str(tmp_path / "never"))
    assert r.exit_code == 2 and "expected a .csv or .parquet file" in r.output
