"""EMA data: the long format's reader and writer, the observation model, and the ``ema`` CLI.

Studies are small (3 participants x 2 days, no burn-in except where acts are needed), so the
module runs in a few seconds.
"""

from __future__ import annotations

from importlib.resources import files

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from conftest import ACTIVE
from nssisim.cli import app
from nssisim.ema import ITEMS, PROMPT_TYPES, EMAError, read_ema, simulate_study, write_ema

runner = CliRunner()

GOOD = """\
participant,timestamp,prompt_type,answered,negative_affect,urge,act,stressor
p001,2026-03-02T09:30:00+01:00,signal,true,40,10,0,0
p001,2026-03-02T11:45:00+01:00,signal,false,,,,
p001,2026-03-02T12:10:00+01:00,event,true,70,,1,
p001,2026-03-02T14:05:00+01:00,signal,true,55,,1,1
p002,2026-03-02T10:00:00Z,signal,true,0,100,0,0
p002,2026-03-02T12:00:00+00:00,daily,true,20,5,0,0
"""


def _write(tmp_path, text, name="study.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _replace_line(text: str, line: int, new: str) -> str:
    """Replace the 1-based spreadsheet row ``line`` (header = 1)."""
    lines = text.splitlines()
    lines[line - 1] = new
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def study():
    # ACTIVE (busier than the presets) so that acts happen within two days
    return simulate_study(3, ACTIVE, 3, days=2, burn_in_days=30, event_report_rate=1.0)


# ---------------------------------------------------------------------------------- reading
def test_good_file_arrays_and_observed_mask(tmp_path):
    data = read_ema(_write(tmp_path, GOOD))
    assert list(data.participants) == ["p001", "p002"]
    p = data.participants["p001"]
    np.testing.assert_allclose(p.time_h, [0.0, 2.25, 2.0 + 40 / 60, 4.0 + 35 / 60])
    assert list(p.prompt_type) == [PROMPT_TYPES.index(t) for t in ("signal", "signal", "event", "signal")]
    np.testing.assert_allclose(p.items["negative_affect"], [0.4, np.nan, 0.7, 0.55])
    assert list(p.observed["urge"]) == [True, False, False, False]  # item nonresponse on row 5
    assert list(p.answered) == [True, False, True, True]
    # offsets are honoured: 10:00Z and 12:00+00:00 are two hours apart
    np.testing.assert_allclose(data.participants["p002"].time_h, [0.0, 2.0])
    ds = data.to_xarray()
    assert ds.sizes == {"participant": 2, "prompt": 4, "item": len(ITEMS)}
    assert not ds["present"].values[1, 2:].any() and np.isnan(ds["time_h"].values[1, 2:]).all()
    assert not ds["observed"].sel(item="skill_use").values.any()  # absent optional column


def test_not_answered_is_not_no_act(tmp_path):
    p = read_ema(_write(tmp_path, GOOD)).participants["p001"]
    act, seen = p.items["act"], p.observed["act"]
    assert act[0] == 0.0 and seen[0]  # answered, nothing happened
    assert np.isnan(act[1]) and not seen[1] and not p.answered[1]  # not answered: unknown
    assert act[3] == 1.0 and seen[3]


def test_scales_argument_and_sidecar(tmp_path):
    text = GOOD.replace(",40,10,", ",4,1,").replace(",70,,", ",7,,").replace(",55,,", ",5,,") \
               .replace(",0,100,", ",0,10,").replace(",20,5,", ",2,0,")
    path = _write(tmp_path, text)
    with pytest.raises(EMAError):  # 11 is off a declared 0..10 scale
        read_ema(_write(tmp_path, _replace_line(text, 2, "p001,2026-03-02T09:30:00+01:00,signal,true,11,1,0,0"),
                        "off.csv"), scales={"negative_affect": (0, 10), "urge": (0, 10)})
    data = read_ema(path, scales={"negative_affect": (0, 10), "urge": (0, 10)})
    assert data.participants["p002"].items["urge"][0] == 1.0
    (tmp_path / "study.scales.json").write_text('{"negative_affect": [0, 10], "urge": [0, 10]}')
    assert read_ema(path).scales["urge"] == (0.0, 10.0)


BAD = {
    # kind: (row, new line, column, words in the message)
    "unparseable time": (3, "p001,2026-03-02 11h45,signal,false,,,,", "timestamp", "ISO 8601"),
    "no UTC offset": (3, "p001,2026-03-02T11:45:00,signal,false,,,,", "timestamp", "UTC offset"),
    "value off scale": (2, "p001,2026-03-02T09:30:00+01:00,signal,true,140,10,0,0", "negative_affect", "0..100"),
    "non-integer rating": (2, "p001,2026-03-02T09:30:00+01:00,signal,true,40.5,10,0,0", "negative_affect", "integer"),
    "binary not 0/1": (2, "p001,2026-03-02T09:30:00+01:00,signal,true,40,10,2,0", "act", "0 or 1"),
    "duplicate prompt": (3, "p001,2026-03-02T09:30:00+01:00,signal,false,,,,", "timestamp", "duplicate"),
    "unsorted time": (3, "p001,2026-03-02T08:00:00+01:00,signal,false,,,,", "timestamp", "not sorted"),
    "unsorted participant": (5, "p000,2026-03-02T15:00:00Z,signal,true,0,100,0,0", "participant", "not sorted"),
    "answered=false with ratings": (3, "p001,2026-03-02T11:45:00+01:00,signal,false,30,,,", "negative_affect",
                                    "answered=false"),
    "unknown prompt type": (3, "p001,2026-03-02T11:45:00+01:00,signl,false,,,,", "prompt_type", "signal, event"),
    "bad answered": (3, "p001,2026-03-02T11:45:00+01:00,signal,maybe,,,,", "answered", "true or false"),
    "event without act": (4, "p001,2026-03-02T12:10:00+01:00,event,true,70,,0,", "act", "act = 1"),
}


@pytest.mark.parametrize("kind", list(BAD))
def test_bad_rows_name_row_and_column(tmp_path, kind):
    row, line, column, words = BAD[kind]
    path = _write(tmp_path, _replace_line(GOOD, row, line))
    with pytest.raises(EMAError) as info:
        read_ema(path)
    err = info.value
    assert (err.row, err.column) == (row, column), str(err)
    assert f"row {row}, column '{column}'" in str(err) and str(path) in str(err) and words in str(err)


def test_unknown_column_suggests_close_name(tmp_path):
    path = _write(tmp_path, GOOD.replace("urge,act", "urges,act", 1))
    with pytest.raises(EMAError) as info:
        read_ema(path)
    assert info.value.row == 1 and info.value.column == "urges" and "did you mean 'urge'" in str(info.value)


def test_missing_column(tmp_path):
    lines = [",".join(x.split(",")[:5] + x.split(",")[6:]) for x in GOOD.splitlines()]  # drop 'urge'
    with pytest.raises(EMAError) as info:
        read_ema(_write(tmp_path, "\n".join(lines) + "\n"))
    assert info.value.row == 1 and info.value.column == "urge" and "missing required column" in str(info.value)


def test_skip_mode_reports_dropped_rows(tmp_path):
    text = _replace_line(GOOD, 3, BAD["no UTC offset"][1])
    text = _replace_line(text, 6, "p002,2026-03-02T10:00:00Z,signal,true,0,101,0,0")
    text = _replace_line(text, 7, "p002,2026-03-02T10:00:00Z,signal,true,0,100,0,0")  # kept (row 6 was dropped)
    text += "p002,2026-03-02T10:00:00Z,signal,true,1,1,0,0\n"  # duplicate of row 7
    data = read_ema(_write(tmp_path, text), on_error="skip")
    rows = [(r, c) for r, c, _ in data.dropped]
    assert rows == [(3, "timestamp"), (6, "urge"), (8, "timestamp")]
    assert "UTC offset" in data.dropped[0][2] and "duplicate" in data.dropped[2][2]
    assert len(data.participants["p001"]) == 3 and len(data.participants["p002"]) == 1
    assert list(data.participants["p002"].rows) == [7]


# --------------------------------------------------------------------- synthetic studies
def test_round_trip_csv_and_parquet(tmp_path, study):
    df = study.data
    a = read_ema(write_ema(df, tmp_path / "s.csv"))
    b = read_ema(write_ema(df, tmp_path / "s.parquet"))
    assert list(a.participants) == list(b.participants) == ["p001", "p002", "p003"]
    for pid in a.participants:
        pa, pb = a.participants[pid], b.participants[pid]
        sub = df[df["participant"] == pid]
        np.testing.assert_array_equal(pa.time_h, pb.time_h)
        np.testing.assert_array_equal(pa.answered, sub["answered"].to_numpy(bool))
        np.testing.assert_array_equal(pa.answered, pb.answered)
        np.testing.assert_array_equal(pa.prompt_type, pb.prompt_type)
        for k in ITEMS:
            np.testing.assert_array_equal(pa.items[k], pb.items[k])
            np.testing.assert_array_equal(pa.observed[k], pb.observed[k])
        raw = pd.to_numeric(sub["negative_affect"]).to_numpy(float, na_value=np.nan) / 100.0
        np.testing.assert_allclose(pa.items["negative_affect"], raw)
    assert a.to_xarray().equals(b.to_xarray().assign_attrs(source=a.source))


def test_study_schedule_and_compliance(study):
    df, truth = study
    sig = df[df["prompt_type"] == "signal"]
    ts = pd.to_datetime(sig["timestamp"])
    assert str(df["timestamp"].iloc[0]).endswith("+01:00")
    counts = sig.groupby([sig["participant"], ts.dt.date]).size()
    assert len(counts) == 3 * 2 and (counts == 6).all()
    hours = ts.dt.hour + ts.dt.minute / 60
    assert hours.between(9, 21, inclusive="left").all()
    block = ((hours - 9) // 2).astype(int)  # one prompt in each 2-hour block of the waking day
    assert (block.groupby([sig["participant"], ts.dt.date]).nunique() == 6).all()
    assert 0.5 <= sig["answered"].mean() <= 0.95
    assert list(truth.index) == ["p001", "p002", "p003"] and "limbic_reactivity" in truth.columns
    unanswered = sig[~sig["answered"]]
    assert unanswered[["negative_affect", "urge", "act"]].isna().all().all()
    assert sig.loc[sig["answered"], "act"].notna().all()
    ev = df[df["prompt_type"] == "event"]
    assert len(ev) >= 1 and (ev["act"] == 1).all()  # event_report_rate=1: every act is reported


def test_acts_at_prompts_match_event_reports(study):
    """With every act reported, a prompt reports an act iff an event lies since the previous answered prompt."""
    df = study.data
    for _, sub in df.groupby("participant"):
        t = pd.to_datetime(sub["timestamp"])
        ev_t = list(t[sub["prompt_type"] == "event"])
        ans = (sub["prompt_type"] == "signal") & sub["answered"]
        prev = pd.Timestamp("2026-03-02T00:00:00+01:00")
        for when, act in zip(t[ans], sub.loc[ans, "act"]):
            assert act == int(any(prev < e <= when for e in ev_t))
            prev = when
    assert df.loc[df["prompt_type"] == "signal", "act"].sum() >= 1


def test_compliance_extremes_and_prompt_count():
    all_in = simulate_study(2, "vulnerable", 3, days=2, compliance=1.0, prompts_per_day=4, burn_in_days=0).data
    sig = all_in[all_in["prompt_type"] == "signal"]
    assert len(sig) == 3 * 2 * 4 and sig["answered"].all()
    none = simulate_study(2, "vulnerable", 3, days=2, compliance=0.0, burn_in_days=0, event_report_rate=0.0).data
    assert len(none) == 3 * 2 * 6 and not none["answered"].any() and none["act"].isna().all()


def test_study_is_reproducible():
    a = simulate_study(9, "typical", 3, days=2, burn_in_days=0).data
    b = simulate_study(9, "typical", 3, days=2, burn_in_days=0).data
    pd.testing.assert_frame_equal(a, b)


def test_example_file_is_valid():
    path = files("nssisim").joinpath("data", "ema_example.csv")
    data = read_ema(str(path))
    s = data.summary()
    assert s["participants"] == 2 and s["event_reports"] >= 1 and s["dropped_rows"] == 0


# -------------------------------------------------------------------------------------- CLI
def test_cli_validate(tmp_path):
    path = _write(tmp_path, GOOD)
    res = runner.invoke(app, ["ema", "validate", str(path)])
    assert res.exit_code == 0, res.output
    assert "2 participant(s)" in res.output and "1 event report(s)" in res.output
    bad = _write(tmp_path, _replace_line(GOOD, 3, BAD["no UTC offset"][1]), "bad.csv")
    res = runner.invoke(app, ["ema", "validate", str(bad)])
    assert res.exit_code == 2 and "row 3, column 'timestamp'" in res.output
    res = runner.invoke(app, ["ema", "validate", str(bad), "--skip-bad-rows"])
    assert res.exit_code == 0 and "dropped 1 bad row(s)" in res.output and "row 3" in res.output
    res = runner.invoke(app, ["ema", "validate", str(path), "--scale-max", "50"])
    assert res.exit_code == 2 and "row 3" not in res.output and "0..50" in res.output
    assert runner.invoke(app, ["ema", "validate", str(tmp_path / "nope.csv")]).exit_code == 2


def test_cli_simulate_refuses_overwrite(tmp_path):
    out = tmp_path / "study.parquet"
    args = ["ema", "simulate", "--out", str(out), "--participants", "3", "--days", "2", "--seed", "4"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert read_ema(out).summary()["signal_prompts"] == 3 * 2 * 6
    res = runner.invoke(app, args)
    assert res.exit_code == 1 and "--overwrite" in res.output
    assert runner.invoke(app, [*args, "--overwrite"]).exit_code == 0
    res = runner.invoke(app, ["ema", "simulate", "--out", str(tmp_path / "x.txt")])
    assert res.exit_code == 2
    csv = tmp_path / "s.csv"
    assert runner.invoke(app, ["ema", "simulate", "--out", str(csv), "--participants", "3", "--days", "2"]).exit_code == 0
    assert runner.invoke(app, ["ema", "validate", str(csv)]).exit_code == 0
