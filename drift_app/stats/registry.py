"""Drift statistics as named objects in one registry. PURE: numpy, scipy and scikit-learn only.

A statistic is a :class:`Statistic`: a name (its key everywhere: stored calibrations, drift-run
results, the API, the dashboard), a label and a description for people, and ``compute``, which
returns one value per window (larger means further from the baseline) from a :class:`WindowBatch`.
Calibration and evaluation both call the same ``compute``, so a threshold is always found on exactly
the statistic it is later compared with, and every stored array is keyed by name, never by position.

How to add a statistic
----------------------
1. Write ``def my_stat(batch: WindowBatch) -> np.ndarray`` returning shape ``(batch.n_windows,)``;
   ``batch`` offers the window/row count matrix, per-row features, each window's reference
   (``batch.sums``: window and reference sums of any per-row quantity) and the fitted baseline.
   Compare each window with ITS reference (``batch.sums``/``reference_rows``), never with the
   fitted pool as a whole: calibration windows come out of the pool, and only "window against the
   rest of the pool" is distributed like a production window against its reference.
2. ``register(Statistic(name="my_stat", label="My statistic", description="…", compute=my_stat))``
   in a module that ``drift_app/stats/__init__.py`` imports (see ``builtin.py``).
3. Nothing else: calibrations made before it existed are recognised as stale (their names differ)
   and recomputed; drift runs store and show it by name. ``tests/stats/test_registry.py`` shows it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Callable

import numpy as np
from scipy import sparse

if TYPE_CHECKING:  # pragma: no cover - typing only
    from .baseline import FittedBaseline, VectorFeatures


@dataclass(eq=False)
class WindowBatch:
    """Many windows, each against its own reference, over one table of per-vector features.

    Rows ``[0, fitted.n_pool)`` of ``features`` are the baseline's pool; ``windows`` is (B, n) row
    indices of each window. Each window's reference is the pool minus ``excluded[b]`` (B, k) pool
    rows; ``excluded=None`` means "minus the window itself" (calibration: the window is drawn from
    the pool, the rest is its reference). Shared intermediate products are computed once.
    """

    fitted: "FittedBaseline"
    features: "VectorFeatures"
    windows: np.ndarray
    excluded: np.ndarray | None = None
    seed: int = 0
    # Every window has the same reference (production: one fixed excluded subset): computed once.
    shared_reference: bool = False

    @property
    def n_windows(self) -> int:
        return int(self.windows.shape[0])

    @property
    def window_size(self) -> int:
        return int(self.windows.shape[1])

    @property
    def n_rows(self) -> int:
        return int(self.features.cells.shape[0])

    @property
    def n_pool(self) -> int:
        return self.fitted.n_pool

    @property
    def reference_size(self) -> int:
        excluded = self.windows if self.excluded is None else self.excluded
        return self.n_pool - int(excluded.shape[1])

    @staticmethod
    def _count_matrix(rows: np.ndarray, n_rows: int) -> sparse.csr_matrix:
        # Sparse: a window touches n of the table's rows, and products then cost B x n x features.
        n_windows = rows.shape[0]
        return sparse.csr_matrix(
            (np.ones(rows.size, dtype=np.float32), (np.repeat(np.arange(n_windows), rows.shape[1]), rows.ravel())),
            shape=(n_windows, n_rows),
        )

    @cached_property
    def counts(self) -> sparse.csr_matrix:
        """(B, n_rows) sparse float32: how often each feature row appears in each window."""
        return self._count_matrix(self.windows, self.n_rows)

    @cached_property
    def excluded_counts(self) -> sparse.csr_matrix:
        """(B, n_pool) float32: the pool rows each window's reference leaves out."""
        if self.excluded is None:
            return self.counts[:, : self.n_pool]
        if self.shared_reference:
            return self._count_matrix(self.excluded[:1], self.n_pool)
        return self._count_matrix(self.excluded, self.n_pool)

    @cached_property
    def rng(self) -> np.random.Generator:
        return np.random.default_rng(self.seed)

    def shared(self, key: str, compute: Callable[[], object]):
        """An intermediate result several statistics use (e.g. per-dimension Wasserstein), computed once."""
        memo = self.__dict__.setdefault("_shared", {})
        if key not in memo:
            memo[key] = compute()
        return memo[key]

    def sums(self, key: str, per_row) -> tuple[np.ndarray, np.ndarray]:
        """Per window, the sums of a per-row quantity (n_rows, F) over the window and over its reference.

        ``per_row`` may be dense or scipy-sparse; the reference sum is the pool's total minus the
        excluded rows', so a reference costs no more than its window.
        """

        def compute():
            def product(counts, rows):
                result = counts @ rows
                return np.asarray(result.toarray() if sparse.issparse(result) else result, dtype=np.float64)

            pool_rows = per_row[: self.n_pool]
            window = product(self.counts, per_row)
            left_out = window if self.excluded is None else product(self.excluded_counts, pool_rows)
            total = np.asarray(pool_rows.sum(axis=0), dtype=np.float64).reshape(1, -1)
            return window, np.broadcast_to(total - left_out, window.shape)

        return self.shared(f"sums:{key}", compute)

    @cached_property
    def radii(self) -> np.ndarray:
        """(B,) the novelty radius each window is judged with: the NOVELTY_QUANTILE of its own
        reference's distances (the pool minus the excluded rows), so its estimation error is the
        same in calibration and production."""
        from .baseline import NOVELTY_QUANTILE

        distances = self.features.novelty_distance[: self.n_pool].astype(np.float64)
        order = np.argsort(distances, kind="stable")
        ranked = distances[order]
        rank = np.empty(self.n_pool, dtype=np.int64)
        rank[order] = np.arange(self.n_pool)
        excluded = self.windows if self.excluded is None else self.excluded
        if self.shared_reference:
            excluded = excluded[:1]
        kept = np.ones((excluded.shape[0], self.n_pool), dtype=bool)
        kept[np.arange(excluded.shape[0])[:, None], rank[excluded]] = False
        position = NOVELTY_QUANTILE * (self.reference_size - 1)
        low, frac = int(np.floor(position)), position - np.floor(position)
        cumulative = np.cumsum(kept, axis=1, dtype=np.int32)
        at_low = ranked[np.argmax(cumulative >= low + 1, axis=1)]
        at_high = ranked[np.argmax(cumulative >= min(low + 2, self.reference_size), axis=1)]
        return np.broadcast_to(at_low + frac * (at_high - at_low), (self.n_windows,))

    def reference_rows(self, b: int, k: int, rng: np.random.Generator) -> np.ndarray:
        """``k`` distinct pool rows of window ``b``'s reference, drawn at random."""
        excluded = (self.windows if self.excluded is None else self.excluded)[b]
        mask = np.ones(self.n_pool, dtype=bool)
        mask[excluded[excluded < self.n_pool]] = False
        return rng.choice(np.flatnonzero(mask), k, replace=False)


@dataclass(frozen=True)
class Statistic:
    """One drift statistic. ``compute(batch)`` -> (B,) values; drift when a value exceeds its threshold."""

    name: str
    label: str
    description: str
    compute: Callable[[WindowBatch], np.ndarray]
    # How the dashboard and reports print a value of it.
    value_format: str = "{:.4f}"
    # Hand-picked bands from before calibration, shown for comparison only; they never decide.
    seed_band: tuple[float, float] | None = None
    # An exact test of its own (e.g. a permutation test), used for the p-value shown beside it;
    # otherwise the p-value is the window's rank among the calibration windows.
    exact_p_value: Callable[["FittedBaseline", "VectorFeatures", int, int], float] | None = None

    def format(self, value: float | None) -> str:
        return "–" if value is None else self.value_format.format(value)


_REGISTRY: dict[str, Statistic] = {}


def register(statistic: Statistic, *, replace: bool = False) -> Statistic:
    """Add a statistic; its name must be new unless ``replace``. Returns it (usable as a decorator helper)."""
    if not statistic.name or not statistic.name.replace("_", "").isalnum():
        raise ValueError(f"a statistic name is a non-empty identifier, got {statistic.name!r}")
    if statistic.name == "combined":
        raise ValueError("'combined' is the name of the combined decision, not a statistic")
    if statistic.name in _REGISTRY and not replace:
        raise ValueError(f"statistic {statistic.name!r} is already registered")
    _REGISTRY[statistic.name] = statistic
    return statistic


def unregister(name: str) -> None:
    _REGISTRY.pop(name, None)


def get(name: str) -> Statistic:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"no drift statistic named {name!r}; registered: {', '.join(_REGISTRY)}") from None


def statistics() -> tuple[Statistic, ...]:
    """Every registered statistic, in registration order."""
    return tuple(_REGISTRY.values())


def names() -> tuple[str, ...]:
    return tuple(_REGISTRY)
