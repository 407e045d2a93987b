"""Where the simulator's time goes: variants of the compiled loop, timed in one process.

    PYTHONPATH=src python benchmarks/profile_loop.py [n_subjects [n_steps [repeats]]]

Each variant is the driver of ``core/simulation.py`` (vmap over subjects of a nested scan, daily
blocks) with one part changed, so the differences between rows are the cost of that part:

* ``full``: main's loop before this change (two Threefry hashes per step, two 8-float
  event-buffer scatters per step, state records);
* ``no events``: without the event-buffer scatter;
* ``counts only``: without the event buffer and without the per-block state records;
* ``1 hash``: one Threefry hash per step (two words; timing only, the words are reused);
* ``stand-in draws``: a near-free integer hash instead of Threefry (timing only);
* ``stand-in, counts``: stand-in draws, counts only: the step arithmetic and the counters;
* ``Threefry alone``: two hashes per step summed into the counters, no step;
* ``NEW driver: ...``: ``simulation._run_segment`` itself (one hash, one 5-float scatter per
  step), with full records and events, two recorded fields, or counts only without events.

It also counts the transcendental functions and divides in the compiled step (optimised HLO)
and times the host post-processing of ``simulate_cohort`` (Dataset and event table).
Prints a table and JSON; numbers are person-steps per second, best of ``repeats``.
"""

from __future__ import annotations

import json
import re
import sys
import time
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend.random import threefry_2x32

import nssisim  # noqa: F401  (sets one XLA host device per core)
from nssisim.core import HOURS_PER_YEAR, load_preset
from nssisim.core.model import initial_state, step, step_constants
from nssisim.core.simulation import (_initial_carry, _run_segment, mechanism_switches, RECORDABLE, simulate_cohort,
                                     stack_params, step_uniforms)


def _standin(sid, t):
    """Four cheap pseudo-uniforms (a multiply-xorshift of the counter; timing only)."""
    x = (sid.astype(jnp.uint32) * jnp.uint32(0x9E3779B9)) ^ (t.astype(jnp.uint32) * jnp.uint32(0x85EBCA6B))
    x = x + jnp.arange(4, dtype=jnp.uint32) * jnp.uint32(0xC2B2AE35)
    x = x ^ (x >> 15)
    x = x * jnp.uint32(0x2C1B3C6D)
    x = x ^ (x >> 12)
    return jax.lax.bitcast_convert_type((x >> 9) | jnp.uint32(0x3F800000), jnp.float32) - 1.0


def _two_hashes(key, t):
    """main's stream before this change: Threefry over the counters 4t .. 4t+3 (two hashes), 23-bit uniforms."""
    counters = t.astype(jnp.uint32) * jnp.uint32(4) + jnp.arange(4, dtype=jnp.uint32)
    bits = threefry_2x32(jax.random.key_data(key), counters)
    return jax.lax.bitcast_convert_type((bits >> 9) | jnp.uint32(0x3F800000), jnp.float32) - 1.0


def _one_hash(key, t):
    bits = threefry_2x32(jax.random.key_data(key), jnp.stack([t.astype(jnp.uint32), jnp.uint32(0)]))
    bits = jnp.concatenate([bits, bits[::-1]])
    return jax.lax.bitcast_convert_type((bits >> 9) | jnp.uint32(0x3F800000), jnp.float32) - 1.0


def make_runner(rng: str, events: bool, states: bool, do_step: bool = True, cap: int = 512, k: int = 24):
    """A jitted chunk runner for one variant."""

    @partial(jax.jit, static_argnames=("n_records",))
    def run(root, ids, p, on, dt, n_records):
        def one(sid, ps):
            key = jax.random.fold_in(root, sid)
            const = step_constants(ps, on, dt)

            def inner(c, t):
                s, buf, n_ev, acc = c
                if rng == "threefry2":
                    u = _two_hashes(key, t)
                elif rng == "threefry1":
                    u = _one_hash(key, t)
                else:
                    u = _standin(sid, t)
                if not do_step:
                    return (s, buf, n_ev, acc + jnp.concatenate([u, jnp.zeros(6, jnp.float32)])), None
                s, ev = step(u, s, ps, on, dt, const, age=12.0 + t.astype(jnp.float32) * (dt / HOURS_PER_YEAR))
                f32 = jnp.float32
                if events:
                    row = jnp.stack([t.astype(f32), ev.act.astype(f32), ev.habitual.astype(f32), ev.severity,
                                     ev.relief, ev.distress, ev.intrapersonal.astype(f32), ev.interpersonal.astype(f32)])
                    buf = buf.at[jnp.where(ev.urge, n_ev, cap)].set(row, mode="drop")
                    n_ev = n_ev + ev.urge
                    buf = buf.at[jnp.where(ev.attempt, n_ev, cap)].set(row.at[1].set(2.0).at[2:].set(0.0), mode="drop")
                    n_ev = n_ev + ev.attempt
                acc = acc + jnp.stack([
                    ev.act.astype(f32), ev.urge.astype(f32), (ev.act & ev.habitual).astype(f32),
                    (ev.urge & ~ev.act).astype(f32), ev.attempt.astype(f32), ev.stressor.astype(f32), ev.severity,
                    ev.relief, ev.intrapersonal.astype(f32), ev.interpersonal.astype(f32)])
                return (s, buf, n_ev, acc), None

            def block(c, b):
                s, buf, n_ev = c
                steps = b * k + jnp.arange(k, dtype=jnp.int32)
                (s, buf, n_ev, acc), _ = jax.lax.scan(inner, (s, buf, n_ev, jnp.zeros(10, jnp.float32)), steps)
                return (s, buf, n_ev), ((s, acc) if states else acc)

            buf = jnp.zeros((cap if events else 1, 8), jnp.float32)
            return jax.lax.scan(block, (initial_state(ps), buf, jnp.int32(0)), jnp.arange(n_records, dtype=jnp.int32))

        return jax.vmap(one)(ids, p)

    return run


def count_ops() -> dict[str, int]:
    """Transcendentals and divides in the optimised HLO of one vmapped step."""
    p = {k: jnp.asarray(v) for k, v in stack_params(load_preset("vulnerable"), 64).items()}
    on = jnp.asarray(mechanism_switches())
    const = jax.vmap(lambda ps: step_constants(ps, on, jnp.float32(1.0)))(p)
    s = jax.vmap(initial_state)(p)
    u = jnp.full((64, 4), 0.5, jnp.float32)
    f = jax.jit(jax.vmap(lambda u_, s_, p_, c_: step(u_, s_, p_, on, jnp.float32(1.0), c_)))
    text = f.lower(u, s, p, const).compile().as_text()
    ops = {}
    for name in ("exponential", "exponential-minus-one", "log", "log-plus-one", "power", "divide", "logistic", "tanh"):
        ops[name] = len(re.findall(rf"= f32\[[0-9,]*\][^ ]* {name}\(", text))
    ops["fusions"] = len(re.findall(r"^\s*\S+ = \S+ fusion\(", text, re.M))
    return ops


def main(argv: list[str]) -> dict:
    n = int(argv[0]) if argv else 2048
    n_steps = int(argv[1]) if len(argv) > 1 else 8760
    repeats = int(argv[2]) if len(argv) > 2 else 3
    k = 24
    n_records = n_steps // k
    params = stack_params(load_preset("vulnerable"), n)
    p = {key: jnp.asarray(v) for key, v in params.items()}
    ids = jnp.arange(n, dtype=jnp.uint32)
    age0 = jnp.full(n, 12.0, jnp.float32)
    if jax.device_count() > 1:  # one XLA device per core, subjects split across them (as simulate_cohort does)
        mesh = jax.sharding.Mesh(np.array(jax.devices()), ("subject",))
        ids, p, age0 = jax.device_put((ids, p, age0), jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("subject")))
    root = jax.random.PRNGKey(0)
    on, dt = jnp.asarray(mechanism_switches()), jnp.float32(1.0)
    variants = {
        "full": dict(rng="threefry2", events=True, states=True),
        "no events": dict(rng="threefry2", events=False, states=True),
        "counts only": dict(rng="threefry2", events=False, states=False),
        "1 hash": dict(rng="threefry1", events=True, states=True),
        "1 hash, counts only": dict(rng="threefry1", events=False, states=False),
        "stand-in draws": dict(rng="standin", events=True, states=True),
        "stand-in, counts only": dict(rng="standin", events=False, states=False),
        "Threefry alone (2 hashes)": dict(rng="threefry2", events=False, states=False, do_step=False),
        "1 hash alone": dict(rng="threefry1", events=False, states=False, do_step=False),
    }
    runners = {name: make_runner(**kw) for name, kw in variants.items()}

    def driver(cap, keep):  # the simulator's own loop (core/simulation.py) after this change
        def run(root_, ids_, p_, on_, dt_, n_records_):
            carry = _initial_carry(p_, cap)
            return _run_segment(root_, ids_, p_, on_, dt_, carry, jnp.int32(0), n_records_, k, cap, age0, keep)
        return run

    runners.update({
        "NEW driver: full, events": driver(512, RECORDABLE),
        "NEW driver: affect+urge, events": driver(512, ("affect", "urge_intensity")),
        "NEW driver: counts only, no events": driver(0, ()),
    })
    for name, r in runners.items():  # compile
        jax.block_until_ready(r(root, ids, p, on, dt, n_records))
    best = {name: float("inf") for name in runners}
    for _ in range(repeats):  # interleaved, so load changes hit every variant alike
        for name, r in runners.items():
            t0 = time.perf_counter()
            jax.block_until_ready(r(root, ids, p, on, dt, n_records))
            best[name] = min(best[name], time.perf_counter() - t0)
    rates = {name: n * n_steps / s for name, s in best.items()}
    # end to end (Dataset and event table on the host) against the loop alone
    kw = dict(n_subjects=n, horizon_hours=float(n_steps), dt=1.0, record_every=k)
    simulate_cohort(0, load_preset("vulnerable"), **kw)
    e2e = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        simulate_cohort(0, load_preset("vulnerable"), **kw)
        e2e = min(e2e, time.perf_counter() - t0)
    rates["simulate_cohort end to end"] = n * n_steps / e2e
    out = {"n_subjects": n, "n_steps": n_steps, "repeats": repeats, "person_steps_per_s": rates,
           "hlo_ops_per_step": count_ops(), "device": str(jax.devices()[0]), "device_count": jax.device_count()}
    full = rates["full"]
    print(f"{n} subjects x {n_steps} steps, best of {repeats}; {jax.device_count()} XLA device(s)")
    for name, r in rates.items():
        print(f"  {name:32s} {r / 1e6:7.2f} M person-steps/s   {full / r:5.2f} x the time of 'full'")
    print("  ops in the compiled step:", out["hlo_ops_per_step"])
    return out


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:]), indent=1))
