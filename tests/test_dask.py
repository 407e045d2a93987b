"""The Dask executor: a 2-worker local cluster gives exactly the local executor's results.

Starting a cluster costs a few seconds (two worker processes import JAX and compile), so the
cluster is started once for this module and every check here is small.
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from nssisim.core import load_preset
from nssisim.sweeps import (DIAGNOSTICS, OUTPUTS, SweepError, dask_client, load_sweep, make_manifest, run_sweep, worker_info)

BASE = load_preset("vulnerable")
#: 5 runs x 8 subjects x 20 days, two runs a shard: 3 shards, 2 of them computed concurrently.
KW = dict(seed=5, base_params=BASE, n_subjects_per_run=8, days=20, shard_size=2, progress=False)


def _manifest(n=5):
    return make_manifest({"limbic_reactivity": np.linspace(0.6, 2.8, n), "pfc_adult": np.linspace(1.8, 0.3, n)})


@pytest.fixture(scope="module")
def client():
    with dask_client(n_workers=2) as c:
        yield c


def test_workers_use_one_xla_device_each(client):
    info = client.run(worker_info)
    assert len(info) == 2
    assert {v["jax_devices"] for v in info.values()} == {1}, info
    assert len({v["pid"] for v in info.values()}) == 2  # two processes, not threads


def test_dask_results_are_bit_identical_to_local(tmp_path, client):
    m = _manifest()
    run_sweep(m, tmp_path / "local", **KW)
    run_sweep(m, tmp_path / "dask", executor=client, **KW)
    a, b = load_sweep(tmp_path / "local"), load_sweep(tmp_path / "dask")
    xr.testing.assert_identical(a, b)
    for v in [*OUTPUTS, *DIAGNOSTICS]:  # exact, NaN == NaN
        np.testing.assert_array_equal(a[v].values, b[v].values)
    assert a["acts_per_year"].values.max() > 0  # the runs are not all empty


def test_dask_sweep_resumes_a_local_one_identically(tmp_path, client):
    m = _manifest()
    run_sweep(m, tmp_path / "full", **KW)
    run_sweep(m, tmp_path / "part", max_shards=1, **KW)  # interrupted after one of three shards
    first = (tmp_path / "part" / "shard-00000.nc").read_bytes()
    run_sweep(m, tmp_path / "part", resume=True, executor=client, **KW)
    assert (tmp_path / "part" / "shard-00000.nc").read_bytes() == first  # never rewritten
    xr.testing.assert_identical(load_sweep(tmp_path / "full"), load_sweep(tmp_path / "part"))


def test_a_failing_shard_is_a_sweep_error_naming_it(client):
    from nssisim.sweeps.sweep import _run_on_dask

    good = {"seed": 1, "base_params": BASE, "names": ["pfc_adult"], "values": np.array([[1.0]]),
            "run_ids": np.array([0]), "n_subjects_per_run": 2, "days": 2, "dt": 1.0, "event_capacity": 8}
    bad = {**good, "seed": 2**32}  # the worker's simulator refuses it (run_sweep checks seeds before submitting)
    done = []
    with pytest.raises(SweepError, match="shard 1 failed on a Dask worker: ValueError: seed must be"):
        _run_on_dask(client, {0: good, 1: bad}, lambda s, t, outs: done.append(s))
    assert done in ([], [0])


def test_the_local_cluster_shuts_down_without_leaving_processes():
    import psutil

    with dask_client(n_workers=1) as c:
        pids = [v["pid"] for v in c.run(worker_info).values()]
    assert pids
    for pid in pids:
        alive = psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
        assert not alive, f"worker process {pid} still runs after the cluster was closed"
    with pytest.raises(ValueError, match="either a scheduler address or a number"):
        with dask_client():
            pass
