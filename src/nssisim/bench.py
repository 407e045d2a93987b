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

from .core import compiled
from .core.model import N_MECHANISMS
from .core.parameters import HOURS_PER_YEAR, PARAMS
from .core.presets import load_preset
from .core.reference import reference_run
from .core.simulation import mechanism_switches, simulate_cohort, stack_params
from .ema import simulate_study
from .population import evaluate, load_setup, load_targets
from .population.lifecourse import DEFAULT_CHUNK, LifeCourse, run_in_memory, simulate_chunk
from .population.spec import load_population
from .sweeps.sweep import dask_client, load_sweep, make_manifest, OUTPUTS, run_sweep, simulate_shard

#: Goal for the compiled simulator (person-steps per second, warm).
GOAL_PERSON_STEPS_PER_S = 1e7
#: Goal for its speedup over the plain-Python reference loop.
GOAL_SPEEDUP = 500.0
#: Goal for JAX against the compiled scalar loop (Numba), same machine, same run: at least as fast.
GOAL_VS_COMPILED = 1.0
#: Goal for life-course populations on 2 CPU cores, subject-years per second.
GOAL_SUBJECT_YEARS_PER_S = 4000.0

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
    compiled_loop: bool = True,
    repeats: int = 2,
) -> dict:
    """Time the cohort simulator, the compiled scalar loop and the plain-Python reference; return the numbers.

    Parameters
    ----------
    n_subjects, horizon_hours, dt : the cohort run (``horizon_hours`` must be a whole number
        of steps, and that number a multiple of the recording interval ``record_every``).
    chunk_size : subjects per compiled call (raise it on a GPU with memory to spare).
    record_every : steps per recorded block (24 at dt = 1 h: daily records; the Dataset holds
        about 100 bytes per subject and record, so a larger interval saves memory for huge cohorts).
    event_capacity : event-table rows per subject (32 bytes each on the host; the simulator's default).
    python_steps : steps of one person in the reference loop.
    compiled_loop : also time :func:`nssisim.core.compiled.run_compiled` (the same cohort, the same
        records and event rows, Numba ``prange`` over the cores; skipped without Numba). It is
        compiled on a tiny run first, so its time is warm like the JAX one.
    repeats : rounds of (JAX, compiled loop, Python), timed in turn; each keeps its best time.
    seed : seed of both runs.
    progress : print what is being timed (to stderr).

    Returns
    -------
    dict with the sizes, ``jax_first_call_s`` (compile + run), ``jax_s`` (warm run),
    ``jax_person_steps_per_s``, ``compiled_s``, ``compiled_person_steps_per_s`` and
    ``jax_vs_compiled`` (None without Numba), ``python_s``, ``python_steps_per_s``, ``speedup``,
    the goals and whether each is met, the observed acts (a sanity check that the person-steps did
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
    say(f"  {jax_first_call_s:.2f} s")
    use_compiled = compiled_loop and compiled.NUMBA_VERSION is not None
    if use_compiled:
        pc, on = stack_params(params, n_subjects), mechanism_switches()
        say("compiled loop (Numba): compiling on a tiny run ...")
        t0 = time.perf_counter()
        compiled.run_compiled(seed, {k: v[:2] for k, v in pc.items()}, on, n_steps=record_every, dt=dt,
                              record_every=record_every, event_capacity=event_capacity)
        say(f"  {time.perf_counter() - t0:.2f} s")
    elif compiled_loop:
        say(f"compiled loop skipped: {compiled.NUMBA_MISSING}")
    # The three are timed in turn, ``repeats`` rounds, and each keeps its best time: on a shared
    # machine the load changes within seconds, and interleaving exposes each to the same load.
    jax_s = compiled_s = python_s = math.inf
    compiled_acts = None
    for r in range(max(int(repeats), 1)):
        say(f"round {r + 1}: JAX warm call ...")
        t0 = time.perf_counter()
        ds = cohort()
        jax_s = min(jax_s, time.perf_counter() - t0)
        say(f"  {jax_s:.2f} s (best so far)")
        if use_compiled:
            say("  compiled loop ...")
            t0 = time.perf_counter()
            out = compiled.run_compiled(seed, pc, on, n_steps=n_steps, dt=dt, record_every=record_every,
                                        event_capacity=event_capacity)
            compiled_s = min(compiled_s, time.perf_counter() - t0)
            compiled_acts = float(out["counts"][:, :, 0].sum())
            say(f"  {compiled_s:.2f} s (best so far)")
        say(f"  Python reference: {python_steps} steps of one person ...")
        t0 = time.perf_counter()
        _, events = reference_run(seed, params, [1.0] * N_MECHANISMS, dt, python_steps, record_every=24)
        python_s = min(python_s, time.perf_counter() - t0)
        say(f"  {python_s:.2f} s (best so far)")
    jax_acts = float(ds["acts"].sum())
    python_acts = sum(1 for ev in events if ev["act"])
    compiled_rate = person_steps / compiled_s if use_compiled else None
    if not use_compiled:
        compiled_s = None

    jax_rate = person_steps / jax_s
    python_rate = python_steps / python_s
    speedup = jax_rate / python_rate
    vs_compiled = None if compiled_rate is None else jax_rate / compiled_rate
    return {
        "n_subjects": int(n_subjects),
        "horizon_hours": float(horizon_hours),
        "dt": float(dt),
        "n_steps": int(n_steps),
        "person_steps": int(person_steps),
        "chunk_size": int(chunk_size),
        "record_every": int(record_every),
        "event_capacity": int(event_capacity),
        "repeats": int(repeats),
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
        "numba_version": compiled.NUMBA_VERSION,
        "compiled_s": compiled_s,
        "compiled_person_steps_per_s": compiled_rate,
        "compiled_acts_per_person_year": (None if compiled_acts is None else
                                          compiled_acts / n_subjects / (n_steps * dt / HOURS_PER_YEAR)),
        "compiled_speedup": None if compiled_rate is None else compiled_rate / python_rate,
        "jax_vs_compiled": vs_compiled,
        "goal_vs_compiled": GOAL_VS_COMPILED,
        "goal_vs_compiled_met": None if vs_compiled is None else bool(vs_compiled >= GOAL_VS_COMPILED),
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
    """A short human-readable report of :func:`run_benchmark`'s result: the three-way comparison and the goals."""
    m = result["machine"]
    r = result
    ok = {True: "met", False: "NOT met", None: "not measured"}
    lines = [
        "nssisim benchmark",
        f"  machine        {m['cpu_count']} CPUs, {m['processor']}; jax {m['jax_version']} on {m['jax_backend']} "
        f"({m['jax_device']} x{m.get('jax_device_count', 1)})",
        f"  person         {r['params_source']}",
        f"  cohort         {r['n_subjects']} subjects x {r['n_steps']} steps (dt = {r['dt']:g} h) "
        f"= {_si(r['person_steps'])}person-steps; {r.get('chunk_size', 16384)} subjects a compiled call, "
        f"records every {r.get('record_every', 24)} steps, {r.get('event_capacity', 512)} event rows per subject",
        f"  JAX cohort     first call (with compilation) {r['jax_first_call_s']:.2f} s, warm {r['jax_s']:.2f} s: "
        f"{_si(r['jax_person_steps_per_s'])}person-steps/s ({r['jax_acts_per_person_year']:.1f} acts per person-year)",
    ]
    if r.get("compiled_person_steps_per_s") is not None:
        lines.append(f"  compiled loop  Numba {r['numba_version']}, prange: {r['compiled_s']:.2f} s: "
                     f"{_si(r['compiled_person_steps_per_s'])}person-steps/s "
                     f"({r['compiled_acts_per_person_year']:.1f} acts per person-year)")
    else:
        lines.append("  compiled loop  not measured (numba is not installed: pip install 'nssisim[bench]')")
    lines += [
        f"  Python loop    {r['python_steps']} steps of one person in {r['python_s']:.2f} s: "
        f"{_si(r['python_steps_per_s'])}steps/s ({r['python_acts_per_person_year']:.1f} acts per person-year)",
        f"  ratios         JAX / Python {r['speedup']:.0f}x"
        + ("" if r.get("jax_vs_compiled") is None else
           f"; JAX / compiled loop {r['jax_vs_compiled']:.2f}x; compiled loop / Python {r['compiled_speedup']:.0f}x"),
        f"  goals          JAX >= {r['goal_speedup']:.0f}x Python: {ok[r['goal_speedup_met']]}; "
        f"JAX >= compiled loop: {ok[r.get('goal_vs_compiled_met')]}; "
        f">= {_si(r['goal_person_steps_per_s'])}person-steps/s: {ok[r['goal_person_steps_met']]}",
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
                             chunk_size: int = DEFAULT_CHUNK, seed: int = 0, population: str | Path = "community",
                             progress: bool = False, with_events: bool = True) -> dict:
    """Cohort throughput over the life course: subject-years (and person-steps) per second, end to end.

    Times one warm-up chunk (compilation) separately, then the whole cohort (sampling, simulation,
    reduction to measurements; no files), and reports the machine. ``with_events=False`` times
    the survey measures only, as a calibration candidate runs them (daily counts, no states, no
    event table; :func:`nssisim.population.lifecourse.simulate_chunk`).
    """
    spec = load_population(population)
    t0 = time.perf_counter()
    simulate_chunk(spec, np.arange(min(chunk_size, n_subjects)), seed + 1, course, with_events=with_events)
    warm = time.perf_counter() - t0
    t0 = time.perf_counter()
    if with_events:
        table = run_in_memory(spec, n_subjects, seed=seed, course=course, chunk_size=chunk_size, progress=progress)
        lifetime = float(table["end_lifetime_nssi"].mean())
    else:
        parts = [simulate_chunk(spec, np.arange(a, min(a + chunk_size, n_subjects)), seed, course, with_events=False)
                 for a in range(0, n_subjects, chunk_size)]
        lifetime = float(np.mean(np.concatenate([p_["survey_lifetime"].to_numpy() for p_ in parts])))
    wall = time.perf_counter() - t0
    years = course.n_days / 365.25
    steps = n_subjects * course.n_days * 24.0 / course.dt
    rate = n_subjects * years / wall
    return {"n_subjects": int(n_subjects), "years": years, "start_age": course.start_age, "end_age": course.end_age,
            "dt": course.dt, "chunk_size": int(chunk_size), "with_events": bool(with_events), "first_chunk_s": warm,
            "wall_s": wall, "subject_years_per_s": rate, "person_steps_per_s": steps / wall,
            "lifetime_share": lifetime, "goal_subject_years_per_s": GOAL_SUBJECT_YEARS_PER_S,
            "goal_subject_years_met": bool(rate >= GOAL_SUBJECT_YEARS_PER_S), "machine": machine_info()}


def format_population_benchmark(r: dict) -> str:
    m = r["machine"]
    what = ("end measures and event table" if r.get("with_events", True)
            else "survey measures only (daily counts; as a calibration candidate)")
    return (f"life-course population benchmark: {r['n_subjects']:,} subjects x {r['years']:.2f} years "
            f"(ages {r['start_age']:g}-{r['end_age']:g}, dt={r['dt']:g} h, chunks of {r['chunk_size']:,}), {what}\n"
            f"  wall {r['wall_s']:.1f} s (first chunk incl. compilation {r['first_chunk_s']:.1f} s, timed separately)\n"
            f"  {r['subject_years_per_s']:,.0f} subject-years/s = {r['person_steps_per_s'] / 1e6:.2f} M person-steps/s, "
            f"end to end (sampling, simulation, reduction); goal >= {r.get('goal_subject_years_per_s', 4000):,.0f}: "
            f"{'met' if r.get('goal_subject_years_met') else 'NOT met'} (on {m['cpu_count']} CPUs)\n"
            f"  machine: {m['cpu_count']} CPUs, {m['platform']}, jax {m['jax_version']} on {m['jax_device']} "
            f"x{m['jax_device_count']}")


# ----------------------------------------------------------------------------- calibration and EMA
def run_calibration_benchmark(candidates: int = 4, *, n_subjects: int | None = None, course: LifeCourse | None = None,
                              setup: str = "community", progress: bool = False) -> dict:
    """Candidates per hour of a calibration wave: :func:`nssisim.population.calibration.evaluate` timed warm.

    Each candidate is a point of the setup's calibrated box (``configs/calibrate_<setup>.toml``; a
    fixed random design), simulated on the setup's subjects per candidate (or ``n_subjects``) over
    its life course (or ``course``) and scored against the targets, as in a wave of
    :func:`~nssisim.population.calibration.calibrate`; the first one (compilation) is timed apart.
    """
    st = load_setup(setup)
    spec = load_population(st.population)
    entries = load_targets(st.targets_file)
    course = st.course if course is None else course
    n = int(st.method["subjects"] if n_subjects is None else n_subjects)
    seed = int(st.method["seed"])
    rng = np.random.default_rng(seed)
    xs = [{r.name: float(r.from_unit(rng.random())) for r in st.ranges} for _ in range(candidates + 1)]
    t0 = time.perf_counter()
    evaluate(spec, xs[0], n, seed, course, entries)
    first = time.perf_counter() - t0
    times = []
    for i, x in enumerate(xs[1:]):
        t0 = time.perf_counter()
        evaluate(spec, x, n, seed, course, entries)
        times.append(time.perf_counter() - t0)
        if progress:
            print(f"  candidate {i + 1}/{candidates}: {times[-1]:.2f} s", file=sys.stderr, flush=True)
    per = float(np.mean(times))
    years = course.n_days / 365.25
    wave = int(st.method["wave_size"])
    return {"candidates": int(candidates), "n_subjects": n, "years": years, "first_candidate_s": first,
            "candidate_s": per, "candidates_per_hour": 3600.0 / per, "wave_size": wave,
            "wave_minutes": wave * per / 60.0, "subject_years_per_s": n * years / per, "machine": machine_info()}


def run_ema_benchmark(n_participants: int = 256, *, days: int = 14, burn_in_days: int = 90, seed: int = 0,
                      progress: bool = False) -> dict:
    """Participants per second of synthetic EMA studies with their history (inference training data).

    :func:`nssisim.ema.simulate_study` end to end (burn-in history, study window at dt = 0.25 h,
    prompts, ratings and event reports) for ``n_participants``, warm (a first call compiles).
    """
    kw = dict(days=days, burn_in_days=burn_in_days)
    t0 = time.perf_counter()
    simulate_study(seed + 1, "vulnerable", n_participants, **kw)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    st = simulate_study(seed, "vulnerable", n_participants, **kw)
    wall = time.perf_counter() - t0
    if progress:
        print(f"  EMA: {n_participants} participants in {wall:.2f} s", file=sys.stderr, flush=True)
    steps = n_participants * (days + burn_in_days) * 24 / 0.25
    return {"n_participants": int(n_participants), "days": days, "burn_in_days": burn_in_days, "first_call_s": first,
            "wall_s": wall, "participants_per_s": n_participants / wall, "person_steps_per_s": steps / wall,
            "rows": int(len(st.data)), "machine": machine_info()}


def run_workloads_benchmark(*, population_subjects: int = 4096, candidates: int = 3, ema_participants: int = 256,
                            progress: bool = False) -> dict:
    """The throughput the other work needs, in one run: life course (both measure sets), a calibration
    wave's candidates per hour and EMA participants per second."""
    def say(msg: str) -> None:
        if progress:
            print(msg, file=sys.stderr, flush=True)

    say(f"life course, survey measures only: {population_subjects} subjects ...")
    counts = run_population_benchmark(population_subjects, with_events=False)
    say(f"life course, end measures and events: {population_subjects} subjects ...")
    full = run_population_benchmark(population_subjects, with_events=True)
    say(f"calibration: {candidates} candidates ...")
    cal = run_calibration_benchmark(candidates, progress=progress)
    say(f"EMA: {ema_participants} participants ...")
    ema = run_ema_benchmark(ema_participants, progress=progress)
    for r in (counts, full, cal, ema):
        r.pop("machine")
    return {"lifecourse_counts": counts, "lifecourse_full": full, "calibration": cal, "ema": ema,
            "machine": machine_info()}


def format_workloads_benchmark(r: dict) -> str:
    m, c, f, cal, ema = r["machine"], r["lifecourse_counts"], r["lifecourse_full"], r["calibration"], r["ema"]
    goal = c["goal_subject_years_per_s"]
    ok = {True: "met", False: "NOT met"}
    return "\n".join([
        "nssisim workloads benchmark",
        f"  machine        {m['cpu_count']} CPUs, {m['processor']}; jax {m['jax_version']} on {m['jax_backend']} "
        f"({m['jax_device']} x{m['jax_device_count']})",
        f"  life course    {c['n_subjects']:,} subjects x {c['years']:.2f} years, dt {c['dt']:g} h:",
        f"                 survey measures only  {c['subject_years_per_s']:,.0f} subject-years/s "
        f"({c['person_steps_per_s'] / 1e6:.1f} M person-steps/s); goal >= {goal:,.0f}: "
        f"{ok[c['goal_subject_years_met']]}",
        f"                 with end measures     {f['subject_years_per_s']:,.0f} subject-years/s "
        f"({f['person_steps_per_s'] / 1e6:.1f} M person-steps/s); goal >= {goal:,.0f}: "
        f"{ok[f['goal_subject_years_met']]}",
        f"  calibration    {cal['candidates_per_hour']:,.0f} candidates/hour ({cal['n_subjects']} subjects x "
        f"{cal['years']:.2f} years each, {cal['candidate_s']:.2f} s); a wave of {cal['wave_size']} in "
        f"{cal['wave_minutes']:.1f} min",
        f"  EMA study      {ema['participants_per_s']:,.1f} participants/s with {ema['burn_in_days']} days of history "
        f"and {ema['days']} study days at dt 0.25 h ({ema['person_steps_per_s'] / 1e6:.1f} M person-steps/s)",
    ])


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
