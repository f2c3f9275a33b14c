"""Drift statistics on sentence embeddings. Pure: numpy, scipy and scikit-learn only.

Usage (what the Django service calls)::

    fitted = fit_baseline(baseline_vectors)            # once per baseline; fitted.to_bytes() -> bytea
    calibration = calibrate(fitted, window_size=1000)  # once per (baseline, window size); cacheable
    report = evaluate_window(fitted, calibration, window_vectors, texts)
    report.combined.drifted, report.to_dict()

Never import Django, Celery or drift_app.models here (tests/stats checks it).
"""

from .baseline import FittedBaseline, fit_baseline
from .distances import HISTOGRAM_SMOOTHING, js_divergence, permutation_p_value, wasserstein_1d
from .results import (
    MIN_WINDOW_SIZE,
    SEED_JS_BAND,
    SEED_NOVEL_SHARE_BAND,
    STATISTICS,
    DriftResult,
    Topic,
    WindowReport,
)
from .suite import Calibration, calibrate, evaluate_window

__all__ = [
    "HISTOGRAM_SMOOTHING",
    "MIN_WINDOW_SIZE",
    "SEED_JS_BAND",
    "SEED_NOVEL_SHARE_BAND",
    "STATISTICS",
    "Calibration",
    "DriftResult",
    "FittedBaseline",
    "Topic",
    "WindowReport",
    "calibrate",
    "evaluate_window",
    "fit_baseline",
    "js_divergence",
    "permutation_p_value",
    "wasserstein_1d",
]
