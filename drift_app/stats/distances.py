"""Two-sample statistics as plain functions on arrays.

Each function here is exact for the inputs it is given; the suite (``suite.py``) decides what
to feed it (codebook histograms, principal components, random features) so that calibration
windows and evaluated windows go through the very same code.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit
from scipy.stats import rankdata

# Pseudo-count added to every codebook cell before normalising a histogram. Half a count (the
# Jeffreys prior) keeps the divergence finite when a window leaves a cell empty, and is small
# next to windows of >= 50 vectors spread over at most 128 cells.
HISTOGRAM_SMOOTHING = 0.5


def histogram(cells: np.ndarray, n_cells: int, *, smoothing: float = HISTOGRAM_SMOOTHING) -> np.ndarray:
    """Smoothed probability vector of cell ids: (count + smoothing) / (n + n_cells * smoothing)."""
    counts = np.bincount(np.asarray(cells, dtype=np.int64), minlength=n_cells).astype(np.float64)
    return smooth_counts(counts, smoothing=smoothing)


def smooth_counts(counts: np.ndarray, *, smoothing: float = HISTOGRAM_SMOOTHING) -> np.ndarray:
    counts = np.asarray(counts, dtype=np.float64) + smoothing
    return counts / counts.sum(axis=-1, keepdims=True)


def js_divergence(p: np.ndarray, q: np.ndarray) -> np.ndarray | float:
    """Jensen–Shannon *divergence* in bits (base 2), in [0, 1].

    This is the square of ``scipy.spatial.distance.jensenshannon(p, q, base=2)``, which
    returns the JS *distance*. Works row-wise on 2-D inputs. Inputs are normalised to sum to 1.
    """
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    p = p / p.sum(axis=-1, keepdims=True)
    q = q / q.sum(axis=-1, keepdims=True)
    m = 0.5 * (p + q)

    def kl(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(a > 0, a * np.log2(a / b), 0.0)
        return terms.sum(axis=-1)

    value = np.clip(0.5 * kl(p, m) + 0.5 * kl(q, m), 0.0, 1.0)
    return float(value) if value.ndim == 0 else value


def wasserstein_1d(u: np.ndarray, v: np.ndarray) -> float:
    """Exact 1-Wasserstein distance between two 1-D samples (as scipy.stats.wasserstein_distance)."""
    u = np.sort(np.asarray(u, dtype=np.float64))
    v = np.sort(np.asarray(v, dtype=np.float64))
    values = np.sort(np.concatenate([u, v]))
    deltas = np.diff(values)
    u_cdf = np.searchsorted(u, values[:-1], side="right") / u.size
    v_cdf = np.searchsorted(v, values[:-1], side="right") / v.size
    return float(np.sum(np.abs(u_cdf - v_cdf) * deltas))


def quantile_knots(reference: np.ndarray, n_bins: int) -> np.ndarray:
    """Per-column knots: the reference's quantiles at levels 0, 1/G, ..., 1. Shape (d, G + 1)."""
    levels = np.linspace(0.0, 1.0, n_bins + 1)
    return np.ascontiguousarray(np.quantile(reference, levels, axis=0).T, dtype=np.float64)


def grid_positions(values: np.ndarray, knots: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Locate each value on its column's knot grid.

    Returns ``(slot, below, above)``: ``slot[i, d]`` is the number of knots < value (0 .. G+1),
    ``below``/``above`` the distance by which the value lies outside the knot range (else 0).
    """
    n, d = values.shape
    slot = np.empty((n, d), dtype=np.int16)
    for j in range(d):
        slot[:, j] = np.searchsorted(knots[j], values[:, j], side="left")
    below = np.maximum(knots[:, 0][None, :] - values, 0.0).astype(np.float32)
    above = np.maximum(values - knots[:, -1][None, :], 0.0).astype(np.float32)
    return slot, below, above


def grid_wasserstein(
    slot_counts: np.ndarray, below_mean: np.ndarray, above_mean: np.ndarray, knots: np.ndarray, n: int
) -> np.ndarray:
    """1-Wasserstein between a window and a reference summarised by its quantile knots.

    ``slot_counts`` has shape (..., d, G + 2): how many window values fall in each slot.
    The reference CDF is taken as G/G-steps at its knots (exact at the knots, linear between),
    the window CDF is evaluated at the knots, and |F_ref - F_win| is integrated with the
    trapezoid rule; window mass beyond the reference's min or max is integrated exactly
    (``below_mean``/``above_mean``). With 256 knots this is within about 1% of the exact
    distance (see tests), and calibration and evaluation compute it identically.
    """
    n_bins = knots.shape[1] - 1
    ref_cdf = np.linspace(0.0, 1.0, n_bins + 1)
    # Window CDF at knot g: values with slot <= g, i.e. strictly below-or-equal knot g.
    win_cdf = np.cumsum(slot_counts, axis=-1)[..., : n_bins + 1] / float(n)
    diff = np.abs(ref_cdf - win_cdf)
    widths = np.diff(knots, axis=-1)
    inner = np.sum(widths * 0.5 * (diff[..., :-1] + diff[..., 1:]), axis=-1)
    return inner + below_mean + above_mean


def grid_wasserstein_two_sample(
    window_cdf: np.ndarray, reference_cdf: np.ndarray, outside_gap: np.ndarray, knots: np.ndarray
) -> np.ndarray:
    """1-Wasserstein between two samples, both summarised on the same fixed knot grid.

    ``window_cdf``/``reference_cdf`` (..., d, G + 1): each sample's empirical CDF at the knots;
    |F_w - F_r| is integrated with the trapezoid rule between knots, and ``outside_gap`` (..., d)
    adds the difference of the mass-weighted distances beyond the grid's ends. Both samples are
    treated identically, so a window and its reference can swap roles (calibration relies on it).
    """
    diff = np.abs(window_cdf - reference_cdf)
    widths = np.diff(knots, axis=-1)
    return np.sum(widths * 0.5 * (diff[..., :-1] + diff[..., 1:]), axis=-1) + outside_gap


def median_bandwidth(sample: np.ndarray) -> float:
    """Median heuristic: the median pairwise Euclidean distance within ``sample``."""
    sample = np.asarray(sample, dtype=np.float64)
    sq = np.sum(sample**2, axis=1)
    d2 = sq[:, None] + sq[None, :] - 2.0 * sample @ sample.T
    iu = np.triu_indices(sample.shape[0], k=1)
    pairs = np.maximum(d2[iu], 0.0)
    median = float(np.median(pairs)) if pairs.size else 0.0
    # Mostly identical rows (templated traffic) give a median of ~0: a bandwidth of ~0 would turn
    # the random features into noise. Fall back to the mean, then to 1 (unit vectors).
    if median < 1e-8:
        median = float(pairs.mean()) if pairs.size and pairs.mean() >= 1e-8 else 1.0
    return float(np.sqrt(median))


def random_fourier_features(
    vectors: np.ndarray, omega: np.ndarray, phase: np.ndarray, *, chunk: int = 8192
) -> np.ndarray:
    """z(x) = sqrt(2/D) cos(x @ omega + phase): E[z(x).z(y)] = exp(-|x-y|^2 / (2 sigma^2))."""
    scale = np.float32(np.sqrt(2.0 / omega.shape[1]))
    out = np.empty((vectors.shape[0], omega.shape[1]), dtype=np.float32)
    for start in range(0, vectors.shape[0], chunk):
        block = vectors[start : start + chunk] @ omega
        block += phase
        np.cos(block, out=block)
        block *= scale
        out[start : start + chunk] = block
    return out


def mmd2_from_means(mean_a: np.ndarray, mean_b: np.ndarray) -> np.ndarray | float:
    """Biased MMD^2 estimate from mean feature embeddings: |mu_a - mu_b|^2 (row-wise)."""
    diff = np.asarray(mean_a, dtype=np.float64) - np.asarray(mean_b, dtype=np.float64)
    value = np.sum(diff * diff, axis=-1)
    return float(value) if np.ndim(value) == 0 else value


def permutation_p_value(observed: float, permuted: np.ndarray) -> float:
    """(1 + b) / (1 + B), b = permutations at least as extreme as the observed statistic."""
    permuted = np.asarray(permuted)
    return float((1 + np.count_nonzero(permuted >= observed)) / (1 + permuted.size))


def mmd_permutation_test(
    features_a: np.ndarray, features_b: np.ndarray, *, n_permutations: int = 200, seed: int = 0
) -> tuple[float, float]:
    """MMD^2 between two samples of random features and its permutation p-value.

    Permutations only need the mean of one relabelled group, so each one is a row of a
    0/1 matrix times the pooled features: memory is O(B * (m + n) + (m + n) * D), linear in n.
    """
    pooled = np.concatenate([features_a, features_b]).astype(np.float32, copy=False)
    n_a, n_total = features_a.shape[0], pooled.shape[0]
    total = pooled.sum(axis=0, dtype=np.float64)
    observed = mmd2_from_means(features_a.mean(axis=0), features_b.mean(axis=0))
    rng = np.random.default_rng(seed)
    labels = np.zeros(n_total, dtype=np.float32)
    labels[:n_a] = 1.0
    assignment = rng.permuted(np.tile(labels, (n_permutations, 1)), axis=1)
    sums_a = (assignment @ pooled).astype(np.float64)
    means_a = sums_a / n_a
    means_b = (total[None, :] - sums_a) / (n_total - n_a)
    permuted = mmd2_from_means(means_a, means_b)
    return observed, permutation_p_value(observed, permuted)


def auc_score(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC via the Mann–Whitney rank sum (ties get average ranks)."""
    labels = np.asarray(labels).astype(bool)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    ranks = rankdata(scores)
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def _fit_logistic_batch(x: np.ndarray, y: np.ndarray, *, l2: float, iterations: int) -> np.ndarray:
    """L2-penalised logistic regression by Newton's method, for a batch of problems at once.

    x: (batch, N, p) with an intercept column last; y: (batch, N). Returns coefficients (batch, p).
    Standardised features and a ridge penalty make these problems well conditioned: from zero,
    a handful of Newton steps reach the optimum to ~1e-4 (see tests).
    """
    batch, _, p = x.shape
    coef = np.zeros((batch, p), dtype=x.dtype)
    penalty = np.full(p, l2, dtype=x.dtype)
    penalty[-1] = 0.0  # the intercept is not penalised
    ridge = np.diag(penalty + 1e-6).astype(x.dtype)
    xt = x.transpose(0, 2, 1)
    for _ in range(iterations):
        prob = expit(np.matmul(x, coef[:, :, None])[:, :, 0])
        grad = np.matmul(xt, (prob - y)[:, :, None])[:, :, 0] + penalty * coef
        hess = np.matmul(xt, x * (prob * (1.0 - prob))[:, :, None]) + ridge
        coef = coef - np.linalg.solve(hess.astype(np.float64), grad[:, :, None].astype(np.float64))[:, :, 0].astype(x.dtype)
    return coef


def domain_classifier_auc_batch(
    reference: np.ndarray, windows: np.ndarray, *, folds: int = 2, l2: float = 1.0, iterations: int = 5, seed: int = 0
) -> np.ndarray:
    """Cross-validated AUC of a logistic regression telling reference rows from window rows.

    reference: (batch, m, p), windows: (batch, n, p) — one problem per batch row. Rows are split
    into ``folds`` stratified folds; every row is scored by the model fitted on the other folds
    and the AUC is taken over all rows. 0.5 means indistinguishable; higher means drift.
    """
    batch, m, p = reference.shape
    n = windows.shape[1]
    x = np.concatenate([reference, windows], axis=1).astype(np.float64)
    # Standardise per problem so one penalty suits every scale.
    x -= x.mean(axis=1, keepdims=True)
    x /= x.std(axis=1, keepdims=True) + 1e-12
    x = np.concatenate([x, np.ones((batch, m + n, 1))], axis=2).astype(np.float32)
    y = np.concatenate([np.zeros(m), np.ones(n)]).astype(np.float32)
    rng = np.random.default_rng(seed)
    # Stratified folds: fold f holds rows whose shuffled rank within their class is = f mod folds.
    fold_of = np.concatenate([rng.permutation(np.arange(m) % folds), rng.permutation(np.arange(n) % folds)])
    scores = np.zeros((batch, m + n), dtype=np.float32)
    for fold in range(folds):
        train = np.flatnonzero(fold_of != fold)
        test = np.flatnonzero(fold_of == fold)
        coef = _fit_logistic_batch(x[:, train], np.broadcast_to(y[train], (batch, train.size)), l2=l2, iterations=iterations)
        scores[:, test] = np.matmul(x[:, test], coef[:, :, None])[:, :, 0]
    # Mann–Whitney AUC for all problems at once (rankdata's per-call overhead adds up over 200).
    ranks = rankdata(scores, axis=1)
    return (ranks[:, m:].sum(axis=1) - n * (n + 1) / 2.0) / (m * n)
