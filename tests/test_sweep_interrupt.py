"""A real interruption: the CLI is killed mid-sweep, resumed, and equals an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import xarray as xr
from typer.testing import CliRunner

from nssisim.cli import app
from nssisim.sweeps import load_sweep, sweep_status

PARAMS = ["limbic_reactivity", "pfc_adult", "opioid_tone", "reward_sensitivity", "rumination_trait", "resilience",
          "eta_habit", "distress_threshold"]


def _args(out: Path) -> list[str]:
    # Sobol N = 2 on 8 parameters: 20 runs, one run a shard
    args = ["sensitivity", "--method", "sobol", "--base-samples", "2", "--subjects-per-run", "8", "--days", "90",
            "--shard-size", "1", "--seed", "11", "--out", str(out), "--no-progress"]
    for p in PARAMS:
        args += ["--param", p]
    return args


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "kill"])
def test_killed_sweep_resumes_to_the_uninterrupted_result(tmp_path, sig):
    full, part = tmp_path / "full", tmp_path / "part"
    r = CliRunner().invoke(app, _args(full))
    assert r.exit_code == 0, r.output
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1] / "src"),
                                                        os.environ.get("PYTHONPATH", "")])}
    # The CLI in a child process. It installs Python's Ctrl-C handler itself, because a child
    # inherits an ignored SIGINT from a background job of a non-interactive shell (CI runners).
    code = ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
            "from nssisim.cli import app; sys.argv = ['nssisim', *sys.argv[1:]]; app()")
    proc = subprocess.Popen([sys.executable, "-c", code, *_args(part)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            if (part / "sweep").exists() and len(list((part / "sweep").glob("shard-*.nc"))) >= 2:
                break
            time.sleep(0.02)
        assert proc.poll() is None, "the sweep ended before it could be interrupted"
        proc.send_signal(sig)
        assert proc.wait(timeout=60) != 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    n_shards, missing = sweep_status(part / "sweep")
    assert n_shards == 20 and 0 < len(missing) <= 18, missing  # interrupted part-way
    r = CliRunner().invoke(app, [*_args(part), "--resume"])
    assert r.exit_code == 0, r.output
    assert not [p.name for p in (part / "sweep").iterdir() if p.name.endswith(".tmp")]
    xr.testing.assert_identical(load_sweep(full / "sweep"), load_sweep(part / "sweep"))
    pd.testing.assert_frame_equal(pd.read_csv(full / "indices.csv"), pd.read_csv(part / "indices.csv"))
