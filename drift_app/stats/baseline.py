"""Fitting a baseline once: the *structure* (PCA, a k-means codebook, projections, random features)
on one seeded part of the baseline, and the *pool* (the rest) that is the reference.

The structure rows never meet a window: a codebook fitted on the very rows it later scores puts
them closer to their centroids than fresh rows, which would bias the novelty share. The pool is
both the reference windows are compared with and the source of calibration windows: a calibration
replicate splits the pool into a window and the rest, the rest being the reference (see suite.py),
so every replicate is distributed exactly like a fresh production window against a reference of
the same size.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, fields

import numpy as np
from scipy import sparse
from sklearn.cluster import kmeans_plusplus

from . import distances

FORMAT_VERSION = 3  # 3: pool capped, fixed novelty radius from the structure rows, pool sums stored
NOVELTY_QUANTILE = 0.99
NOVELTY_BAND = 0.005
# Quantile bins per projection for the Wasserstein statistics. 32 bins keep the per-window slot
# histogram small enough (projections x 34 slots) for calibration to be dense matrix products;
# the statistic is "W1 on the structure rows' 32-quantile grid", computed identically in
# calibration and production, so its threshold is exact whatever the grid's resolution.
GRID_BINS = 32
REFERENCE_SAMPLE_SIZE = 4000
KMEANS_FIT_CAP = 10000
KMEANS_ITERATIONS = 20
# Structure rows: a share of the baseline, capped: PCA and the codebook gain little beyond ~10,000
# rows, while every row left in the pool makes the reference (and calibration) sharper.
STRUCTURE_CAP = 10000
# Pool rows (the reference): windows are judged up to half the pool (10,000 vectors, the service's
# largest window). More pool rows would narrow the reference's own noise only a little against a
# window of at most 10,000, while calibration work grows with them.
POOL_CAP = 20000
# Baseline rows set apart to fix the novelty radius: a tenth of the non-structure rows, within these bounds.
RADIUS_ROWS_MIN, RADIUS_ROWS_CAP = 100, 2000
# Below this spread a direction carries no information (e.g. every text identical): floor it so
# that standardised distances stay finite instead of dividing by ~0.
MIN_SPREAD = 1e-6


@dataclass(frozen=True, eq=False)
class FittedBaseline:
    """The stored artifact of a baseline fit. ``to_bytes``/``from_bytes`` round-trip it (no pickle).

    Index arrays refer to rows of the ``vectors`` passed to :func:`fit_baseline`.
    """

    seed: int
    n_baseline: int
    fit_indices: np.ndarray  # structure rows: PCA, codebook, projections' knots, bandwidth
    holdout_indices: np.ndarray  # pool rows: the reference and the source of calibration windows
    holdout_vectors: np.ndarray  # (h, dim) float32, the pool rows themselves
    pca_mean: np.ndarray  # (dim,)
    pca_components: np.ndarray  # (k_pc, dim)
    pca_std: np.ndarray  # (k_pc,) spread of the fitted rows along each component
    codebook: np.ndarray  # (n_cells, k_pc) k-means centroids in PCA space
    centroids: np.ndarray  # (n_cells, dim) the same cells' means in the original space
    reference_counts: np.ndarray  # (n_cells,) pool rows per cell
    slice_directions: np.ndarray  # (n_slices, dim) unit vectors for sliced Wasserstein
    knots: np.ndarray  # (k_pc + n_slices, GRID_BINS + 1) structure rows' quantiles per projection (a fixed grid)
    rff_omega: np.ndarray  # (dim, D)
    rff_phase: np.ndarray  # (D,)
    rff_reference_mean: np.ndarray  # (D,) mean random features of the pool
    reference_sample: np.ndarray  # (<= REFERENCE_SAMPLE_SIZE, dim) fitted rows for tests/classifier
    bandwidth: float
    novelty_radius: float  # NOVELTY_QUANTILE of the radius rows' distance to the nearest centroid
    holdout_distances: np.ndarray  # (h,) the pool rows' distances to the nearest centroid
    radius_indices: np.ndarray  # baseline rows the novelty radius was fitted on (neither structure nor pool)
    novelty_band: np.ndarray  # (2,) distances where a row starts and ends counting as novel (novelty_weight)
    # Sums over the pool of the per-row quantities the built-in statistics use, by key (see
    # pool_total): a production window's reference is the pool minus a few rows, so with these a
    # drift run never recomputes the pool's features.
    pool_slot_counts: np.ndarray  # (k_pc + n_slices, GRID_BINS + 2)
    pool_below: np.ndarray  # (k_pc + n_slices,)
    pool_above: np.ndarray  # (k_pc + n_slices,)
    pool_rff_sum: np.ndarray  # (D,)
    pool_pcs_sum: np.ndarray  # (k_pc,)
    pool_novel_count: np.ndarray  # (1,) pool rows beyond the novelty radius

    @property
    def n_pool(self) -> int:
        return int(self.holdout_vectors.shape[0])

    @property
    def window_rows(self) -> np.ndarray:
        """Pool rows a calibration window (or a production reference's left-out part) may hold: all."""
        return np.arange(self.n_pool)

    @property
    def max_window_size(self) -> int:
        """Largest window calibrated: the reference (pool minus a window-sized part) keeps >= half the pool."""
        return int(self.n_pool // 2)

    def pool_total(self, key: str) -> np.ndarray | None:
        """The pool's sum of the per-row quantity a statistic names ``key`` (see registry.WindowBatch.sums)."""
        totals = {
            "cells": self.reference_counts,
            "slots": self.pool_slot_counts.ravel(),
            "below": self.pool_below,
            "above": self.pool_above,
            "rff": self.pool_rff_sum,
            "pcs": self.pool_pcs_sum,
            "novel": self.pool_novel_count,
            # Rows beyond the novelty radius (novel_beyond_radius), from the stored distances.
            "novel_count": np.array([float(np.sum(novel_beyond_radius(self, self.holdout_distances)))]),
        }
        total = totals.get(key)
        return None if total is None else np.asarray(total, dtype=np.float64).reshape(1, -1)

    @property
    def n_components(self) -> int:
        return int(self.pca_components.shape[0])

    @property
    def n_cells(self) -> int:
        return int(self.codebook.shape[0])

    @property
    def dim(self) -> int:
        return int(self.pca_mean.shape[0])

    def to_bytes(self) -> bytes:
        arrays = {}
        meta = {"format_version": FORMAT_VERSION}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray):
                arrays[f.name] = value
            else:
                meta[f.name] = value
        arrays["_meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> "FittedBaseline":
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            meta = json.loads(archive["_meta"].tobytes().decode())
            if meta.pop("format_version") != FORMAT_VERSION:
                raise ValueError("unsupported FittedBaseline format version")
            arrays = {name: archive[name] for name in archive.files if name != "_meta"}
        return cls(**meta, **arrays)


@dataclass(frozen=True, eq=False)
class VectorFeatures:
    """Per-vector quantities every statistic is computed from (see suite.window_statistics)."""

    pcs: np.ndarray  # (n, k_pc) float32
    cells: np.ndarray  # (n,) int, nearest codebook cell in PCA space
    novelty_distance: np.ndarray  # (n,) float32, distance to nearest centroid, original space
    novel: np.ndarray  # (n, 1) float32 in [0, 1]: how far novelty_distance is past the radius band (novelty_weight)
    slot: np.ndarray  # (n, k_pc + n_slices) int16, position on the quantile grid
    below: np.ndarray  # (n, k_pc + n_slices) float32, distance below the reference minimum
    above: np.ndarray  # (n, k_pc + n_slices) float32, distance above the reference maximum
    rff: np.ndarray  # (n, D) float32


def _as_vectors(vectors: np.ndarray) -> np.ndarray:
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if vectors.ndim != 2:
        raise ValueError("vectors must be a 2-D array (n, dim)")
    if not np.all(np.isfinite(vectors)):
        raise ValueError("vectors contain NaN or infinity")
    return vectors


def _nearest(points: np.ndarray, centres: np.ndarray, *, chunk: int = 16384) -> tuple[np.ndarray, np.ndarray]:
    """Index of and squared distance to the nearest centre, via |x|^2 - 2 x.c + |c|^2 in chunks."""
    centre_sq = np.sum(centres.astype(np.float32) ** 2, axis=1)
    index = np.empty(points.shape[0], dtype=np.int64)
    dist2 = np.empty(points.shape[0], dtype=np.float32)
    for start in range(0, points.shape[0], chunk):
        block = points[start : start + chunk]
        d2 = centre_sq[None, :] - 2.0 * (block @ centres.T.astype(np.float32))
        best = np.argmin(d2, axis=1)
        index[start : start + chunk] = best
        point_sq = np.sum(block * block, axis=1)
        dist2[start : start + chunk] = np.maximum(d2[np.arange(block.shape[0]), best] + point_sq, 0.0)
    return index, dist2


def _group_sums(labels: np.ndarray, points: np.ndarray, n_groups: int) -> np.ndarray:
    """Row sums per label as one sparse product (np.add.at is an order of magnitude slower)."""
    onehot = sparse.csr_matrix(
        (np.ones(labels.size, dtype=np.float32), (labels, np.arange(labels.size))), shape=(n_groups, labels.size)
    )
    return np.asarray(onehot @ points, dtype=np.float32)


def _kmeans(points: np.ndarray, n_clusters: int, rng: np.random.Generator) -> np.ndarray:
    """Lloyd's k-means (k-means++ start) on at most KMEANS_FIT_CAP points; returns centres.

    Hand-rolled on BLAS matrix products: several times faster than sklearn's KMeans at this size,
    which matters because fitting sits inside the 3-second suite budget.
    """
    if points.shape[0] > KMEANS_FIT_CAP:
        points = points[rng.choice(points.shape[0], KMEANS_FIT_CAP, replace=False)]
    # k-means++ seeding on a subsample: seeding cost grows with n * k, Lloyd refines anyway.
    seeding = points[rng.choice(points.shape[0], min(points.shape[0], 40 * n_clusters), replace=False)]
    centres, _ = kmeans_plusplus(seeding, n_clusters, random_state=int(rng.integers(2**31 - 1)))
    centres = centres.astype(np.float32)
    for _ in range(KMEANS_ITERATIONS):
        labels, _ = _nearest(points, centres)
        sums = _group_sums(labels, points, n_clusters)
        counts = np.bincount(labels, minlength=n_clusters)
        filled = counts > 0
        new = centres.copy()
        new[filled] = sums[filled] / counts[filled, None]
        if np.allclose(new, centres, atol=1e-6):
            centres = new
            break
        centres = new
    return centres


def default_n_clusters(n_fit: int) -> int:
    # About 30 fitted vectors per cell keeps the reference histogram well estimated; capped at
    # 128 cells so windows of a few hundred vectors still fill most cells.
    return int(min(128, max(8, n_fit // 30)))


def fit_baseline(
    vectors: np.ndarray,
    *,
    n_components: int = 32,
    n_clusters: int | None = None,
    holdout_fraction: float = 0.3,
    n_slices: int = 32,
    rff_features: int = 256,
    seed: int = 0,
) -> FittedBaseline:
    """Fit the structure on a seeded ``holdout_fraction`` of ``vectors`` (at most STRUCTURE_CAP rows);
    the other rows are the pool: the reference and the calibration windows' source.

    (``holdout_fraction`` keeps its old name: it is the share set apart from the pool.) MMD uses
    ``rff_features`` random Fourier features of an RBF kernel whose bandwidth is the median
    pairwise distance among (up to 1,000) structure rows.
    """
    vectors = _as_vectors(vectors)
    n, dim = vectors.shape
    if not 0.0 < holdout_fraction < 1.0:
        raise ValueError("holdout_fraction must be in (0, 1)")
    n_structure = min(int(round(n * holdout_fraction)), STRUCTURE_CAP)
    if n_structure < 50 or n - n_structure < 2 * 50 + RADIUS_ROWS_MIN:
        raise ValueError(f"baseline of {n} vectors is too small (need >= 50 structure rows and >= 100 in the pool)")
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    fit_indices = np.sort(order[:n_structure])
    # Rows set apart to fix the novelty radius: neither structure nor pool (see below).
    n_radius = int(min(RADIUS_ROWS_CAP, max(RADIUS_ROWS_MIN, (n - n_structure) // 10)))
    radius_indices = np.sort(order[n_structure : n_structure + n_radius])
    holdout_indices = np.sort(order[n_structure + n_radius : n_structure + n_radius + POOL_CAP])
    if holdout_indices.size < 2 * 50:
        raise ValueError(f"baseline of {n} vectors is too small (need >= 100 pool rows beside the structure and radius rows)")
    fit = vectors[fit_indices]
    pool = vectors[holdout_indices]

    n_components = int(min(n_components, dim, fit.shape[0] - 1))
    pca_mean = fit.mean(axis=0, dtype=np.float64).astype(np.float32)
    centred = fit - pca_mean
    gram = (centred.T @ centred).astype(np.float64) / fit.shape[0]
    eigvals, eigvecs = np.linalg.eigh(gram)
    top = np.argsort(eigvals)[::-1][:n_components]
    components = eigvecs[:, top].T
    # Sign convention so that refits on the same data give the same components.
    components *= np.sign(components[np.arange(n_components), np.argmax(np.abs(components), axis=1)])[:, None]
    components = np.ascontiguousarray(components, dtype=np.float32)
    fit_pcs = centred @ components.T
    del centred
    pca_std = np.maximum(fit_pcs.std(axis=0), MIN_SPREAD).astype(np.float32)

    # The codebook is fitted on distinct rows only (copies and near-copies, within 1e-4, merged):
    # with templated traffic (few distinct texts, many copies) k-means would otherwise place
    # several centres on one text, and its copies, differing by float noise, would split
    # arbitrarily between them; calibration cannot anticipate that split, so it raised false alarms.
    distinct_pcs = np.unique(np.round(fit_pcs, 4), axis=0).astype(np.float32)
    n_cells = int(min(n_clusters or default_n_clusters(n - n_structure), distinct_pcs.shape[0]))
    codebook = _kmeans(distinct_pcs, n_cells, rng) if n_cells > 1 else distinct_pcs[:1].astype(np.float32)
    fit_cells, _ = _nearest(fit_pcs, codebook)
    fit_counts = np.bincount(fit_cells, minlength=n_cells).astype(np.int64)
    sums = _group_sums(fit_cells, fit, n_cells).astype(np.float64)
    centroids = (codebook @ components + pca_mean).astype(np.float64)  # fallback for empty cells
    filled = fit_counts > 0
    centroids[filled] = sums[filled] / fit_counts[filled, None]
    centroids = centroids.astype(np.float32)

    directions = rng.standard_normal((n_slices, dim)).astype(np.float32)
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    projections = np.concatenate([fit_pcs, fit @ directions.T], axis=1)
    knots = distances.quantile_knots(projections, GRID_BINS)
    del projections

    sample_size = min(REFERENCE_SAMPLE_SIZE, pool.shape[0])
    reference_sample = pool[np.sort(rng.choice(pool.shape[0], sample_size, replace=False))]
    bandwidth = distances.median_bandwidth(fit[:1000])
    omega = (rng.standard_normal((dim, rff_features)) / bandwidth).astype(np.float32)
    phase = rng.uniform(0.0, 2.0 * np.pi, rff_features).astype(np.float32)
    rff_reference_mean = distances.random_fourier_features(pool, omega, phase).mean(axis=0, dtype=np.float64)

    pool_pcs = (pool - pca_mean) @ components.T
    pool_cells, _ = _nearest(pool_pcs, codebook)
    reference_counts = np.bincount(pool_cells, minlength=n_cells).astype(np.int64)
    _, pool_d2 = _nearest(pool, centroids)
    pool_distances = np.sqrt(pool_d2).astype(np.float32)
    # The novelty radius comes from rows set apart for it, in neither the structure nor the pool:
    # a radius fitted on the pool would hold exactly 1% of the pool out (fewer than of fresh rows),
    # one fitted on the structure rows would be small (the codebook was fitted on them, so they sit
    # closer to its centroids than fresh rows). Kept out of the pool, they are no part of any
    # reference either, so a window and its reference are always two samples of one kind.
    _, radius_d2 = _nearest(vectors[radius_indices], centroids)
    radius_distances = np.sqrt(radius_d2)
    novelty_radius = float(np.quantile(radius_distances, NOVELTY_QUANTILE))
    novelty_band = np.quantile(
        radius_distances, [NOVELTY_QUANTILE - NOVELTY_BAND, min(1.0, NOVELTY_QUANTILE + NOVELTY_BAND)]
    ).astype(np.float64)
    pool_projections = np.concatenate([pool_pcs, pool @ directions.T], axis=1)
    pool_slot, pool_below, pool_above = distances.grid_positions(pool_projections, knots)
    del pool_projections
    n_projections = knots.shape[0]
    pool_slot_counts = np.stack([np.bincount(pool_slot[:, j], minlength=GRID_BINS + 2) for j in range(n_projections)])
    return FittedBaseline(
        seed=int(seed),
        n_baseline=int(n),
        fit_indices=fit_indices,
        holdout_indices=holdout_indices,
        holdout_vectors=pool,
        pca_mean=pca_mean,
        pca_components=components,
        pca_std=pca_std,
        codebook=codebook,
        centroids=centroids,
        reference_counts=reference_counts,
        slice_directions=directions,
        knots=knots,
        rff_omega=omega,
        rff_phase=phase,
        rff_reference_mean=rff_reference_mean,
        reference_sample=reference_sample,
        bandwidth=float(bandwidth),
        novelty_radius=novelty_radius,
        holdout_distances=pool_distances,
        radius_indices=radius_indices,
        novelty_band=novelty_band,
        pool_slot_counts=pool_slot_counts.astype(np.float64),
        pool_below=pool_below.sum(axis=0, dtype=np.float64),
        pool_above=pool_above.sum(axis=0, dtype=np.float64),
        pool_rff_sum=rff_reference_mean * pool.shape[0],
        pool_pcs_sum=pool_pcs.sum(axis=0, dtype=np.float64),
        pool_novel_count=np.array([float(np.sum(novelty_weight_band(novelty_band, pool_distances), dtype=np.float64))]),
    )


# Relative margin beyond the novelty radius before a row counts as novel (see novel_beyond_radius).
NOVEL_RADIUS_MARGIN = 1e-5


def novel_beyond_radius(fitted: FittedBaseline, distances: np.ndarray) -> np.ndarray:
    """1 where a distance to the nearest centroid lies beyond the novelty radius, else 0 (float32).

    A row at the radius itself (copies of a text whose distance set the radius, recomputed in
    another batch within float rounding) counts as not novel: the relative margin keeps one text's
    copies on one side wherever they are computed.
    """
    limit = fitted.novelty_radius * (1.0 + NOVEL_RADIUS_MARGIN)
    return (np.asarray(distances, dtype=np.float64) > limit).astype(np.float32)


def novelty_weight(fitted: FittedBaseline, distance: np.ndarray) -> np.ndarray:
    """0 inside the radius band, 1 beyond it, linear across it (the band: the radius rows' NOVELTY_QUANTILE
    +- NOVELTY_BAND quantiles).

    A hard count of rows past one radius is a lattice of a few values at the window sizes that
    matter (1% of 200 rows is 2), and a threshold interpolated between grid sizes lands between
    lattice points and misses its rate; the ramp makes the count continuous.
    """
    return novelty_weight_band(fitted.novelty_band, distance)


def novelty_weight_band(band: np.ndarray, distance: np.ndarray) -> np.ndarray:
    low, high = float(band[0]), float(band[1])
    return np.clip((np.asarray(distance, dtype=np.float64) - low) / max(high - low, 1e-12), 0.0, 1.0).astype(np.float32)


def vector_features(fitted: FittedBaseline, vectors: np.ndarray) -> VectorFeatures:
    vectors = _as_vectors(vectors)
    if vectors.shape[1] != fitted.dim:
        raise ValueError(f"vectors have dimension {vectors.shape[1]}, baseline has {fitted.dim}")
    pcs = (vectors - fitted.pca_mean) @ fitted.pca_components.T
    cells, _ = _nearest(pcs, fitted.codebook)
    _, d2 = _nearest(vectors, fitted.centroids)
    projections = np.concatenate([pcs, vectors @ fitted.slice_directions.T], axis=1)
    slot, below, above = distances.grid_positions(projections, fitted.knots)
    novelty_distance = np.sqrt(d2).astype(np.float32)
    return VectorFeatures(
        pcs=pcs.astype(np.float32),
        cells=cells,
        novelty_distance=novelty_distance,
        novel=novelty_weight(fitted, novelty_distance)[:, None],
        slot=slot,
        below=below,
        above=above,
        rff=distances.random_fourier_features(vectors, fitted.rff_omega, fitted.rff_phase),
    )
