"""The explanatory targets as tests: each runs its designed experiment and must hold.

Bars live in ``nssisim.targets`` (one constant per threshold) and are rendered into
``docs/model.md``; a failing target here means the model no longer explains that
phenomenon, not that the bar should move.
"""

import pytest

from nssisim.targets import TARGETS, ablation, format_ablation, format_results, run_targets


#: Targets whose designed experiment takes longer than ~20 s on 2 loaded cores: P11 (a 6-year life course)
#: and P12, P13 (multi-arm virtual trials, about a minute each under load).
SLOW_TARGETS = {"P11", "P12", "P13"}


#: Targets that do not hold at this commit, with the measured reason. Strict: the test fails as
#: soon as one of them holds, so this list cannot go stale. Reported in docs/trials.md.
KNOWN_NOT_HOLDING = {
    # P5 held again after the one-hash stream (wt-speed, 2026-12-01): share of the excess risk through
    # the lowered threshold 0.27 (bar >= 0.25; RR 2.04), against 0.23 with the former stream. It sits
    # near its bar, so the stream decides it: its precision is worth an issue of its own.
    "P13": "since the outpatient rule was calibrated (2026-12-01; its patients now come through repeated NSSI) the "
           "SSRI no longer lowers NSSI in months 3-6 (SSRI/placebo 1.060, bar <= 1.0; months 0-3 1.247): the extra acts "
           "of the early activation feed the relief and habit loops and outlast it (activation alone: 1.28 to 1.22 in "
           "months 4-6, 1.11 in months 7-9), more than the antidepressant component lowers them (0.78-0.81). The other "
           "clauses hold (best drug / DBT-A 0.42; naltrexone 0.584 vs 0.128). The SSRI's magnitudes are illustrative; "
           "they are not refitted to the target (docs/trials.md section 6).",
}


def _marks(t):
    marks = [pytest.mark.slow] if t in SLOW_TARGETS else []
    if t in KNOWN_NOT_HOLDING:
        marks.append(pytest.mark.xfail(strict=True, reason=KNOWN_NOT_HOLDING[t]))
    return marks


@pytest.mark.parametrize("target_id", [pytest.param(t, marks=_marks(t)) for t in TARGETS])
def test_target_holds(target_id):
    result = TARGETS[target_id].run()
    assert result.passed, f"{target_id} does not hold:\n{format_results([result])}"


def test_nine_core_targets_registered():
    assert set(TARGETS) >= {"P1", "P2", "P3", "P4", "P5", "P6", "P7", "P10", "P14"}


def test_population_targets_registered_in_order():
    assert {"P8", "P9", "P11"} <= set(TARGETS)
    ids = list(TARGETS)
    assert ids == sorted(ids, key=lambda i: int(i[1:]))


def test_relief_is_needed_for_negative_reinforcement():
    # Without M7 an act removes no distress: P1 must then fail (the target can fail).
    (res,) = run_targets(["P1"], mechanisms_off=["M7"])
    assert not res.passed, format_results([res])


def test_ablation_table_shape():
    df = ablation(["P7"], mechanisms=["M9"])
    assert list(df.columns) == ["full", "M9"] and list(df.index) == ["P7"]
    assert bool(df.loc["P7", "full"]) and not bool(df.loc["P7", "M9"])  # learning asymmetry needs learning
    assert "P7" in format_ablation(df)


def test_unknown_target_is_a_clear_error():
    with pytest.raises(KeyError, match="unknown target 'P99'"):
        run_targets(["P99"])


def test_trial_targets_without_eligible_patients_do_not_hold(monkeypatch):
    """With M1 off nobody self-injures, so no patient is referred: P12 and P13 report that they do not hold,
    with no statistic and the design's reason, instead of stopping an ablation (a small screening cap keeps it fast)."""
    import math

    from nssisim import targets

    monkeypatch.setattr(targets, "TRIAL_TARGET_DESIGN", {**targets.TRIAL_TARGET_DESIGN, "max_screen": 512})
    for fn in (targets._p12, targets._p13):
        passed, stat, detail = fn(("M1",))
        assert passed is False and math.isnan(stat)
        assert detail.startswith("no trial:") and "eligible" in detail
