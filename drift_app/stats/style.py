"""Response style: length and structure of each window's responses against the baseline's, calibrated.

A change of style (much shorter or much longer answers, lists or code where there were none) moves
the embeddings little, so the embedding statistics miss it; it is also usually benign (a prompt or
model-setting change) and a reviewer wants to see it named. It is therefore its own finding,
``response_style_shift``, with its own calibrated threshold, never part of the embedding drift
decision.

Per response, :func:`style_features` measures (by name, see STYLE_FEATURES): log(1 + word tokens),
sentences, the share of lines that are list items and the share of characters inside code. A
window's statistic per feature is the two-sample z of its mean against its reference's (the
baseline's pool minus n rows, as for the embedding statistics), scaled by the pool's spread; the
finding is "the largest |z| exceeds its level", the level conformal over calibration windows drawn
exactly like the embedding ones (pool rows without replacement against the rest of the pool), on
the same kind of grid of window sizes, interpolated in log n.
"""

from __future__ import annotations

import io
import json
import math
import re
from dataclasses import dataclass, fields
from typing import Any, Sequence

import numpy as np

from .registry import UnitDraw
from .results import MIN_WINDOW_SIZE
from .suite import grid_sizes, unit_size

STYLE_FORMAT_VERSION = 1
FINDING = "response_style_shift"
STYLE_FEATURES = ("tokens", "sentences", "list_share", "code_share")
STYLE_LABELS = {
    "tokens": "Length (word tokens)",
    "sentences": "Sentences",
    "list_share": "List lines",
    "code_share": "Code",
}
_TOKEN = re.compile(r"\w+|[^\w\s]")
_SENTENCE_END = re.compile(r"[.!?]+(?:\s|$)")
_LIST_LINE = re.compile(r"^\s*(?:[-*+\u2022]|\d+[.)])\s+")
_FENCE = re.compile(r"```.*?(?:```|$)", re.S)
_INLINE_CODE = re.compile(r"`[^`\n]+`")
MIN_SPREAD = 1e-6


def style_features(texts: Sequence[str]) -> np.ndarray:
    """(n, 4) float32 per text: log1p(tokens), sentences, list-line share, code-character share."""
    out = np.zeros((len(texts), len(STYLE_FEATURES)), dtype=np.float32)
    for i, text in enumerate(texts):
        text = str(text or "")
        tokens = len(_TOKEN.findall(text))
        code_chars = sum(len(m) for m in _FENCE.findall(text))
        prose = _FENCE.sub(" ", text)
        code_chars += sum(len(m) for m in _INLINE_CODE.findall(prose))
        lines = [line for line in prose.splitlines() if line.strip()]
        list_lines = sum(1 for line in lines if _LIST_LINE.match(line))
        sentences = len(_SENTENCE_END.findall(_INLINE_CODE.sub(" ", prose))) or (1 if prose.strip() else 0)
        out[i] = (
            math.log1p(tokens),
            sentences,
            list_lines / len(lines) if lines else 0.0,
            code_chars / len(text) if text else 0.0,
        )
    return out


def _conformal(values: np.ndarray, rate: float) -> float:
    b = values.size
    k = min(b, int(math.ceil((b + 1) * (1.0 - rate))))
    return float(np.sort(values)[k - 1])


@dataclass(frozen=True, eq=False)
class StyleBaseline:
    """The baseline's pool of style rows and the finding's calibrated levels per grid size."""

    pool: np.ndarray  # (P, 4) float32 style features of the pool rows
    spread: np.ndarray  # (4,) the pool's standard deviation per feature (floored)
    sizes: np.ndarray  # (G,) grid of window sizes
    levels: np.ndarray  # (G,) conformal level of max |z| per size
    false_alarm_rate: float
    seed: int

    @property
    def n_pool(self) -> int:
        return int(self.pool.shape[0])

    @property
    def max_window_size(self) -> int:
        return int(self.sizes[-1])

    def level(self, n: int) -> float:
        return float(np.interp(math.log(n), np.log(self.sizes.astype(np.float64)), self.levels))

    def to_bytes(self) -> bytes:
        arrays, meta = {}, {"format_version": STYLE_FORMAT_VERSION}
        for f in fields(self):
            value = getattr(self, f.name)
            (arrays if isinstance(value, np.ndarray) else meta)[f.name] = value
        arrays["_meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> "StyleBaseline":
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            meta = json.loads(archive["_meta"].tobytes().decode())
            if meta.pop("format_version", None) != STYLE_FORMAT_VERSION:
                raise ValueError("unsupported StyleBaseline format version")
            arrays = {name: archive[name] for name in archive.files if name != "_meta"}
        return cls(**meta, **arrays)


def _z(window_sum: np.ndarray, reference_sum: np.ndarray, n: int, m: int, spread: np.ndarray) -> np.ndarray:
    return (window_sum / n - reference_sum / m) / (spread * math.sqrt(1.0 / n + 1.0 / m))


def fit_style(
    features: np.ndarray, *, false_alarm_rate: float = 0.01, n_windows: int | None = None, seed: int = 0
) -> StyleBaseline:
    """Calibrate the style finding on the baseline pool's style rows (``features``, (P, 4)).

    Replicates are drawn as for the embedding statistics (registry.UnitDraw): each orders random
    units of pool rows at random, its window at size n is its first n / unit units and its
    reference the rest of the pool; each size is one dense product.
    """
    pool = np.ascontiguousarray(features, dtype=np.float32)
    if pool.ndim != 2 or pool.shape[1] != len(STYLE_FEATURES):
        raise ValueError(f"style features must be (n, {len(STYLE_FEATURES)})")
    if not 0.0 < false_alarm_rate < 1.0:
        raise ValueError("false_alarm_rate must be in (0, 1)")
    n_pool = pool.shape[0]
    if n_pool < 2 * MIN_WINDOW_SIZE:
        raise ValueError(f"style needs at least {2 * MIN_WINDOW_SIZE} pool rows, got {n_pool}")
    n_windows = int(n_windows or max(199, int(math.ceil(2 / false_alarm_rate)) - 1))
    spread = np.maximum(pool.std(axis=0, dtype=np.float64), MIN_SPREAD)
    unit = unit_size(n_pool)
    sizes = grid_sizes(n_pool // 2, unit)
    rng = np.random.default_rng(seed)
    total = pool.sum(axis=0, dtype=np.float64)
    levels = np.empty(sizes.size)
    draw = UnitDraw(n_pool, np.arange(n_pool), unit, n_windows, rng)
    by_unit, _ = draw.unit_sums("style", lambda: pool)
    for g, n in enumerate(sizes):
        window = (draw.indicator(int(n)) @ by_unit).astype(np.float64)
        z = _z(window, total - window, int(n), n_pool - int(n), spread)
        levels[g] = _conformal(np.max(np.abs(z), axis=1), false_alarm_rate)
    return StyleBaseline(
        pool=pool, spread=spread, sizes=sizes, levels=levels, false_alarm_rate=float(false_alarm_rate), seed=int(seed)
    )


def _excluded(style: StyleBaseline, n: int) -> np.ndarray:
    return np.random.default_rng(style.seed + 4099).permutation(style.n_pool)[:n]


@dataclass(frozen=True)
class StyleReport:
    """The window's style against the baseline's: per feature the means and z, the finding and its level."""

    window_size: int
    window_means: dict[str, float]
    baseline_means: dict[str, float]
    z: dict[str, float]
    statistic: float
    threshold: float
    shifted: bool
    direction: str  # e.g. "longer", "shorter", "more lists", "" when not shifted

    def to_dict(self) -> dict[str, Any]:
        return {
            "finding": FINDING,
            "window_size": self.window_size,
            "features": {
                name: {
                    "label": STYLE_LABELS[name],
                    "window_mean": self.window_means[name],
                    "baseline_mean": self.baseline_means[name],
                    "z": self.z[name],
                }
                for name in STYLE_FEATURES
            },
            "statistic": self.statistic,
            "threshold": self.threshold,
            "shifted": self.shifted,
            "direction": self.direction,
        }


_DIRECTION = {
    "tokens": ("longer", "shorter"),
    "sentences": ("more sentences", "fewer sentences"),
    "list_share": ("more lists", "fewer lists"),
    "code_share": ("more code", "less code"),
}


def _display(name: str, values: np.ndarray) -> float:
    # Length is compared on log1p(tokens) but shown as tokens (the geometric-mean length).
    return float(np.expm1(values)) if name == "tokens" else float(values)


def evaluate_style(style: StyleBaseline, window: np.ndarray) -> StyleReport:
    """Judge one window's style rows ((n, 4) from style_features) against the baseline."""
    window = np.asarray(window, dtype=np.float64)
    n = int(window.shape[0])
    if not MIN_WINDOW_SIZE <= n <= style.max_window_size:
        raise ValueError(f"style is calibrated for windows of {MIN_WINDOW_SIZE}..{style.max_window_size}, got {n}")
    reference = style.pool.sum(axis=0, dtype=np.float64) - style.pool[_excluded(style, n)].sum(axis=0, dtype=np.float64)
    m = style.n_pool - n
    z = _z(window.sum(axis=0), reference, n, m, style.spread)
    statistic = float(np.max(np.abs(z)))
    threshold = style.level(n)
    shifted = statistic > threshold
    worst = int(np.argmax(np.abs(z)))
    name = STYLE_FEATURES[worst]
    direction = _DIRECTION[name][0 if z[worst] > 0 else 1] if shifted else ""
    window_means, reference_means = window.mean(axis=0), reference / m
    return StyleReport(
        window_size=n,
        window_means={k: _display(k, window_means[j]) for j, k in enumerate(STYLE_FEATURES)},
        baseline_means={k: _display(k, reference_means[j]) for j, k in enumerate(STYLE_FEATURES)},
        z={k: float(z[j]) for j, k in enumerate(STYLE_FEATURES)},
        statistic=statistic,
        threshold=threshold,
        shifted=bool(shifted),
        direction=direction,
    )
