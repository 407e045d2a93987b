"""The EMA inference model and its fit: the prompt-level model, data preparation, NUTS,
diagnostics, the posterior as a dataset and a summary table, and phenotyping.

A research instrument, not a clinical tool: posteriors, profiles and forecasts describe a model
fitted to ratings; they are not a risk assessment of a person.

Why an inference model and not the simulator's own likelihood
-------------------------------------------------------------
The simulator (:mod:`nssisim.core.model`) has discrete events (stressors, urges, acts), thresholds
and fifteen latent states stepped every 15 minutes, while EMA sees a few noisy ratings a day. Its
likelihood would need the whole latent path between prompts integrated out (a particle filter
per participant and parameter draw), which NUTS cannot differentiate through. So the fit uses an
**inference model** with a tractable likelihood at the prompt level that shares the simulator's
quantities where EMA data speak to them (same names, meanings and bounds from
:data:`nssisim.core.parameters.PARAMS` or :data:`nssisim.core.model.STATE_BOUNDS`), and names its own
summaries where they do not map one to one. Everything is conditional on the answered signal
prompts of a participant, in time order (event reports and daily diaries are read but not used
in the likelihood):

* **affect**: latent affect ``a_j`` at each answered prompt is a discretely observed
  mean-reverting process, ``a_j = m_j + rho_j (a_{j-1} - affect_level) + affect_sd sqrt(1 -
  rho_j^2) e_j`` with ``m_j = affect_level + stressor_reactivity s_j + act_affect act_j``,
  ``rho_j = exp(-dt_j / affect_tau)``, ``e_j ~ N(0, 1)`` (``s_j``/``act_j``: the stressor/act
  reports of prompt ``j``, ``dt_j``: hours since the previous answered prompt). The rating
  (``negative_affect`` rescaled to [0, 1]) is ``a_j`` plus rating noise ``rating_sd``, censored at
  the ends of the scale. Keeping affect latent matters: the urge and the act hazard depend on the
  *true* affect, and plugging in noisy ratings biased the threshold and relief value (see docs);
* **urge** follows the simulator's urge intensity (``model.step``: ``1 - (1 - Q x)(1 - H A)``)
  at latent affect: ``u_j ~ N(1 - (1 - relief_value * x_j)(1 - habit * a_j), urge_sd)``, censored
  at the scale ends, with ``x_j`` the excess of affect over the threshold,
  ``x = clip((a - distress_threshold) / (1 - distress_threshold), 0, 1)`` (smoothed for NUTS);
* **acts** between prompts are a Poisson process with hazard ``act_rate_goal * relief_value *
  xbar_j + act_rate_habit * habit`` (``xbar_j`` the mean excess at the two ends of the interval),
  so ``P(act_j = 1) = 1 - exp(-dt_j * h_j)``. The act report of a participant's first answered
  prompt is not used (its window is unknown).

Parameters per participant (:data:`INFERENCE_PARAMS`): ``distress_threshold`` (the *effective*
threshold that distress is compared with, i.e. ``model.urge_threshold`` minus the mood term of
``model.urge_distress``; equal to the parameter when load, resilience and mood terms vanish),
``relief_value`` and ``habit`` (the simulator's states Q and H, nearly constant over two weeks),
and the summaries ``affect_level``, ``stressor_reactivity``, ``affect_tau``, ``affect_sd``,
``act_rate_goal``, ``act_rate_habit``. Population level: ``act_affect``, ``urge_sd`` and
``rating_sd``.
Every other simulator parameter is fixed at its calibrated value (it does not enter the
inference model). Which of these the data identify is shown by :func:`nssisim.ema.recovery.recover`.

Hierarchy (non-centred): for each parameter ``k``, ``theta_ik = lo + (hi - lo) * sigmoid(mu_k +
sd_k * z_ik)`` (on the log scale for rates and times), ``z_ik ~ N(0, 1)``, ``mu_k ~ N(m_k, 1.5)``,
``sd_k ~ HalfNormal(1)``, except ``sd_k`` fixed for the parameters in
:data:`FIXED_POPULATION_SD` (the threshold, whose spread the data cannot learn). Sampling: NumPyro's NUTS kernel (diagonal mass matrix adapted in
warm-up) on the density of :func:`model` (written out in plain JAX as :func:`potential`), each
chain a compiled scan; keys from ``jax.random.PRNGKey(seed)``, so a fit is deterministic given its
seed and settings.

Data flow: :func:`prepare` (``EMAData`` from :mod:`.data` -> padded arrays, :class:`FitData`) ->
:func:`fit` (NUTS -> :class:`Fit`: draws, settings) -> :func:`diagnostics` (R-hat, ESS,
divergences), :func:`posterior_dataset` (netCDF), :func:`summary_table` (CSV with the profile
probabilities and the forecast of :func:`phenotype`). Posterior predictive checks of a
:class:`Fit` are in :mod:`.checks`; parameter recovery and the self-consistency check in
:mod:`.recovery`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pandas as pd
import xarray as xr
from jax.scipy.stats import beta, norm
from numpyro.diagnostics import effective_sample_size, split_gelman_rubin
from numpyro.infer.hmc import hmc

from ..core.measures import LOSS_OF_CONTROL_SHARE, REPETITIVE_ACTS
from ..core.model import STATE_BOUNDS
from ..core.parameters import HOURS_PER_DAY, PARAMS
from .data import PROMPT_TYPES, EMAData


# ------------------------------------------------------------------------------ the model
@dataclasses.dataclass(frozen=True)
class InferenceParam:
    """One per-participant parameter of the inference model."""

    name: str
    low: float
    high: float
    log: bool  # sample on the log scale between low and high
    prior_center: float  # population mean mu_k is centred at this value (in parameter units)
    simulator: str  # what it is in the simulator ("parameter", "state", "summary") and its name
    meaning: str


def _pb(name: str) -> tuple[float, float]:
    return PARAMS[name].low, PARAMS[name].high


#: Per-participant parameters; bounds from the simulator's tables where the quantity is shared.
INFERENCE_PARAMS: tuple[InferenceParam, ...] = (
    InferenceParam("affect_level", 0.0, 1.0, False, 0.3, "summary of M1/M3/M4 (mean affect without a reported stressor)",
                   "affect level a participant returns to between stressors (fraction of the scale)"),
    InferenceParam("stressor_reactivity", 0.0, 1.0, False, 0.1, "summary of limbic_reactivity (M3)",
                   "rise of affect at a prompt that reports a stressor since the previous one"),
    InferenceParam("affect_tau", 0.25, 48.0, True, 3.0, "summary of tau_affect, tau_stress (M1, M3)",
                   "time constant (h) of the persistence of affect between prompts"),
    InferenceParam("affect_sd", 0.01, 0.5, True, 0.1, "summary of the spread of affect A (M1, M3, M4)",
                   "standard deviation of latent affect around its level"),
    InferenceParam("distress_threshold", *_pb("distress_threshold"), False, 0.4, "parameter distress_threshold (M5), effective",
                   "effective distress-tolerance threshold: affect above it feeds the urge"),
    InferenceParam("relief_value", *STATE_BOUNDS["relief_value"], False, 0.3, "state relief_value Q (M9)",
                   "learned expected relief of an act"),
    InferenceParam("habit", *STATE_BOUNDS["habit"], False, 0.2, "state habit H (M10)",
                   "habit strength"),
    InferenceParam("act_rate_goal", 1e-3, PARAMS["lam_urge"].high, True, 0.2, "summary of lam_urge x P(act | urge) (M5, M6)",
                   "act hazard (1/h) at unit relief value and full excess distress"),
    InferenceParam("act_rate_habit", 1e-4, PARAMS["lam_cue"].high, True, 0.01, "summary of lam_cue x P(act | cue) (M5, M6, M10)",
                   "act hazard (1/h) per unit habit, independent of distress"),
)
PARAM_NAMES = tuple(p.name for p in INFERENCE_PARAMS)
#: Per-participant parameters whose population spread is fixed (not learned): name -> sd_k on the
#: unconstrained scale. The recovery study showed that learning the spread of the threshold
#: collapses it (posterior sd_k 0.16: every fitted threshold 0.42..0.50 with posterior sd 0.03,
#: true effective thresholds 0.21..0.55), and the goal-directed part of the urge of participants
#: with a low true threshold is then attributed to habit with false confidence (docs/ema.md). A
#: fixed spread of 1.0 (at the prior centre, 90 % of the population between about 0.15 and 0.74) keeps the threshold's
#: uncertainty in the posterior of habit.
FIXED_POPULATION_SD: dict[str, float] = {"distress_threshold": 1.0}
#: Population-level (shared) parameters: name -> (prior mean, prior sd) of a normal prior.
ACT_AFFECT_PRIOR = (0.0, 0.2)
URGE_SD_BOUNDS = (0.01, 0.5)
RATING_SD_BOUNDS = (0.01, 0.3)
#: Sharpness (1/affect units) of the smoothed clip in the excess over the threshold.
EXCESS_SHARPNESS = 40.0
#: Half-width of a rating step used for censoring at the scale ends (fraction of the scale).
CENSOR_EDGE = 0.005

#: Diagnostics bars (warned on): split R-hat (Vehtari et al. 2021 recommend < 1.01; 1.05 is the
#: looser, common bar we warn at), bulk ESS per parameter, and any divergent transition.
RHAT_MAX = 1.05
ESS_MIN = 100.0
DIVERGENCES_MAX = 0

#: Sampler defaults.
NUM_WARMUP = 500
NUM_SAMPLES = 500
NUM_CHAINS = 2
TARGET_ACCEPT = 0.9
MAX_TREE_DEPTH = 8

#: Phenotype rule (see :func:`phenotype`): hours in a year and forecast horizon.
HOURS_PER_YEAR_EMA = 365.0 * HOURS_PER_DAY
FORECAST_HOURS = 7 * HOURS_PER_DAY


class FitDiagnosticWarning(UserWarning):
    """R-hat, effective sample size or divergences beyond the bars :data:`RHAT_MAX`, :data:`ESS_MIN`, :data:`DIVERGENCES_MAX`."""


@dataclasses.dataclass
class FitData:
    """Answered signal prompts as padded arrays (participants x prompts); see :func:`prepare`."""

    participants: list[str]
    present: np.ndarray  # bool: a real answered signal prompt (False = padding)
    time_h: np.ndarray
    dt: np.ndarray  # hours since the previous answered signal prompt (0 for the first)
    y: np.ndarray
    y_obs: np.ndarray
    urge: np.ndarray
    urge_obs: np.ndarray
    act: np.ndarray
    act_obs: np.ndarray  # observed and not the first answered prompt
    stress: np.ndarray  # 0 where unobserved
    source: str = ""

    def arrays(self) -> dict[str, np.ndarray]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if isinstance(getattr(self, f.name), np.ndarray)}


def prepare(data: EMAData, until_h: float | None = None) -> FitData:
    """Answered signal prompts of each participant as padded arrays.

    ``until_h``: keep only prompts before this many hours after the participant's first row (used
    to hold out later weeks). A participant with fewer than 2 answered signal prompts is an error.
    """
    sig = PROMPT_TYPES.index("signal")
    rows = []
    for pid, p in data.participants.items():
        keep = (p.prompt_type == sig) & p.answered
        if until_h is not None:
            keep &= p.time_h < until_h
        if keep.sum() < 2:
            raise ValueError(f"{data.source}: participant '{pid}' has {int(keep.sum())} answered signal prompt(s) "
                             "(rows with prompt_type=signal, answered=true): at least 2 are needed to fit")
        rows.append((pid, p, keep))
    if not rows:
        raise ValueError(f"{data.source}: no participant with answered signal prompts: nothing to fit")
    n, m = len(rows), max(int(k.sum()) for _, _, k in rows)
    z = lambda dtype=np.float32: np.zeros((n, m), dtype=dtype)  # noqa: E731
    out = {k: z() for k in ("time_h", "dt", "y", "urge", "act", "stress")}
    for k in ("present", "y_obs", "urge_obs", "act_obs"):
        out[k] = z(bool)
    for i, (pid, p, keep) in enumerate(rows):
        j = int(keep.sum())
        t = p.time_h[keep]
        out["present"][i, :j] = True
        out["time_h"][i, :j] = t
        out["dt"][i, 1:j] = np.diff(t)
        y, yo = p.items["negative_affect"][keep], p.observed["negative_affect"][keep]
        out["y"][i, :j], out["y_obs"][i, :j] = np.where(yo, y, 0.0), yo
        u, uo = p.items["urge"][keep], p.observed["urge"][keep]
        out["urge"][i, :j], out["urge_obs"][i, :j] = np.where(uo, u, 0.0), uo
        a, ao = p.items["act"][keep], p.observed["act"][keep]
        out["act"][i, :j] = np.where(ao, a, 0.0)
        out["act_obs"][i, 1:j] = ao[1:]
        s, so = p.items["stressor"][keep], p.observed["stressor"][keep]
        out["stress"][i, :j] = np.where(so, s, 0.0)
    return FitData(participants=[r[0] for r in rows], source=data.source, **out)


def _constrain(raw, spec: InferenceParam):
    """Unconstrained value -> parameter within its bounds (logistic, on the log scale for rates and times)."""
    if spec.log:
        lo, hi = math.log(spec.low), math.log(spec.high)
        return jnp.exp(lo + (hi - lo) * jax.nn.sigmoid(raw))
    return spec.low + (spec.high - spec.low) * jax.nn.sigmoid(raw)


def _center(spec: InferenceParam) -> float:
    """Unconstrained value of the prior centre."""
    if spec.log:
        lo, hi, x = math.log(spec.low), math.log(spec.high), math.log(spec.prior_center)
    else:
        lo, hi, x = spec.low, spec.high, spec.prior_center
    f = min(max((x - lo) / (hi - lo), 1e-3), 1 - 1e-3)
    return math.log(f / (1 - f))


def _excess(a, thr):
    x = (a - thr) / (1.0 - thr)
    return jnp.minimum(jax.nn.softplus(EXCESS_SHARPNESS * x) / EXCESS_SHARPNESS, 1.0)


def _censored_normal_logpdf(x, mean, sd):
    """Rating likelihood: density inside the scale, probability mass at its ends (censoring)."""
    lo = norm.logcdf((CENSOR_EDGE - mean) / sd)
    hi = norm.logcdf((mean - (1.0 - CENSOR_EDGE)) / sd)
    mid = norm.logpdf(x, mean, sd)
    return jnp.where(x <= CENSOR_EDGE, lo, jnp.where(x >= 1.0 - CENSOR_EDGE, hi, mid))


def latent_affect(theta: Mapping[str, Any], noise, d: Mapping[str, Any], act_affect):
    """Latent affect at each answered prompt from its standard-normal innovations ``noise``.

    ``a_0 = m_0 + affect_sd e_0``; ``a_j = m_j + rho_j (a_{j-1} - affect_level) + affect_sd
    sqrt(1 - rho_j^2) e_j`` with ``m_j = affect_level + stressor_reactivity s_j + act_affect act_j``
    and ``rho_j = exp(-dt_j / affect_tau)`` (a discretely observed mean-reverting process).
    Shapes: ``theta[k]`` (..., participants, 1), ``noise`` (..., participants, prompts).
    """
    level, sd = theta["affect_level"], theta["affect_sd"]
    first = jnp.arange(noise.shape[-1]) == 0
    rho = jnp.where(first, 0.0, jnp.exp(-d["dt"] / theta["affect_tau"]))
    innov = jnp.where(first, sd, sd * jnp.sqrt(jnp.maximum(1.0 - rho * rho, 1e-12)))
    mean = level + theta["stressor_reactivity"] * d["stress"] + act_affect * d["act"]
    mean, rho, innov = (jnp.broadcast_to(x, noise.shape) for x in (mean, rho, innov))
    lvl = jnp.broadcast_to(level, noise.shape)[..., 0]

    def step(prev, xs):
        m, r, q, e = xs
        a = m + r * (prev - lvl) + q * e
        return a, a

    xs = tuple(jnp.moveaxis(x, -1, 0) for x in (mean, rho, innov, noise))
    _, a = jax.lax.scan(step, lvl, xs)
    return jnp.moveaxis(a, 0, -1)


def _terms(theta: Mapping[str, Any], d: Mapping[str, Any], a):
    """Urge mean and the two act hazards given latent affect ``a`` (..., participants, prompts)."""
    ac = jnp.clip(a, 0.0, 1.0)
    x_now = _excess(ac, theta["distress_threshold"])
    urge_mean = 1.0 - (1.0 - theta["relief_value"] * x_now) * (1.0 - theta["habit"] * ac)
    x_prev = jnp.concatenate([x_now[..., :1], x_now[..., :-1]], axis=-1)
    xbar = 0.5 * (x_prev + x_now)
    h_goal = theta["act_rate_goal"] * theta["relief_value"] * xbar
    h_habit = theta["act_rate_habit"] * theta["habit"] + 0.0 * xbar
    return urge_mean, h_goal, h_habit


def model(d: Mapping[str, Any]) -> None:
    """The NumPyro model (non-centred hierarchy); ``d`` are the arrays of :class:`FitData`."""
    n = d["y"].shape[0]
    theta = {}
    for spec in INFERENCE_PARAMS:
        mu = numpyro.sample(f"mu_{spec.name}", dist.Normal(_center(spec), 1.5))
        sd = (FIXED_POPULATION_SD[spec.name] if spec.name in FIXED_POPULATION_SD
              else numpyro.sample(f"sd_{spec.name}", dist.HalfNormal(1.0)))
        with numpyro.plate("participant", n):
            z = numpyro.sample(f"z_{spec.name}", dist.Normal(0.0, 1.0))
        theta[spec.name] = numpyro.deterministic(spec.name, _constrain(mu + sd * z, spec))[:, None]
    act_affect = numpyro.sample("act_affect", dist.Normal(*ACT_AFFECT_PRIOR))
    sds = {}
    for name, (lo, hi) in (("urge_sd", URGE_SD_BOUNDS), ("rating_sd", RATING_SD_BOUNDS)):
        raw = numpyro.sample(f"{name}_raw", dist.Beta(2.0, 2.0))
        sds[name] = numpyro.deterministic(name, jnp.exp(math.log(lo) + (math.log(hi) - math.log(lo)) * raw))
    noise = numpyro.sample("affect_noise", dist.Normal(0.0, 1.0).expand(list(d["y"].shape)).to_event(2))

    v = {k: theta[k][:, 0] for k in PARAM_NAMES}
    v.update(act_affect=act_affect, affect_noise=noise, **sds)
    numpyro.factor("ll", _log_likelihood(v, d))


# ---------------------------------------------------------------------------- sampling
@dataclasses.dataclass
class Fit:
    """Posterior draws (chain, draw, ...) of every site, the data and the sampler diagnostics."""

    data: FitData
    draws: dict[str, np.ndarray]
    diverging: np.ndarray  # (chain, draw) bool
    settings: dict[str, Any]
    seconds: float

    @property
    def participants(self) -> list[str]:
        return self.data.participants

    def flat(self, name: str) -> np.ndarray:
        """Draws of ``name`` with chains stacked: (draws, ...)."""
        x = self.draws[name]
        return x.reshape((-1, *x.shape[2:]))


def _constrained(params: Mapping[str, Any]) -> dict[str, Any]:
    """Unconstrained sampler position -> every site of :func:`model` (constrained) and its log Jacobian."""
    out: dict[str, Any] = {}
    log_jac = 0.0
    for spec in INFERENCE_PARAMS:
        mu, z = params[f"mu_{spec.name}"], params[f"z_{spec.name}"]
        if spec.name in FIXED_POPULATION_SD:
            sd = FIXED_POPULATION_SD[spec.name]
        else:
            log_sd = params[f"sd_{spec.name}"]
            sd = jnp.exp(log_sd)
            log_jac = log_jac + log_sd
            out[f"sd_{spec.name}"] = sd
        out[f"mu_{spec.name}"], out[f"z_{spec.name}"] = mu, z
        out[spec.name] = _constrain(mu + sd * z, spec)
    for name, (lo, hi) in (("urge_sd", URGE_SD_BOUNDS), ("rating_sd", RATING_SD_BOUNDS)):
        r = params[f"{name}_raw"]
        b = jax.nn.sigmoid(r)
        log_jac = log_jac + jax.nn.log_sigmoid(r) + jax.nn.log_sigmoid(-r)
        out[f"{name}_raw"], out[name] = b, jnp.exp(math.log(lo) + (math.log(hi) - math.log(lo)) * b)
    out["act_affect"] = params["act_affect"]
    out["affect_noise"] = params["affect_noise"]
    return out, log_jac


def _log_likelihood(v: Mapping[str, Any], d: Mapping[str, Any]):
    theta = {k: v[k][..., :, None] for k in PARAM_NAMES}
    a = latent_affect(theta, v["affect_noise"], d, v["act_affect"])
    urge_mean, h_goal, h_habit = _terms(theta, d, a)
    ll_y = jnp.where(d["y_obs"], _censored_normal_logpdf(d["y"], a, v["rating_sd"]), 0.0)
    ll_u = jnp.where(d["urge_obs"], _censored_normal_logpdf(d["urge"], jnp.clip(urge_mean, 0.0, 1.0), v["urge_sd"]), 0.0)
    cum = jnp.maximum(d["dt"] * (h_goal + h_habit), 1e-8)
    ll_a = jnp.where(d["act_obs"], jnp.where(d["act"] > 0.5, jnp.log(-jnp.expm1(-cum)), -cum), 0.0)
    return jnp.sum(ll_y) + jnp.sum(ll_u) + jnp.sum(ll_a)


def potential(params: Mapping[str, Any], d: Mapping[str, Any]):
    """Negative log posterior density of :func:`model` in the sampler's unconstrained space, in plain
    JAX (the same density NumPyro derives from :func:`model`; a test checks they agree). Written out
    so that tracing it for NUTS is cheap."""
    v, log_jac = _constrained(params)
    lp = log_jac
    for spec in INFERENCE_PARAMS:
        lp = lp + norm.logpdf(v[f"mu_{spec.name}"], _center(spec), 1.5)
        if spec.name not in FIXED_POPULATION_SD:
            lp = lp + jnp.log(2.0) + norm.logpdf(v[f"sd_{spec.name}"], 0.0, 1.0)
        lp = lp + jnp.sum(norm.logpdf(v[f"z_{spec.name}"]))
    lp = lp + norm.logpdf(v["act_affect"], *ACT_AFFECT_PRIOR) + jnp.sum(norm.logpdf(v["affect_noise"]))
    lp = lp + beta.logpdf(v["urge_sd_raw"], 2.0, 2.0) + beta.logpdf(v["rating_sd_raw"], 2.0, 2.0)
    return -(lp + _log_likelihood(v, d))


def _unconstrained_init(n: int, chains: int, seed: int, prompts: int) -> dict[str, np.ndarray]:
    """Starting points (unconstrained space) per chain: the prior centres, jittered by U(-0.5, 0.5)
    per chain from ``default_rng([seed, 3])`` so that chains start apart (R-hat is then informative)."""
    rng = np.random.default_rng([int(seed), 3])
    j = lambda *shape: rng.uniform(-0.5, 0.5, (chains, *shape)).astype(np.float32)  # noqa: E731
    init: dict[str, np.ndarray] = {}
    for spec in INFERENCE_PARAMS:
        init[f"mu_{spec.name}"] = np.float32(_center(spec)) + j()
        if spec.name not in FIXED_POPULATION_SD:
            init[f"sd_{spec.name}"] = np.float32(math.log(0.5)) + j()  # HalfNormal: log scale
        init[f"z_{spec.name}"] = j(n)
    init["act_affect"] = j()
    init["urge_sd_raw"] = j()  # Beta: logit scale
    init["rating_sd_raw"] = j()
    init["affect_noise"] = j(n, prompts)
    return init


def _sample_chain(key, init, arrays, num_warmup: int, num_samples: int, target_accept: float, max_tree_depth: int):
    """Warm-up and sampling of one chain in one compiled function (NumPyro's NUTS kernel).

    NumPyro's ``MCMC`` driver re-compiles its sampling loop on every call; this function is jitted
    once per settings and data shape (:data:`_SAMPLE_JIT`) and reused across chains and fits.
    Returns constrained draws of every site (draw, ...) and the divergence flags.
    """
    init_kernel, sample_kernel = hmc(potential_fn_gen=lambda a: (lambda q: potential(q, a)), algo="NUTS")
    state = init_kernel(init, num_warmup, target_accept_prob=target_accept, max_tree_depth=max_tree_depth,
                        model_args=(arrays,), rng_key=key)

    # one scan over warm-up and sampling (the kernel adapts while its counter is below num_warmup),
    # so the NUTS tree code is compiled once
    def body(st, _):
        st = sample_kernel(st, model_args=(arrays,))
        return st, (st.z, st.diverging)

    _, (z, div) = jax.lax.scan(body, state, None, length=num_warmup + num_samples)
    z = jax.tree_util.tree_map(lambda x: x[num_warmup:], z)
    values, _ = jax.vmap(_constrained)(z)
    return values, div[num_warmup:]


_SAMPLE_JIT: Any = None


def fit(data: EMAData | FitData, *, seed: int = 0, num_warmup: int = NUM_WARMUP, num_samples: int = NUM_SAMPLES,
        num_chains: int = NUM_CHAINS, target_accept: float = TARGET_ACCEPT, max_tree_depth: int = MAX_TREE_DEPTH,
        warn: bool = True, until_h: float | None = None, progress: bool = False) -> Fit:
    """Fit the inference model with NUTS (NumPyro's kernel; chains one after the other, deterministic given ``seed``).

    Each chain adapts step size and a diagonal mass matrix during ``num_warmup`` iterations, then
    draws ``num_samples``. With ``warn`` a :class:`FitDiagnosticWarning` is issued for each
    diagnostic beyond its bar (see :func:`diagnostics`). ``progress`` shows a bar over the chains
    (the draws do not depend on it).
    """
    global _SAMPLE_JIT
    if num_warmup < 1 or num_samples < 1 or num_chains < 1:
        raise ValueError("num_warmup, num_samples and num_chains must be >= 1")
    if not 0.5 <= target_accept < 1.0:
        raise ValueError(f"target_accept must lie in [0.5, 1), got {target_accept}")
    d = data if isinstance(data, FitData) else prepare(data, until_h=until_h)
    arrays = {k: jnp.asarray(v) for k, v in d.arrays().items()}
    init = {k: jnp.asarray(v) for k, v in _unconstrained_init(d.y.shape[0], num_chains, seed, d.y.shape[1]).items()}
    if _SAMPLE_JIT is None:
        _SAMPLE_JIT = jax.jit(_sample_chain, static_argnames=("num_warmup", "num_samples", "target_accept", "max_tree_depth"))
    t0 = time.perf_counter()
    keys = jax.random.split(jax.random.PRNGKey(int(seed)), num_chains)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=num_chains, desc=f"NUTS ({num_warmup} warm-up + {num_samples} draws a chain)", unit="chain")
    runs = []
    for c in range(num_chains):
        runs.append(jax.block_until_ready(_SAMPLE_JIT(keys[c], {k: v[c] for k, v in init.items()}, arrays,
                                                      num_warmup=int(num_warmup), num_samples=int(num_samples),
                                                      target_accept=float(target_accept),
                                                      max_tree_depth=int(max_tree_depth))))
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    values = {k: np.stack([np.asarray(r[0][k]) for r in runs]) for k in runs[0][0]}
    div = np.stack([np.asarray(r[1]) for r in runs])
    draws = {k: np.asarray(v) for k, v in values.items()}
    seconds = time.perf_counter() - t0
    settings = dict(seed=int(seed), num_warmup=num_warmup, num_samples=num_samples, num_chains=num_chains,
                    target_accept=target_accept, max_tree_depth=max_tree_depth)
    out = Fit(data=d, draws=draws, diverging=np.asarray(div), settings=settings, seconds=seconds)
    if warn:
        for msg in diagnostics(out)["warnings"]:
            warnings.warn(msg, FitDiagnosticWarning, stacklevel=2)
    return out


def _population_sites() -> list[str]:
    return ([f"{k}_{s.name}" for s in INFERENCE_PARAMS for k in ("mu", "sd")
             if not (k == "sd" and s.name in FIXED_POPULATION_SD)] + ["act_affect", "urge_sd", "rating_sd"])


def diagnostics(f: Fit) -> dict[str, Any]:
    """Split R-hat and bulk ESS per parameter (max / min over participants), divergences, warnings.

    R-hat needs at least 2 chains (NaN otherwise, with a warning message).
    """
    per: dict[str, dict[str, float]] = {}
    rhat_part: dict[str, np.ndarray] = {}
    ess_part: dict[str, np.ndarray] = {}
    for name in list(PARAM_NAMES) + _population_sites():
        x = np.asarray(f.draws[name], dtype=np.float64)
        ess = np.asarray(effective_sample_size(x))
        rhat = np.asarray(split_gelman_rubin(x)) if x.shape[0] >= 2 else np.full(x.shape[2:], np.nan)
        rhat_part[name], ess_part[name] = rhat, ess
        per[name] = {"rhat_max": float(np.nanmax(rhat)) if np.isfinite(rhat).any() else float("nan"),
                     "ess_min": float(np.min(ess))}
    n_div = int(f.diverging.sum())
    msgs = []
    bad_r = {k: v["rhat_max"] for k, v in per.items() if v["rhat_max"] > RHAT_MAX}
    if f.draws[PARAM_NAMES[0]].shape[0] < 2:
        msgs.append("R-hat cannot be computed from a single chain: run 2 or more chains (--chains)")
    if bad_r:
        worst = max(bad_r, key=bad_r.get)
        msgs.append(f"R-hat above {RHAT_MAX} for {len(bad_r)} parameter(s) (worst: {worst} = {bad_r[worst]:.3f}): "
                    "chains disagree; run longer (--warmup, --samples) before using the results")
    bad_e = {k: v["ess_min"] for k, v in per.items() if v["ess_min"] < ESS_MIN}
    if bad_e:
        worst = min(bad_e, key=bad_e.get)
        msgs.append(f"effective sample size below {ESS_MIN:g} for {len(bad_e)} parameter(s) (worst: {worst} = "
                    f"{bad_e[worst]:.0f}): posterior summaries are imprecise; draw more samples")
    if n_div > DIVERGENCES_MAX:
        msgs.append(f"{n_div} divergent transition(s) of {f.diverging.size}: the posterior may be biased; "
                    "raise the target acceptance (--target-accept)")
    return {"per_parameter": per, "rhat": rhat_part, "ess": ess_part, "divergences": n_div,
            "transitions": int(f.diverging.size), "warnings": msgs}


# ------------------------------------------------------------------ derived quantities
def hazards(f: Fit) -> tuple[np.ndarray, np.ndarray]:
    """Time-averaged goal-directed and habit act hazards (1/h) per draw and participant: (draws, participants).

    Averages over the participant's inter-prompt intervals (weighted by their length) at the
    posterior latent affect of each draw.
    """
    d = {k: jnp.asarray(v)[None] for k, v in f.data.arrays().items()}
    th = {k: jnp.asarray(f.flat(k))[:, :, None] for k in PARAM_NAMES}
    w = np.where(f.data.present, f.data.dt, 0.0)
    wsum = np.maximum(w.sum(axis=1), 1e-9)
    a = latent_affect(th, jnp.asarray(f.flat("affect_noise")), d, jnp.asarray(f.flat("act_affect"))[:, None, None])
    _, hg, hh = _terms(th, d, a)
    hg, hh = np.asarray(hg), np.broadcast_to(np.asarray(hh), np.asarray(hg).shape)
    return (hg * w).sum(axis=2) / wsum, (hh * w).sum(axis=2) / wsum


#: Profile labels of :func:`phenotype`.
PROFILES = ("addictive", "relief_driven", "not_repetitive")


def phenotype(f: Fit) -> pd.DataFrame:
    """Posterior probability of each profile and the 7-day act forecast, per participant.

    Rule (the EMA-observable part of the addictive profile of :mod:`nssisim.core.measures`): a draw is

    * ``addictive`` if the fitted act rate projects to at least ``REPETITIVE_ACTS`` acts a year
      (repetitive NSSI, as ``five_plus_12m``) **and** the habit share of the act hazard,
      ``h_habit / (h_goal + h_habit)``, is at least ``LOSS_OF_CONTROL_SHARE`` (the loss-of-control
      component: that share of acts habit-triggered);
    * ``relief_driven`` if repetitive with a smaller habit share (acts driven by distress above
      the threshold times the learned relief value);
    * ``not_repetitive`` otherwise.

    Tolerance and continuation despite harm, the other components of the index, are not observed in
    EMA ratings, so the rule cannot require them; it is therefore broader than ``addictive`` in
    ``core/measures.py``. The forecast is ``P(act in the next 7 days) = mean over draws of
    1 - exp(-168 h (h_goal + h_habit))``, assuming the hazards of the fitted weeks persist.
    """
    hg, hh = hazards(f)
    total = hg + hh
    share = hh / np.maximum(total, 1e-12)
    repetitive = total * HOURS_PER_YEAR_EMA >= REPETITIVE_ACTS
    addictive = repetitive & (share >= LOSS_OF_CONTROL_SHARE)
    relief = repetitive & ~addictive
    forecast = 1.0 - np.exp(-FORECAST_HOURS * total)
    return pd.DataFrame({
        "p_addictive": addictive.mean(axis=0), "p_relief_driven": relief.mean(axis=0),
        "p_not_repetitive": (~repetitive).mean(axis=0), "habit_share_mean": share.mean(axis=0),
        "acts_per_week_mean": total.mean(axis=0) * 7 * HOURS_PER_DAY,
        "p_act_next_7d": forecast.mean(axis=0),
    }, index=pd.Index(f.participants, name="participant"))


def summary_table(f: Fit) -> pd.DataFrame:
    """One row per participant: posterior mean, sd, 5/25/50/75/95 % quantiles, R-hat and ESS of each
    parameter, data counts, profile probabilities and the 7-day forecast."""
    diag = diagnostics(f)
    cols: dict[str, Any] = {}
    d = f.data
    cols["answered_prompts"] = d.present.sum(axis=1)
    cols["prompts_reporting_act"] = (d.act_obs & (d.act > 0.5)).sum(axis=1)
    for name in PARAM_NAMES:
        x = f.flat(name)
        cols[f"{name}_mean"] = x.mean(axis=0)
        cols[f"{name}_sd"] = x.std(axis=0)
        for q in (5, 25, 50, 75, 95):
            cols[f"{name}_q{q:02d}"] = np.percentile(x, q, axis=0)
        cols[f"{name}_rhat"] = diag["rhat"][name]
        cols[f"{name}_ess"] = diag["ess"][name]
    df = pd.DataFrame(cols, index=pd.Index(f.participants, name="participant"))
    return df.join(phenotype(f))


def posterior_dataset(f: Fit, full_path: bool = False) -> xr.Dataset:
    """Posterior draws as an xarray Dataset (dims ``chain``, ``draw``, ``participant``) with the
    per-parameter diagnostics, the profile/forecast table and the settings as attributes.

    The ``source`` attribute is the data file's name only (a full path can name a person or a
    site); ``full_path=True`` keeps the path as it was given."""
    diag = diagnostics(f)
    vars_: dict[str, Any] = {}
    for name in PARAM_NAMES:
        spec = next(s for s in INFERENCE_PARAMS if s.name == name)
        vars_[name] = (("chain", "draw", "participant"), f.draws[name],
                       {"meaning": spec.meaning, "simulator": spec.simulator, "bounds": f"{spec.low:g}..{spec.high:g}"})
        vars_[f"{name}_rhat"] = (("participant",), diag["rhat"][name])
        vars_[f"{name}_ess"] = (("participant",), diag["ess"][name])
    for name in _population_sites():
        vars_[name] = (("chain", "draw"), f.draws[name])
    vars_["diverging"] = (("chain", "draw"), f.diverging)
    ph = phenotype(f)
    for c in ph.columns:
        vars_[c] = (("participant",), ph[c].values)
    ds = xr.Dataset(vars_, coords={"chain": np.arange(f.diverging.shape[0]), "draw": np.arange(f.diverging.shape[1]),
                                   "participant": f.participants})
    ds.attrs.update(title="nssisim EMA fit: posterior of the prompt-level inference model (research instrument)",
                    source=f.data.source if full_path else Path(f.data.source).name, settings=json.dumps(f.settings), sampling_seconds=f.seconds,
                    divergences=diag["divergences"], warnings=json.dumps(diag["warnings"]))
    return ds


__all__ = ["NUM_CHAINS", "NUM_SAMPLES", "NUM_WARMUP", "TARGET_ACCEPT", 
    "ESS_MIN", "FORECAST_HOURS", "INFERENCE_PARAMS", "PARAM_NAMES", "PROFILES", "RHAT_MAX", "Fit", "FitData",
    "FitDiagnosticWarning", "diagnostics", "fit", "hazards", "model", "phenotype", "posterior_dataset", "prepare",
    "summary_table",
]
