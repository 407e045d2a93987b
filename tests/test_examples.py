"""Every script in examples/ runs at a tiny size and writes its figure (so a documented example cannot rot).

Each script is run as a user would run it: a separate Python process (this interpreter), with
tiny arguments and the output path in a temporary folder.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

#: Tiny arguments per example script (seconds each), and a word its summary line must contain.
TINY = {
    "single_simulation.py": (["--days", "10"], "acts"),
    "tiny_trial.py": (["--patients", "8", "--replicates", "1", "--days", "14"], "Hedges' g"),
    "population_age_curve.py": (["--subjects", "16", "--start-age", "10", "--end-age", "11"], "lifetime NSSI"),
    "forecast_transition.py": (["--subjects", "2048"], "AUC observable"),
    "regime_map.py": (["--subjects", "8", "--points", "2", "--end-age", "12"], "P(addictive profile)"),
}


def _run(script: str, args: list[str], out: Path | None, env_out: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("NSSISIM_EXAMPLE_OUT", None)
    if env_out is not None:
        env["NSSISIM_EXAMPLE_OUT"] = str(env_out)
    cmd = [sys.executable, str(EXAMPLES / script), *args] + (["--out", str(out)] if out is not None else [])
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)


def test_every_example_has_a_tiny_run():
    scripts = sorted(p.name for p in EXAMPLES.glob("*.py"))
    assert scripts, "examples/ has no scripts"
    assert scripts == sorted(TINY), f"examples without a tiny run in tests/test_examples.py: {set(scripts) ^ set(TINY)}"


@pytest.mark.parametrize("script", sorted(TINY))
def test_example_runs_and_writes_its_figure(script, tmp_path):
    args, word = TINY[script]
    out = tmp_path / "figs" / f"{Path(script).stem}.png"
    res = _run(script, args, out)
    assert res.returncode == 0, f"{script} failed:\n{res.stdout}\n{res.stderr}"
    assert out.is_file(), f"{script} wrote no figure at {out}"
    assert out.read_bytes()[:8] == PNG_SIGNATURE and out.stat().st_size > 10_000, f"{out} is not a drawn PNG"
    assert word in res.stdout and str(out) in res.stdout, res.stdout


def test_example_takes_its_output_path_from_the_environment(tmp_path):
    out = tmp_path / "from_env.png"
    args, _ = TINY["single_simulation.py"]
    res = _run("single_simulation.py", args, None, env_out=out)
    assert res.returncode == 0, res.stderr
    assert out.is_file()

