"""Scenario configs: validation messages, presets, and the mapping from a file to the
parameters that reach the simulator."""

from __future__ import annotations

import tomllib
from importlib.resources import files

import numpy as np
import pytest

from nssisim.core import (ConfigError, config_dict, load_config, resolve_params, to_simulation_kwargs, to_toml, validate_config)
from nssisim.core import PARAMS, check_value
from nssisim.core import PRESETS, load_preset
from nssisim.core import simulate_cohort

VULNERABLE = dict(limbic_reactivity=1.6, pfc_adult=0.9, maltreatment=0.3, parental_control=0.4, peer_victimisation=0.3,
                  rumination_trait=0.6, alexithymia=0.4, resilience=0.4, self_esteem=0.4, hope=0.45)
CLINICAL = dict(limbic_reactivity=1.8, pfc_adult=0.8, maltreatment=0.4, parental_control=0.5, peer_victimisation=0.4,
                rumination_trait=0.7, alexithymia=0.5, resilience=0.3, self_esteem=0.3, hope=0.4)
#: A tiny run shape (3 subjects, 2 days, daily records): one compilation for this module.
TINY_RUN = {"seed": 7, "horizon_days": 2, "dt_hours": 1.0, "record_every": 24, "n_subjects": 3}


def write(tmp_path, text: str, name: str = "scenario.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def problem(tmp_path, text: str) -> str:
    """The message of the ConfigError that loading ``text`` raises (it must raise)."""
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    msg = str(info.value)
    assert str(path) in msg, "the message names the file"
    return msg


# ------------------------------------------------------------------------------ messages
def test_unknown_key_in_run_names_field_and_suggests(tmp_path):
    msg = problem(tmp_path, "[run]\nsead = 3\n")
    assert "run.sead" in msg
    assert "unknown key 'sead'" in msg
    assert "did you mean 'seed'" in msg


def test_unknown_key_in_person_names_field_and_suggests(tmp_path):
    msg = problem(tmp_path, "[person]\nlimbic_reactivty = 1.2\n")
    assert "person.limbic_reactivty" in msg
    assert "'limbic_reactivity'" in msg and "did you mean" in msg


def test_parameter_in_wrong_table_is_pointed_to_person(tmp_path):
    msg = problem(tmp_path, "[run]\nhope = 0.3\n")
    assert "run.hope" in msg and "set it under [person]" in msg


def test_unknown_top_level_table_suggests(tmp_path):
    msg = problem(tmp_path, "[persons]\nhope = 0.3\n")
    assert "did you mean 'person'" in msg


def test_out_of_bounds_names_field_and_bound(tmp_path):
    p = PARAMS["limbic_reactivity"]
    msg = problem(tmp_path, "[person]\nlimbic_reactivity = 5.0\n")
    assert "person.limbic_reactivity" in msg
    assert f"[{p.low:g}, {p.high:g}]" in msg
    assert "5.0" in msg


def test_wrong_type_is_explained(tmp_path):
    msg = problem(tmp_path, '[person]\nhope = "high"\n[run]\nseed = 1.5\n')
    assert "person.hope: expected a number" in msg
    assert "run.seed: expected a whole number" in msg
    assert "2 problems" in msg


def test_bad_mechanism_lists_the_valid_ones(tmp_path):
    msg = problem(tmp_path, '[run]\nmechanisms_off = ["M8", "M14"]\n')
    assert "run.mechanisms_off[1]" in msg
    assert "'M14' is not a mechanism" in msg and "M1..M13" in msg


def test_unknown_preset_suggests(tmp_path):
    msg = problem(tmp_path, 'preset = "vulnerble"\n')
    assert "preset" in msg and "did you mean 'vulnerable'" in msg


def test_horizon_not_whole_number_of_steps(tmp_path):
    msg = problem(tmp_path, "[run]\nhorizon_days = 1.01\ndt_hours = 1.0\nrecord_every = 1\n")
    assert "run.horizon_days" in msg
    assert "not a whole number of steps" in msg and "dt_hours=1" in msg


def test_half_a_step_is_caught_in_long_runs(tmp_path):
    # ten years at 6-minute steps plus half a step: 876,600.5 steps
    msg = problem(tmp_path, f"[run]\nhorizon_days = {87660.05 / 24!r}\ndt_hours = 0.1\nrecord_every = 1\n")
    assert "run.horizon_days" in msg and "not a whole number of steps" in msg
    cfg = validate_config({"run": {"horizon_days": 3652.5, "dt_hours": 0.1, "record_every": 1}})
    assert cfg.run.n_steps == 876600


def test_horizon_not_multiple_of_record_every(tmp_path):
    msg = problem(tmp_path, "[run]\nhorizon_days = 10\ndt_hours = 1.0\nrecord_every = 7\n")
    assert "run.record_every" in msg
    assert "240 steps" in msg and "not a multiple of record_every=7" in msg
    assert "divisor of 240" in msg


def test_ranges_outside_bounds(tmp_path):
    msg = problem(tmp_path, "[person_ranges]\nhope = [0.2, 1.5]\n")
    assert "person_ranges.hope" in msg and "[0, 1]" in msg


def test_ranges_reversed_or_malformed(tmp_path):
    assert "low must not exceed high" in problem(tmp_path, "[person_ranges]\nhope = [0.8, 0.2]\n")
    assert "[low, high]" in problem(tmp_path, "[person_ranges]\nhope = [0.2]\n")
    assert "[low, high]" in problem(tmp_path, "[person_ranges]\nhope = 0.2\n")


def test_parameter_in_person_and_ranges_is_refused(tmp_path):
    msg = problem(tmp_path, "[person]\nhope = 0.3\n[person_ranges]\nhope = [0.2, 0.4]\n")
    assert "person_ranges.hope" in msg and "one or the other" in msg


def test_file_problems(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[run\nseed = 1\n"))


def test_several_problems_are_all_reported(tmp_path):
    msg = problem(tmp_path, "[run]\nseed = -1\nn_subjects = 0\n[person]\nhope = 2.0\n")
    assert "run.seed" in msg and "run.n_subjects" in msg and "person.hope" in msg


# ------------------------------------------------------------------------------- presets
def test_presets_hold_the_documented_values():
    assert PRESETS == ("typical", "vulnerable", "clinical")
    assert load_preset("typical") == {}
    assert load_preset("vulnerable") == VULNERABLE
    assert load_preset("clinical") == CLINICAL
    for name in PRESETS:
        for k, v in load_preset(name).items():
            check_value(k, v)
        text = files("nssisim").joinpath("configs", f"{name}.toml").read_text()
        assert "not calibrated" in text


def test_unknown_preset_name():
    with pytest.raises(KeyError, match="did you mean 'clinical'"):
        load_preset("clinicl")


def test_example_scenario_is_valid():
    path = files("nssisim").joinpath("configs", "example_scenario.toml")
    cfg = load_config(str(path))
    assert cfg.preset == "vulnerable"
    assert cfg.run.n_subjects > 1 and cfg.range_values()


def test_toml_round_trip():
    cfg = validate_config({"run": TINY_RUN | {"mechanisms_off": ["M8", "M10"]}, "preset": "clinical",
                           "person": {"tau_habit": 1000.0}, "person_ranges": {"hope": [0.1, 0.3]}})
    again = validate_config(tomllib.loads(to_toml(cfg, header="a comment")))
    assert again == cfg
    assert config_dict(again) == config_dict(cfg)


# --------------------------------------------------------------------- to the simulator
def test_precedence_and_draws():
    cfg = validate_config({"run": TINY_RUN | {"n_subjects": 50}, "preset": "vulnerable",
                           "person": {"hope": 0.2}, "person_ranges": {"limbic_reactivity": [1.0, 1.5]}})
    p = resolve_params(cfg)
    assert p["hope"] == 0.2  # [person] wins over the preset
    assert p["maltreatment"] == VULNERABLE["maltreatment"]  # preset wins over the default
    lr = p["limbic_reactivity"]  # [person_ranges] replaces the preset value
    assert lr.shape == (50,) and lr.min() >= 1.0 and lr.max() <= 1.5 and lr.std() > 0.1
    # a subject's draw does not depend on the cohort size, and the seed matters
    small = resolve_params(validate_config({"run": TINY_RUN | {"n_subjects": 5}, "preset": "vulnerable",
                                            "person_ranges": {"limbic_reactivity": [1.0, 1.5]}}))
    np.testing.assert_array_equal(small["limbic_reactivity"], lr[:5])
    other = resolve_params(validate_config({"run": TINY_RUN | {"n_subjects": 5, "seed": 8},
                                            "person_ranges": {"limbic_reactivity": [1.0, 1.5]}}))
    assert not np.array_equal(other["limbic_reactivity"], lr[:5])


def test_valid_file_reaches_the_simulator(tmp_path):
    path = write(tmp_path, """
preset = "vulnerable"
[run]
seed = 7
horizon_days = 2
dt_hours = 1.0
record_every = 24
n_subjects = 3
start_age_years = 13.5
mechanisms_off = ["M8"]
[person]
hope = 0.2
tau_habit = 1000.0
[person_ranges]
reward_sensitivity = [0.5, 1.5]
""")
    cfg = load_config(path)
    kw = to_simulation_kwargs(cfg)
    assert kw["horizon_hours"] == 48.0 and kw["dt"] == 1.0 and kw["record_every"] == 24
    ds = simulate_cohort(**kw)
    pv = ds["parameter_value"]
    f32 = np.float32
    for name, value in {"hope": 0.2, "tau_habit": 1000.0, **{k: v for k, v in VULNERABLE.items() if k != "hope"}}.items():
        np.testing.assert_array_equal(pv.sel(parameter=name).values, np.full(3, f32(value)), err_msg=name)
    np.testing.assert_array_equal(pv.sel(parameter="reward_sensitivity").values,
                                  resolve_params(cfg)["reward_sensitivity"].astype(f32))
    np.testing.assert_array_equal(pv.sel(parameter="lam_stress").values, np.full(3, f32(PARAMS["lam_stress"].default)))
    assert ds.attrs["seed"] == 7
    assert ds.attrs["mechanisms_off"] == "M8"
    assert ds.attrs["start_age_years"] == 13.5
    assert ds.attrs["horizon_hours"] == 48.0 and float(ds["time"].values[-1]) == 48.0
    assert ds.sizes["subject"] == 3 and ds.sizes["time"] == 2
    assert '"preset": "vulnerable"' in ds.attrs["config"]
