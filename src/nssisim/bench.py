"""Benchmark: the compiled cohort simulator against a plain-Python loop.

:func:`run_benchmark` times

(a) :func:`nssisim.core.simulation.simulate_cohort` for a cohort (default 10,000 persons over one
    year in steps of one hour: 87.6 million person-steps), once cold (the first call
    traces and compiles) and once warm, end to end: from parameters to the labelled
    ``xarray`` Dataset, event table included;
(b) :func:`nssisim.core.reference.reference_run`, the same equations written as peer models in
    this field usually are: a ``for`` loop over the steps of one person, calling a
    plain-Python step function, with ``random.Random`` for the draws.

Both use the same at-risk person (the ``vulnerable`` preset), so that urges and acts occur
and the work per step is representative. The result reports person-steps per second for
each, the speedup of (a) over (b), and whether the project's goals are met: at least
:data:`GOAL_PERSON_STEPS_PER_S` person-steps per second and a speedup of at least
:data:`GOAL_SPEEDUP`. Numbers depend on the machine; the result says which one.

Run it with ``python -m nssisim.bench`` or ``nssisim bench`` (``--subjects``, ``--years``,
``--chunk-size`` and ``--record-every`` size the cohort run, e.g. a million subjects on a GPU),
or call :func:`run_benchmark` / :func:`format_benchmark`.

Sweep throughput (``nssisim bench --sweep``, :func:`run_sweep_benchmark`): the same sweep (a
fixed random design over two parameters) run with the local executor (this process, one XLA
device per core) and on a local Dask cluster (``workers`` single-threaded processes, one XLA
device each), each twice: cold (the first run compiles) and warm (the time a long sweep is
dominated by). Between the two Dask runs every worker compiles the sweep's shard shapes (a cold
run compiles only on the workers that happened to get a shard); cluster start, cold run and this
compilation are reported separately. It reports runs per second, the
overhead of the distributed path as the ratio of the warm wall times (Dask / local) and
checks that both executors gave identical results.
"""

from __future__ import annotations

import math
import os
import platform
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import jax
import numpy as np

from .core.model import N_MECHANISMS
from .core.parameters import HOURS_PER_YEAR, PARAMS
from .core.presets import load_preset
from .core.reference import reference_run
from .core.simulation import simulate_cohort
from .population.lifecourse import DEFAULT_CHUNK, LifeCourse, run_in_memory, simulate_chunk
from .population.spec import load_population
from .sweeps.sweep import dask_client, load_sweep, make_manifest, OUTPUTS, run_sweep, simulate_shard

#: Goal for the compiled simulator (person-steps per second, warm).
GOAL_PERSON_STEPS_PER_S = 1e7
#: Goal for its speedup over the plain-Python reference loop.
GOAL_SPEEDUP = 300.0

def benchmark_params() -> tuple[dict[str, float], str]:
    """The at-risk parameter set of the benchmark and where it came from."""
    return dict(load_preset("vulnerable")), "preset 'vulnerable'"


def machine_info() -> dict[str, object]:
    """What the numbers were measured on."""
    dev = jax.devices()[0]
    return {
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": sys.version.split()[0],
        "jax_version": jax.__version__,
        "numpy_version": np.__version__,
        "jax_backend": jax.default_backend(),
        "jax_device": f"{dev.platform}:{getattr(dev, 'device_kind', str(dev))}",
        "jax_device_count": jax.device_count(),
    }


def run_benchmark(
    n_subjects: int = 10_000,
    horizon_hours: float = 8760.0,
    dt: float = 1.0,
    python_steps: int = 20_000,
    seed: int = 0,
    progress: bool = False,
    chunk_size: int = 16384,
    record_every: int = 24,
    event_capacity: int = 512,
) -> dict:
    """Time the cohort simulator and the plain-Python reference; return the numbers.

    Parameters
    ----------
    n_subjects, horizon_hours, dt : the cohort run (``horizon_hours`` must be a whole number
        of steps, and that number a multiple of the recording interval ``record_every``).
    chunk_size : subjects per compiled call (raise it on a GPU with memory to spare).
    record_every : steps per recorded block (24 at dt = 1 h: daily records; the Dataset holds
        about 100 bytes per subject and record, so a larger interval saves memory for huge cohorts).
    event_capacity : event-table rows per subject (32 bytes each on the host; the simulator's default).
    python_steps : steps of one person in the reference loop.
    seed : seed of both runs.
    progress : print what is being timed (to stderr).

    Returns
    -------
    dict with the sizes, ``jax_first_call_s`` (compile + run), ``jax_s`` (warm run),
    ``jax_person_steps_per_s``, ``python_s``, ``python_steps_per_s``, ``speedup``, the goals
    and whether each is met, the observed acts (a sanity check that the person-steps did
    real work), the parameter source and :func:`machine_info`.
    """
    params, params_source = benchmark_params()
    n_steps = round(horizon_hours / dt)
    person_steps = n_subjects * n_steps

    def say(msg: str) -> None:
        if progress:
            print(msg, file=sys.stderr, flush=True)

    def cohort():
        return simulate_cohort(seed, params, n_subjects=n_subjects, horizon_hours=horizon_hours, dt=dt,
                               record_every=record_every, chunk_size=chunk_size, event_capacity=event_capacity,
                               progress=progress)

    say(f"JAX: {n_subjects} subjects x {n_steps} steps, first call (compiles) ...")
    t0 = time.perf_counter()
    cohort()
    jax_first_call_s = time.perf_counter() - t0
    say(f"  {jax_first_call_s:.2f} s; warm call ...")
    t0 = time.perf_counter()
    ds = cohort()
    jax_s = time.perf_counter() - t0
    say(f"  {jax_s:.2f} s")
    jax_acts = float(ds["acts"].sum())

    say(f"Python reference: {python_steps} steps of one person ...")
    t0 = time.perf_counter()
    _, events = reference_run(seed, params, [1.0] * N_MECHANISMS, dt, python_steps, record_every=24)
    python_s = time.perf_counter() - t0
    say(f"  {python_s:.2f} s")
    python_acts = sum(1 for ev in events if ev["act"])

    jax_rate = person_steps / jax_s
    python_rate = python_steps / python_s
    speedup = jax_rate / python_rate
    return {
        "n_subjects": int(n_subjects),
        "horizon_hours": float(horizon_hours),
        "dt": float(dt),
        "n_steps": int(n_steps),
        "person_steps": int(person_steps),
        "chunk_size": int(chunk_size),
        "record_every": int(record_every),
        "event_capacity": int(event_capacity),
        "params_source": params_source,
        "jax_first_call_s": jax_first_call_s,
        "jax_s": jax_s,
        "jax_person_steps_per_s": jax_rate,
        "jax_acts_per_person_year": jax_acts / n_subjects / (n_steps * dt / HOURS_PER_YEAR),
        "python_steps": int(python_steps),
        "python_s": python_s,
        "python_steps_per_s": python_rate,
        "python_acts_per_person_year": python_acts / (python_steps * dt / HOURS_PER_YEAR),
        "speedup": speedup,
        "goal_person_steps_per_s": GOAL_PERSON_STEPS_PER_S,
        "goal_speedup": GOAL_SPEEDUP,
        "goal_person_steps_met": bool(jax_rate >= GOAL_PERSON_STEPS_PER_S),
        "goal_speedup_met": bool(speedup >= GOAL_SPEEDUP),
        "machine": machine_info(),
    }


def _si(x: float) -> str:
    if not math.isfinite(x):
        return str(x)
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= scale:
            return f"{x / scale:.2f} {unit}"
    return f"{x:.2f} "


def format_benchmark(result: Mapping) -> str:
    """A short human-readable report of :func:`run_benchmark`'s result."""
    m = result["machine"]
    ok = {True: "met", False: "NOT met"}
    lines = [
        "nssisim benchmark",
        f"  machine        {m['cpu_count']} CPUs, {m['processor']}; jax {m['jax_version']} on {m['jax_backend']} "
        f"({m['jax_device']})",
        f"  person         {result['params_source']}",
        f"  JAX cohort     {result['n_subjects']} subjects x {result['n_steps']} steps (dt = {result['dt']:g} h) "
        f"= {_si(result['person_steps'])}person-steps; {result.get('chunk_size', 16384)} subjects a compiled call, "
        f"records every {result.get('record_every', 24)} steps",
        f"                 first call (with compilation) {result['jax_first_call_s']:.2f} s, warm {result['jax_s']:.2f} s",
        f"                 {_si(result['jax_person_steps_per_s'])}person-steps/s "
        f"({result['jax_acts_per_person_year']:.1f} acts per person-year)",
        f"  Python loop    {result['python_steps']} steps of one person in {result['python_s']:.2f} s: "
        f"{_si(result['python_steps_per_s'])}steps/s ({result['python_acts_per_person_year']:.1f} acts per person-year)",
        f"  speedup        {result['speedup']:.0f}x",
        f"  goals          >= {_si(result['goal_person_steps_per_s'])}person-steps/s: "
        f"{ok[result['goal_person_steps_met']]}; speedup >= {result['goal_speedup']:.0f}x: {ok[result['goal_speedup_met']]}",
    ]
    return "\n".join(lines)


#: Parameters varied by the sweep benchmark (a fixed random design within their bounds).
SWEEP_BENCH_PARAMS = ("limbic_reactivity", "pfc_adult")


def run_sweep_benchmark(
    n_runs: int = 128,
    n_subjects_per_run: int = 64,
    days: int = 365,
    workers: int = 2,
    shard_size: int | None = None,
    seed: int = 0,
    progress: bool = False,
) -> dict:
    """Sweep throughput with the local executor and on a ``workers``-process local Dask cluster.

    Each executor runs the same sweep (``n_runs`` parameter sets x ``n_subjects_per_run``
    subjects x ``days`` days at dt = 1 h, base preset ``vulnerable``) twice into temporary
    folders: cold, then warm. Returns the wall times, runs per second, the overhead ratio
    ``dask_warm_s / local_warm_s`` (1.0: no overhead; below 1: Dask was faster), whether the
    results were identical, the shard layout and :func:`machine_info`.
    """
    import tempfile

    if n_runs < 1 or n_subjects_per_run < 1 or days < 1 or workers < 1:
        raise ValueError("n_runs, n_subjects_per_run, days and workers must be >= 1")
    rng = np.random.default_rng(seed)
    manifest = make_manifest({k: rng.uniform(PARAMS[k].low, PARAMS[k].high, n_runs) for k in SWEEP_BENCH_PARAMS})
    kw = dict(seed=seed, base_params=load_preset("vulnerable"), n_subjects_per_run=n_subjects_per_run, days=days,
              shard_size=shard_size, progress=progress)

    def say(msg: str) -> None:
        if progress:
            print(msg, file=sys.stderr, flush=True)

    times: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="nssisim-bench-") as tmp:
        tmp = Path(tmp)

        def timed(name: str, **extra) -> None:
            say(f"sweep {name} ...")
            t0 = time.perf_counter()
            run_sweep(manifest, tmp / name, **kw, **extra)
            times[name] = time.perf_counter() - t0
            say(f"  {times[name]:.2f} s")

        timed("local_cold")
        timed("local_warm")
        say(f"starting a local Dask cluster of {workers} worker(s) ...")
        t0 = time.perf_counter()
        with dask_client(n_workers=workers) as client:
            times["dask_start"] = time.perf_counter() - t0
            timed("dask_cold", executor=client)
            # The cold run compiled on the workers that happened to get shards; make every worker
            # compile the first and the last shard's shapes, so that "warm" is warm on all of them.
            say("warm-up: every worker compiles and runs the first and last shard ...")
            t0 = time.perf_counter()
            settings = load_sweep(tmp / "dask_cold").attrs
            size, cap = int(settings["shard_size"]), int(settings["event_capacity"])
            for s in sorted({0, (n_runs - 1) // size}):
                rows = manifest.iloc[s * size: (s + 1) * size]
                client.run(simulate_shard, {
                    "seed": seed, "base_params": kw["base_params"], "names": list(SWEEP_BENCH_PARAMS),
                    "values": rows[list(SWEEP_BENCH_PARAMS)].to_numpy(), "run_ids": rows["run_id"].to_numpy(),
                    "n_subjects_per_run": n_subjects_per_run, "days": days, "dt": 1.0, "event_capacity": cap})
            times["dask_warmup"] = time.perf_counter() - t0
            timed("dask_warm", executor=client)
        a, b = load_sweep(tmp / "local_warm"), load_sweep(tmp / "dask_warm")
        identical = all(np.array_equal(a[v].values, b[v].values, equal_nan=True) for v in OUTPUTS)
        n_shards = int(a.attrs["n_shards"])
        used_shard_size = int(a.attrs["shard_size"])
    person_steps = n_runs * n_subjects_per_run * days * 24
    return {
        "n_runs": int(n_runs),
        "n_subjects_per_run": int(n_subjects_per_run),
        "days": int(days),
        "person_steps": int(person_steps),
        "shard_size": used_shard_size,
        "n_shards": n_shards,
        "workers": int(workers),
        "local_cold_s": times["local_cold"],
        "local_warm_s": times["local_warm"],
        "dask_start_s": times["dask_start"],
        "dask_cold_s": times["dask_cold"],
        "dask_warmup_s": times["dask_warmup"],
        "dask_warm_s": times["dask_warm"],
        "local_runs_per_s": n_runs / times["local_warm"],
        "dask_runs_per_s": n_runs / times["dask_warm"],
        "local_person_steps_per_s": person_steps / times["local_warm"],
        "dask_person_steps_per_s": person_steps / times["dask_warm"],
        "dask_overhead_ratio": times["dask_warm"] / times["local_warm"],
        "identical": bool(identical),
        "machine": machine_info(),
    }


def format_sweep_benchmark(result: Mapping) -> str:
    """A short human-readable report of :func:`run_sweep_benchmark`'s result."""
    m = result["machine"]
    r = result
    lines = [
        "nssisim sweep benchmark",
        f"  machine        {m['cpu_count']} CPUs, {m['processor']}; jax {m['jax_version']} on {m['jax_backend']} "
        f"({m['jax_device_count']} XLA device(s) in this process)",
        f"  sweep          {r['n_runs']} runs x {r['n_subjects_per_run']} subjects x {r['days']} days (dt = 1 h) "
        f"= {_si(r['person_steps'])}person-steps; {r['n_shards']} shard(s) of {r['shard_size']} run(s)",
        f"  local          cold {r['local_cold_s']:.2f} s, warm {r['local_warm_s']:.2f} s: "
        f"{r['local_runs_per_s']:.2f} runs/s ({_si(r['local_person_steps_per_s'])}person-steps/s)",
        f"  Dask           {r['workers']} worker(s), one XLA device each; cluster start {r['dask_start_s']:.2f} s, "
        f"cold {r['dask_cold_s']:.2f} s, warm-up of every worker {r['dask_warmup_s']:.2f} s, "
        f"warm {r['dask_warm_s']:.2f} s: {r['dask_runs_per_s']:.2f} runs/s "
        f"({_si(r['dask_person_steps_per_s'])}person-steps/s)",
        f"  overhead       Dask / local warm wall time = {r['dask_overhead_ratio']:.2f}",
        f"  identical      {'yes' if r['identical'] else 'NO'} (every output of every run, local vs Dask)",
    ]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- life course
def run_population_benchmark(n_subjects: int = 100_000, *, course: LifeCourse = LifeCourse(),
                             chunk_size: int = DEFAULT_CHUNK, seed: int = 0, population: str | Path = "community", progress: bool = False) -> dict:
    """Cohort throughput over the life course: subject-years (and person-steps) per second, end to end.

    Times one warm-up chunk (compilation) separately, then the whole cohort (sampling, simulation,
    reduction to measurements; no files), and reports the machine.
    """
    import time as _time


    spec = load_population(population)
    t0 = _time.perf_counter()
    simulate_chunk(spec, np.arange(min(chunk_size, n_subjects)), seed + 1, course)
    warm = _time.perf_counter() - t0
    t0 = _time.perf_counter()
    table = run_in_memory(spec, n_subjects, seed=seed, course=course, chunk_size=chunk_size, progress=progress)
    wall = _time.perf_counter() - t0
    years = course.n_days / 365.25
    steps = n_subjects * course.n_days * 24.0 / course.dt
    return {"n_subjects": int(n_subjects), "years": years, "start_age": course.start_age, "end_age": course.end_age,
            "dt": course.dt, "chunk_size": int(chunk_size), "first_chunk_s": warm, "wall_s": wall,
            "subject_years_per_s": n_subjects * years / wall, "person_steps_per_s": steps / wall,
            "lifetime_by_end": float(table["end_lifetime_nssi"].mean()), "machine": machine_info()}


def format_population_benchmark(r: dict) -> str:
    m = r["machine"]
    return (f"life-course population benchmark: {r['n_subjects']:,} subjects x {r['years']:.2f} years "
            f"(ages {r['start_age']:g}-{r['end_age']:g}, dt={r['dt']:g} h, chunks of {r['chunk_size']:,})\n"
            f"  wall {r['wall_s']:.1f} s (first chunk incl. compilation {r['first_chunk_s']:.1f} s, timed separately)\n"
            f"  {r['subject_years_per_s']:,.0f} subject-years/s = {r['person_steps_per_s'] / 1e6:.2f} M person-steps/s, "
            f"end to end (sampling, simulation, reduction)\n"
            f"  machine: {m['cpu_count']} CPUs, {m['platform']}, jax {m['jax_version']} on {m['jax_device']} "
            f"x{m['jax_device_count']}")


def main(argv: list[str] | None = None) -> None:
    """``python -m nssisim.bench [n_subjects [horizon_hours [python_steps]]]``."""
    import json

    args = sys.argv[1:] if argv is None else argv
    kw = {}
    for name, conv, value in zip(("n_subjects", "horizon_hours", "python_steps"), (int, float, int), args):
        kw[name] = conv(value)
    result = run_benchmark(progress=True, **kw)
    print(format_benchmark(result))
    print(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":  # pragma: no cover
    main()
