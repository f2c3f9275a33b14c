"""Synthetic embeddings with known structure, shared by the stats tests."""

from __future__ import annotations

import numpy as np

DIM = 384


def unit(vectors: np.ndarray) -> np.ndarray:
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def topic_centres(n_topics: int, seed: int) -> np.ndarray:
    return unit(np.random.default_rng(seed).standard_normal((n_topics, DIM)))


def clustered(n: int, centres: np.ndarray, seed: int, *, spread: float = 0.6, shift: np.ndarray | None = None) -> np.ndarray:
    """Unit vectors scattered around random choices of ``centres`` (like prompts around intents)."""
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, centres.shape[0], n)
    noise = rng.standard_normal((n, DIM)) * spread / np.sqrt(DIM)
    points = centres[picks] + noise
    if shift is not None:
        points = points + shift
    return unit(points)


def false_alarm_interval(flags, rate: float) -> tuple[float, tuple[float, float], int]:
    """The observed false-alarm rate of ``flags`` with its binomial (Clopper-Pearson) 95% interval."""
    from scipy.stats import binomtest

    k, n = int(np.sum(flags)), int(np.size(flags))
    ci = binomtest(k, n, rate).proportion_ci(confidence_level=0.95)
    return k / n, (ci.low, ci.high), n


def assert_false_alarms_at_most(flags, rate: float, label: str) -> None:
    """At least 1,000 windows, and the 95% interval contains ``rate`` or lies below it."""
    observed, (low, high), n = false_alarm_interval(flags, rate)
    print(f"{label} false alarms: {observed:.4f} [{low:.4f}, {high:.4f}] over {n} windows")
    assert n >= 1000
    assert low <= rate, f"false-alarm rate {observed:.4f}, 95% interval [{low:.4f}, {high:.4f}] lies above {rate}"
