"""Drift statistics as named objects in one registry. PURE: numpy, scipy and scikit-learn only.

A statistic is a :class:`Statistic`: a name (its key everywhere: stored calibrations, drift-run
results, the API, the dashboard), a label and a description for people, and ``compute``, which
returns one value per window (larger means further from the baseline) from a :class:`WindowBatch`.
Calibration and evaluation both call the same ``compute``, so a threshold is always found on exactly
the statistic it is later compared with, and every stored array is keyed by name, never by position.

How to add a statistic
----------------------
1. Write ``def my_stat(batch: WindowBatch) -> np.ndarray`` returning shape ``(batch.n_windows,)``;
   ``batch`` offers the window/row count matrix, per-row features and the fitted baseline.
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

if TYPE_CHECKING:  # pragma: no cover - typing only
    from .baseline import FittedBaseline, VectorFeatures


@dataclass(eq=False)
class WindowBatch:
    """Many windows over one table of per-vector features, with the pieces statistics share.

    ``windows`` is (B, n) row indices into ``features``; ``radii`` (B,) the novelty radius per window.
    Shared intermediate products are computed once, on first use, whichever statistic asks first.
    """

    fitted: "FittedBaseline"
    features: "VectorFeatures"
    windows: np.ndarray
    radii: np.ndarray
    seed: int = 0

    @property
    def n_windows(self) -> int:
        return int(self.windows.shape[0])

    @property
    def window_size(self) -> int:
        return int(self.windows.shape[1])

    @property
    def n_rows(self) -> int:
        return int(self.features.cells.shape[0])

    @cached_property
    def counts(self) -> np.ndarray:
        """(B, n_rows) float32: how often each feature row appears in each window."""
        flat = (np.arange(self.n_windows)[:, None] * self.n_rows + self.windows).ravel()
        return (
            np.bincount(flat, minlength=self.n_windows * self.n_rows)
            .reshape(self.n_windows, self.n_rows)
            .astype(np.float32)
        )

    @cached_property
    def rng(self) -> np.random.Generator:
        return np.random.default_rng(self.seed)

    def shared(self, key: str, compute: Callable[[], object]):
        """An intermediate result several statistics use (e.g. per-dimension Wasserstein), computed once."""
        memo = self.__dict__.setdefault("_shared", {})
        if key not in memo:
            memo[key] = compute()
        return memo[key]


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
