"""Drift statistics as named objects in one registry. PURE: numpy, scipy and scikit-learn only.

A statistic is a :class:`Statistic`: a name (its key everywhere: stored calibrations, drift-run
results, the API, the dashboard), a label and a description for people, and ``compute``, which
returns one value per window (larger means further from the baseline) from a :class:`WindowBatch`.
Calibration and evaluation both call the same ``compute``, so a threshold is always found on exactly
the statistic it is later compared with, and every stored array is keyed by name, never by position.

How to add a statistic
----------------------
1. Write ``def my_stat(batch: WindowBatch) -> np.ndarray`` returning shape ``(batch.n_windows,)``;
   ``batch`` offers per-row features, each window's reference (``batch.sums``: window and
   reference sums of any per-row quantity) and the fitted baseline. Compare each window with ITS
   reference (``batch.sums``), never with the fitted pool as a whole: calibration windows come out
   of the pool, and only "window against the rest of the pool" is distributed like a production
   window against its reference. Every statistic is a function of such sums: that is what makes
   calibration a few dense matrix products (see UnitDraw).
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


class UnitDraw:
    """Calibration windows as unions of random *units* of pool rows, nested across window sizes.

    The pool's rows are dealt at random into units of ``unit`` rows; replicate b orders the units
    at random (``rank[b, i]`` is unit i's place) and its window of n = k x unit rows is its first
    k units, the rest of the pool its reference. Any set of pool rows chosen without looking at
    them is an i.i.d. sample of the baseline distribution, so a union of random units is
    distributed exactly like a window of single rows; only neighbouring replicates share a little
    more. Units turn every window sum into one dense matrix product over units (not rows), so the
    cost of a calibration no longer grows with the pool or the window size.
    """

    def __init__(self, n_pool: int, eligible: np.ndarray, unit: int, n_windows: int, rng: np.random.Generator):
        self.n_pool, self.unit = int(n_pool), int(unit)
        n_units = eligible.size // unit
        members = rng.permutation(eligible)[: n_units * unit]
        # (units, pool rows) sparse: sums each unit's rows. Rows in no unit (not eligible, or left
        # over) are never in a window and always in the reference.
        self.aggregator = sparse.csr_matrix(
            (np.ones(members.size, dtype=np.float32), (np.repeat(np.arange(n_units), unit), members)),
            shape=(n_units, n_pool),
        )
        self.rank = rng.permuted(np.tile(np.arange(n_units, dtype=np.int32), (n_windows, 1)), axis=1)
        self._unit_sums: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._window_sums: dict[str, tuple[int, np.ndarray]] = {}

    @property
    def order(self) -> np.ndarray:
        """(replicates, units): each replicate's units in window order (the inverse of ``rank``)."""
        if not hasattr(self, "_order"):
            self._order = np.argsort(self.rank, axis=1).astype(np.int32)
        return self._order

    def window_sums(self, key: str, window_size: int) -> np.ndarray:
        """(replicates, F) float64 sums over each replicate's window of ``window_size`` rows.

        Windows are nested (a larger one adds units to a smaller one), so grid sizes asked in
        increasing order cost one sparse product over the *added* units each: a whole grid reads
        every unit of the largest window once, instead of one dense (replicates x all units)
        product per size (the same sums up to float rounding).
        """
        if window_size % self.unit:
            raise ValueError(f"calibration window size {window_size} is not a multiple of the unit ({self.unit} rows)")
        k = window_size // self.unit
        by_unit = self._unit_sums[key][0]
        done, sums = self._window_sums.get(key, (0, None))
        if sums is None or done > k:
            done, sums = 0, np.zeros((self.rank.shape[0], by_unit.shape[1]))
        else:
            sums = sums.copy()
        if k > done:
            added = self.order[:, done:k]
            step = sparse.csr_matrix(
                (np.ones(added.size, dtype=np.float32), added.ravel(), np.arange(0, added.size + 1, k - done)),
                shape=(self.rank.shape[0], by_unit.shape[0]),
            )
            sums += step @ by_unit
        self._window_sums[key] = (k, sums)
        return sums

    def unit_sums(self, key: str, per_row: Callable[[], object]) -> tuple[np.ndarray, np.ndarray]:
        """((units, F) float32 sums per unit, (1, F) float64 pool total), computed once per key."""
        if key not in self._unit_sums:
            pool_rows = per_row()[: self.n_pool]
            by_unit = self.aggregator @ pool_rows
            by_unit = by_unit.toarray() if sparse.issparse(by_unit) else np.asarray(by_unit)
            total = np.asarray(pool_rows.sum(axis=0), dtype=np.float64).reshape(1, -1)
            self._unit_sums[key] = (np.ascontiguousarray(by_unit, dtype=np.float32), total)
        return self._unit_sums[key]

    def indicator(self, window_size: int) -> np.ndarray:
        """(replicates, units) float32: 1 where the unit is in the replicate's window of ``window_size`` rows."""
        if window_size % self.unit:
            raise ValueError(f"calibration window size {window_size} is not a multiple of the unit ({self.unit} rows)")
        return (self.rank < window_size // self.unit).astype(np.float32)


@dataclass(eq=False)
class WindowBatch:
    """Many windows of ``window_size`` vectors, each against its own reference (the pool minus some rows).

    Two ways to say which rows, one ``sums`` for the statistics:

    * production: ``windows`` (B, n) rows of ``features`` and ``excluded`` (1, n) rows of
      ``features`` holding the pool rows every window's reference leaves out; the reference's sums
      are the pool's stored totals (``FittedBaseline.pool_total``) minus the excluded rows'.
    * calibration: ``units`` (a :class:`UnitDraw`); ``features`` are the pool's rows and each
      window's reference is the rest of the pool.
    """

    fitted: "FittedBaseline"
    features: "VectorFeatures"
    window_size: int
    windows: np.ndarray | None = None
    excluded: np.ndarray | None = None
    units: UnitDraw | None = None
    seed: int = 0

    @property
    def n_windows(self) -> int:
        if self.windows is not None:
            return int(self.windows.shape[0])
        return int(self.units.rank.shape[0])

    @property
    def n_rows(self) -> int:
        return int(self.features.cells.shape[0])

    @property
    def n_pool(self) -> int:
        return self.fitted.n_pool

    @property
    def reference_size(self) -> int:
        return self.n_pool - self.window_size

    @staticmethod
    def _count_matrix(rows: np.ndarray, n_rows: int) -> sparse.csr_matrix:
        # Sparse: a window touches n of the table's rows, and products then cost B x n x features.
        n_windows = rows.shape[0]
        return sparse.csr_matrix(
            (np.ones(rows.size, dtype=np.float32), (np.repeat(np.arange(n_windows), rows.shape[1]), rows.ravel())),
            shape=(n_windows, n_rows),
        )

    @cached_property
    def rng(self) -> np.random.Generator:
        return np.random.default_rng(self.seed)

    @cached_property
    def _indicator(self) -> np.ndarray:
        return self.units.indicator(self.window_size)

    def shared(self, key: str, compute: Callable[[], object]):
        """An intermediate result several statistics use (e.g. per-dimension Wasserstein), computed once."""
        memo = self.__dict__.setdefault("_shared", {})
        if key not in memo:
            memo[key] = compute()
        return memo[key]

    def sums(self, key: str, per_row) -> tuple[np.ndarray, np.ndarray]:
        """Per window, the sums of a per-row quantity (n_rows, F) over the window and over its reference.

        ``per_row`` may be dense or scipy-sparse. ``key`` names the quantity: the built-in keys
        (cells, slots, below, above, rff, pcs, novel) have the pool's totals stored with the
        fitted baseline; a statistic with a quantity of its own must pass ``per_row`` as a
        function of a ``VectorFeatures`` table, so that its pool total can be computed.
        """

        def product(counts, rows):
            result = counts @ rows
            return np.asarray(result.toarray() if sparse.issparse(result) else result, dtype=np.float64)

        def compute():
            if self.units is not None:
                _, total = self.units.unit_sums(
                    key, lambda: per_row(self.features) if callable(per_row) else per_row
                )
                window = self.units.window_sums(key, self.window_size)
                return window, total - window
            rows = per_row(self.features) if callable(per_row) else per_row
            total = self.fitted.pool_total(key)
            if total is None:
                if not callable(per_row):
                    raise ValueError(
                        f"no stored pool total for {key!r}: pass per_row as a function of the features table"
                    )
                from .baseline import vector_features

                pool_rows = per_row(vector_features(self.fitted, self.fitted.holdout_vectors))
                total = np.asarray(pool_rows.sum(axis=0), dtype=np.float64).reshape(1, -1)
            window = product(self._count_matrix(self.windows, self.n_rows), rows)
            left_out = product(self._count_matrix(self.excluded[:1], self.n_rows), rows)
            return window, np.broadcast_to(total - left_out, window.shape)

        return self.shared(f"sums:{key}", compute)


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
    # Standardised on the log scale (positive, right-skewed statistics such as divergences): the
    # combined decision compares standardised values across statistics, and a skewed one would
    # otherwise set the joint level for all of them (see suite.calibrate).
    log_scale: bool = False

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
