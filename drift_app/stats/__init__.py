"""Drift statistics on sentence embeddings. Pure: numpy, scipy and scikit-learn only.

Usage (what the Django service calls)::

    fitted = fit_baseline(baseline_vectors)            # once per baseline; fitted.to_bytes() -> bytea
    calibration = calibrate(fitted, false_alarm_rate=0.01)  # once per baseline: every window size
    report = evaluate_window(fitted, calibration, window_vectors, texts)
    evaluate_windows(fitted, calibration, vectors, windows)  # many windows at once (bench, tests)
    report.combined.drifted, report.to_dict()

Every statistic is a named object in ``registry`` (built-ins in ``builtin.py``; registry.py says how
to add one). The other modules, one per thing they compute:
``verdict_rules`` (verdict classes, tiers, hysteresis), ``scoring`` (golden-set scorer primitives),
``agreement`` (kappa, alpha, Wilson intervals), ``clustering`` (leader clustering of coverage gaps),
``projection`` (the dashboard's 2-D map).

Never import Django, Celery or drift_app.models here (import-linter and tests/stats check it).
"""

from . import builtin as _builtin  # noqa: F401 - registers the built-in statistics
from . import registry, style
from .baseline import FittedBaseline, fit_baseline
from .distances import (
    HISTOGRAM_SMOOTHING,
    js_divergence,
    permutation_p_value,
    wasserstein_1d,
)
from .results import (
    MIN_WINDOW_SIZE,
    SEED_JS_BAND,
    SEED_NOVEL_SHARE_BAND,
    DriftResult,
    Topic,
    WindowReport,
)
from .suite import (
    BatchDecision,
    Calibration,
    CalibrationTooLarge,
    StaleCalibration,
    calibrate,
    check_false_alarm_rate,
    evaluate_window,
    evaluate_windows,
    grid_sizes,
)

# The built-in statistics' names, in registration order (the registry may hold more: registry.names()).
STATISTICS = registry.names()

__all__ = [
    "HISTOGRAM_SMOOTHING",
    "MIN_WINDOW_SIZE",
    "SEED_JS_BAND",
    "SEED_NOVEL_SHARE_BAND",
    "STATISTICS",
    "BatchDecision",
    "Calibration",
    "CalibrationTooLarge",
    "StaleCalibration",
    "check_false_alarm_rate",
    "evaluate_windows",
    "grid_sizes",
    "registry",
    "style",
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
