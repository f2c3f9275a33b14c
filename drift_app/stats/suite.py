"""The drift suite: every statistic for many windows at once, calibration, and one window's report.

Calibration and evaluation share :func:`window_statistics`, so a threshold is always found on
exactly the statistic it is later compared with. Windows are expressed as row indices into a
table of per-vector features; a (B, rows) count matrix turns most statistics into one matrix
product, which is what makes 200 calibration windows of 10,000 vectors affordable.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, fields
from typing import Sequence

import numpy as np
from scipy import sparse

from . import distances
from .baseline import NOVELTY_QUANTILE, FittedBaseline, VectorFeatures, vector_features
from .novelty import novel_topics
from .results import MIN_WINDOW_SIZE, SEED_BANDS, STATISTICS, DriftResult, WindowReport

CALIBRATION_FORMAT_VERSION = 1
# Rows per class given to the domain classifier (window and reference alike); beyond this the
# AUC's null spread barely narrows while the cost grows linearly.
AUC_SAMPLE_CAP = 1000
AUC_FOLDS = 2
N_PERMUTATIONS = 200
_CHUNK = 25  # windows per batch: bounds memory at ~ _CHUNK * AUC_SAMPLE_CAP * 2 * 33 doubles


def _count_matrix(windows: np.ndarray, n_rows: int) -> np.ndarray:
    """(B, n_rows) dense float32: how often each feature row appears in each window."""
    n_windows = windows.shape[0]
    flat = (np.arange(n_windows)[:, None] * n_rows + windows).ravel()
    return np.bincount(flat, minlength=n_windows * n_rows).reshape(n_windows, n_rows).astype(np.float32)


def window_statistics(
    fitted: FittedBaseline,
    features: VectorFeatures,
    windows: np.ndarray,
    radii: np.ndarray,
    *,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """All six statistics for each window; ``windows`` is (B, n) rows of ``features``.

    ``radii`` (B,) is the novelty radius to apply per window (calibration re-estimates it by
    bootstrap to carry its own sampling error; evaluation uses the fitted radius).
    """
    n_windows, n = windows.shape
    n_rows = features.cells.shape[0]
    counts = _count_matrix(windows, n_rows)

    cell_onehot = np.zeros((n_rows, fitted.n_cells), dtype=np.float32)
    cell_onehot[np.arange(n_rows), features.cells] = 1.0
    window_hist = counts @ cell_onehot
    js = distances.js_divergence(
        distances.smooth_counts(fitted.reference_counts)[None, :], distances.smooth_counts(window_hist)
    )

    means = np.asarray(counts @ features.rff, dtype=np.float64) / n
    mmd = distances.mmd2_from_means(means, fitted.rff_reference_mean[None, :])

    n_dims = features.slot.shape[1]
    n_slots = fitted.knots.shape[1] + 1
    # Transposed (dims * slots, rows) so the product is sparse @ dense, scipy's fast path.
    slot_onehot_t = sparse.csr_matrix(
        (
            np.ones(features.slot.size, dtype=np.float32),
            (
                np.repeat(np.arange(n_rows), n_dims),
                (features.slot.astype(np.int64) + np.arange(n_dims) * n_slots).ravel(),
            ),
        ),
        shape=(n_rows, n_dims * n_slots),
    ).T.tocsr()
    slot_counts = (slot_onehot_t @ counts.T).T.reshape(n_windows, n_dims, n_slots)
    below = np.asarray(counts @ features.below, dtype=np.float64) / n
    above = np.asarray(counts @ features.above, dtype=np.float64) / n
    w1 = distances.grid_wasserstein(slot_counts, below, above, fitted.knots, n)
    k_pc = fitted.n_components
    wasserstein = np.mean(w1[:, :k_pc] / fitted.pca_std[None, :], axis=1)
    sliced = np.mean(w1[:, k_pc:], axis=1)

    novel_flags = features.novelty_distance[None, :] > radii[:, None]
    novel_share = np.array(
        [np.count_nonzero(novel_flags[b, windows[b]]) / n for b in range(n_windows)], dtype=np.float64
    )

    auc = np.empty(n_windows)
    rng = np.random.default_rng(seed)
    reference_pcs = (fitted.reference_sample - fitted.pca_mean) @ fitted.pca_components.T
    per_class = min(n, AUC_SAMPLE_CAP, reference_pcs.shape[0])
    for start in range(0, n_windows, _CHUNK):
        stop = min(start + _CHUNK, n_windows)
        ref_rows = np.stack([rng.choice(reference_pcs.shape[0], per_class, replace=False) for _ in range(start, stop)])
        win_rows = np.stack([rng.choice(windows[b], per_class, replace=False) for b in range(start, stop)])
        auc[start:stop] = distances.domain_classifier_auc_batch(
            reference_pcs[ref_rows], features.pcs[win_rows], folds=AUC_FOLDS, seed=int(rng.integers(2**31 - 1))
        )

    return {
        "js": js,
        "wasserstein": wasserstein,
        "sliced_wasserstein": sliced,
        "mmd": mmd,
        "domain_classifier_auc": auc,
        "novel_share": novel_share,
    }


@dataclass(frozen=True, eq=False)
class Calibration:
    """Thresholds for one baseline and one window size, found on held-out resampled windows.

    ``statistics`` holds every calibration window's value (rows) per statistic (columns, in
    ``STATISTICS`` order). ``combined_thresholds`` are lower than the individual ones: they are
    set so that "any statistic above its combined threshold" happens on at most
    ``false_alarm_rate`` of the calibration windows.
    """

    window_size: int
    false_alarm_rate: float
    n_windows: int
    seed: int
    with_replacement: bool
    statistics: np.ndarray  # (n_windows, len(STATISTICS))
    thresholds: np.ndarray  # individual (1 - rate) quantiles
    centre: np.ndarray  # mean per statistic, for normalised exceedances
    scale: np.ndarray  # standard deviation per statistic
    combined_level: float  # (1 - rate) quantile of the max normalised exceedance
    used_indices: np.ndarray  # baseline rows drawn into calibration windows (all held out)

    @property
    def combined_thresholds(self) -> np.ndarray:
        return self.centre + self.combined_level * self.scale

    def threshold(self, name: str) -> float:
        return float(self.thresholds[STATISTICS.index(name)])

    def to_bytes(self) -> bytes:
        arrays, meta = {}, {"format_version": CALIBRATION_FORMAT_VERSION}
        for f in fields(self):
            value = getattr(self, f.name)
            (arrays if isinstance(value, np.ndarray) else meta)[f.name] = value
        arrays["_meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> "Calibration":
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            meta = json.loads(archive["_meta"].tobytes().decode())
            if meta.pop("format_version") != CALIBRATION_FORMAT_VERSION:
                raise ValueError("unsupported Calibration format version")
            arrays = {name: archive[name] for name in archive.files if name != "_meta"}
        return cls(**meta, **arrays)


def calibrate(
    fitted: FittedBaseline,
    window_size: int,
    *,
    false_alarm_rate: float = 0.01,
    n_windows: int = 200,
    seed: int = 0,
) -> Calibration:
    """Thresholds at ``false_alarm_rate`` for windows of ``window_size`` vectors.

    Calibration windows are drawn only from the held-out baseline rows (never the fitted ones),
    always WITH replacement, i.e. as bootstrap samples of the held-out pool. This is
    required when the window is larger than the pool, and also right when it is not: windows
    drawn without replacement from a pool only somewhat larger than themselves (1,000 of 1,500)
    overlap so much that their spread, hence every threshold, would be understated.
    The novelty radius is re-estimated for every window from a bootstrap of the held-out
    distances, so the 99th percentile's own estimation error is part of the threshold.
    The combined decision's level is the (1 - rate) quantile, over calibration windows, of the
    largest normalised exceedance max_j (s_j - mean_j) / sd_j.
    """
    if window_size < MIN_WINDOW_SIZE:
        raise ValueError(f"window_size must be at least {MIN_WINDOW_SIZE}")
    if not 0.0 < false_alarm_rate < 1.0:
        raise ValueError("false_alarm_rate must be in (0, 1)")
    if n_windows * false_alarm_rate < 1.0:
        raise ValueError("n_windows * false_alarm_rate must be >= 1 for an empirical quantile")
    rng = np.random.default_rng(seed)
    pool = fitted.holdout_vectors
    features = vector_features(fitted, pool)
    windows = rng.integers(0, pool.shape[0], size=(n_windows, window_size))
    boot = rng.integers(0, pool.shape[0], size=(n_windows, pool.shape[0]))
    radii = np.quantile(fitted.holdout_distances[boot], NOVELTY_QUANTILE, axis=1)
    stats = window_statistics(fitted, features, windows, radii, seed=int(rng.integers(2**31 - 1)))
    matrix = np.column_stack([stats[name] for name in STATISTICS])
    thresholds = np.quantile(matrix, 1.0 - false_alarm_rate, axis=0)
    centre = matrix.mean(axis=0)
    scale = np.maximum(matrix.std(axis=0), 1e-12)
    combined_level = float(np.quantile(np.max((matrix - centre) / scale, axis=1), 1.0 - false_alarm_rate))
    return Calibration(
        window_size=int(window_size),
        false_alarm_rate=float(false_alarm_rate),
        n_windows=int(n_windows),
        seed=int(seed),
        with_replacement=True,
        statistics=matrix,
        thresholds=thresholds,
        centre=centre,
        scale=scale,
        combined_level=combined_level,
        used_indices=fitted.holdout_indices[np.flatnonzero(np.bincount(windows.ravel(), minlength=pool.shape[0]))],
    )


def evaluate_window(
    fitted: FittedBaseline,
    calibration: Calibration,
    vectors: np.ndarray,
    texts: Sequence[str] | None = None,
    *,
    seed: int = 0,
    n_permutations: int = N_PERMUTATIONS,
) -> WindowReport:
    """Every statistic for one window against its calibrated threshold, plus novel topics.

    p-values: MMD's is a permutation test (stored reference sample vs window, on random-feature
    means); the others' are the share of calibration windows scoring at least as high,
    (1 + b) / (1 + B). The window must have the calibrated size (calibrate once per size).
    """
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    n = vectors.shape[0]
    if n < MIN_WINDOW_SIZE:
        raise ValueError(f"window of {n} vectors is below MIN_WINDOW_SIZE={MIN_WINDOW_SIZE}")
    if n != calibration.window_size:
        raise ValueError(f"calibration is for windows of {calibration.window_size}, got {n}")
    features = vector_features(fitted, vectors)
    stats = window_statistics(
        fitted, features, np.arange(n)[None, :], np.array([fitted.novelty_radius]), seed=seed
    )
    values = np.array([stats[name][0] for name in STATISTICS])
    _, mmd_p = distances.mmd_permutation_test(
        distances.random_fourier_features(fitted.reference_sample, fitted.rff_omega, fitted.rff_phase),
        features.rff,
        n_permutations=n_permutations,
        seed=seed,
    )
    calib = calibration.statistics
    results = {}
    for j, name in enumerate(STATISTICS):
        p_value = mmd_p if name == "mmd" else distances.permutation_p_value(values[j], calib[:, j])
        results[name] = DriftResult(
            name=name,
            statistic=float(values[j]),
            threshold=float(calibration.thresholds[j]),
            p_value=p_value,
            drifted=bool(values[j] > calibration.thresholds[j]),
            seed_threshold=SEED_BANDS.get(name),
        )
    exceedance = float(np.max((values - calibration.centre) / calibration.scale))
    calib_max = np.max((calib - calibration.centre) / calibration.scale, axis=1)
    combined = DriftResult(
        name="combined",
        statistic=exceedance,
        threshold=calibration.combined_level,
        p_value=distances.permutation_p_value(exceedance, calib_max),
        drifted=exceedance > calibration.combined_level,
    )
    novel = features.novelty_distance > fitted.novelty_radius
    return WindowReport(
        window_size=n,
        results=results,
        combined=combined,
        topics=novel_topics(vectors, novel, texts, seed=seed),
        false_alarm_rate=calibration.false_alarm_rate,
        combined_thresholds=dict(zip(STATISTICS, (float(t) for t in calibration.combined_thresholds))),
    )
