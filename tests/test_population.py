"""Population sampler: marginals, copula correlations, bounds, reproducibility, spec errors.

Monte Carlo tolerances at n = 20,000: a mean within 4 standard errors (sd / sqrt(n)); a
prevalence within 4 binomial standard errors; a latent correlation within 0.03 (its standard
error is (1 - r^2) / sqrt(n) <= 0.0071, so 0.03 is more than 4 of them).
"""

from __future__ import annotations

import copy
import math
import tomllib

import numpy as np
import pytest
from scipy import special

from nssisim.core import PARAMS
from nssisim.population import (FACTOR_PREFIX, POPULATIONS, PopulationError, load_population, params_of, parse_population, sample_population)
from nssisim.population import population_path

N = 20_000


@pytest.fixture(scope="module", params=POPULATIONS)
def spec(request):
    return load_population(request.param)


@pytest.fixture(scope="module")
def community_data():
    return tomllib.loads(population_path("community").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def drawn(spec):
    return sample_population(spec, N, seed=7)


def test_marginals_match_spec(spec, drawn):
    for f in spec.factors:
        x = drawn[FACTOR_PREFIX + f.name]
        se = f.sd() / math.sqrt(N)
        assert abs(x.mean() - f.mean()) < 4 * se, f.name
        if f.kind != "binary":
            assert abs(x.std() - f.sd()) < 0.05 * f.sd(), f.name
        else:
            assert set(np.unique(x)) <= {0.0, 1.0}


def test_latent_correlations_match_spec(spec, drawn):
    cont = [j for j, f in enumerate(spec.factors) if f.kind != "binary"]
    z = np.stack([special.ndtri(np.clip(spec.factors[j].cdf(drawn[FACTOR_PREFIX + spec.factors[j].name]),
                                        1e-12, 1 - 1e-12)) for j in cont], axis=1)
    emp = np.corrcoef(z, rowvar=False)
    want = spec.correlation[np.ix_(cont, cont)]
    assert np.abs(emp - want).max() < 0.03


def test_binary_factor_correlation_sign(spec, drawn):
    # left-behind status goes with lower resilience (latent r = -0.1): the point-biserial is negative
    lb, res = drawn["factor.left_behind"], drawn["factor.resilience"]
    assert res[lb == 1].mean() < res[lb == 0].mean()


def test_parameters_within_bounds_and_mapping(spec, drawn):
    params = params_of(drawn)
    assert not any(k.startswith(FACTOR_PREFIX) for k in params)
    for name, v in params.items():
        p = PARAMS[name]
        assert v.shape == (N,)
        assert np.all((v >= p.low) & (v <= p.high)), name
    # left-behind raises family stress by the documented convex step; sex scales the hope buffer
    s = spec.mapping["left_behind_family_stress"]
    pc, raw, lb = params["parental_control"], drawn["factor.parental_control"], drawn["factor.left_behind"]
    np.testing.assert_allclose(pc[lb == 1], raw[lb == 1] + s * (1 - raw[lb == 1]))
    np.testing.assert_array_equal(pc[lb == 0], raw[lb == 0])
    k = params["k_hope_mood"]
    girl = drawn["factor.sex_female"] == 1
    assert np.all(k[girl] == PARAMS["k_hope_mood"].default)
    np.testing.assert_allclose(k[~girl], PARAMS["k_hope_mood"].default * spec.mapping["hope_buffering_male_ratio"])


def test_extreme_marginals_stay_in_bounds(community_data):
    d = copy.deepcopy(community_data)
    d["factors"]["limbic_reactivity"] = {"kind": "truncnorm", "loc": 3.0, "scale": 5.0}
    d["factors"]["maltreatment"] = {"kind": "beta", "mean": 0.02, "sd": 0.1}
    pop = sample_population(parse_population(d), 50_000, seed=3)
    for name in ("limbic_reactivity", "maltreatment"):
        assert pop[name].min() >= PARAMS[name].low and pop[name].max() <= PARAMS[name].high


def test_subject_draw_independent_of_n(spec):
    small = sample_population(spec, 10, seed=11)
    big = sample_population(spec, 5000, seed=11)
    for k in small:
        np.testing.assert_array_equal(small[k], big[k][:10])
    ids = np.array([4999, 3, 12])
    picked = sample_population(spec, 3, seed=11, subject_ids=ids)
    for k in picked:
        np.testing.assert_array_equal(picked[k], big[k][ids])
    other = sample_population(spec, 10, seed=12)
    assert not np.array_equal(other["factor.maltreatment"], small["factor.maltreatment"])


def _err(data) -> str:
    with pytest.raises(PopulationError) as e:
        parse_population(data, "spec.toml")
    return str(e.value)


def test_non_positive_definite_correlation(community_data):
    d = copy.deepcopy(community_data)
    d["correlation"] = {"factors": ["maltreatment", "parental_control", "self_esteem"],
                        "matrix": [[1.0, 0.9, 0.9], [0.9, 1.0, -0.9], [0.9, -0.9, 1.0]]}
    msg = _err(d)
    assert "spec.toml" in msg and "correlation.matrix" in msg and "positive definite" in msg


def test_asymmetric_and_bad_diagonal(community_data):
    d = copy.deepcopy(community_data)
    d["correlation"] = {"factors": ["maltreatment", "self_esteem"], "matrix": [[1.0, 0.2], [0.3, 0.9]]}
    msg = _err(d)
    assert "correlation.matrix[0][1]" in msg and "symmetric" in msg
    assert "correlation.matrix[1][1]" in msg and "diagonal" in msg


def test_unknown_factor_named(community_data):
    d = copy.deepcopy(community_data)
    d["factors"]["maltreatmnt"] = {"kind": "beta", "mean": 0.1, "sd": 0.1}
    msg = _err(d)
    assert "factors.maltreatmnt" in msg and "did you mean 'maltreatment'" in msg
    d = copy.deepcopy(community_data)
    d["correlation"]["factors"][2] = "bullying"
    assert "correlation.factors[2]" in _err(d)


def test_out_of_bounds_marginal_named(community_data):
    d = copy.deepcopy(community_data)
    d["factors"]["limbic_reactivity"] = {"kind": "truncnorm", "loc": 5.0, "scale": 0.3}
    msg = _err(d)
    assert "factors.limbic_reactivity.loc" in msg and "[0.3, 3.0]" in msg
    d = copy.deepcopy(community_data)
    d["factors"]["hope"] = {"kind": "beta", "mean": 0.5, "sd": 0.6}
    assert "factors.hope.sd" in _err(d)
    d = copy.deepcopy(community_data)
    d["factors"]["sex_female"] = {"kind": "binary", "prevalence": 1.5}
    assert "factors.sex_female.prevalence" in _err(d)
    d = copy.deepcopy(community_data)
    d["mapping"]["left_behind_family_stress"] = 2.0
    assert "mapping.left_behind_family_stress" in _err(d)


def test_load_errors(tmp_path):
    with pytest.raises(PopulationError, match="communty.*did you mean 'community'"):
        load_population("communty")
    bad = tmp_path / "bad.toml"
    bad.write_text("[factors\n", encoding="utf-8")
    with pytest.raises(PopulationError, match="bad.toml: not valid TOML"):
        load_population(bad)
    ok = tmp_path / "mine.toml"
    ok.write_text('[factors.hope]\nkind = "beta"\nmean = 0.6\nsd = 0.1\n', encoding="utf-8")
    spec = load_population(ok)
    assert spec.name == "mine" and spec.factor_names == ("hope",)
    assert set(sample_population(spec, 5, 0)) == {"hope", "factor.hope"}


def test_cited_evidence_keys_exist():
    import re
    from pathlib import Path

    import nssisim.core.measures
    import nssisim.population.spec
    from nssisim.files import resource

    refs = tomllib.loads(resource("data", "references.toml").read_text("utf-8"))
    texts = [Path(nssisim.population.spec.__file__).read_text("utf-8"), Path(nssisim.core.measures.__file__).read_text("utf-8")]
    doc = Path(__file__).parent.parent / "docs" / "population.md"
    if doc.exists():
        texts.append(doc.read_text("utf-8"))
    keys = set()
    for t in texts:
        keys |= set(re.findall(r"\b([A-Z][A-Za-z]+20\d\d[A-Za-z]*)\b", t))
    missing = sorted(k for k in keys if k not in refs)
    assert not missing, f"evidence keys not in references.toml: {missing}"


def test_fixed_order_cholesky_matches_lapack(spec):
    """The BLAS-free factor used for the copula is a Cholesky factor (to rounding)."""
    from nssisim.population.spec import _cholesky_fixed_order

    low = _cholesky_fixed_order(spec.correlation)
    np.testing.assert_allclose(low, np.linalg.cholesky(spec.correlation), rtol=0, atol=1e-12)
    np.testing.assert_allclose(low @ low.T, spec.correlation, rtol=0, atol=1e-12)
