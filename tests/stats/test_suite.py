import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from drift_app import stats
from drift_app.stats import (
    MIN_WINDOW_SIZE,
    SEED_JS_BAND,
    STATISTICS,
    Calibration,
    FittedBaseline,
    calibrate,
    evaluate_window,
    fit_baseline,
)

from .helpers import DIM, clustered, topic_centres, unit

REPO = Path(__file__).resolve().parents[2]
WINDOW = 400
CENTRES = topic_centres(40, seed=0)


@pytest.fixture(scope="module")
def baseline():
    return clustered(3000, CENTRES, seed=1)


@pytest.fixture(scope="module")
def fitted(baseline):
    return fit_baseline(baseline, seed=0)


@pytest.fixture(scope="module")
def calibration(fitted):
    return calibrate(fitted, seed=0)


def test_importing_the_package_loads_no_django():
    code = "import drift_app.stats, sys; bad = [m for m in sys.modules if m.split('.')[0] in ('django', 'celery')]; assert not bad, bad; assert 'drift_app.models' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def test_the_structure_radius_and_pool_rows_are_disjoint_and_cover_the_baseline(fitted, baseline):
    assert fitted.fit_indices.size == 900
    assert fitted.radius_indices.size == 210  # a tenth of the rest
    parts = (fitted.fit_indices, fitted.radius_indices, fitted.holdout_indices)
    assert np.unique(np.concatenate(parts)).size == sum(p.size for p in parts) == baseline.shape[0]
    np.testing.assert_array_equal(fitted.holdout_vectors, baseline[fitted.holdout_indices])


def test_it_flags_a_shifted_mean(fitted, calibration):
    shift = unit(np.random.default_rng(9).standard_normal((1, DIM)))[0] * 0.3
    report = evaluate_window(fitted, calibration, clustered(WINDOW, CENTRES, seed=200, shift=shift))
    assert report.combined.drifted
    for name in ("wasserstein", "sliced_wasserstein", "mmd", "mean_shift"):
        assert report.results[name].drifted, name
    assert report.results["mmd"].p_value < 0.01


def test_it_flags_a_ten_percent_novel_cluster_through_the_novel_share(fitted, calibration):
    window = clustered(WINDOW, CENTRES, seed=300)
    window[:40] = clustered(40, topic_centres(1, seed=99), seed=301)
    report = evaluate_window(fitted, calibration, window)
    assert report.novel_share >= 0.09
    assert report.results["novel_excess"].drifted
    assert report.combined.drifted


def test_novel_topics_are_found_with_the_injected_keywords(fitted, calibration):
    rng = np.random.default_rng(5)
    window = clustered(WINDOW, CENTRES, seed=400)
    texts = [f"please {w} my {v} today" for w, v in zip(rng.choice(["check", "show", "update"], WINDOW), rng.choice(["account", "order", "balance"], WINDOW))]
    window[:30] = clustered(30, topic_centres(1, seed=77), seed=401)
    for i in range(30):
        texts[i] = f"how do i stake {rng.choice(['bitcoin', 'ethereum'])} in my crypto wallet"
    report = evaluate_window(fitted, calibration, window, texts)
    assert report.topics, "no topic found"
    topic = report.topics[0]
    assert 25 <= topic.size <= 35
    assert set(topic.representative_indices) <= set(range(30))
    # Examples are distinct texts: the topic holds two (bitcoin, ethereum), each shown once.
    assert sorted(topic.representative_texts) == sorted(set(texts[:30]))
    assert {"wallet", "crypto", "stake"} <= set(topic.keywords[:5])


def test_topics_have_indices_but_no_words_without_texts(fitted, calibration):
    window = clustered(WINDOW, CENTRES, seed=500)
    window[:30] = clustered(30, topic_centres(1, seed=78), seed=501)
    topic = evaluate_window(fitted, calibration, window).topics[0]
    assert topic.keywords == () and topic.representative_texts == ()
    assert len(topic.representative_indices) == 5


def test_fitted_baseline_round_trips_through_bytes(fitted, calibration):
    data = fitted.to_bytes()
    assert b"pickle" not in data[:200]
    again = FittedBaseline.from_bytes(data)
    window = clustered(WINDOW, CENTRES, seed=600)
    a = evaluate_window(fitted, calibration, window).to_dict()
    b = evaluate_window(again, calibration, window).to_dict()
    assert a == b
    np.testing.assert_array_equal(again.holdout_indices, fitted.holdout_indices)
    assert again.novelty_radius == fitted.novelty_radius


def test_calibration_round_trips_through_bytes(calibration):
    again = Calibration.from_bytes(calibration.to_bytes())
    np.testing.assert_array_equal(again.levels, calibration.levels)
    np.testing.assert_array_equal(again.combined_levels, calibration.combined_levels)
    assert again.thresholds_by_name(WINDOW) == calibration.thresholds_by_name(WINDOW)


def test_report_is_json_serialisable_and_names_every_statistic(fitted, calibration):
    report = evaluate_window(fitted, calibration, clustered(WINDOW, CENTRES, seed=700))
    payload = json.loads(json.dumps(report.to_dict()))
    assert set(payload["results"]) == set(STATISTICS)
    assert payload["results"]["js"]["seed_threshold"] == list(SEED_JS_BAND)
    assert payload["results"]["novel_excess"]["seed_threshold"] is None
    assert 0.0 <= payload["novel_share"] <= 1.0
    assert 0.0 <= payload["results"]["js"]["statistic"] <= 1.0
    assert payload["combined"]["name"] == "combined"
    assert payload["reference_size"] == fitted.n_pool - WINDOW  # the pool minus the window's left-out rows


def test_one_calibration_serves_any_window_size_up_to_half_the_pool(fitted, calibration):
    assert calibration.max_window_size == fitted.max_window_size == fitted.n_pool // 2
    for n in (MIN_WINDOW_SIZE, 137, WINDOW + 1, calibration.max_window_size):
        report = evaluate_window(fitted, calibration, clustered(n, CENTRES, seed=n))
        assert report.window_size == n and set(report.results) == set(STATISTICS)
    with pytest.raises(ValueError):
        evaluate_window(fitted, calibration, clustered(MIN_WINDOW_SIZE - 1, CENTRES, seed=1))
    with pytest.raises(ValueError, match="calibrated for windows"):
        evaluate_window(fitted, calibration, clustered(calibration.max_window_size + 1, CENTRES, seed=1))


def test_a_rate_that_needs_too_many_calibration_windows_is_refused(fitted):
    with pytest.raises(stats.CalibrationTooLarge, match="use a rate of at least"):
        stats.check_false_alarm_rate(0.0001)
    with pytest.raises(stats.CalibrationTooLarge):
        calibrate(fitted, false_alarm_rate=0.0001)
    stats.check_false_alarm_rate(0.005)


def test_identical_vectors_do_not_blow_up():
    same = np.tile(unit(np.ones((1, DIM))), (600, 1))
    fitted = fit_baseline(same, seed=0)
    calibration = calibrate(fitted, sizes=[50, 100], n_windows=199)
    report = evaluate_window(fitted, calibration, same[:80])
    assert all(np.isfinite(r.statistic) for r in report.results.values())
    assert not report.drifted


def test_fitting_is_deterministic_for_a_seed(baseline):
    a = fit_baseline(baseline[:1000], seed=3)
    b = fit_baseline(baseline[:1000], seed=3)
    assert a.to_bytes() == b.to_bytes()


def test_public_api_is_exported():
    for name in ("fit_baseline", "calibrate", "evaluate_window", "DriftResult", "WindowReport", "Topic", "MIN_WINDOW_SIZE"):
        assert hasattr(stats, name)


@pytest.mark.parametrize("n_pool", [300, 3150, 6300, 9000, 20000])
def test_every_calibration_grid_size_is_a_whole_number_of_units(n_pool):
    # Calibration windows are unions of units; a pool of 6,300 rows has units of 4 and once got a
    # first grid size of 50 (12.5 units), which failed calibration for such baselines.
    unit = stats.suite.unit_size(n_pool)
    sizes = stats.grid_sizes(n_pool // 2, unit)
    assert np.all(sizes % unit == 0)
    assert sizes[0] >= stats.MIN_WINDOW_SIZE and sizes[-1] <= n_pool // 2
    assert np.all(sizes[1:] / sizes[:-1] < 1.6)  # steps < 1.5x, then rounded to whole units

