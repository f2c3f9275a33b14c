"""The drift suite: every statistic for many windows at once, calibration, and one window's report.

Calibration and evaluation share :func:`window_statistics`, so a threshold is always found on
exactly the statistic it is later compared with.

Calibration is exchangeable with production. A production window is n fresh vectors compared
with a reference: the baseline's pool minus a seeded, fixed subset of n pool rows. A calibration
replicate draws n pool rows without replacement as its window and compares them with the rest of
the pool. Both are "n vectors against pool-size-minus-n other vectors, all drawn from the baseline
distribution", so each replicate is distributed exactly like a production window under no drift;
nothing is bootstrapped (copies would understate spread) and no replicate shares a fixed held-out
pool's offset (every replicate's reference changes with its window).

Any window size: replicates are drawn at a geometric grid of sizes from MIN_WINDOW_SIZE to half the
pool, once per baseline. A replicate's windows are nested (its window at each grid size is the first
so-many of one random order of units of pool rows, see registry.UnitDraw) and every statistic is a
function of window sums, so a whole calibration is one dense product per grid size and sum. At size n the statistics are standardised with a centre and scale
interpolated in log n between grid sizes, and the thresholds' standardised levels are interpolated
linearly between grid sizes; they change slowly with n (the grid steps are < 1.5x, see GRID_RATIO).

Thresholds are conformal: the ceil((B + 1)(1 - rate))-th smallest of B replicate values, so a new
exchangeable window exceeds it with probability at most ``rate``. The combined decision is "the
largest standardised statistic exceeds its conformal level": one test over all statistics,
calibrated jointly, so the statistics' multiplicity costs nothing beyond the stated rate.
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass, fields
from typing import Sequence

import numpy as np

from . import distances, registry
from .baseline import POOL_CAP, FittedBaseline, VectorFeatures, novel_beyond_radius, vector_features
from .novelty import novel_topics
from .registry import UnitDraw, WindowBatch
from .results import MIN_WINDOW_SIZE, DriftResult, WindowReport

CALIBRATION_FORMAT_VERSION = 6  # 6: grid steps < 1.5x (finer interpolation); 5: log-scale statistics standardised on log values; 4: 4: interpolated in the effective size n m / (n + m); 3: one calibration per baseline
N_PERMUTATIONS = 200
# Replicates per grid size: at least this many, and at least REPLICATES_PER_ALARM / rate so the
# conformal quantile rests on a few exceedances.
MIN_REPLICATES = 199
REPLICATES_PER_ALARM = 2
# Working memory of one chunk of replicates (count matrices and per-row products), in bytes.
CALIBRATION_CHUNK_BYTES = 256 * 2**20
# The most replicates one calibration may draw (all grid sizes together): 500 per size on the
# largest grid (15 sizes), i.e. a per-target rate down to 0.004 as before the grid was refined.
# A rate needing more is refused (see check_false_alarm_rate).
MAX_CALIBRATION_REPLICATES = 7500
# Steps of < 1.5x between grid sizes. Between grid sizes a window's centre, scale and levels are
# interpolated in the effective size n m / (n + m), which is exact for statistics whose null
# spread goes with 1/n + 1/m but not for parts that go with the window alone (a histogram's
# smoothing against few distinct texts, a count's jitter). With steps of 2x, templated traffic
# (90% copies of 20 texts) raised 2.0% false alarms at a window of 1,000 between grid sizes 790
# and 1,574, and 1.1% at 790 itself; a finer grid shrinks the interpolation error (about 0.34x
# for 1.5x steps). Nested windows make the extra sizes cheap (UnitDraw.window_sums).
GRID_RATIO = 1.5
# Calibration windows are unions of units of pool rows (registry.UnitDraw): at least UNITS_TARGET
# units per pool, at most MAX_UNIT rows each so that the smallest window (50) is 5 units.
UNITS_TARGET = 1500
MAX_UNIT = MIN_WINDOW_SIZE // 5


def unit_size(n_pool: int) -> int:
    return int(max(1, min(MAX_UNIT, n_pool // UNITS_TARGET)))


class StaleCalibration(ValueError):
    """A stored calibration that does not match the registered statistics (or an old format): recompute it."""


class CalibrationTooLarge(ValueError):
    """The requested false-alarm rate needs more calibration replicates than the memory/time cap allows."""


def replicates_for(false_alarm_rate: float) -> int:
    return max(MIN_REPLICATES, int(math.ceil(REPLICATES_PER_ALARM / false_alarm_rate)) - 1)


def grid_sizes(max_window_size: int, unit: int = 1) -> np.ndarray:
    """Geometric grid from MIN_WINDOW_SIZE to ``max_window_size`` (both included), steps < GRID_RATIO,
    each size a multiple of ``unit`` (the largest rounded down)."""
    if max_window_size < MIN_WINDOW_SIZE:
        raise ValueError(f"the baseline's pool allows windows of at most {max_window_size} (< {MIN_WINDOW_SIZE})")
    # The smallest multiple of the unit that is a legal window: rounding 50 to a unit of 8 gives 48, and
    # clipping that back to 50 would give a size no union of units can make.
    smallest = int(math.ceil(MIN_WINDOW_SIZE / unit)) * unit
    largest = (max_window_size // unit) * unit
    if largest < smallest:
        raise ValueError(f"the baseline's pool allows windows of at most {max_window_size} rows, fewer than one "
                         f"window of {smallest} ({unit}-row units)")
    steps = max(1, int(math.ceil(math.log(max_window_size / MIN_WINDOW_SIZE) / math.log(GRID_RATIO))))
    sizes = np.round(np.geomspace(MIN_WINDOW_SIZE, max_window_size, steps + 1) / unit) * unit
    sizes[-1] = largest
    return np.unique(np.clip(sizes, smallest, largest).astype(np.int64))


def check_false_alarm_rate(false_alarm_rate: float, *, n_grid: int | None = None) -> None:
    """Raise CalibrationTooLarge when ``false_alarm_rate`` would need more than the capped replicates."""
    if not 0.0 < false_alarm_rate < 1.0:
        raise ValueError("false_alarm_rate must be in (0, 1)")
    if n_grid is None:  # the largest grid: a baseline whose pool is at its cap
        n_grid = int(grid_sizes(POOL_CAP // 2, unit_size(POOL_CAP)).size)
    needed = replicates_for(false_alarm_rate) * n_grid
    if needed > MAX_CALIBRATION_REPLICATES:
        lowest = REPLICATES_PER_ALARM * n_grid / MAX_CALIBRATION_REPLICATES
        raise CalibrationTooLarge(
            f"a false-alarm rate of {false_alarm_rate:g} needs {needed} calibration windows, above the cap of "
            f"{MAX_CALIBRATION_REPLICATES}; use a rate of at least {lowest:.4f}"
        )


def window_statistics(
    fitted: FittedBaseline,
    features: VectorFeatures,
    windows: np.ndarray,
    excluded: np.ndarray | None = None,
    *,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Every registered statistic for each window, by name (see registry.WindowBatch for the arguments)."""
    batch = WindowBatch(
        fitted=fitted, features=features, window_size=int(windows.shape[1]), windows=windows, excluded=excluded, seed=seed
    )
    return {statistic.name: np.asarray(statistic.compute(batch), dtype=np.float64) for statistic in registry.statistics()}


LOG_FLOOR = 1e-12


def _to_scale(values: np.ndarray, log_scale) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    if not any(log_scale):
        return values
    mask = np.asarray(log_scale, dtype=bool)
    return np.where(mask, np.log(np.maximum(values, LOG_FLOOR)), values)


def _conformal(values: np.ndarray, rate: float) -> np.ndarray:
    """Per column, the ceil((B + 1)(1 - rate))-th smallest value (the largest when that exceeds B)."""
    b = values.shape[0]
    k = min(b, int(math.ceil((b + 1) * (1.0 - rate))))
    return np.sort(values, axis=0)[k - 1]


@dataclass(frozen=True, eq=False)
class Calibration:
    """Thresholds for one baseline at every window size from MIN_WINDOW_SIZE to ``sizes[-1]``.

    ``statistics`` (G, B, S) holds every replicate's value per grid size and statistic (columns
    named by ``names``: stored and read back by name). ``centre``/``scale`` (G, S) standardise;
    ``levels`` (G, S) are the individual thresholds and ``combined_levels`` (G,) the combined one,
    both in standardised units.
    """

    names: tuple[str, ...]
    sizes: np.ndarray
    false_alarm_rate: float
    n_windows: int
    seed: int
    statistics: np.ndarray
    centre: np.ndarray
    scale: np.ndarray
    levels: np.ndarray
    combined_levels: np.ndarray
    n_pool: int = 0  # the reference pool's size: a window of n is judged against n_pool - n rows
    log_scale: tuple[bool, ...] = ()  # per statistic: standardised on log values (registry.Statistic.log_scale)

    def transform(self, values: np.ndarray) -> np.ndarray:
        """Statistic values (..., S) on the scale they are standardised on."""
        return _to_scale(values, self.log_scale)

    def untransform(self, values: np.ndarray) -> np.ndarray:
        values = np.asarray(values, dtype=np.float64)
        mask = np.asarray(self.log_scale or [False] * values.shape[-1], dtype=bool)
        return np.where(mask, np.exp(np.minimum(values, 700.0)), values)

    @property
    def max_window_size(self) -> int:
        return int(self.sizes[-1])

    def _check_size(self, n: int) -> None:
        if not MIN_WINDOW_SIZE <= n <= self.max_window_size:
            raise ValueError(f"calibrated for windows of {MIN_WINDOW_SIZE}..{self.max_window_size} vectors, got {n}")

    def at(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        """(centre, scale, individual thresholds, combined level) for windows of ``n`` vectors."""
        self._check_size(n)
        # Interpolated in log of the effective size n m / (n + m) (m = pool - n, the reference): the
        # statistics' null centre and spread scale with it (e.g. a divergence's bias ~ 1/n + 1/m),
        # so between grid sizes they are close to straight lines in it.
        x, grid = math.log(self._effective(n)), np.log(self._effective(self.sizes.astype(np.float64)))

        def interp(values: np.ndarray) -> np.ndarray:
            return np.array([np.interp(x, grid, values[:, j]) for j in range(values.shape[1])])

        positive = np.all(self.centre > 0, axis=0)
        centre = np.where(positive, np.exp(interp(np.log(np.maximum(self.centre, 1e-300)))), interp(self.centre))
        scale = np.exp(interp(np.log(self.scale)))
        levels = interp(self.levels)
        combined = float(np.interp(x, grid, self.combined_levels))
        return centre, scale, self.untransform(centre + levels * scale), combined

    def _effective(self, n):
        if not self.n_pool:
            return n
        return n * (self.n_pool - n) / self.n_pool

    def nearest_grid(self, n: int) -> int:
        return int(np.argmin(np.abs(np.log(self.sizes) - math.log(n))))

    def index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise StaleCalibration(f"this calibration has no statistic {name!r}: recalibrate") from None

    def threshold(self, name: str, n: int) -> float:
        return float(self.at(n)[2][self.index(name)])

    def thresholds_by_name(self, n: int) -> dict[str, float]:
        return {name: float(t) for name, t in zip(self.names, self.at(n)[2])}

    def matches_registry(self) -> bool:
        return self.names == registry.names()

    def to_bytes(self) -> bytes:
        arrays, meta = {}, {"format_version": CALIBRATION_FORMAT_VERSION}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, tuple):
                value = list(value)
            (arrays if isinstance(value, np.ndarray) else meta)[f.name] = value
        arrays["_meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> "Calibration":
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            meta = json.loads(archive["_meta"].tobytes().decode())
            if meta.pop("format_version", None) != CALIBRATION_FORMAT_VERSION:
                raise StaleCalibration("calibration stored in an older format: recalibrate")
            arrays = {name: archive[name] for name in archive.files if name != "_meta"}
        meta["names"] = tuple(meta["names"])
        meta["log_scale"] = tuple(meta.get("log_scale", ()))
        return cls(**meta, **arrays)


def calibrate(
    fitted: FittedBaseline,
    *,
    false_alarm_rate: float = 0.01,
    n_windows: int | None = None,
    sizes: Sequence[int] | None = None,
    seed: int = 0,
) -> Calibration:
    """Thresholds at ``false_alarm_rate`` for every window size up to ``fitted.max_window_size``.

    ``n_windows`` replicates per grid size (default :func:`replicates_for`); memory is one
    (replicates x units) indicator and one (units x features) table per sum, the total count
    bounded by MAX_CALIBRATION_REPLICATES (CalibrationTooLarge beyond it).
    """
    unit = unit_size(fitted.window_rows.size)
    grid = np.asarray(sizes, dtype=np.int64) if sizes is not None else grid_sizes(fitted.max_window_size, unit)
    if grid.min() < MIN_WINDOW_SIZE or grid.max() > fitted.max_window_size:
        raise ValueError(f"grid sizes must lie in {MIN_WINDOW_SIZE}..{fitted.max_window_size}")
    if not 0.0 < false_alarm_rate < 1.0:
        raise ValueError("false_alarm_rate must be in (0, 1)")
    n_windows = int(n_windows or replicates_for(false_alarm_rate))
    if n_windows * grid.size > MAX_CALIBRATION_REPLICATES:
        check_false_alarm_rate(false_alarm_rate, n_grid=grid.size)
        raise CalibrationTooLarge(f"{n_windows} x {grid.size} replicates exceed {MAX_CALIBRATION_REPLICATES}")
    if (n_windows + 1) * false_alarm_rate < 1.0:
        raise ValueError("(n_windows + 1) * false_alarm_rate must be >= 1 for a conformal quantile")
    rng = np.random.default_rng(seed)
    features = vector_features(fitted, fitted.holdout_vectors)
    draw = UnitDraw(fitted.n_pool, fitted.window_rows, unit, n_windows, rng)
    names = registry.names()
    values = np.empty((grid.size, n_windows, len(names)))
    for g, n in enumerate(grid):
        batch = WindowBatch(
            fitted=fitted, features=features, window_size=int(n), units=draw, seed=int(rng.integers(2**31 - 1))
        )
        values[g] = np.column_stack([np.asarray(st.compute(batch), dtype=np.float64) for st in registry.statistics()])
    log_scale = tuple(bool(st.log_scale) for st in registry.statistics())
    scaled = _to_scale(values, log_scale)
    centre = scaled.mean(axis=1)
    scale = np.maximum(scaled.std(axis=1), 1e-12)
    standard = (scaled - centre[:, None, :]) / scale[:, None, :]
    levels = np.stack([_conformal(standard[g], false_alarm_rate) for g in range(grid.size)])
    combined_levels = np.array([float(_conformal(standard[g].max(axis=1)[:, None], false_alarm_rate)[0]) for g in range(grid.size)])
    return Calibration(
        names=names,
        sizes=grid,
        false_alarm_rate=float(false_alarm_rate),
        n_windows=n_windows,
        seed=int(seed),
        statistics=values,
        centre=centre,
        scale=scale,
        levels=levels,
        combined_levels=combined_levels,
        n_pool=int(fitted.n_pool),
        log_scale=log_scale,
    )


def production_excluded(fitted: FittedBaseline, n: int) -> np.ndarray:
    """The pool rows a production window of ``n`` vectors leaves out of its reference: a fixed,
    seeded subset, so the reference is a (pool - n)-row sample exactly like a replicate's."""
    order = np.random.default_rng(fitted.seed + 7919).permutation(fitted.window_rows)
    return np.sort(order[:n])


@dataclass(frozen=True)
class BatchDecision:
    """Many windows of one size judged at once (benchmarks and tests): values and decisions by name."""

    statistics: dict[str, np.ndarray]
    drifted: dict[str, np.ndarray]
    combined: np.ndarray  # the largest standardised statistic per window
    combined_level: float
    combined_drifted: np.ndarray


def _concat(*tables: VectorFeatures) -> VectorFeatures:
    return VectorFeatures(**{f.name: np.concatenate([getattr(t, f.name) for t in tables]) for f in fields(VectorFeatures)})


def _take(table: VectorFeatures, rows: np.ndarray) -> VectorFeatures:
    return VectorFeatures(**{f.name: getattr(table, f.name)[rows] for f in fields(VectorFeatures)})


def evaluate_windows(
    fitted: FittedBaseline,
    calibration: Calibration,
    vectors: np.ndarray,
    windows: np.ndarray,
    *,
    seed: int = 0,
    features: VectorFeatures | None = None,
) -> BatchDecision:
    """Judge every row of ``windows`` ((B, n) indices into ``vectors``) as evaluate_window would.

    ``features``: the vectors' features when the caller has them already (evaluate_window).
    """
    if not calibration.matches_registry():
        raise StaleCalibration(
            f"calibration covers {list(calibration.names)}, the registered statistics are {list(registry.names())}"
        )
    windows = np.asarray(windows, dtype=np.int64)
    n = windows.shape[1]
    centre, scale, thresholds, combined_level = calibration.at(n)
    vectors = np.asarray(vectors)
    # The reference is the pool minus n fixed rows: only those rows' features are computed; the
    # pool's own sums are stored with the fitted baseline.
    excluded_features = vector_features(fitted, fitted.holdout_vectors[production_excluded(fitted, n)])
    values = {name: np.empty(windows.shape[0]) for name in calibration.names}
    # A feature table per chunk (the excluded rows, then the chunk's window rows): count matrices
    # stay at chunk x (n + chunk x n) however many windows there are.
    chunk = max(1, min(windows.shape[0], int(math.sqrt(CALIBRATION_CHUNK_BYTES / (16.0 * n)))))
    all_used = np.unique(windows)
    if features is None:
        # Per-vector features once for every vector any window uses (benchmarks reuse rows a lot).
        features = vector_features(fitted, vectors[all_used]) if all_used.size <= 200_000 else None
        rows_in_features = all_used
    else:
        rows_in_features = np.arange(vectors.shape[0])
    for start in range(0, windows.shape[0], chunk):
        part = windows[start : start + chunk]
        used, local = np.unique(part, return_inverse=True)
        if features is not None:
            window_features = _take(features, np.searchsorted(rows_in_features, used))
        else:
            window_features = vector_features(fitted, vectors[used])
        batch = WindowBatch(
            fitted=fitted, features=_concat(excluded_features, window_features), window_size=n,
            windows=n + local.reshape(part.shape), excluded=np.arange(n)[None, :], seed=seed + start,
        )
        stats = {st.name: np.asarray(st.compute(batch), dtype=np.float64) for st in registry.statistics()}
        for name in calibration.names:
            values[name][start : start + chunk] = stats[name]
    matrix = np.column_stack([values[name] for name in calibration.names])
    combined = np.max((calibration.transform(matrix) - centre) / scale, axis=1)
    return BatchDecision(
        statistics=values,
        drifted={name: matrix[:, j] > thresholds[j] for j, name in enumerate(calibration.names)},
        combined=combined,
        combined_level=combined_level,
        combined_drifted=combined > combined_level,
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

    The decision is each statistic against its threshold (and the combined rule); the p-value is
    the window's standardised rank among the replicates of the nearest grid size (shown, not the
    decision).
    """
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    n = vectors.shape[0]
    if n < MIN_WINDOW_SIZE:
        raise ValueError(f"window of {n} vectors is below MIN_WINDOW_SIZE={MIN_WINDOW_SIZE}")
    calibration._check_size(n)
    window_features = vector_features(fitted, vectors)
    decision = evaluate_windows(fitted, calibration, vectors, np.arange(n)[None, :], seed=seed, features=window_features)
    centre, scale, thresholds, combined_level = calibration.at(n)
    g = calibration.nearest_grid(n)
    replicates = (calibration.transform(calibration.statistics[g]) - calibration.centre[g]) / calibration.scale[g]
    standardised = (calibration.transform(np.array([decision.statistics[name][0] for name in calibration.names])) - centre) / scale
    results = {}
    for j, name in enumerate(calibration.names):
        statistic = registry.get(name)
        value = float(decision.statistics[name][0])
        results[name] = DriftResult(
            name=name,
            statistic=value,
            threshold=float(thresholds[j]),
            p_value=distances.permutation_p_value(float(standardised[j]), replicates[:, j]),
            drifted=bool(decision.drifted[name][0]),
            seed_threshold=statistic.seed_band,
        )
    exceedance = float(decision.combined[0])
    combined = DriftResult(
        name="combined",
        statistic=exceedance,
        threshold=combined_level,
        p_value=distances.permutation_p_value(exceedance, replicates.max(axis=1)),
        drifted=bool(decision.combined_drifted[0]),
    )
    novel = novel_beyond_radius(fitted, window_features.novelty_distance) > 0
    return WindowReport(
        window_size=n,
        results=results,
        combined=combined,
        topics=novel_topics(vectors, novel, texts, seed=seed),
        false_alarm_rate=calibration.false_alarm_rate,
        combined_thresholds=dict(zip(calibration.names, map(float, calibration.untransform(centre + combined_level * scale)))),
        novel_share=float(np.mean(novel)),
        reference_size=int(calibration.n_pool - n) if calibration.n_pool else None,
    )
