"""EMA data and its fit: the long format, reader and validator (:mod:`.data`), synthetic studies
(:mod:`.study`), the prompt-level inference model and its sampler (:mod:`.inference`), posterior
predictive checks (:mod:`.checks`) and parameter recovery (:mod:`.recovery`).
"""

from .data import (
    COLUMNS,
    EMAData,
    EMAError,
    ITEMS,
    OPTIONAL_COLUMNS,
    ParticipantData,
    PROMPT_TYPES,
    read_ema,
    REQUIRED_COLUMNS,
    sidecar_path,
    write_ema,
)
from .study import (
    participant_ids,
    simulate_study,
    STUDY_START,
    STUDY_STATE_COLUMNS,
    SyntheticStudy,
)
from .inference import (
    NUM_CHAINS,
    NUM_SAMPLES,
    NUM_WARMUP,
    TARGET_ACCEPT,
    diagnostics,
    ESS_MIN,
    Fit,
    fit,
    FitData,
    FitDiagnosticWarning,
    FORECAST_HOURS,
    hazards,
    INFERENCE_PARAMS,
    model,
    PARAM_NAMES,
    phenotype,
    posterior_dataset,
    prepare,
    PROFILES,
    RHAT_MAX,
    summary_table,
)
from .checks import plot_ppc, ppc, PPC_FILES, ppc_table
from .recovery import (
    forecast_calibration,
    IDENTIFIABLE,
    recover,
    recovery_scores,
    self_consistency,
    simulate_inference_data,
)

__all__ = ["NUM_CHAINS", "NUM_SAMPLES", "NUM_WARMUP", "TARGET_ACCEPT", "COLUMNS", "EMAData", "EMAError", "ITEMS", "OPTIONAL_COLUMNS", "PROMPT_TYPES", "ParticipantData",
           "REQUIRED_COLUMNS", "read_ema", "sidecar_path", "write_ema",
           "STUDY_START", "STUDY_STATE_COLUMNS", "SyntheticStudy", "participant_ids", "simulate_study",
           "ESS_MIN", "FORECAST_HOURS", "INFERENCE_PARAMS", "PARAM_NAMES", "PROFILES", "RHAT_MAX", "Fit", "FitData",
           "FitDiagnosticWarning", "diagnostics", "fit", "hazards", "model", "phenotype", "posterior_dataset",
           "prepare", "summary_table",
           "plot_ppc", "ppc", "PPC_FILES", "ppc_table",
           "IDENTIFIABLE", "forecast_calibration", "recover", "recovery_scores", "self_consistency",
           "simulate_inference_data"]
