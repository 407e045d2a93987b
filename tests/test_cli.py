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
    # trajectory classes: each published design's shares, with numbers, summing to 1
    traj = _section(summary, "### Trajectory classes")
    assert "provisional values" in traj.splitlines()[0] or "calibrated" in traj.splitlines()[0]
    shares: dict[str, list[float]] = {}
    for row in _table_rows(traj):
        design, cls, sim, pub = row
        shares.setdefault(design.split(":")[0], []).append(float(sim.rstrip("%")))
        assert pub.endswith("%"), row
    assert set(shares) == {"8 waves (Barrocas2015)", "1 year, 3 waves"}
    assert [len(v) for v in shares.values()] == [3, 4]
    for design, v in shares.items():
        assert abs(sum(v) - 100.0) < 0.3, (design, v)
    # the referred clinical sample: the rule, how many were screened and referred, the profile
    ref = _section(summary, "## Referred clinical sample")
    assert "outpatient" in ref.splitlines()[0] and "configs/referral/outpatient.toml" in ref
    assert "64 screened" in ref and " referred**" in ref
    rows = {r[0]: r for r in _table_rows(ref)}
    for measure in ("acts per month at referral (mean)", "lifetime suicide attempt (share)",
                    "addictive profile (share)", "intrapersonal function (share)"):
        assert measure in rows, measure
    assert rows["referral rate (share of the community pool)"][1][0].isdigit()


def _section(text: str, heading: str) -> str:
    """The Markdown section that starts at ``heading`` (up to the next heading of any level)."""
    start = text.index(heading)
    rest = text[start + len(heading):]
    ends = [i for i in (rest.find("\n## "), rest.find("\n### ")) if i >= 0]
    return text[start:start + len(heading) + (min(ends) if ends else len(rest))]


def _table_rows(section: str) -> list[list[str]]:
    """The body rows of the Markdown table(s) in a section, as lists of stripped cells."""
    lines = [ln for ln in section.splitlines() if ln.startswith("|") and not ln.startswith("|---")]
    return [[c.strip() for c in ln.strip("|").split("|")] for ln in lines[1:] if not ln.startswith("| design |")]


def test_trajectory_table_shares_sum_to_one_beside_the_published_shares():
    import numpy as np
    import pandas as pd

    from nssisim.population import load_targets
    from nssisim.report.summaries import trajectory_table

    rng = np.random.default_rng(0)
    n = 300
    cols = {"survey_age": rng.uniform(12.0, 18.0, n)}
    for k in range(40, 100):  # quarter-year act counts, ages 10 to 25
        cols[f"acts_q{k}"] = rng.poisson(1.5, n) * (rng.random(n) < 0.2)
    tt = trajectory_table(pd.DataFrame(cols))
    sums = tt.groupby("design")["simulated"].sum()
    assert len(sums) == 2 and np.allclose(sums.to_numpy(), 1.0)
    assert (tt["n"] > 0).all()
    published = load_targets()
    for _, r in tt.iterrows():
        assert r["published"] == published[r["target"]][r["class"]]
        # the rule's own target, not the trajectory model's reading or a share within classes of the same entry
        assert r["target"] == ("traj8_" if r["design"].startswith("8 waves") else "traj1y_") + r["class"]
