"""The built-in drift statistics, registered by name (see registry.py for how to add one)."""

from __future__ import annotations

import numpy as np
from scipy import sparse, stats

from . import distances
from .baseline import novel_beyond_radius
from .registry import Statistic, WindowBatch, register
from .results import SEED_JS_BAND

def _cell_onehot(fitted, features) -> sparse.csr_matrix:
    n_rows = features.cells.shape[0]
    return sparse.csr_matrix(
        (np.ones(n_rows, dtype=np.float32), (np.arange(n_rows), features.cells)), shape=(n_rows, fitted.n_cells)
    )


def _slot_onehot(fitted, features) -> sparse.csr_matrix:
    n_rows, n_dims = features.slot.shape
    n_slots = fitted.knots.shape[1] + 1
    return sparse.csr_matrix(
        (
            np.ones(features.slot.size, dtype=np.float32),
            (np.repeat(np.arange(n_rows), n_dims), (features.slot.astype(np.int64) + np.arange(n_dims) * n_slots).ravel()),
        ),
        shape=(n_rows, n_dims * n_slots),
    )


def js(batch: WindowBatch) -> np.ndarray:
    window_hist, reference_hist = batch.sums("cells", lambda features: _cell_onehot(batch.fitted, features))
    return distances.js_divergence(distances.smooth_counts(reference_hist), distances.smooth_counts(window_hist))


def _per_dimension_w1(batch: WindowBatch) -> np.ndarray:
    features, fitted = batch.features, batch.fitted
    n, m = batch.window_size, batch.reference_size
    n_dims = features.slot.shape[1]
    n_slots = fitted.knots.shape[1] + 1
    window_slots, reference_slots = batch.sums("slots", lambda table: _slot_onehot(fitted, table))
    n_bins = n_slots - 2
    window_cdf = np.cumsum(window_slots.reshape(-1, n_dims, n_slots), axis=-1)[..., : n_bins + 1] / n
    reference_cdf = np.cumsum(reference_slots.reshape(-1, n_dims, n_slots), axis=-1)[..., : n_bins + 1] / m
    window_below, reference_below = batch.sums("below", lambda table: table.below)
    window_above, reference_above = batch.sums("above", lambda table: table.above)
    outside = np.abs(window_below / n - reference_below / m) + np.abs(window_above / n - reference_above / m)
    return distances.grid_wasserstein_two_sample(window_cdf, reference_cdf, outside, fitted.knots)


def wasserstein(batch: WindowBatch) -> np.ndarray:
    w1 = batch.shared("w1", lambda: _per_dimension_w1(batch))
    k_pc = batch.fitted.n_components
    return np.mean(w1[:, :k_pc] / batch.fitted.pca_std[None, :], axis=1)


def sliced_wasserstein(batch: WindowBatch) -> np.ndarray:
    w1 = batch.shared("w1", lambda: _per_dimension_w1(batch))
    return np.mean(w1[:, batch.fitted.n_components :], axis=1)


def mmd(batch: WindowBatch) -> np.ndarray:
    window_sum, reference_sum = batch.sums("rff", lambda table: table.rff)
    return distances.mmd2_from_means(window_sum / batch.window_size, reference_sum / batch.reference_size)


def mean_shift(batch: WindowBatch) -> np.ndarray:
    """Hotelling-type T^2 on the principal components, with the baseline's (diagonal) PCA covariance.

    The cheap, exact-to-calibrate equivalent of a linear domain classifier: between two Gaussians
    of one covariance the best linear classifier's AUC is Phi(D / 2), D the Mahalanobis distance
    of the means, and T^2 = n m / (n + m) D^2 estimates it from sums alone (no per-window fit).
    """
    window_sum, reference_sum = batch.sums("pcs", lambda table: table.pcs)
    n, m = batch.window_size, batch.reference_size
    gap = (window_sum / n - reference_sum / m) / batch.fitted.pca_std[None, :].astype(np.float64)
    return (n * m / (n + m)) * np.sum(gap * gap, axis=1)


def novel_excess(batch: WindowBatch) -> np.ndarray:
    """The window's count of novel vectors against its reference's, as an exact conditional z.

    Under no drift the window's and the reference's rows are exchangeable, so given the total
    count s of novel rows among the window's n and the reference's m, the window's count is
    hypergeometric (s of n + m, n drawn), however the reference happens to sit. Its randomised
    p-value P(H > x) + U P(H = x) is then exactly uniform, and z = Phi^-1(1 - p) exactly N(0, 1),
    at every window size, in calibration (window and reference split the pool) and in production
    (a fresh window against the pool minus n rows) alike. A z from the pooled share was not: its
    distribution depends on s, which is the pool's fixed total in every calibration replicate but
    moves with each production window, and with about 1% of rows novel the counts are small and
    skewed; with templated traffic (novel rows only among its 10% unique texts) it raised 2.5%
    false alarms at a nominal 1% for windows of a third of the pool.
    """
    window_novel, reference_novel = batch.sums(
        "novel_count", lambda table: novel_beyond_radius(batch.fitted, table.novelty_distance)[:, None]
    )
    n, m = batch.window_size, batch.reference_size
    window = np.rint(window_novel[:, 0])
    total = window + np.rint(reference_novel[:, 0])
    above = stats.hypergeom.sf(window, n + m, total, n)
    at = stats.hypergeom.pmf(window, n + m, total, n)
    p_value = np.clip(above + batch.rng.random(batch.n_windows) * at, 1e-300, 1.0)
    return stats.norm.isf(p_value)


register(Statistic(
    name="js", log_scale=True, label="Jensen-Shannon divergence", value_format="{:.4f}", seed_band=SEED_JS_BAND, compute=js,
    description="JS divergence (base 2) between the baseline's and the window's histograms over a k-means codebook "
                "of PCA-reduced embeddings, window against reference; drift above the threshold calibrated at the deployment's false-alarm rate.",
))
register(Statistic(
    name="wasserstein", log_scale=True, label="Wasserstein distance", value_format="{:.4f}", compute=wasserstein,
    description="Mean 1-D Wasserstein distance per principal component, in units of the baseline's standard "
                "deviation; drift above its calibrated threshold.",
))
register(Statistic(
    name="sliced_wasserstein", log_scale=True, label="Sliced Wasserstein distance", value_format="{:.4f}", compute=sliced_wasserstein,
    description="Mean 1-D Wasserstein distance over random projections of the embeddings; drift above its calibrated "
                "threshold.",
))
register(Statistic(
    name="mmd", log_scale=True, label="Maximum mean discrepancy", value_format="{:.2e}", compute=mmd,
    description="Squared MMD with random Fourier features (Gaussian kernel); drift above its calibrated threshold. "
                "The decision is the calibrated threshold; the p-value shown is the window's rank among the "
                "calibration windows.",
))
register(Statistic(
    name="mean_shift", log_scale=True, label="Mean shift (Hotelling T²)", value_format="{:.1f}", compute=mean_shift,
    description="Hotelling-type T² of the window's mean against the reference's on the principal components "
                "(the statistic a linear domain classifier's AUC estimates, without fitting one per window); "
                "drift above its calibrated threshold.",
))
register(Statistic(
    name="novel_excess", label="New-topic excess (z)", value_format="{:.2f}", compute=novel_excess,
    description="Exact conditional z (hypergeometric, randomised) of the window's count of vectors beyond the "
                "baseline's 99th-percentile novelty radius (prompts in clusters never seen) against the baseline "
                "reference's count; drift above its calibrated threshold. The share itself is reported beside it "
                "for retraining advice.",
))
