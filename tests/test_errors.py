"""Bad input and write failures (issue 10): clear one-line errors before any work, never a traceback
after it; nothing overwritten without --overwrite; spreadsheet-safe CSV; size checks before
allocating; Ctrl-C says what was saved. Runs are tiny; the expensive work is replaced by a function
that fails the test if it is called, so "nothing computed before the refusal" is checked directly."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from nssisim import files
from nssisim.cli import app
from nssisim.files import (check_writable, OutputError, OutputExistsError, resource, safe_cell, spreadsheet_safe,
                           write_csv)

runner = CliRunner()
SRC = Path(__file__).resolve().parents[1] / "src" / "nssisim"

TINY = """\
preset = "vulnerable"
[run]
seed = 11
horizon_days = 2
dt_hours = 1.0
record_every = 24
n_subjects = {n}
"""


def _scenario(tmp_path, n=3, extra="") -> Path:
    p = tmp_path / "tiny.toml"
    p.write_text(TINY.format(n=n) + extra)
    return p


def _never(*args, **kwargs):
    raise AssertionError("the work started before the output location was checked")


def _clean(res, code: int) -> str:
    """The output of a refused command: the exit code, no traceback, a short message."""
    assert res.exit_code == code, res.output
    assert "Traceback" not in res.output
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert 1 <= len(lines) <= 2, res.output
    return res.output


# ----------------------------------------------------------------------------- files.check_writable
def test_check_writable_accepts_new_and_refuses_existing_files(tmp_path):
    target = tmp_path / "a" / "b" / "run.nc"
    assert check_writable(target) == target
    assert not (tmp_path / "a").exists()  # nothing is created by the check
    assert list(tmp_path.iterdir()) == []  # and its probe file is gone
    target.parent.mkdir(parents=True)
    target.write_text("keep")
    with pytest.raises(OutputExistsError, match=r"refusing to overwrite .*run.nc: pass --overwrite"):
        check_writable(target)
    check_writable(target, overwrite=True)
    assert target.read_text() == "keep"


def test_check_writable_names_what_is_wrong(tmp_path):
    with pytest.raises(OutputError, match=r"--out .*: is a folder, expected a file name"):
        check_writable(tmp_path, overwrite=True)
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    with pytest.raises(OutputError, match=r"cannot create it, .*blocker is a file, not a folder"):
        check_writable(blocker / "sub" / "run.nc")
    with pytest.raises(OutputError, match=r"--out .*blocker: is a file, expected a folder"):
        check_writable(blocker, kind="dir")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "summary.csv").write_text("x")
    with pytest.raises(OutputExistsError, match="summary.csv"):
        check_writable(tmp_path / "d", kind="dir", names=("summary.csv",))
    check_writable(tmp_path / "d", kind="dir", names=("summary.csv",), overwrite=True)
    (tmp_path / "d" / "posterior.nc").mkdir()
    with pytest.raises(OutputError, match="posterior.nc is a folder"):
        check_writable(tmp_path / "d", kind="dir", names=("posterior.nc",), overwrite=True)


def _deny(monkeypatch):
    """Make every write probe fail as on a read-only folder (root ignores permission bits, so the
    tests simulate the refusal at the probe instead of chmod)."""
    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(files.tempfile, "mkstemp", denied)


def test_check_writable_read_only_folder(tmp_path, monkeypatch):
    _deny(monkeypatch)
    with pytest.raises(OutputError, match=r"cannot write there .*Permission denied"):
        check_writable(tmp_path / "run.nc")


@pytest.mark.skipif(not hasattr(__import__("os"), "geteuid") or __import__("os").geteuid() == 0,
                    reason="root writes into read-only folders")
def test_check_writable_real_read_only_folder(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(OutputError, match="not writable"):
            check_writable(ro / "run.nc")
    finally:
        ro.chmod(0o755)


# ----------------------------------------------------------------------------- every writing command
def _commands(tmp_path, out_file, out_dir):
    """(argv, what to patch) for each command that writes: the patched function does the work."""
    scen = _scenario(tmp_path)
    ema = resource("data", "ema_example.csv")
    trial = resource("configs", "trials", "demo.toml")
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("limbic_reactivity\n0.5\n")
    return [
        (["simulate", "--config", str(scen), "--out", str(out_file)], "nssisim.core.simulate_cohort"),
        (["simulate", "--config", str(scen), "--out", str(tmp_path / "ok.nc"), "--events", str(out_file)],
         "nssisim.core.simulate_cohort"),
        (["docs", "--out", str(out_file)], "nssisim.modeldoc.render_model_md"),
        (["ablate", "--id", "P1", "--out", str(out_file)], "nssisim.targets.ablation"),
        (["ema", "simulate", "--out", str(out_file.with_suffix(".csv"))], "nssisim.ema.simulate_study"),
        (["fit", str(ema), "--out", str(out_dir)], "nssisim.ema.fit"),
        (["recover", "--out", str(out_dir)], "nssisim.ema.recover"),
        (["population", "--out", str(out_dir), "--subjects", "4"], "nssisim.cli.population.run_population"),
        (["calibrate", "--record", str(out_file)], "nssisim.cli.population.run_cal"),
        (["trial", "--design", str(trial), "--out", str(out_dir)], "nssisim.trials.run_trial"),
        (["sweep", "--manifest", str(manifest), "--out", str(out_dir)], "nssisim.sweeps.run_sweep"),
        (["sensitivity", "--out", str(out_dir), "--param", "limbic_reactivity", "--param", "hope", "--base-samples", "2"],
         "nssisim.sweeps.run_sweep"),
        (["demo", "--out", str(out_dir)], "nssisim.cli.demo.run_demo"),
    ]


@pytest.mark.parametrize("failure", ["parent is a file", "read-only"])
def test_unwritable_output_is_refused_before_any_work(tmp_path, monkeypatch, failure):
    if failure == "parent is a file":
        blocker = tmp_path / "blocker"
        blocker.write_text("x")
        out_file, out_dir = blocker / "sub" / "out.nc", blocker / "sub"
    else:
        out_file, out_dir = tmp_path / "new" / "out.nc", tmp_path / "new"
    cases = _commands(tmp_path, out_file, out_dir)
    if failure == "read-only":
        _deny(monkeypatch)
    assert {c[0][0] for c in cases} >= {"simulate", "docs", "ablate", "ema", "fit", "recover", "population",
                                        "calibrate", "trial", "sweep", "sensitivity", "demo"}
    for argv, target in cases:
        monkeypatch.setattr(target, _never)
        res = runner.invoke(app, argv)
        out = _clean(res, 2)
        assert ("is a file, not a folder" if failure == "parent is a file" else "Permission denied") in out, argv
        assert "AssertionError" not in out


def test_simulate_out_is_a_directory_even_with_overwrite(tmp_path, monkeypatch):
    monkeypatch.setattr("nssisim.core.simulate_cohort", _never)
    d = tmp_path / "adir"
    d.mkdir()
    res = runner.invoke(app, ["simulate", "--config", str(_scenario(tmp_path)), "--out", str(d), "--overwrite"])
    assert "is a folder, expected a file name" in _clean(res, 2)


def test_fit_out_is_an_existing_file(tmp_path, monkeypatch):
    monkeypatch.setattr("nssisim.ema.fit", _never)
    f = tmp_path / "taken"
    f.write_text("keep")
    res = runner.invoke(app, ["fit", str(resource("data", "ema_example.csv")), "--out", str(f)])
    assert "is a file, expected a folder" in _clean(res, 2)
    assert f.read_text() == "keep"


def test_single_file_outputs_are_never_overwritten_without_overwrite(tmp_path, monkeypatch):
    taken = tmp_path / "taken.csv"
    for argv, target in [
        (["simulate", "--config", str(_scenario(tmp_path)), "--out", str(taken)], "nssisim.core.simulate_cohort"),
        (["simulate", "--config", str(_scenario(tmp_path)), "--out", str(tmp_path / "new.nc"), "--events", str(taken)],
         "nssisim.core.simulate_cohort"),
        (["docs", "--out", str(taken)], "nssisim.modeldoc.render_model_md"),
        (["ablate", "--out", str(taken)], "nssisim.targets.ablation"),
        (["ema", "simulate", "--out", str(taken)], "nssisim.ema.simulate_study"),
        (["calibrate", "--history", str(taken)], "nssisim.cli.population.run_cal"),
    ]:
        taken.write_text("the user's file")
        monkeypatch.setattr(target, _never)
        res = runner.invoke(app, argv)
        assert "refusing to overwrite" in _clean(res, 1) and "--overwrite" in res.output, argv
        assert taken.read_text() == "the user's file"
        assert not (tmp_path / "new.nc").exists()


def test_docs_replaces_its_own_rendering_and_nothing_else(tmp_path):
    from nssisim.modeldoc import GENERATED_MARK, render_model_md

    text = render_model_md()
    assert GENERATED_MARK in text[:2000]
    own = tmp_path / "model.md"
    own.write_text("# old\n\n" + GENERATED_MARK + " stale text\n")
    res = runner.invoke(app, ["docs", "--out", str(own)])
    assert res.exit_code == 0, res.output
    assert own.read_text(encoding="utf-8") == text
    other = tmp_path / "notes.md"
    other.write_text("my notes")
    assert runner.invoke(app, ["docs", "--out", str(other)]).exit_code == 1
    assert other.read_text() == "my notes"
    res = runner.invoke(app, ["docs", "--out", str(other), "--overwrite"])
    assert res.exit_code == 0 and other.read_text(encoding="utf-8") == text


# ----------------------------------------------------------------------------- CSV formula injection
@pytest.mark.parametrize("cell", ["=cmd|' /C calc'!A0", "+1", "-2+3", "@SUM(A1)", "\tx", "\rx"])
def test_formula_cells_are_neutralised(cell):
    assert safe_cell(cell) == "'" + cell
    df = pd.DataFrame({"participant": [cell, "p002"], "x": [-1.5, 2.0]}, index=pd.Index([cell, "b"], name=cell))
    safe = spreadsheet_safe(df)
    assert safe["participant"].tolist() == ["'" + cell, "p002"]
    assert safe.index[0] == "'" + cell and safe["x"].tolist() == [-1.5, 2.0]  # numbers stay numbers
    assert list(df["participant"]) == [cell, "p002"]  # the input is not changed


def test_write_csv_output_has_no_formula_cell(tmp_path):
    df = pd.DataFrame({"participant": ["=HYPERLINK(\"x\")", "ok"], "n": [1, -2]})
    p = write_csv(df, tmp_path / "t.csv", index=False)
    back = pd.read_csv(p, dtype=str)
    assert back["participant"].tolist() == ["'=HYPERLINK(\"x\")", "ok"] and back["n"].tolist() == ["1", "-2"]


def test_every_csv_writer_goes_through_write_csv():
    offenders = []
    for path in SRC.rglob("*.py"):
        if path.name == "files.py":
            continue
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(r"\.to_csv\(", line) and not line.lstrip().startswith("#"):
                offenders.append(f"{path.relative_to(SRC)}:{i}")
    assert offenders == [], f"CSV written without files.write_csv: {offenders}"


def test_ema_csv_with_a_formula_participant(tmp_path):
    from nssisim.ema import read_ema, write_ema

    df = pd.read_csv(resource("data", "ema_example.csv"), dtype=str, keep_default_na=False)
    df["participant"] = df["participant"].map({"p001": "=cmd|' /C calc'!A0", "p002": "p002"})
    p = write_ema(df, tmp_path / "e.csv")
    assert "\n=cmd" not in p.read_text() and "'=cmd" in p.read_text()
    assert "'=cmd|' /C calc'!A0" in read_ema(p).participants


def test_ppc_uses_neutral_indices_and_skips_affect_without_acts(tmp_path):
    from nssisim.ema import plot_ppc

    rng = np.random.default_rng(0)
    checks = {"participants": ["=evil", "p002", "p003"], "act_rate_observed": np.array([0.3, 0.0, 0.1]),
              "act_rate_replicated": rng.uniform(0, 0.4, (20, 3)), "offsets": np.arange(-2, 3),
              "affect_observed": np.full(5, np.nan), "affect_replicated": np.full((20, 5), np.nan),
              "n_act_prompts": 0}
    stale = tmp_path / "ppc_affect_around_acts.png"
    stale.write_bytes(b"old")
    paths = plot_ppc(checks, tmp_path)
    assert {p.name for p in paths} == {"ppc_act_rate.png", "ppc_act_rate.csv"} and not stale.exists()
    table = pd.read_csv(tmp_path / "ppc_act_rate.csv")
    assert table["index"].tolist() == [1, 2, 3]
    assert sorted(table["participant"]) == sorted(["'=evil", "p002", "p003"])
    order = np.argsort(checks["act_rate_replicated"].mean(axis=0), kind="stable")
    assert table["act_rate_observed"].tolist() == pytest.approx(checks["act_rate_observed"][order])
    checks["n_act_prompts"] = 4
    checks["affect_observed"] = np.linspace(0.2, 0.4, 5)
    assert "ppc_affect_around_acts.png" in {p.name for p in plot_ppc(checks, tmp_path)}


def test_ppc_axis_labels_are_indices_and_lags_whole(monkeypatch, tmp_path):
    """The figures' tick labels, read back from the axes before they are saved."""
    from nssisim.ema import checks as C

    seen = []
    real_save = C.save

    def spy(fig, path):
        ax = fig.axes[0]
        seen.append((Path(path).name, [t.get_text() for t in ax.get_xticklabels()], list(ax.get_xticks())))
        return real_save(fig, path)

    monkeypatch.setattr(C, "save", spy)
    rng = np.random.default_rng(1)
    checks = {"participants": ["alice@example", "p2"], "act_rate_observed": np.array([0.1, 0.2]),
              "act_rate_replicated": rng.uniform(0, 0.4, (10, 2)), "offsets": np.arange(-2, 3),
              "affect_observed": np.linspace(0.2, 0.4, 5), "affect_replicated": rng.uniform(0, 1, (10, 5)),
              "n_act_prompts": 3}
    C.plot_ppc(checks, tmp_path)
    (n1, labels1, _), (n2, labels2, ticks2) = seen
    assert n1 == "ppc_act_rate.png" and labels1 == ["1", "2"]
    assert n2 == "ppc_affect_around_acts.png" and ticks2 == [-2, -1, 0, 1, 2] and labels2 == ["-2", "-1", "0", "+1", "+2"]


def test_posterior_source_is_the_file_name_unless_asked(tmp_path):
    from nssisim.ema import posterior_dataset, prepare, read_ema
    from nssisim.ema.inference import Fit, INFERENCE_PARAMS, _population_sites

    data = prepare(read_ema(resource("data", "ema_example.csv")))
    n = len(data.participants)
    d = {s.name: np.full((2, 5, n), s.prior_center) + 1e-3 * np.arange(5)[None, :, None] for s in INFERENCE_PARAMS}
    for k in _population_sites():
        d[k] = np.full((2, 5), 0.1) + 1e-3 * np.arange(5)[None]
    d["act_affect"] = np.zeros((2, 5))
    d["affect_noise"] = np.zeros((2, 5, *data.y.shape))
    f = Fit(data=data, draws=d, diverging=np.zeros((2, 5), bool), settings={}, seconds=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = posterior_dataset(f)
        full = posterior_dataset(f, full_path=True)
    assert ds.attrs["source"] == "ema_example.csv"
    assert full.attrs["source"] == data.source and "/" in full.attrs["source"]


# ----------------------------------------------------------------------------- EMA edge inputs
HEADER = "participant,timestamp,prompt_type,answered,negative_affect,urge,act\n"


@pytest.mark.parametrize("name, content, message", [
    ("header.csv", HEADER.encode(), "no data rows: the file has a header only"),
    ("empty.csv", b"", "the file is empty: expected a header row"),
    ("latin1.csv", (HEADER + "p\xe9001,2026-03-02T09:30:00+01:00,signal,true,40,10,0\n").encode("latin-1"),
     "not UTF-8 text (byte 0xe9"),
    ("ragged.txt", (HEADER + "p001,2026-03-02T09:30:00+01:00,signal,true,40,10,0\n"
                    "p001,2026-03-02T12:30:00+01:00,signal,true,40,10,0,1,2,3\n").encode(),
     "cannot be read as CSV (a .txt file is read as CSV)"),
])
def test_ema_edge_files_get_clear_messages(tmp_path, monkeypatch, name, content, message):
    from nssisim.ema import read_ema

    p = tmp_path / name
    p.write_bytes(content)
    with pytest.raises(ValueError, match=re.escape(message)) as err:
        read_ema(p)
    assert str(p) in str(err.value)
    monkeypatch.setattr("nssisim.ema.fit", _never)
    for argv in (["ema", "validate", str(p)], ["fit", str(p), "--out", str(tmp_path / "o")]):
        out = _clean(runner.invoke(app, argv), 2)
        assert message in out and name in out
    assert not (tmp_path / "o").exists()


def test_txt_file_in_the_format_is_read_as_csv(tmp_path):
    from nssisim.ema import read_ema

    p = tmp_path / "study.txt"
    p.write_bytes(resource("data", "ema_example.csv").read_bytes())
    assert read_ema(p).summary() == read_ema(resource("data", "ema_example.csv")).summary()


def test_validate_with_every_row_skipped(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_text(HEADER + "p001,2026-03-02T09:30:00+01:00,signal,true,400,10,0\n")
    out = _clean(runner.invoke(app, ["ema", "validate", str(p), "--skip-bad-rows"]), 2)
    assert "no valid rows left" in out and "row 2" in out and "nan%" not in out


# ----------------------------------------------------------------------------- coarse steps
def test_coarse_dt_warns_with_the_reason(tmp_path):
    from nssisim.core.scenario import CoarseStepWarning, validate_config

    with pytest.warns(CoarseStepWarning, match=r"run.dt_hours = 24 h is coarser than 1 h.*not validated"):
        validate_config({"run": {"dt_hours": 24.0, "horizon_days": 2, "record_every": 1}}, source="x.toml")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        validate_config({"run": {"dt_hours": 1.0, "horizon_days": 2}})  # no warning within the validated range


def test_cli_prints_the_coarse_dt_warning_and_goes_on(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr("nssisim.core.simulate_cohort", lambda **kw: calls.append(kw) or (_ for _ in ()).throw(
        KeyboardInterrupt()))
    cfg = tmp_path / "coarse.toml"
    cfg.write_text(TINY.format(n=1).replace("dt_hours = 1.0", "dt_hours = 24.0").replace("record_every = 24",
                                                                                         "record_every = 1"))
    res = runner.invoke(app, ["simulate", "--config", str(cfg), "--out", str(tmp_path / "o.nc")])
    assert "warning:" in res.output and "dt_hours = 24 h is coarser" in res.output
    assert calls and calls[0]["dt"] == 24.0  # it went on to the run (stopped here by the fake Ctrl-C)


# ----------------------------------------------------------------------------- size before allocating
def test_size_estimate_matches_the_records_of_a_run():
    from nssisim.core import estimate_run, simulate_cohort

    ds = simulate_cohort(3, n_subjects=10, horizon_hours=30 * 24.0, dt=1.0, record_every=24, event_capacity=512)
    est = estimate_run(10, horizon_hours=30 * 24.0, dt=1.0, record_every=24, event_capacity=512)
    records = sum(v.nbytes for v in ds.data_vars.values() if v.dims == ("subject", "time"))
    assert est["records_bytes"] == records
    assert est["bytes"] >= ds.nbytes and est["person_steps"] == 10 * 30 * 24
    # the record layout and the event table the caller asked for are what the estimate counts
    for records, events in (("counts", False), (("affect", "urge_intensity"), True)):
        ds = simulate_cohort(3, n_subjects=10, horizon_hours=30 * 24.0, dt=1.0, record_every=24, event_capacity=512,
                             records=records, events=events)
        est = estimate_run(10, horizon_hours=30 * 24.0, dt=1.0, record_every=24, event_capacity=512, records=records,
                           events=events)
        assert est["records_bytes"] == sum(v.nbytes for v in ds.data_vars.values() if v.dims == ("subject", "time"))
        assert (est["events_bytes"] > 0) == events and est["bytes"] >= ds.nbytes


def test_a_counts_only_run_is_not_refused_for_the_states_it_does_not_keep():
    from nssisim.core import check_run_size, RunTooLargeError

    kw = dict(horizon_hours=24.0 * 365 * 10, dt=1.0, record_every=24, event_capacity=512, warn=False)
    full = check_run_size(1000, **kw)["bytes"]
    lean = check_run_size(1000, **kw, records="counts", events=False)["bytes"]
    with pytest.raises(RunTooLargeError):
        check_run_size(1000, **kw, available=int((full + lean) / 2))
    assert check_run_size(1000, **kw, records="counts", events=False, available=int((full + lean) / 2))["bytes"] == lean
    with pytest.raises(ValueError, match="records must be one of"):
        check_run_size(10, **kw, records="everything")


def test_simulate_cohort_refuses_what_cannot_fit_before_allocating():
    from nssisim.core import RunTooLargeError, simulate_cohort

    with pytest.raises(RunTooLargeError, match=r"n_subjects = 100,000,000,000: the results need about .* more than"):
        simulate_cohort(0, n_subjects=10**11, horizon_hours=365 * 24.0)


def test_check_run_size_refuses_and_warns():
    from nssisim.core import check_run_size, LongRunWarning, RunTooLargeError

    kw = dict(horizon_hours=24.0 * 365, dt=1.0, record_every=24, event_capacity=512)
    with pytest.raises(RunTooLargeError, match=r"run.n_subjects = 1,000: .* more than the 1.0 MiB available"):
        check_run_size(1000, field="run.n_subjects", available=2**20, **kw)
    with pytest.warns(LongRunWarning, match=r"about .* h at 10 M person-steps/s"):
        check_run_size(10**7, available=2**60, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_run_size(10, available=2**60, **kw)


def test_cli_refuses_huge_runs_before_any_work(tmp_path, monkeypatch):
    monkeypatch.setattr("nssisim.core.simulate_cohort", _never)
    monkeypatch.setattr("nssisim.core.scenario.resolve_params", _never)
    res = runner.invoke(app, ["simulate", "--config", str(_scenario(tmp_path, n=100_000_000_000)),
                              "--out", str(tmp_path / "o.nc")])
    out = _clean(res, 2)
    assert "tiny.toml: run.n_subjects = 100,000,000,000" in out and "available" in out
    monkeypatch.setattr("nssisim.cli.population.run_population", _never)
    res = runner.invoke(app, ["population", "--out", str(tmp_path / "p"), "--subjects", "100000000000"])
    out = _clean(res, 2)
    assert "--subjects = 100,000,000,000" in out and "measurement table" in out
    monkeypatch.setattr("nssisim.trials.run_trial", _never)
    design = tmp_path / "big.toml"
    design.write_text(resource("configs", "trials", "demo.toml").read_text().replace("n_patients = 64",
                                                                                     "n_patients = 100000000000"))
    out = _clean(runner.invoke(app, ["trial", "--design", str(design), "--out", str(tmp_path / "t")]), 2)
    assert "big.toml: n_patients x replicates" in out and "max_screen" in out
    assert not (tmp_path / "p").exists() and not (tmp_path / "t").exists()
    out = _clean(runner.invoke(app, ["ema", "simulate", "--out", str(tmp_path / "e.csv"), "--participants",
                                     "100000000000"]), 2)
    assert "--participants" in out and "available" in out and not (tmp_path / "e.csv").exists()


# ----------------------------------------------------------------------------- Ctrl-C
def _interrupt(*args, **kwargs):
    raise KeyboardInterrupt


@pytest.mark.parametrize("argv, target, said", [
    (["simulate", "--config", "{scen}", "--out", "{tmp}/o.nc"], "nssisim.core.simulate_cohort", "nothing was written"),
    (["population", "--out", "{tmp}/p", "--subjects", "4"], "nssisim.cli.population.run_population",
     "finished chunks are kept in {tmp}/p/chunks/; run the same command with --resume"),
    (["sweep", "--manifest", "{manifest}", "--out", "{tmp}/s"], "nssisim.sweeps.run_sweep",
     "finished shards are kept in {tmp}/s/; run the same command with --resume"),
    (["trial", "--design", "{trial}", "--out", "{tmp}/t"], "nssisim.trials.run_trial",
     "finished groups of replicates are kept in {tmp}/t/.trial_partial/"),
    (["ema", "simulate", "--out", "{tmp}/e.csv"], "nssisim.ema.simulate_study", "nothing was written"),
])
def test_ctrl_c_says_what_was_saved(tmp_path, monkeypatch, argv, target, said):
    manifest = tmp_path / "m.csv"
    manifest.write_text("limbic_reactivity\n0.5\n")
    fill = dict(scen=_scenario(tmp_path), tmp=tmp_path, manifest=manifest,
                trial=resource("configs", "trials", "demo.toml"))
    monkeypatch.setattr(target, _interrupt)
    res = runner.invoke(app, [a.format(**fill) for a in argv])
    out = _clean(res, 130)
    assert out.splitlines()[-1].startswith("interrupted: ") and said.format(**fill) in out


# ----------------------------------------------------------------------------- population resume
def test_population_resume_corrupt_chunk_and_complete_throughput(tmp_path):
    from nssisim.population import TABLE_BYTES_PER_SUBJECT

    out = tmp_path / "pop"
    args = ["population", "--out", str(out), "--subjects", "40", "--start-age", "12", "--end-age", "14", "--chunk", "32",
            "--no-progress"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    table = pd.read_parquet(out / "measurements.parquet")
    assert table.memory_usage(deep=True).sum() / len(table) <= TABLE_BYTES_PER_SUBJECT
    res = runner.invoke(app, [*args, "--resume"])
    assert res.exit_code == 0, res.output
    assert "all 2 chunk(s) were already complete, nothing simulated" in res.output
    assert "subject-years/s" not in res.output
    chunk = out / "chunks" / "chunk_00001.parquet"
    chunk.write_bytes(b"not parquet")
    out_text = _clean(runner.invoke(app, [*args, "--resume"]), 2)
    assert str(chunk) in out_text and "delete it" in out_text and "--overwrite" in out_text


def test_population_timing_counts_only_what_was_simulated():
    from nssisim.cli.population import population_timing

    line = population_timing(40, 32, 730.5, {0}, 2.0)
    assert "8 simulated at 8 subject-years/s" in line and "32 subjects in 1 chunk(s) resumed" in line
    assert "nothing simulated" in population_timing(40, 32, 730.5, {0, 1}, 0.5)


# ----------------------------------------------------------------------------- help at 80 columns
def _all_commands():
    import typer

    root = typer.main.get_command(app)
    out = []

    def walk(cmd, path):
        if hasattr(cmd, "commands"):  # a group (typer may bundle its own click)
            for name, sub in cmd.commands.items():
                walk(sub, [*path, name])
        else:
            out.append((path, cmd))

    walk(root, [])
    return out


def test_help_shows_whole_option_names_at_80_columns():
    cmds = _all_commands()
    assert len(cmds) >= 17
    for path, cmd in cmds:
        res = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "80"}, terminal_width=80)
        assert res.exit_code == 0, (path, res.output)
        assert "…" not in res.output, path
        assert max(len(line) for line in res.output.splitlines()) <= 80, path
        for p in cmd.params:
            if getattr(p, "hidden", False):  # an old name kept working (docs/reference/cli.md), not shown
                assert not re.search(rf"(?<![\w-]){re.escape(p.opts[0])}(?![\w-])", res.output), (path, p.opts)
                continue
            for opt in [*p.opts, *getattr(p, "secondary_opts", [])]:
                if opt.startswith("-"):
                    assert re.search(rf"(?<![\w-]){re.escape(opt)}(?![\w-])", res.output), (path, opt)


# ----------------------------------------------------------------------------- figures
def _spy_figures(monkeypatch, module):
    """Record each figure a module saves (the figure object, before it is closed)."""
    seen = []
    real = module.save

    def spy(fig, path):
        fig.canvas.draw()
        seen.append((Path(path).name, fig))
        return real(fig, path)

    monkeypatch.setattr(module, "save", spy)
    return seen


def test_trial_figures_read_well(tmp_path, monkeypatch):
    from matplotlib.patches import StepPatch

    from nssisim.trials import parse_design, run_trial
    from nssisim.trials import plots as P
    from test_trial import TINY

    ds = run_trial(parse_design(dict(TINY), "tiny.toml"), 1)
    seen = _spy_figures(monkeypatch, P)
    P.plot_forest(ds, tmp_path / "forest.png")
    P.plot_trajectories(ds, tmp_path / "trajectories.png")
    (_, forest), (_, traj) = seen
    labels = [t.get_text() for ax in forest.axes for t in ax.get_yticklabels() if t.get_text()]
    assert labels and all("_" not in lab for lab in labels), labels
    assert any("free of NSSI (treatment window)" in lab for lab in labels)
    ax = traj.axes[0]
    lines = [p for p in ax.patches if isinstance(p, StepPatch) and not p.get_fill()]
    bands = [p for p in ax.patches if isinstance(p, StepPatch) and p.get_fill()]
    assert lines and all(p.get_data().baseline is None for p in lines)  # no drop to 0 at the ends
    span = [p for p in ax.patches if p.get_label() == "treatment"]
    assert span and span[0].get_zorder() < min(p.get_zorder() for p in lines + bands)
    assert "95% interval of the mean" in [t.get_text() for t in ax.get_legend().get_texts()]
    assert "—" in P.trial_markdown(ds) and "not defined" in P.trial_markdown(ds)
    assert P.power_text(0.8, 2) == "0.80" and P.power_text(1.0, 1) == "—"


def test_population_figure_legends_do_not_cover_the_curves(tmp_path, monkeypatch):
    from nssisim.population import LifeCourse, run_in_memory
    from nssisim.report import figures as Fg

    table = run_in_memory("community", 40, seed=0, course=LifeCourse(12, 14), chunk_size=32)
    seen = _spy_figures(monkeypatch, Fg)
    Fg.plot_population(table, tmp_path / "population.png")
    (_, fig), = seen
    texts = [t.get_text() for t in fig.findobj(lambda o: hasattr(o, "get_text"))]
    assert not any("aged A" in t for t in texts)
    for ax in fig.axes:
        leg = ax.get_legend()
        assert leg is not None
        lb, ab = leg.get_window_extent(), ax.get_window_extent()
        assert lb.y1 <= ab.y0, "the legend sits inside the plotting area"


def test_readme_api_example_compares_like_with_like():
    """The README's API example: its imports work, and the single run covers the cohort's horizon."""
    import ast

    text = (SRC.parents[1] / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    tree = ast.parse(block)
    exec(compile(ast.Module([n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))], []), "README", "exec"),
         {})
    calls = {n.func.id: {k.arg: ast.unparse(k.value) for k in n.keywords} for n in ast.walk(tree)
             if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in ("simulate", "simulate_cohort")}
    for key in ("horizon_hours", "dt", "record_every", "seed"):
        assert calls["simulate"].get(key) == calls["simulate_cohort"].get(key), key


def test_reliability_page_names_existing_tests():
    """docs/reliability.md: every test it names exists (``file.py::test`` and ``::test`` of the same file)."""
    root = SRC.parents[1]
    text = (root / "docs" / "reliability.md").read_text(encoding="utf-8")
    named = []
    for row in text.splitlines():
        current = None
        for m in re.finditer(r"`(?:(test_\w+\.py))?::(test_\w+)`|`(test_\w+\.py)`", row):
            if m.group(3):
                current = m.group(3)
                continue
            current = m.group(1) or current
            named.append((current, m.group(2)))
    assert len(named) >= 40
    for fname, test in named:
        assert fname is not None, test
        src = (root / "tests" / fname).read_text(encoding="utf-8")
        assert re.search(rf"^def {test}\(", src, re.M), f"{fname}::{test} named in docs/reliability.md does not exist"


def test_demo_closing_message_names_trial_files_in_their_folder(tmp_path):
    from nssisim.cli.demo import closing_message

    f = tmp_path / "report"
    line = closing_message(f, [f / "summary.md", f / "person.png", f / "trial" / "forest.png", f / "trial" / "trial.nc"],
                           3.0)
    assert f"report written to {f}/ (person.png, summary.md, person_scenario.toml, cohort_scenario.toml)" in line
    assert f"{f}/trial/ (forest.png, trial.nc)" in line
    assert "forest.png" not in line.split(";")[0]


def test_a_write_that_fails_after_the_checks_is_one_line(tmp_path, monkeypatch):
    def disk_full(ds, path):
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr("nssisim.cli.simulate._write_netcdf", disk_full)
    res = runner.invoke(app, ["simulate", "--config", str(_scenario(tmp_path)), "--out", str(tmp_path / "o.nc"),
                              "--no-progress"])
    out = _clean(res, 2)
    assert f"cannot write {tmp_path / 'o.nc'}: No space left on device" in out
