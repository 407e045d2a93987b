"""The command line's conventions (docs/reference/cli.md): option names, old names that still work,
--json on every command that prints a table, and shell completion. Tiny runs only."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from nssisim.cli import app
from nssisim.cli.common import DEPRECATED_ALIASES
from nssisim.cli.conventions import (commands, JSON_COMMANDS, JSON_NOT_YET, NO_OUT, NO_OVERWRITE, options, page_block,
                                     render_block, RESUMES_BY_ITSELF, SEED_ELSEWHERE)

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()
COMMANDS = dict(commands(app))


def _opts(cmd, hidden: bool = False) -> set[str]:
    return {o for p in options(cmd, hidden=hidden) for o in (*p.opts, *p.secondary_opts)}


# ------------------------------------------------------------------------------ option names
def test_the_walk_finds_every_command():
    assert {"simulate", "trial", "ema validate", "ema simulate", "completion"} <= set(COMMANDS)
    assert len(COMMANDS) >= 20


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_option_names_follow_the_conventions(name):
    cmd = COMMANDS[name]
    for p in options(cmd):
        names = set(p.opts) | set(p.secondary_opts)
        assert not names & {"--output", "--outdir", "--out-dir", "--output-dir", "--dest"}, (name, p.opts)
        if "--out" in names:
            assert "-o" in names, f"{name}: --out has no -o"
        if p.name == "seed" or any("seed" in o for o in names):
            assert p.opts == ["--seed"], f"{name}: a seed option must be --seed, got {p.opts}"
        if p.name == "overwrite":
            assert p.opts == ["--overwrite"] and p.is_flag, (name, p.opts)
        if p.name == "resume":
            assert p.opts == ["--resume"] and p.is_flag, (name, p.opts)
        if p.name == "progress":
            assert p.opts == ["--progress"] and p.secondary_opts == ["--no-progress"], (name, p.opts)
        if p.name in ("subjects", "participants"):
            assert "-n" in p.opts, f"{name}: {p.opts} has no -n"
        if "-n" in names:
            assert p.name in ("subjects", "participants"), f"{name}: -n is the pool size, not {p.name}"
        if "--json" in names:
            assert p.is_flag, f"{name}: --json must be a switch"


def test_every_command_writes_to_out_unless_excepted():
    without = {n for n, c in COMMANDS.items() if "--out" not in _opts(c)}
    assert without == set(NO_OUT), "a command that writes names its output --out (or add a reason to NO_OUT)"


def test_overwrite_and_resume_go_with_out():
    for name, cmd in COMMANDS.items():
        have = _opts(cmd)
        if "--out" in have and "--overwrite" not in have:
            assert name in NO_OVERWRITE, f"{name}: --out without --overwrite"
        if "--resume" in have:
            assert "--out" in have, name
    for name in (*NO_OVERWRITE, *RESUMES_BY_ITSELF, *SEED_ELSEWHERE, *JSON_NOT_YET):
        assert name in COMMANDS, f"an exception names no command: {name}"
    for name in RESUMES_BY_ITSELF:
        assert "--resume" not in _opts(COMMANDS[name]) and "--out" in _opts(COMMANDS[name])
    for name in SEED_ELSEWHERE:
        assert "--seed" not in _opts(COMMANDS[name]), f"{name} has --seed now: drop it from SEED_ELSEWHERE"


def test_every_command_that_prints_a_table_has_json():
    with_json = {n for n, c in COMMANDS.items() if "--json" in _opts(c)}
    assert with_json == set(JSON_COMMANDS)
    assert not with_json & set(JSON_NOT_YET)


def test_hidden_options_are_the_listed_old_names():
    hidden = {(n, o) for n, c in COMMANDS.items() for p in c.params if getattr(p, "hidden", False) for o in p.opts}
    listed = {(c, old) for c, old in DEPRECATED_ALIASES if " " not in old}
    assert hidden == listed
    for (c, old), new in DEPRECATED_ALIASES.items():
        assert new in _opts(COMMANDS[c]), (c, new)


def test_the_reference_page_holds_the_generated_table():
    page = (ROOT / "docs" / "reference" / "cli.md").read_text(encoding="utf-8")
    assert page_block(page) == render_block(app), (
        "docs/reference/cli.md is out of date with the commands: run `python tools/cli_reference.py`")
    assert "`nssisim trial` | `--out/-o` | `--seed`" in render_block(app)


# ------------------------------------------------------------------------------ old names still work
def test_old_option_names_still_work(tmp_path, monkeypatch):
    def never(*a, **k):
        raise AssertionError("the work ran")

    taken = tmp_path / "taken.txt"
    taken.write_text("the user's file")
    monkeypatch.setattr("nssisim.targets.ablation", never)
    monkeypatch.setattr("nssisim.cli.population.run_cal", never)
    for argv, option in [(["ablate", "--markdown", str(taken)], "--out"),
                         (["calibrate", "--ensemble", str(taken)], "--write-ensemble"),
                         (["bench", "--json", str(taken)], "--out")]:
        res = runner.invoke(app, argv)
        assert res.exit_code == 1, (argv, res.output)
        assert "refusing to overwrite" in res.stderr and "deprecated" in res.stderr and option in res.stderr, argv
        assert taken.read_text() == "the user's file"
    # the old name's value is used: the same refusal as with the new name
    for old, new in [(["bench", "--sweep", "--population", "5"], ["bench", "--sweep", "--population-subjects", "5"]),
                     (["sensitivity", "--param", "pfc_adult", "--param", "hope", "--n", "48", "--out", str(tmp_path / "s")],
                      ["sensitivity", "--param", "pfc_adult", "--param", "hope", "--base-samples", "48", "--out",
                       str(tmp_path / "s")])]:
        a, b = runner.invoke(app, old), runner.invoke(app, new)
        assert a.exit_code == b.exit_code == 2, (a.output, b.output)
        assert a.stderr.splitlines()[-1] == b.stderr.splitlines()[-1]
    assert "exclude each other" in a.stderr or "power of two" in a.stderr
    res = runner.invoke(app, ["ablate", "--markdown", str(taken), "--out", str(tmp_path / "b.md")])
    assert res.exit_code == 2 and "--markdown is the old name of --out" in res.stderr
    res = runner.invoke(app, ["bench", "--json", "a.json", "b.json"])
    assert res.exit_code == 2 and "unexpected argument" in res.stderr


# ------------------------------------------------------------------------------ --json
def _json(argv: list[str]):
    res = runner.invoke(app, argv)
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)  # stdout holds the JSON document and nothing else


def test_params_json_is_the_parameter_table():
    from nssisim.core import PARAMS

    doc = _json(["params", "--mechanism", "M8", "--json"])
    rows = [p for p in PARAMS.values() if p.mechanism == "M8"]
    assert [r["name"] for r in doc["parameters"]] == [p.name for p in rows]
    assert [(r["default"], r["low"], r["high"]) for r in doc["parameters"]] == [(p.default, p.low, p.high) for p in rows]


def test_targets_json_equals_the_library_run():
    from nssisim.targets import run_targets

    doc = _json(["targets", "--id", "P1", "--no-progress", "--json"])
    (r,) = run_targets(["P1"])
    (t,) = doc["targets"]
    assert t["id"] == "P1" and t["holds"] == r.passed and t["statistic"] == pytest.approx(r.statistic)
    assert t["bar"] == r.bar and doc["mechanisms_off"] == []


def test_calibration_report_json_equals_the_report_rows():
    from nssisim.population import ensemble_path, load_ensemble, load_record
    from nssisim.population.calibration import report_rows

    doc = _json(["calibration-report", "--json"])
    rec = load_record("community")
    rows = report_rows(rec, load_ensemble(ensemble_path("community")) if ensemble_path("community").is_file() else None)
    assert [r["target"] for r in doc["targets"]] == [r["target"] for r in rows]
    for got, want in zip(doc["targets"], rows):
        for key in ("simulated", "ensemble_5", "ensemble_95", "I"):
            w = want[key]
            assert (got[key] is None) if not math.isfinite(w) else got[key] == pytest.approx(w), (want["target"], key)
    assert doc["population"] == rec["population"]
    assert runner.invoke(app, ["calibration-report", "--json", "--markdown"]).exit_code == 2


def test_ema_validate_json_equals_the_summary(tmp_path):
    from nssisim.ema import read_ema
    from nssisim.files import resource  # noqa: F401

    path = resource("data", "ema_example.csv")
    doc = _json(["ema", "validate", str(path), "--json"])
    s = read_ema(path).summary()
    for key in ("participants", "rows", "signal_prompts", "event_reports", "acts_reported_at_prompts"):
        assert doc[key] == s[key], key
    assert doc["answered_share"] == pytest.approx(s["answered_share"]) and doc["dropped"] == []


def test_bench_json_is_the_raw_result_and_out_writes_it(tmp_path):
    out = tmp_path / "bench.json"
    argv = ["bench", "--subjects", "8", "--years", "0.01", "--python-steps", "50", "--no-compiled", "--repeats", "1",
            "--out", str(out), "--json"]
    doc = _json(argv)
    assert doc["n_subjects"] == 8 and doc["n_steps"] == 96 and doc["person_steps"] == 8 * 96
    assert doc["compiled_s"] is None  # not measured: null, not NaN
    on_disk = json.loads(out.read_text())
    assert on_disk["n_subjects"] == 8 and on_disk["jax_s"] == pytest.approx(doc["jax_s"])
    res = runner.invoke(app, argv)
    assert res.exit_code == 1 and "--overwrite" in res.stderr  # never overwritten silently


def test_trial_json_equals_the_written_summary(tmp_path):
    from test_trial import TINY_TOML

    design = tmp_path / "tiny.toml"
    design.write_text(TINY_TOML)
    out = tmp_path / "out"
    doc = _json(["trial", "--design", str(design), "--out", str(out), "--replicates", "2", "--json"])
    written = pd.read_csv(out / "summary.csv")
    assert len(doc["effects"]) == len(written) > 0
    for got, (_, want) in zip(doc["effects"], written.iterrows()):
        assert got["contrast"] == want["contrast"] and got["outcome"] == want["outcome"]
        assert (got["estimate"] is None) if pd.isna(want["estimate"]) else got["estimate"] == pytest.approx(want["estimate"])
    assert doc["replicates"] == 2 and doc["arms"] == ["dbt_a", "placebo"] and doc["seed"] == 5
    # --seed replaces the design's seed
    other = _json(["trial", "--design", str(design), "--out", str(tmp_path / "o2"), "--replicates", "2", "--seed", "6",
                   "--json"])
    assert other["seed"] == 6 and [e["estimate"] for e in other["effects"]] != [e["estimate"] for e in doc["effects"]]


def test_calibrate_referral_json_equals_the_grid(tmp_path):
    path = tmp_path / "setup.toml"
    path.write_text("\n".join(['rule = "outpatient"', 'population = "clinical"', "[screen]", "subjects = 64", "seed = 2",
                               "[fit]", 'clinical_more_than_weekly = "more_than_weekly"', "[grid]",
                               "suicide_attempt = [0.1, 0.6]"]) + "\n")
    out = tmp_path / "grid.csv"
    doc = _json(["calibrate-referral", "--setup", str(path), "--out", str(out), "--no-progress", "--json"])
    grid = pd.read_csv(out)
    assert len(doc["grid"]) == len(grid) == 2 and doc["screened"] == 64 and doc["seed"] == 2
    assert doc["I_max"] == pytest.approx(grid["I_max"].min())
    assert doc["best"]["suicide_attempt"] == pytest.approx(grid.loc[grid["I_max"].idxmin(), "p_suicide_attempt"])


def test_calibrate_treatment_json_carries_the_result(monkeypatch):
    import numpy as np

    table = pd.DataFrame({"strength": [0.0, 1.0], "I_max": [3.0, 1.5], "dbt_effect": [np.nan, 0.4]})
    result = {"strength": 1.0, "I_max": 1.5, "table": table, "info": {"calibrate_dbt": {"screened": 10}}}
    monkeypatch.setattr("nssisim.trials.calibration.calibrate_treatment", lambda grid, **kw: result)
    monkeypatch.setattr("nssisim.trials.calibration.format_treatment", lambda res: "grid")
    doc = _json(["calibrate-treatment", "--strengths", "0,1", "--json"])
    assert doc["strength"] == 1.0 and doc["I_max"] == 1.5 and doc["info"] == {"calibrate_dbt": {"screened": 10}}
    assert doc["grid"][0]["dbt_effect"] is None and doc["grid"][1]["dbt_effect"] == 0.4  # NaN -> null


def test_population_json_equals_the_written_prevalence(tmp_path):
    out = tmp_path / "pop"
    doc = _json(["population", "--out", str(out), "-n", "6", "--start-age", "12", "--end-age", "13", "--no-progress",
                 "--json"])
    prev = pd.read_csv(out / "prevalence_by_age.csv")
    assert len(doc["prevalence_by_age"]) == len(prev) and doc["subjects"] == 6
    assert list(doc["prevalence_by_age"][0]) == list(prev.columns)


# ------------------------------------------------------------------------------ shell completion
@pytest.mark.parametrize("shell", ["bash", "zsh", "fish", "powershell"])
def test_completion_prints_a_script(shell):
    res = runner.invoke(app, ["completion", shell])
    assert res.exit_code == 0 and "nssisim" in res.stdout and "_NSSISIM_COMPLETE" in res.stdout
    assert runner.invoke(app, ["completion", "tcsh"]).exit_code == 2


def test_completion_completes_commands_and_options():
    def complete(words: str) -> list[str]:
        env = {"_NSSISIM_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(len(words.split()) - 1)}
        res = runner.invoke(app, [], env=env, prog_name="nssisim")
        assert res.exit_code == 0, res.output
        return res.stdout.split()

    assert complete("nssisim tri") == ["trial"]
    assert "calibrate-treatment" in complete("nssisim calibrate")
    assert "--overwrite" in complete("nssisim trial --over")
    assert complete("nssisim ema val") == ["validate"]


def test_sensitivity_json_equals_the_written_indices(tmp_path):
    out = tmp_path / "sens"
    doc = _json(["sensitivity", "--method", "morris", "--param", "limbic_reactivity", "--param", "hope",
                 "--base-samples", "2", "--subjects-per-run", "8", "--days", "30", "--out", str(out), "--no-progress",
                 "--json"])
    written = pd.read_csv(out / "indices.csv")
    assert doc["complete"] and doc["parameters"] == ["limbic_reactivity", "hope"] and doc["runs"] == 2 * 3
    assert len(doc["indices"]) == len(written) > 0 and list(doc["indices"][0]) == list(written.columns)
    num = [c for c in written.columns if pd.api.types.is_float_dtype(written[c])]
    for got, (_, want) in zip(doc["indices"], written.iterrows()):
        for c in num:
            assert (got[c] is None) if pd.isna(want[c]) else got[c] == pytest.approx(want[c]), c


def test_recover_json_carries_the_scores(tmp_path, monkeypatch):
    result = {"fit_seconds": 1.5, "diagnostic_warnings": ["r-hat 1.2"], "forecast": {"brier": 0.1, "brier_base_rate": 0.2, "n": 9},
              "recovery": [{"parameter": "a", "truth": "b", "kind": "trait", "correlation": float("nan"),
                            "coverage50": 0.5, "coverage90": 0.9, "goal_met": False}]}
    monkeypatch.setattr("nssisim.ema.recover", lambda out, **kw: result)
    res = runner.invoke(app, ["recover", "--out", str(tmp_path / "r"), "-n", "3", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["participants"] == 3 and doc["forecast"] == result["forecast"] and doc["fit_seconds"] == 1.5
    assert doc["recovery"][0]["correlation"] is None and doc["recovery"][0]["coverage90"] == 0.9
    assert "warning: r-hat 1.2" in res.stderr


def test_ablate_json_equals_the_library_table(tmp_path):
    from nssisim.targets import ablation

    out = tmp_path / "ablation.md"
    doc = _json(["ablate", "--id", "P1", "--mechanism", "M7", "--no-progress", "--out", str(out), "--json"])
    df = ablation(["P1"], mechanisms=("M7",))
    assert doc["columns"] == list(df.columns) == ["full", "M7"]
    assert doc["holds"]["P1"] == {c: bool(df.loc["P1", c]) for c in df.columns}
    assert out.read_text().startswith("# Ablation")


def test_targets_ensemble_json_equals_the_written_per_set_table(tmp_path):
    from nssisim.core import PARAMS
    from nssisim.population.ensemble import ensemble_toml

    ens = tmp_path / "ens.toml"
    ens.write_text(ensemble_toml({"population": "community", "date": "2026-12-01", "method": {"cutoff": 3.0}, "ensemble": [
        {"wave": 1, "index": i, "seed": 0, "I_max": 1.0, "parameters": {"act_bias": PARAMS["act_bias"].default + d},
         "simulated": {"x": 0.0}} for i, d in enumerate((0.0, 0.1))]}))
    out = tmp_path / "per_set.csv"
    doc = _json(["targets", "--id", "P1", "--ensemble", str(ens), "--ensemble-sets", "1", "--no-progress",
                 "--out", str(out), "--json"])
    per_set = pd.read_csv(out)
    assert doc["sets_run"] == 1 == per_set["set"].nunique() and doc["sets"] >= 1
    assert len(doc["per_set"]) == len(per_set) and doc["summary"][0]["target"] == "P1"
    assert doc["summary"][0]["holds_share"] == pytest.approx(float(per_set["passed"].mean()))
