"""Posterior predictive checks of an EMA fit: replicated act rates and affect around acts, and their plots.

A research instrument, not a clinical tool. Data flow: a :class:`~nssisim.ema.inference.Fit` (from
:func:`nssisim.ema.inference.fit`) -> :func:`ppc` (replicated data from posterior draws of the
inference model of :mod:`.inference`, with the observed summaries beside them) -> :func:`plot_ppc`
(``ppc_act_rate.png`` with its table ``ppc_act_rate.csv``, ``ppc_affect_around_acts.png``, drawn in the style of :mod:`nssisim.plotting`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jax.numpy as jnp
import numpy as np
import pandas as pd

from ..files import write_csv
from ..plotting import COLORS, figure, save, style
from .inference import PARAM_NAMES, Fit, _terms, latent_affect


def ppc(f: Fit, n_draws: int = 200, seed: int = 0, lags: int = 2) -> dict[str, Any]:
    """Posterior predictive checks.

    For each of ``n_draws`` posterior draws a new affect path is drawn from the fitted process
    (fresh innovations; the observed prompt times, stressor and act reports as covariates), acts
    are drawn from the fitted hazard along that path, and the path is drawn again with the same
    innovations and the replicated acts as the act covariate (a two-pass approximation of the
    joint process), then rated with the fitted rating noise. Then

    * act rate: per participant, the share of answered prompts (after the first) reporting an act,
      observed and replicated;
    * affect around acts: mean affect rating at prompts ``-lags..+lags`` from a prompt reporting an
      act (pooled over participants), observed and replicated (around the replicated acts).

    Returns arrays of observed values and replicated draws (draws first).
    """
    rng = np.random.default_rng([int(seed), 7])
    d = f.data
    total = f.flat(PARAM_NAMES[0]).shape[0]
    idx = np.linspace(0, total - 1, min(n_draws, total)).astype(int)
    th = {k: jnp.asarray(f.flat(k)[idx])[:, :, None] for k in PARAM_NAMES}
    da = {k: jnp.asarray(v)[None] for k, v in d.arrays().items()}
    act_aff = jnp.asarray(f.flat("act_affect")[idx])[:, None, None]
    noise = jnp.asarray(rng.standard_normal((idx.size, *d.y.shape)), dtype=jnp.float32)
    a = latent_affect(th, noise, da, act_aff)
    _, hg, hh = (np.asarray(x) for x in _terms(th, da, a))
    p_act = -np.expm1(-np.asarray(d.dt)[None] * (hg + hh))
    act_rep = (rng.random(p_act.shape) < p_act) & d.act_obs[None]
    # second pass: the same innovations with the replicated acts as the act covariate, so that the
    # act's effect on affect sits at the replicated acts
    da_rep = dict(da, act=jnp.asarray(act_rep, dtype=jnp.float32))
    a = latent_affect(th, noise, da_rep, act_aff)
    m = d.act_obs
    n_m = np.maximum(m.sum(axis=1), 1)
    obs_rate = (d.act * m).sum(axis=1) / n_m
    rep_rate = act_rep.sum(axis=2) / n_m[None]
    sd = f.flat("rating_sd")[idx][:, None, None]
    y_rep = np.clip(np.asarray(a) + sd * rng.standard_normal(np.shape(a)), 0.0, 1.0)
    offsets = np.arange(-lags, lags + 1)
    obs_curve, rep_curve = np.full(offsets.size, np.nan), np.full((idx.size, offsets.size), np.nan)

    def around(acts, y, o):  # mean of y at prompts o after an act report (answered, rated)
        pi, pj = np.nonzero(acts)
        jj = pj + o
        ok = (jj >= 0) & (jj < d.y.shape[1])
        ii, jj = pi[ok], jj[ok]
        ok = d.present[ii, jj] & d.y_obs[ii, jj]
        return y[ii[ok], jj[ok]].mean() if ok.any() else np.nan

    obs_acts = m & (d.act > 0.5)
    for k, o in enumerate(offsets):
        obs_curve[k] = around(obs_acts, d.y, o)
        for r in range(idx.size):
            rep_curve[r, k] = around(act_rep[r], y_rep[r], o)
    pi = np.nonzero(obs_acts)[0]
    return {"participants": d.participants, "act_rate_observed": obs_rate, "act_rate_replicated": rep_rate,
            "offsets": offsets, "affect_observed": obs_curve, "affect_replicated": rep_curve,
            "n_act_prompts": int(pi.size)}


#: Files :func:`plot_ppc` writes (the affect figure only when some prompt reported an act).
PPC_FILES = ("ppc_act_rate.png", "ppc_act_rate.csv", "ppc_affect_around_acts.png")


def ppc_table(checks: Mapping[str, Any]) -> pd.DataFrame:
    """The act-rate check as a tidy table, one row per participant in the order of the figure: the
    neutral index on the figure's axis (1, 2, ...), the participant id, the observed share and the
    replicated mean and 90 % interval."""
    rep = checks["act_rate_replicated"]
    order = np.argsort(rep.mean(axis=0), kind="stable")
    lo, hi = np.percentile(rep, [5, 95], axis=0)
    return pd.DataFrame({
        "index": np.arange(1, order.size + 1),
        "participant": [checks["participants"][i] for i in order],
        "act_rate_observed": np.asarray(checks["act_rate_observed"])[order],
        "act_rate_replicated_mean": rep.mean(axis=0)[order],
        "act_rate_replicated_5": lo[order],
        "act_rate_replicated_95": hi[order],
    })


def plot_ppc(checks: Mapping[str, Any], out_dir: str | Path) -> list[Path]:
    """Write ``ppc_act_rate.png`` with ``ppc_act_rate.csv`` beside it and ``ppc_affect_around_acts.png``
    into ``out_dir`` (package style).

    The act-rate figure labels participants by neutral indices (1, 2, ... in order of the replicated
    mean), never by their ids; ``ppc_act_rate.csv`` maps each index to its participant. The
    affect-around-acts figure needs act reports: with none it is not drawn (an earlier one in
    ``out_dir`` is removed, so no stale figure stays beside this fit's files).
    """
    out_dir = Path(out_dir)
    paths = []
    table = ppc_table(checks)
    x = table["index"].to_numpy()
    with style():
        fig = figure(max(5, 0.25 * x.size + 2), 3.5)
        ax = fig.add_subplot()
        ax.vlines(x, table["act_rate_replicated_5"], table["act_rate_replicated_95"], color="0.75", lw=3,
                  label="replicated 90% interval")
        ax.plot(x, table["act_rate_observed"], "o", color=COLORS["distress_act"], ms=4, label="observed")
        ax.set_xticks(x, [str(i) for i in x], fontsize=6)
        ax.set_xlabel("participant (index; ids in ppc_act_rate.csv)")
        ax.set_ylabel("share of prompts reporting an act")
        ax.set_title("Posterior predictive check: act rate per participant")
        ax.legend()
        paths.append(save(fig, out_dir / "ppc_act_rate.png"))
        paths.append(write_csv(table, out_dir / "ppc_act_rate.csv", index=False))

        affect = out_dir / "ppc_affect_around_acts.png"
        if checks["n_act_prompts"] == 0:
            affect.unlink(missing_ok=True)
            return paths
        fig = figure(5, 3.5)
        ax = fig.add_subplot()
        off, rc = checks["offsets"], checks["affect_replicated"]
        if np.isfinite(rc).any():
            lo, hi = np.nanpercentile(rc, [5, 95], axis=0)
            ax.fill_between(off, lo, hi, color="0.85", label="replicated 90% interval")
        ax.plot(off, checks["affect_observed"], "o-", color=COLORS["affect"], label="observed")
        ax.set_xticks(off, [f"{int(o):+d}" if o else "0" for o in off])  # whole prompts, never fractions
        ax.set_xlabel("prompts from a prompt reporting an act")
        ax.set_ylabel("mean negative affect (fraction of scale)")
        ax.set_title(f"Affect around acts ({checks['n_act_prompts']} act reports)")
        ax.legend()
        paths.append(save(fig, affect))
    return paths


__all__ = ["PPC_FILES", "plot_ppc", "ppc", "ppc_table"]
