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
