"""The 2-D prompt map: PCA with numpy only (no Django), fitted on the baseline vectors."""

from __future__ import annotations

import numpy as np


def pca_2d(fit_on: np.ndarray, project: np.ndarray) -> np.ndarray:
    """Project `project` (n, d) onto the first two principal axes of `fit_on` (m, d); returns (n, 2).

    Signs are fixed (largest loading positive) so the same data always gives the same picture.
    """
    if fit_on.ndim != 2 or project.ndim != 2 or fit_on.shape[1] != project.shape[1]:
        raise ValueError(f"expected two (n, d) arrays of the same d, got {fit_on.shape} and {project.shape}")
    if len(fit_on) < 2:
        raise ValueError("PCA needs at least two vectors to fit on")
    mean = fit_on.mean(axis=0)
    _, _, vt = np.linalg.svd(fit_on - mean, full_matrices=False)
    axes = vt[:2]
    if axes.shape[0] < 2:
        axes = np.vstack([axes, np.zeros((2 - axes.shape[0], fit_on.shape[1]))])
    signs = np.sign(axes[np.arange(len(axes)), np.abs(axes).argmax(axis=1)])
    signs[signs == 0] = 1
    axes = axes * signs[:, None]
    return ((project - mean) @ axes.T).astype(np.float64)
