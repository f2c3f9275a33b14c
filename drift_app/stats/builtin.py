"""The built-in drift statistics, registered by name (see registry.py for how to add one)."""

from __future__ import annotations

import numpy as np
from scipy import sparse

from . import distances
from .registry import Statistic, WindowBatch, register
from .results import SEED_JS_BAND, SEED_NOVEL_SHARE_BAND

# Rows per class given to the domain classifier (window and reference alike); beyond this the
# AUC's null spread barely narrows while the cost grows linearly.
AUC_SAMPLE_CAP = 1000
AUC_FOLDS = 2
_AUC_CHUNK = 25  # windows per batch: bounds memory at ~ _AUC_CHUNK * AUC_SAMPLE_CAP * 2 * 33 doubles


def js(batch: WindowBatch) -> np.ndarray:
    cell_onehot = np.zeros((batch.n_rows, batch.fitted.n_cells), dtype=np.float32)
    cell_onehot[np.arange(batch.n_rows), batch.features.cells] = 1.0
    window_hist = batch.counts @ cell_onehot
    return distances.js_divergence(
        distances.smooth_counts(batch.fitted.reference_counts)[None, :], distances.smooth_counts(window_hist)
    )


def _per_dimension_w1(batch: WindowBatch) -> np.ndarray:
    features, fitted, n = batch.features, batch.fitted, batch.window_size
    n_dims = features.slot.shape[1]
    n_slots = fitted.knots.shape[1] + 1
    # Transposed (dims * slots, rows) so the product is sparse @ dense, scipy's fast path.
    slot_onehot_t = sparse.csr_matrix(
        (
            np.ones(features.slot.size, dtype=np.float32),
            (
                np.repeat(np.arange(batch.n_rows), n_dims),
                (features.slot.astype(np.int64) + np.arange(n_dims) * n_slots).ravel(),
            ),
        ),
        shape=(batch.n_rows, n_dims * n_slots),
    ).T.tocsr()
    slot_counts = (slot_onehot_t @ batch.counts.T).T.reshape(batch.n_windows, n_dims, n_slots)
    below = np.asarray(batch.counts @ features.below, dtype=np.float64) / n
    above = np.asarray(batch.counts @ features.above, dtype=np.float64) / n
    return distances.grid_wasserstein(slot_counts, below, above, fitted.knots, n)


def wasserstein(batch: WindowBatch) -> np.ndarray:
    w1 = batch.shared("w1", lambda: _per_dimension_w1(batch))
    k_pc = batch.fitted.n_components
    return np.mean(w1[:, :k_pc] / batch.fitted.pca_std[None, :], axis=1)


def sliced_wasserstein(batch: WindowBatch) -> np.ndarray:
    w1 = batch.shared("w1", lambda: _per_dimension_w1(batch))
    return np.mean(w1[:, batch.fitted.n_components :], axis=1)


def mmd(batch: WindowBatch) -> np.ndarray:
    means = np.asarray(batch.counts @ batch.features.rff, dtype=np.float64) / batch.window_size
    return distances.mmd2_from_means(means, batch.fitted.rff_reference_mean[None, :])


def mmd_permutation_p_value(fitted, features, seed: int, n_permutations: int) -> float:
    _, p_value = distances.mmd_permutation_test(
        distances.random_fourier_features(fitted.reference_sample, fitted.rff_omega, fitted.rff_phase),
        features.rff,
        n_permutations=n_permutations,
        seed=seed,
    )
    return p_value


def domain_classifier_auc(batch: WindowBatch) -> np.ndarray:
    fitted, windows, rng = batch.fitted, batch.windows, batch.rng
    auc = np.empty(batch.n_windows)
    reference_pcs = (fitted.reference_sample - fitted.pca_mean) @ fitted.pca_components.T
    per_class = min(batch.window_size, AUC_SAMPLE_CAP, reference_pcs.shape[0])
    for start in range(0, batch.n_windows, _AUC_CHUNK):
        stop = min(start + _AUC_CHUNK, batch.n_windows)
        ref_rows = np.stack([rng.choice(reference_pcs.shape[0], per_class, replace=False) for _ in range(start, stop)])
        win_rows = np.stack([rng.choice(windows[b], per_class, replace=False) for b in range(start, stop)])
        auc[start:stop] = distances.domain_classifier_auc_batch(
            reference_pcs[ref_rows], batch.features.pcs[win_rows], folds=AUC_FOLDS, seed=int(rng.integers(2**31 - 1))
        )
    return auc


def novel_share(batch: WindowBatch) -> np.ndarray:
    novel_flags = batch.features.novelty_distance[None, :] > batch.radii[:, None]
    n = batch.window_size
    return np.array(
        [np.count_nonzero(novel_flags[b, batch.windows[b]]) / n for b in range(batch.n_windows)], dtype=np.float64
    )


register(Statistic(
    name="js", label="Jensen-Shannon divergence", value_format="{:.4f}", seed_band=SEED_JS_BAND, compute=js,
    description="JS divergence (base 2) between the baseline's and the window's histograms over a k-means codebook "
                "of PCA-reduced embeddings; drift above the threshold calibrated at the deployment's false-alarm rate.",
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
    exact_p_value=mmd_permutation_p_value,
    description="Squared MMD with random Fourier features (Gaussian kernel); drift above its calibrated threshold. "
                "The p-value shown beside it is a permutation test against the stored reference sample.",
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
