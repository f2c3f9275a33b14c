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
    SEED_NOVEL_SHARE_BAND,
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
    return calibrate(fitted, WINDOW, seed=0)


def test_importing_the_package_loads_no_django():
    code = "import drift_app.stats, sys; bad = [m for m in sys.modules if m.split('.')[0] in ('django', 'celery')]; assert not bad, bad; assert 'drift_app.models' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def test_it_holds_out_thirty_percent_disjoint_from_the_fit(fitted, baseline):
    assert fitted.holdout_indices.size == 900
    assert np.intersect1d(fitted.holdout_indices, fitted.fit_indices).size == 0
    assert fitted.holdout_indices.size + fitted.fit_indices.size == baseline.shape[0]
    np.testing.assert_array_equal(fitted.holdout_vectors, baseline[fitted.holdout_indices])


def test_calibration_never_reuses_fitted_vectors(fitted, calibration):
    assert calibration.used_indices.size > 0
    assert np.intersect1d(calibration.used_indices, fitted.fit_indices).size == 0
    assert np.isin(calibration.used_indices, fitted.holdout_indices).all()


def test_it_does_not_flag_identical_distributions(fitted, calibration):
    flagged = 0
    for seed in range(20):
        report = evaluate_window(fitted, calibration, clustered(WINDOW, CENTRES, seed=100 + seed), seed=seed)
        flagged += report.combined.drifted
    # The target rate is 1%; 20 windows may hold one false alarm, not more than two.
    assert flagged <= 2


def test_it_flags_a_shifted_mean(fitted, calibration):
    shift = unit(np.random.default_rng(9).standard_normal((1, DIM)))[0] * 0.3
    report = evaluate_window(fitted, calibration, clustered(WINDOW, CENTRES, seed=200, shift=shift))
    assert report.combined.drifted
    for name in ("wasserstein", "sliced_wasserstein", "mmd", "domain_classifier_auc"):
        assert report.results[name].drifted, name
    assert report.results["mmd"].p_value < 0.01


def test_it_flags_a_ten_percent_novel_cluster_through_the_novel_share(fitted, calibration):
    window = clustered(WINDOW, CENTRES, seed=300)
    window[:40] = clustered(40, topic_centres(1, seed=99), seed=301)
    report = evaluate_window(fitted, calibration, window)
    assert report.results["novel_share"].statistic >= 0.09
    assert report.results["novel_share"].drifted
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
    assert len(topic.representative_texts) == 5 and all("wallet" in t for t in topic.representative_texts)
    assert {"wallet", "crypto", "stake"} <= set(topic.keywords[:5])


def test_topics_have_indices_but_no_words_without_texts(fitted, calibration):
    window = clustered(WINDOW, CENTRES, seed=500)
    window[:30] = clustered(30, topic_centres(1, seed=78), seed=501)
    topic = evaluate_window(fitted, calibration, window).topics[0]
    assert topic.keywords == () and topic.representative_texts == ()
    assert len(topic.representative_indices) == 5


def test_combined_decision_keeps_the_calibration_false_alarm_rate(calibration):
    normalised = (calibration.statistics - calibration.centre) / calibration.scale
    combined_rate = np.mean(normalised.max(axis=1) > calibration.combined_level)
    assert combined_rate <= calibration.false_alarm_rate
    # Each statistic's own rate on the calibration windows is at most the target too.
    assert np.all(np.mean(calibration.statistics > calibration.thresholds, axis=0) <= calibration.false_alarm_rate)


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
    np.testing.assert_array_equal(again.thresholds, calibration.thresholds)
    assert again.combined_level == calibration.combined_level
    assert again.window_size == WINDOW


def test_report_is_json_serialisable_and_names_every_statistic(fitted, calibration):
    report = evaluate_window(fitted, calibration, clustered(WINDOW, CENTRES, seed=700))
    payload = json.loads(json.dumps(report.to_dict()))
    assert set(payload["results"]) == set(STATISTICS)
    assert payload["results"]["js"]["seed_threshold"] == list(SEED_JS_BAND)
    assert payload["results"]["novel_share"]["seed_threshold"] == list(SEED_NOVEL_SHARE_BAND)
    assert 0.0 <= payload["results"]["js"]["statistic"] <= 1.0
    assert payload["combined"]["name"] == "combined"


def test_it_refuses_windows_below_the_minimum_or_of_another_size(fitted, calibration):
    with pytest.raises(ValueError):
        evaluate_window(fitted, calibration, clustered(MIN_WINDOW_SIZE - 1, CENTRES, seed=1))
    with pytest.raises(ValueError):
        evaluate_window(fitted, calibration, clustered(WINDOW + 1, CENTRES, seed=1))


def test_calibration_resamples_with_replacement_when_the_window_exceeds_the_pool(fitted):
    big = calibrate(fitted, 1200, n_windows=100, seed=1)  # pool holds 900 held-out vectors
    assert big.with_replacement
    assert np.isin(big.used_indices, fitted.holdout_indices).all()


def test_fitting_is_deterministic_for_a_seed(baseline):
    a = fit_baseline(baseline[:1000], seed=3)
    b = fit_baseline(baseline[:1000], seed=3)
    assert a.to_bytes() == b.to_bytes()


def test_public_api_is_exported():
    for name in ("fit_baseline", "calibrate", "evaluate_window", "DriftResult", "WindowReport", "Topic", "MIN_WINDOW_SIZE"):
        assert hasattr(stats, name)
