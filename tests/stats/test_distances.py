import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import wasserstein_distance

from drift_app.stats import distances


def test_js_divergence_is_the_square_of_scipys_base_2_distance():
    rng = np.random.default_rng(0)
    for _ in range(20):
        p, q = rng.random(30), rng.random(30)
        p[rng.integers(0, 30, 5)] = 0.0  # empty cells are allowed in the raw function
        assert distances.js_divergence(p, q) == pytest.approx(jensenshannon(p, q, base=2) ** 2, abs=1e-12)


def test_js_divergence_is_zero_for_identical_and_one_for_disjoint_histograms():
    assert distances.js_divergence([1, 2, 3], [2, 4, 6]) == pytest.approx(0.0, abs=1e-12)
    assert distances.js_divergence([1, 1, 0, 0], [0, 0, 1, 1]) == pytest.approx(1.0)


def test_histogram_smoothing_adds_half_a_count_per_cell():
    probabilities = distances.histogram(np.array([0, 0, 1]), 3)
    np.testing.assert_allclose(probabilities, np.array([2.5, 1.5, 0.5]) / 4.5)


def test_wasserstein_1d_matches_scipy():
    rng = np.random.default_rng(1)
    for n, m in ((10, 10), (100, 37), (1000, 2500)):
        u, v = rng.standard_normal(n), rng.standard_normal(m) * 1.5 + 0.3
        assert distances.wasserstein_1d(u, v) == pytest.approx(wasserstein_distance(u, v), rel=1e-10)


def test_grid_wasserstein_is_within_two_percent_of_scipy_on_a_shift():
    rng = np.random.default_rng(2)
    reference = rng.standard_normal((20000, 1))
    window = rng.standard_normal((1000, 1)) * 1.2 + 0.25
    knots = distances.quantile_knots(reference, 256)
    slot, below, above = distances.grid_positions(window, knots)
    counts = np.bincount(slot[:, 0], minlength=knots.shape[1] + 1)[None, None, :]
    grid = distances.grid_wasserstein(counts, below.mean(0)[None], above.mean(0)[None], knots, window.shape[0])
    assert grid[0, 0] == pytest.approx(wasserstein_distance(reference[:, 0], window[:, 0]), rel=0.02)


def test_permutation_p_value_counts_one_plus_exceedances_over_one_plus_permutations():
    assert distances.permutation_p_value(5.0, np.array([1.0, 2.0, 5.0, 7.0])) == pytest.approx(3 / 5)
    assert distances.permutation_p_value(10.0, np.zeros(99)) == pytest.approx(1 / 100)


def test_random_fourier_features_approximate_the_rbf_kernel():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((50, 8)).astype(np.float32) * 0.3
    sigma, n_features = 1.0, 20000
    omega = (rng.standard_normal((8, n_features)) / sigma).astype(np.float32)
    phase = rng.uniform(0, 2 * np.pi, n_features).astype(np.float32)
    z = distances.random_fourier_features(x, omega, phase)
    sq = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    np.testing.assert_allclose(z @ z.T, np.exp(-sq / (2 * sigma**2)), atol=0.03)


def test_mmd_permutation_test_separates_shifted_samples_and_not_identical_ones():
    rng = np.random.default_rng(4)
    a = rng.standard_normal((400, 16)).astype(np.float32)
    same = rng.standard_normal((400, 16)).astype(np.float32)
    shifted = same + 0.5
    _, p_same = distances.mmd_permutation_test(a, same, n_permutations=199, seed=0)
    _, p_shift = distances.mmd_permutation_test(a, shifted, n_permutations=199, seed=0)
    assert p_same > 0.05
    assert p_shift == pytest.approx(1 / 200)


def test_logistic_newton_steps_reach_sklearns_optimum():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(5)
    x = rng.standard_normal((600, 5))
    y = (x[:, 0] + 0.5 * rng.standard_normal(600) > 0).astype(float)
    design = np.concatenate([x, np.ones((600, 1))], axis=1)[None]
    coef = distances._fit_logistic_batch(design, y[None], l2=1.0, iterations=6)[0]
    reference = LogisticRegression(C=1.0, tol=1e-10, max_iter=1000).fit(x, y)
    np.testing.assert_allclose(coef[:-1], reference.coef_[0], atol=1e-3)
    assert coef[-1] == pytest.approx(reference.intercept_[0], abs=1e-3)


def test_domain_classifier_auc_is_near_half_for_identical_and_high_for_shifted_samples():
    rng = np.random.default_rng(6)
    reference = rng.standard_normal((1, 500, 8))
    same = rng.standard_normal((1, 500, 8))
    shifted = same + np.array([0.8] + [0.0] * 7)
    assert abs(distances.domain_classifier_auc_batch(reference, same)[0] - 0.5) < 0.06
    assert distances.domain_classifier_auc_batch(reference, shifted)[0] > 0.65


def test_auc_score_matches_sklearn():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(7)
    labels = rng.integers(0, 2, 300)
    scores = rng.standard_normal(300) + labels * 0.7
    scores[:20] = 0.0  # ties
    assert distances.auc_score(labels, scores) == pytest.approx(roc_auc_score(labels, scores))
