"""The explanatory targets as tests: each runs its designed experiment and must hold.

Bars live in ``nssisim.targets`` (one constant per threshold) and are rendered into
``docs/model.md``; a failing target here means the model no longer explains that
phenomenon, not that the bar should move.
"""

from functools import lru_cache

import numpy as np
import pytest

from nssisim.targets import INTERVALS, TARGETS, ablation, format_ablation, format_results, run_targets


#: Targets whose designed experiment takes longer than ~20 s on 2 loaded cores: P11 (a 6-year life course)
#: and P12, P13 (multi-arm virtual trials, about a minute each under load).
SLOW_TARGETS = {"P11", "P12", "P13"}


#: Targets that do not hold at this commit, with the measured reason. Strict: the test fails as
#: soon as one of them holds, so this list cannot go stale. Reported in docs/trials.md.
KNOWN_NOT_HOLDING = {
    # Measured on the calibrated default with the persons drawn from the community population (2026-12-04;
    # docs/model.md section 5). Each reason is the design's own number against its bar.
    "P2": "in the first year after onset the relief fraction per act of persistent referred patients falls to 0.936 "
          "(bar <= 0.9) while severity (1.069) and frequency (1.075) rise: escalation is weaker than the bar asks on "
          "the calibrated default, and faster tolerance or a larger opioid share of relief does not give both (relief "
          "0.89-0.94 with frequency 0.71-0.96: less relief per act means less learned relief and fewer acts; "
          "tools/tolerance_probe.py)",
    "P8": "the two-sided band (2026-12-04): in a survey of the natural community at 12-18 (4,096 persons, the "
          "calibration's measures) the odds ratio of lifetime NSSI is 4.41 [3.65, 5.32] for maltreatment (published "
          "3.42 [2.74, 4.26], Liu2018) and 3.25 [2.68, 3.94] for bullying victimisation (published 2.46 [2.14, 2.83], "
          "Huang2022SciRep): the calibrated diathesis is too strong, the joint calibration's own misses (maltreatment_or "
          "I 1.83, bullying_or I 3.26). Measured on the same survey: w_stress_maltreatment 1.5 (its range's floor, "
          "shipped 1.86) gives 4.03 and 2.86 with lifetime 0.172 (0.175 shipped); w_stress_peer 2.5 (shipped 3.67) "
          "2.81 for bullying with lifetime 0.153; both 4.10 and 2.50 with lifetime 0.146, below the published "
          "[0.169, 0.284]. The direction clauses hold (smallest RR 2.28, trigger ratio 4.67)",
    "P13": "on the calibrated default the best drug (naltrexone) has 0.59 of DBT-A's effect (bar <= 0.5) and the SSRI "
           "raises NSSI in months 0-3 by less than the bar (1.031, bar >= 1.05; its antidepressant component reaches "
           "these mood-driven patients within weeks); months 3-6 0.770 and naltrexone's specificity (0.575 vs 0.043) "
           "hold (docs/trials.md section 6). The SSRI's magnitudes are illustrative; they are not refitted to the target.",
}


def _marks(t):
    marks = [pytest.mark.slow] if t in SLOW_TARGETS else []
    if t in KNOWN_NOT_HOLDING:
        marks.append(pytest.mark.xfail(strict=True, reason=KNOWN_NOT_HOLDING[t]))
    return marks


@lru_cache(maxsize=None)
def _result(target_id):
    """Each target's run on the calibrated default, once per session (the verdict and the interval tests share it)."""
    return TARGETS[target_id].run()


@pytest.mark.parametrize("target_id", [pytest.param(t, marks=_marks(t)) for t in TARGETS])
def test_target_holds(target_id):
    result = _result(target_id)
    assert result.passed, f"{target_id} does not hold:\n{format_results([result])}"


@pytest.mark.parametrize("target_id", [pytest.param(t, marks=[pytest.mark.slow] if t in SLOW_TARGETS else [])
                                       for t in TARGETS])
def test_target_reports_an_interval_around_its_statistic(target_id):
    # held or not, every statistic carries its 95 % interval (INTERVALS says how), and the interval brackets it
    result = _result(target_id)
    assert target_id in INTERVALS and result.interval is not None
    lo, hi = result.interval
    assert np.isfinite(lo) and np.isfinite(hi) and lo < hi, result.interval
    assert lo <= result.statistic <= hi, format_results([result])


def test_every_target_says_what_its_bar_size_rests_on():
    from nssisim.targets import BAR_SIZES, bar_kind

    assert set(BAR_SIZES) == set(TARGETS)
    assert all(v.split(":")[0].split()[0] in ("band", "direction") for v in BAR_SIZES.values())
    assert bar_kind("P8") == "band" and bar_kind("P1") == "direction"


def test_nine_core_targets_registered():
    assert set(TARGETS) >= {"P1", "P2", "P3", "P4", "P5", "P6", "P7", "P10", "P14"}


def test_population_targets_registered_in_order():
    assert {"P8", "P9", "P11"} <= set(TARGETS)
    ids = list(TARGETS)
    assert ids == sorted(ids, key=lambda i: int(i[1:]))


def test_the_habit_shift_needs_reinforcement():
    # habit strengthens with reinforced repetition (M10 w_habit_reinforcement): without relief (M7) P3 must fail
    (res,) = run_targets(["P3"], mechanisms_off=["M7"])
    assert not res.passed, format_results([res])


def test_relief_is_needed_for_negative_reinforcement():
    # Without M7 an act removes no distress: P1 must then fail (the target can fail).
    (res,) = run_targets(["P1"], mechanisms_off=["M7"])
    assert not res.passed, format_results([res])


def test_p1_contrasts_follow_the_sign_of_a_known_effect_of_acts():
    """P1's two analyses on synthetic affect with a known effect of an act: relief (affect falls for two
    hours), none, and reversed (affect rises). The matched difference in differences at 1 h and the EMA
    multilevel coefficient must find each sign, so the target's bar can come out the other way."""
    from nssisim import targets

    rng = np.random.default_rng(7)
    n_sub, n_t = 40, targets.P1_DAYS * 24
    t0 = np.zeros(n_sub, np.int64)
    base = np.empty((n_sub, n_t))
    level = rng.uniform(0.3, 0.6, n_sub)
    base[:, 0] = level
    for t in range(1, n_t):  # AR(1) affect around each person's level, hourly
        base[:, t] = level + 0.7 * (base[:, t - 1] - level) + rng.normal(0.0, 0.08, n_sub)
    pos = np.repeat(np.arange(n_sub), 120)
    idx = rng.integers(0, n_t - 8, pos.size)
    is_act = rng.random(pos.size) < 0.25
    pre = base[pos, idx]
    verdicts = {}
    for effect in (0.1, 0.0, -0.1):
        affect = base.copy()
        for lag, share in enumerate((1.0, 0.6, 0.3)):  # the act's effect at its step, 1 h and 2 h after
            np.subtract.at(affect, (pos[is_act], idx[is_act] + lag), effect * share)
        change = pre - affect[pos, idx + targets.P1_MAIN_LAG_H]
        did, (lo, hi), matched = targets._matched_did(change, is_act, pos, pre, n_sub)
        ema, (elo, ehi), _, _ = targets._p1_ema(affect, t0, idx, pos, is_act)
        assert matched > 0.8 * is_act.sum()
        verdicts[effect] = (lo > 0, hi < 0, ehi < 0, elo > 0)
    assert verdicts[0.1] == (True, False, True, False), verdicts
    assert verdicts[0.0] == (False, False, False, False), verdicts
    assert verdicts[-0.1] == (False, True, False, True), verdicts


def test_ablation_table_shape():
    df = ablation(["P7"], mechanisms=["M9"])
    assert list(df.columns) == ["full", "M9"] and list(df.index) == ["P7"]
    assert bool(df.loc["P7", "full"]) and not bool(df.loc["P7", "M9"])  # learning asymmetry needs learning
    assert "P7" in format_ablation(df)


def test_p10_panel_path_finds_the_sign_of_a_known_cross_lag():
    """P10's cross-lagged panel estimator on synthetic waves with a known x -> later y effect (positive, none,
    negative): its interval excludes 0 on the right side only when there is an effect, and a constant measure
    (its mechanism off) gives no path."""
    from nssisim import targets

    rng = np.random.default_rng(11)
    n, k = 2000, 5
    x = rng.normal(size=(n, k))
    for t in range(1, k):
        x[:, t] += 0.5 * x[:, t - 1]
    found = {}
    for effect in (0.2, 0.0, -0.2):
        y = rng.normal(size=(n, k))
        for t in range(1, k):
            y[:, t] += 0.5 * y[:, t - 1] + effect * x[:, t - 1]
        b, (lo, hi) = targets._clpm_path(y, x)
        found[effect] = (lo > 0, hi < 0)
    assert found == {0.2: (True, False), 0.0: (False, False), -0.2: (False, True)}, found
    b, (lo, hi) = targets._clpm_path(np.zeros((n, k)), x)
    assert np.isnan(b) and np.isnan(lo)


def test_ablation_marks_cells_without_data_apart():
    # a failure with no statistic (no acts, nobody referred) is a trivial cell, not evidence for the mechanism
    import pandas as pd

    from nssisim.targets import ablation_cells, ablation_markdown

    df = pd.DataFrame({"full": [True, True], "M1": [False, False], "M7": [False, True]}, index=["P1", "P5"])
    df.attrs["statistics"] = pd.DataFrame({"full": [0.02, 4.1], "M1": [float("nan"), float("nan")],
                                           "M7": [-0.001, 4.0]}, index=["P1", "P5"])
    cells = ablation_cells(df)
    assert list(cells.loc["P1"]) == ["holds", "no data", "fails"] and list(cells.loc["P5"]) == ["holds", "no data", "holds"]
    assert "| P1 | + | 0 | **-** |" in ablation_markdown(df)
    assert format_ablation(df).splitlines()[1].split() == ["P1", "+", "0", "-"]


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


def _fake_p11_batches(persist_sporadic: float, persist_addictive: float, addictive_per_batch: int):
    """Synthetic P11 batches: 200 sporadic and ``addictive_per_batch`` addictive-profile persons a batch (the rest
    neither), with the given shares still acting in the year before 18 (the first ones in subject order)."""
    def batch(off, rng, b):
        n = 1000
        sporadic = np.zeros(n, bool)
        sporadic[:200] = True
        addictive = np.zeros(n, bool)
        addictive[200:200 + addictive_per_batch] = True
        last_year = np.zeros(n, bool)
        last_year[:int(round(200 * persist_sporadic))] = True
        last_year[200:200 + int(round(addictive_per_batch * persist_addictive))] = True
        return sporadic, addictive, last_year
    return batch


def test_p11_fills_fixed_groups_and_its_verdict_can_come_out_the_other_way(monkeypatch):
    """P11's fixed groups (P11_SPORADIC, P11_ADDICTIVE) are filled by batches and truncated to their size, and the
    verdict follows the two shares: it fails when sporadic self-injurers persist, when addictive-profile ones stop,
    and when the batch cap leaves the addictive group unfilled."""
    from nssisim import targets

    cases = {  # (sporadic still acting, addictive still acting, addictive per batch) -> holds
        "maturing out": ((0.2, 0.9, 25), True),
        "sporadic persist": ((0.7, 0.9, 25), False),
        "addictive stop": ((0.2, 0.3, 25), False),
        "too few addictive": ((0.2, 0.9, 5), False),
    }
    for name, ((ps, pa, k), holds) in cases.items():
        monkeypatch.setattr(targets, "_p11_batch", _fake_p11_batches(ps, pa, k))
        passed, stat, detail, (lo, hi) = targets._p11(())
        assert passed is holds, (name, detail)
        assert lo <= stat <= hi
        if k == 25:  # 3 batches fill 60 addictive; the sporadic group is its first 300 persons
            assert detail.startswith("3 batch(es)") and f"{targets.P11_SPORADIC} sporadic" in detail, detail
            m = round(200 * ps)  # persisting at the front of each batch: all of the first, the first 100 of the second's
            assert stat == pytest.approx(1 - (m + min(m, 100)) / targets.P11_SPORADIC), (name, stat)
        else:
            assert detail.startswith(f"{targets.P11_MAX_BATCHES} batch(es)"), detail


@pytest.mark.slow
def test_p12_fails_when_dbt_a_is_replaced_by_supportive_therapy(monkeypatch):
    """The effect removed: with supportive therapy in DBT-A's arm the same patients get the same treatment in both
    arms, so g is 0 with an interval around it and the stress probe changes alike; P12 must fail, on every clause
    that compares DBT-A with supportive therapy."""
    from nssisim import targets

    real = targets._trial

    def null_trial(arms, control, off, **kw):
        return real({**arms, "dbt_a": {"intervention": "supportive"}}, control, off, **kw)

    monkeypatch.setattr(targets, "_trial", null_trial)
    passed, g, detail, (lo, hi) = targets._p12(())
    assert passed is False, detail
    assert abs(g) < 1e-9 and lo < 0 < hi, detail
    import re

    limbic, limbic_sup = map(float, re.search(r"limbic reactivity ([+-][\d.]+) \(supportive ([+-][\d.]+)\)",
                                              detail).groups())
    assert limbic == pytest.approx(limbic_sup, abs=1e-4), detail


def test_p8_band_decides_the_verdict(monkeypatch):
    """P8's two-sided band is a clause that decides: the same direction results hold with odds ratios inside the
    published intervals and fail with one above its interval (the calibrated default's case) or below it."""
    from nssisim import targets

    published = {"maltreatment_or": (2.74, 4.26), "bullying_or": (2.14, 2.83)}

    def band(values):
        return lambda off: {k: (v, v - 0.3, v + 0.3, *published[k]) for k, v in values.items()}

    runs, real = {}, targets._community

    def community(groups, off, **kw):  # the direction clauses' runs, once for the three bands
        key = repr((groups, off, sorted(kw.items())))
        if key not in runs:
            runs[key] = real(groups, off, **kw)
        return runs[key]

    monkeypatch.setattr(targets, "_community", community)
    verdicts = {}
    for name, values in {"inside": {"maltreatment_or": 3.4, "bullying_or": 2.5},
                         "above": {"maltreatment_or": 3.4, "bullying_or": 3.3},
                         "below": {"maltreatment_or": 2.0, "bullying_or": 2.5}}.items():
        monkeypatch.setattr(targets, "_p8_band", band(values))
        verdicts[name] = targets._p8(())[0]
    assert verdicts == {"inside": True, "above": False, "below": False}, verdicts
