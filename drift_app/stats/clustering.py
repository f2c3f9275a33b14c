"""Greedy leader clustering of L2-normalised vectors (pure numpy; used for coverage gaps)."""

from __future__ import annotations

import numpy as np


def leader_clusters(vectors: np.ndarray, *, threshold: float, max_leaders: int = 500) -> np.ndarray:
    """Label each row with a cluster id: a vector joins the first leader with cosine >= threshold.

    Deterministic in input order, O(n * leaders). Rows that would open a leader beyond
    `max_leaders` join their nearest leader instead, which bounds the cost on very diverse input.
    """
    n = len(vectors)
    labels = np.full(n, -1, dtype=np.int64)
    if n == 0:
        return labels
    leaders = np.zeros((min(n, max_leaders), vectors.shape[1]), dtype=np.float32)
    count = 0
    for i in range(n):
        if count:
            sims = leaders[:count] @ vectors[i]
            best = int(np.argmax(sims))
            if sims[best] >= threshold or count >= max_leaders:
                labels[i] = best
                continue
        leaders[count] = vectors[i]
        labels[i] = count
        count += 1
    return labels
