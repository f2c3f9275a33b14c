"""The built-in drift statistics, registered by name (see registry.py for how to add one)."""

from __future__ import annotations

import numpy as np
from scipy import sparse

from . import distances
from .registry import Statistic, WindowBatch, register
from .results import SEED_JS_BAND, SEED_NOVEL_SHARE_BAND

# Rows per class given to the domain classifier (window and reference alike). It is calibrated at
# every grid size, so its cost counts many times over; beyond a few hundred rows its null spread
# narrows slowly while MMD and Wasserstein already see what it would.
AUC_SAMPLE_CAP = 250
AUC_FOLDS = 2
_AUC_CHUNK = 25  # windows per batch: bounds memory at ~ _AUC_CHUNK * AUC_SAMPLE_CAP * 2 * 33 doubles


def _cell_onehot(batch: WindowBatch) -> sparse.csr_matrix:
    return sparse.csr_matrix(
        (np.ones(batch.n_rows, dtype=np.float32), (np.arange(batch.n_rows), batch.features.cells)),
        shape=(batch.n_rows, batch.fitted.n_cells),
    )


def js(batch: WindowBatch) -> np.ndarray:
    window_hist, reference_hist = batch.sums("cells", _cell_onehot(batch))
    return distances.js_divergence(distances.smooth_counts(reference_hist), distances.smooth_counts(window_hist))


def _per_dimension_w1(batch: WindowBatch) -> np.ndarray:
    features, fitted = batch.features, batch.fitted
    n, m = batch.window_size, batch.reference_size
    n_dims = features.slot.shape[1]
    n_slots = fitted.knots.shape[1] + 1
    slot_onehot = batch.shared("slot_onehot", lambda: sparse.csr_matrix(
        (
            np.ones(features.slot.size, dtype=np.float32),
            (
                np.repeat(np.arange(batch.n_rows), n_dims),
                (features.slot.astype(np.int64) + np.arange(n_dims) * n_slots).ravel(),
            ),
        ),
        shape=(batch.n_rows, n_dims * n_slots),
    ))
    window_slots, reference_slots = batch.sums("slots", slot_onehot)
    n_bins = n_slots - 2
    window_cdf = np.cumsum(window_slots.reshape(-1, n_dims, n_slots), axis=-1)[..., : n_bins + 1] / n
    reference_cdf = np.cumsum(reference_slots.reshape(-1, n_dims, n_slots), axis=-1)[..., : n_bins + 1] / m
    window_below, reference_below = batch.sums("below", features.below)
    window_above, reference_above = batch.sums("above", features.above)
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
    window_sum, reference_sum = batch.sums("rff", batch.features.rff)
    return distances.mmd2_from_means(window_sum / batch.window_size, reference_sum / batch.reference_size)


def mmd_permutation_p_value(fitted, features, seed: int, n_permutations: int) -> float:
    _, p_value = distances.mmd_permutation_test(
        distances.random_fourier_features(fitted.reference_sample, fitted.rff_omega, fitted.rff_phase),
        features.rff[fitted.n_pool :],
        n_permutations=n_permutations,
        seed=seed,
    )
    return p_value


def domain_classifier_auc(batch: WindowBatch) -> np.ndarray:
    windows, rng = batch.windows, batch.rng
    auc = np.empty(batch.n_windows)
    pcs = batch.features.pcs
    per_class = min(batch.window_size, AUC_SAMPLE_CAP, batch.reference_size)
    for start in range(0, batch.n_windows, _AUC_CHUNK):
        stop = min(start + _AUC_CHUNK, batch.n_windows)
        ref_rows = np.stack([batch.reference_rows(b, per_class, rng) for b in range(start, stop)])
        win_rows = np.stack([rng.choice(windows[b], per_class, replace=False) for b in range(start, stop)])
        auc[start:stop] = distances.domain_classifier_auc_batch(
            pcs[ref_rows], pcs[win_rows], folds=AUC_FOLDS, seed=int(rng.integers(2**31 - 1))
        )
    return auc


def novel_share(batch: WindowBatch) -> np.ndarray:
    window_distances = batch.features.novelty_distance[batch.windows]
    count = np.count_nonzero(window_distances > batch.radii[:, None], axis=1)
    # The count is discrete: a threshold interpolated between grid sizes would land between lattice
    # points and miss its rate. A uniform fraction of one count (seeded) makes it continuous, so the
    # conformal threshold keeps its rate at every size; the share is off by under 1/n.
    return (count + batch.rng.random(batch.n_windows)) / batch.window_size


register(Statistic(
    name="js", label="Jensen-Shannon divergence", value_format="{:.4f}", seed_band=SEED_JS_BAND, compute=js,
    description="JS divergence (base 2) between the baseline's and the window's histograms over a k-means codebook "
                "of PCA-reduced embeddings, window against reference; drift above the threshold calibrated at the deployment's false-alarm rate.",
))
register(Statistic(
    name="wasserstein", label="Wasserstein distance", value_format="{:.4f}", compute=wasserstein,
    description="Mean 1-D Wasserstein distance per principal component, in units of the baseline's standard "
                "deviation; drift above its calibrated threshold.",
))
register(Statistic(
    name="sliced_wasserstein", label="Sliced Wasserstein distance", value_format="{:.4f}", compute=sliced_wasserstein,
    description="Mean 1-D Wasserstein distance over random projections of the embeddings; drift above its calibrated "
                "threshold.",
))
register(Statistic(
    name="mmd", label="Maximum mean discrepancy", value_format="{:.2e}", compute=mmd,
    description="Squared MMD with random Fourier features (Gaussian kernel); drift above its calibrated threshold. "
                "The decision is the calibrated threshold; the permutation p-value against the stored reference "
                "sample is shown for information only.",
))
register(Statistic(
    name="domain_classifier_auc", label="Domain-classifier AUC", value_format="{:.3f}", compute=domain_classifier_auc,
    description="Cross-validated ROC AUC of a logistic classifier telling window from baseline embeddings "
                "(0.5 = indistinguishable); drift above its calibrated threshold.",
))
register(Statistic(
    name="novel_share", label="Novel-topic share", value_format="{:.1%}", seed_band=SEED_NOVEL_SHARE_BAND,
    compute=novel_share,
    description="Share of the window's vectors farther from every codebook cell than the baseline's 99th-percentile "
                "radius (prompts in clusters never seen); drift above its calibrated threshold, retraining advice "
                "above the deployment's alert share.",
))
