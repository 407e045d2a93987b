"""Parameter sweeps (manifests run in resumable shards, locally or on Dask) and global
sensitivity analysis (Sobol, Morris).
"""

from .sweep import (
    dask_client,
    DIAGNOSTICS,
    load_sweep,
    make_manifest,
    read_manifest,
    OUTPUTS,
    results_table,
    run_outputs,
    run_sweep,
    shard_path,
    simulate_shard,
    sweep_status,
    SUBJECTS_PER_RUN,
    SWEEP_DAYS,
    SWEEP_SEED,
    SweepError,
    WORKER_ENV,
    worker_info,
)
from .sensitivity import (
    format_indices,
    make_design,
    MorrisDesign,
    param_ranges,
    parse_param_spec,
    plot_indices,
    SobolDesign,
    write_sensitivity_outputs,
)

__all__ = ["read_manifest", "shard_path", "DIAGNOSTICS", "OUTPUTS", "SweepError", "WORKER_ENV", "dask_client", "load_sweep",
           "make_manifest", "results_table", "run_outputs", "run_sweep", "simulate_shard", "sweep_status",
           "worker_info", "MorrisDesign", "SobolDesign", "format_indices", "make_design", "param_ranges",
           "parse_param_spec", "plot_indices", "write_sensitivity_outputs", "SUBJECTS_PER_RUN", "SWEEP_DAYS",
           "SWEEP_SEED"]
