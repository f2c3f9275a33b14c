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

from . import distances, registry
from .baseline import NOVELTY_QUANTILE, FittedBaseline, VectorFeatures, vector_features
from .novelty import novel_topics
from .registry import WindowBatch
from .results import MIN_WINDOW_SIZE, DriftResult, WindowReport

CALIBRATION_FORMAT_VERSION = 2  # 2: statistics stored with their names (1 was positional)
N_PERMUTATIONS = 200


class StaleCalibration(ValueError):
    """A stored calibration that does not match the registered statistics (or an old format): recompute it."""


def window_statistics(
    fitted: FittedBaseline,
    features: VectorFeatures,
    windows: np.ndarray,
    radii: np.ndarray,
    *,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Every registered statistic for each window, by name; ``windows`` is (B, n) rows of ``features``.

    ``radii`` (B,) is the novelty radius to apply per window (calibration re-estimates it by
    bootstrap to carry its own sampling error; evaluation uses the fitted radius).
    """
    batch = WindowBatch(fitted=fitted, features=features, windows=windows, radii=radii, seed=seed)
    return {statistic.name: np.asarray(statistic.compute(batch), dtype=np.float64) for statistic in registry.statistics()}


@dataclass(frozen=True, eq=False)
class Calibration:
    """Thresholds for one baseline and one window size, found on held-out resampled windows.

    ``statistics`` holds every calibration window's value (rows) per statistic (columns, named by
    ``names``: stored and read back by name, so a new statistic can never shift another's threshold). ``combined_thresholds`` are lower than the individual ones: they are
    set so that "any statistic above its combined threshold" happens on at most
    ``false_alarm_rate`` of the calibration windows.
    """

    names: tuple[str, ...]
    window_size: int
    false_alarm_rate: float
    n_windows: int
    seed: int
    with_replacement: bool
    statistics: np.ndarray  # (n_windows, len(names))
    thresholds: np.ndarray  # individual (1 - rate) quantiles
    centre: np.ndarray  # mean per statistic, for normalised exceedances
    scale: np.ndarray  # standard deviation per statistic
    combined_level: float  # (1 - rate) quantile of the max normalised exceedance
    used_indices: np.ndarray  # baseline rows drawn into calibration windows (all held out)

    @property
    def combined_thresholds(self) -> np.ndarray:
        return self.centre + self.combined_level * self.scale

    def index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise StaleCalibration(f"this calibration has no statistic {name!r}: recalibrate") from None

    def threshold(self, name: str) -> float:
        return float(self.thresholds[self.index(name)])

    def thresholds_by_name(self) -> dict[str, float]:
        return {name: float(t) for name, t in zip(self.names, self.thresholds)}

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
    names = tuple(stats)
    matrix = np.column_stack([stats[name] for name in names])
    thresholds = np.quantile(matrix, 1.0 - false_alarm_rate, axis=0)
    centre = matrix.mean(axis=0)
    scale = np.maximum(matrix.std(axis=0), 1e-12)
    combined_level = float(np.quantile(np.max((matrix - centre) / scale, axis=1), 1.0 - false_alarm_rate))
    return Calibration(
        names=names,
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
    if not calibration.matches_registry():
        raise StaleCalibration(
            f"calibration covers {list(calibration.names)}, the registered statistics are {list(registry.names())}"
        )
    values = np.array([stats[name][0] for name in calibration.names])
    calib = calibration.statistics
    results = {}
    for j, name in enumerate(calibration.names):
        statistic = registry.get(name)
        if statistic.exact_p_value is not None:
            p_value = statistic.exact_p_value(fitted, features, seed, n_permutations)
        else:
            p_value = distances.permutation_p_value(values[j], calib[:, j])
        results[name] = DriftResult(
            name=name,
            statistic=float(values[j]),
            threshold=float(calibration.thresholds[j]),
            p_value=p_value,
            drifted=bool(values[j] > calibration.thresholds[j]),
            seed_threshold=statistic.seed_band,
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
        combined_thresholds=dict(zip(calibration.names, (float(t) for t in calibration.combined_thresholds))),
    )
