"""The command-line interface, run in-process with Typer's CliRunner (tiny runs only)."""

from __future__ import annotations

import json

import pytest
import xarray as xr
from typer.testing import CliRunner

from nssisim import __version__
from nssisim.cli import app
from nssisim.cli.demo import _report_dir
from nssisim.core import config_hash
from nssisim.population import DEFAULT_END_AGE


runner = CliRunner()

TINY = """\
preset = "vulnerable"
[run]
seed = 11
horizon_days = 2
dt_hours = 1.0
record_every = 24
n_subjects = 3
[person_ranges]
hope = [0.2, 0.6]
"""


@pytest.fixture
def tiny_config(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    return path


def test_version():
    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0 and __version__ in res.output


def test_simulate_writes_netcdf_and_refuses_to_overwrite(tmp_path, tiny_config):
    out, events = tmp_path / "run.nc", tmp_path / "events.csv"
    res = runner.invoke(app, ["simulate", "--config", str(tiny_config), "--out", str(out), "--events", str(events)])
    assert res.exit_code == 0, res.output
    assert out.exists() and events.exists()
    with xr.open_dataset(out, engine="h5netcdf") as ds:
        attrs = dict(ds.attrs)
        assert ds.sizes["subject"] == 3
    assert attrs["seed"] == 11
    assert attrs["nssisim_version"] == __version__
    assert attrs["config_hash"] == config_hash(json.loads(attrs["config"]))
    assert json.loads(attrs["config"])["preset"] == "vulnerable"
    assert events.read_text().startswith("subject,time_h,kind,trigger")

    before = out.stat().st_mtime_ns
    res = runner.invoke(app, ["simulate", "--config", str(tiny_config), "--out", str(out)])
    assert res.exit_code == 1
    assert "refusing to overwrite" in res.output and "--overwrite" in res.output
    assert out.stat().st_mtime_ns == before

    res = runner.invoke(app, ["simulate", "--config", str(tiny_config), "--out", str(out), "--overwrite"])
    assert res.exit_code == 0, res.output
    with xr.open_dataset(out, engine="h5netcdf") as ds:
        assert ds.attrs["config_hash"] == attrs["config_hash"]  # same config, same hash


def test_bad_config_exits_2_and_names_the_field(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[run]\nseed = 1\n[person]\nlimbic_reactivity = 9.0\n")
    res = runner.invoke(app, ["simulate", "--config", str(bad), "--out", str(tmp_path / "x.nc")])
    assert res.exit_code == 2
    assert "person.limbic_reactivity" in res.output and "bad.toml" in res.output
    assert "Traceback" not in res.output
    assert not (tmp_path / "x.nc").exists()


def test_params_prints_the_table():
    res = runner.invoke(app, ["params"])
    assert res.exit_code == 0
    assert "limbic_reactivity" in res.output and "tau_habit" in res.output
    res = runner.invoke(app, ["params", "--mechanism", "M10"])
    assert res.exit_code == 0
    assert "tau_habit" in res.output and "limbic_reactivity" not in res.output
    res = runner.invoke(app, ["params", "--mechanism", "M14"])
    assert res.exit_code == 2


def test_targets_rejects_unknown_input_without_running():
    assert runner.invoke(app, ["targets", "--mechanisms-off", "M99"]).exit_code == 2
    res = runner.invoke(app, ["targets", "--id", "P999"])
    assert res.exit_code == 2 and "P999" in res.output


def test_report_dir_never_overwrites_silently(tmp_path):
    out = tmp_path / "report"
    assert _report_dir(out, overwrite=False) == (out, "")  # missing: used as is
    out.mkdir()
    assert _report_dir(out, overwrite=False) == (out, "")  # empty: used as is
    (out / "summary.md").write_text("earlier report")
    target, note = _report_dir(out, overwrite=False)
    assert target.parent == out and not target.exists() and "new subfolder" in note
    assert _report_dir(out, overwrite=True) == (out, "")


def test_demo_fast_writes_the_report(tmp_path):
    out = tmp_path / "report"
    res = runner.invoke(app, ["demo", "--fast", "--no-targets", "--no-trial", "--subjects", "24", "--days", "60",
                              "--out", str(out), "--population-subjects", "64"])
    assert res.exit_code == 0, res.output
    for name in ("person.png", "cohort.png", "population.png", "summary.md", "person_scenario.toml",
                 "cohort_scenario.toml"):
        assert (out / name).stat().st_size > 0, name
    assert (out / "person.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = (out / "summary.md").read_text()
    assert "share with any act" in summary and "not a clinical tool" in summary
    assert "Not run" in summary  # targets skipped
    for part in ("12-month prevalence", "onset age", "addictive profile", f"cessation by {DEFAULT_END_AGE:g}",
                 "model versus published targets"):
        assert part in summary, part
    assert str(out) in res.output
