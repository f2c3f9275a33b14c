"""Result types and constants shared by the statistics. Plain data, JSON-friendly."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

# Below this many vectors a window is reported as insufficient_data rather than evaluated:
# with fewer than ~50 points the 1% novelty tail holds less than one expected vector and the
# calibrated thresholds are dominated by sampling noise.
MIN_WINDOW_SIZE = 50

# Hand-picked thresholds from before calibration existed. They are shown beside the calibrated
# thresholds so that users who learnt them can compare; they never decide drift.
SEED_JS_BAND = (0.15, 0.25)
SEED_NOVEL_SHARE_BAND = (0.30, 0.40)

def _clean(value: float | None) -> float | None:
    # JSON has no NaN/inf; a statistic that could not be computed is reported as null.
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class DriftResult:
    """One statistic on one window: drifted when ``statistic > threshold``."""

    name: str
    statistic: float
    threshold: float
    p_value: float | None = None
    drifted: bool = False
    seed_threshold: tuple[float, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "statistic": _clean(self.statistic),
            "threshold": _clean(self.threshold),
            "p_value": _clean(self.p_value),
            "drifted": bool(self.drifted),
            "seed_threshold": list(self.seed_threshold) if self.seed_threshold else None,
        }


@dataclass(frozen=True)
class Topic:
    """A group of novel window vectors (a candidate new topic).

    ``representative_indices`` index into the evaluated window (closest to the topic centroid
    first) so a caller without texts can still show samples; ``keywords`` and
    ``representative_texts`` are empty when no texts were given.
    """

    index: int
    size: int
    share: float
    representative_indices: tuple[int, ...]
    representative_texts: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "size": self.size,
            "share": _clean(self.share),
            "representative_indices": list(self.representative_indices),
            "representative_texts": list(self.representative_texts),
            "keywords": list(self.keywords),
        }


@dataclass(frozen=True)
class WindowReport:
    """Everything ``evaluate_window`` found about one window."""

    window_size: int
    results: Mapping[str, DriftResult]
    combined: DriftResult
    topics: tuple[Topic, ...] = ()
    false_alarm_rate: float = 0.01
    combined_thresholds: Mapping[str, float] = field(default_factory=dict)
    # Share of the window's vectors beyond the baseline's novelty radius (retraining advice reads it).
    novel_share: float | None = None
    # Baseline rows the window was compared with (the pool minus the window's size). Every window of
    # one baseline meets this same sample, so its noise is shared: the smaller it is against the
    # window, the more that baseline's false alarms cluster and the less a weak shift shows.
    reference_size: int | None = None

    @property
    def drifted(self) -> bool:
        return self.combined.drifted

    def to_dict(self) -> dict[str, Any]:
        return {
            "window_size": self.window_size,
            "false_alarm_rate": self.false_alarm_rate,
            "drifted": bool(self.drifted),
            "results": {name: result.to_dict() for name, result in self.results.items()},
            "combined": self.combined.to_dict(),
            "combined_thresholds": {k: _clean(v) for k, v in self.combined_thresholds.items()},
            "topics": [topic.to_dict() for topic in self.topics],
            "novel_share": _clean(self.novel_share),
            "reference_size": self.reference_size,
        }
