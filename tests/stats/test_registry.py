"""The statistics registry: a new statistic is picked up by calibration and evaluation, stored by name."""

import numpy as np
import pytest

from drift_app import stats
from drift_app.stats import registry

from .helpers import clustered, topic_centres

CENTRES = topic_centres(20, seed=3)


def mean_norm_gap(batch: registry.WindowBatch) -> np.ndarray:
    """Distance of each window's mean PCA score from the baseline's (a toy statistic)."""
    window_sum, reference_sum = batch.sums("pcs", batch.features.pcs)
    return np.linalg.norm(window_sum / batch.window_size - reference_sum / batch.reference_size, axis=1)


@pytest.fixture(scope="module")
def fitted():
    return stats.fit_baseline(clustered(1500, CENTRES, seed=4), seed=0)


@pytest.fixture
def toy_statistic():
    statistic = registry.register(registry.Statistic(
        name="mean_gap", label="Mean gap", description="toy", compute=mean_norm_gap,
    ))
    yield statistic
    registry.unregister("mean_gap")


def test_the_built_in_statistics_are_registered_by_name():
    assert registry.names()[:6] == stats.STATISTICS
    assert registry.get("js").seed_band == stats.SEED_JS_BAND
    with pytest.raises(KeyError, match="no drift statistic named 'nope'"):
        registry.get("nope")


def test_a_registered_statistic_is_calibrated_evaluated_and_reported(fitted, toy_statistic):
    calibration = stats.calibrate(fitted, n_windows=100, sizes=[100, 200])
    assert calibration.names[-1] == "mean_gap"
    report = stats.evaluate_window(fitted, calibration, clustered(200, CENTRES, seed=5))
    assert "mean_gap" in report.results and "mean_gap" in report.to_dict()["results"]
    assert report.results["mean_gap"].threshold == calibration.threshold("mean_gap", 200)


def test_thresholds_are_read_back_by_name_not_position(fitted, toy_statistic):
    calibration = stats.calibrate(fitted, n_windows=100, sizes=[100, 200])
    restored = stats.Calibration.from_bytes(calibration.to_bytes())
    assert restored.names == calibration.names
    assert restored.thresholds_by_name(150) == calibration.thresholds_by_name(150)


def test_a_calibration_made_before_a_statistic_was_added_is_stale_not_shifted(fitted):
    before = stats.calibrate(fitted, n_windows=100, sizes=[100, 200])
    registry.register(registry.Statistic(name="mean_gap", label="Mean gap", description="toy", compute=mean_norm_gap))
    try:
        assert not before.matches_registry()
        with pytest.raises(stats.StaleCalibration):
            stats.evaluate_window(fitted, before, clustered(200, CENTRES, seed=6))
        with pytest.raises(stats.StaleCalibration):
            before.threshold("mean_gap", 200)
    finally:
        registry.unregister("mean_gap")
    assert before.matches_registry()


def test_names_are_unique_identifiers():
    with pytest.raises(ValueError, match="already registered"):
        registry.register(registry.Statistic(name="js", label="x", description="x", compute=mean_norm_gap))
    with pytest.raises(ValueError, match="combined"):
        registry.register(registry.Statistic(name="combined", label="x", description="x", compute=mean_norm_gap))
