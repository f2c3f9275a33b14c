"""PostgreSQL binary COPY for pgvector columns, built and parsed with numpy in one pass.

Vectors leave and enter pgvector as one contiguous array: no per-row Python lists, no text
formatting of floats. pgvector's binary `vector` format is int16 dim, int16 unused, then dim
big-endian float32.
"""

from __future__ import annotations

import numpy as np

HEADER = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
TRAILER = (-1).to_bytes(2, "big", signed=True)


def _vector_fields(dim: int, name: str) -> list[tuple]:
    return [(f"{name}_len", ">i4"), (f"{name}_dim", ">i2"), (f"{name}_unused", ">i2"), (name, ">f4", (dim,))]


def encode_id_vectors(ids: np.ndarray, *vectors: np.ndarray) -> bytes:
    """COPY ... FROM STDIN (FORMAT BINARY) payload for rows (bigint id, vector, vector, ...)."""
    n = len(ids)
    dim = vectors[0].shape[1] if vectors else 0
    fields = [("nfields", ">i2"), ("id_len", ">i4"), ("id", ">i8")]
    for k in range(len(vectors)):
        fields += _vector_fields(dim, f"v{k}")
    rows = np.empty(n, dtype=np.dtype(fields))
    rows["nfields"] = 1 + len(vectors)
    rows["id_len"] = 8
    rows["id"] = ids
    for k, v in enumerate(vectors):
        if v.shape != (n, dim):
            raise ValueError(f"vector block {k} has shape {v.shape}, expected {(n, dim)}")
        rows[f"v{k}_len"] = 4 + 4 * dim
        rows[f"v{k}_dim"] = dim
        rows[f"v{k}_unused"] = 0
        rows[f"v{k}"] = v
    return HEADER + rows.tobytes() + TRAILER


def decode_id_vector(payload: bytes, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Parse COPY (SELECT id, vec ...) TO STDOUT (FORMAT BINARY) where vec is NOT NULL.

    Returns (ids int64 (n,), vectors float32 (n, dim)).
    """
    if not payload.startswith(HEADER[:11]):
        raise ValueError("not a PostgreSQL binary COPY stream")
    ext_len = int.from_bytes(payload[15:19], "big")
    body = memoryview(payload)[19 + ext_len : len(payload) - 2]
    dtype = np.dtype([("nfields", ">i2"), ("id_len", ">i4"), ("id", ">i8")] + _vector_fields(dim, "v"))
    if len(body) % dtype.itemsize:
        raise ValueError("unexpected row size in COPY stream (NULL vector or wrong dimension?)")
    rows = np.frombuffer(body, dtype=dtype)
    if len(rows) and (rows["v_dim"] != dim).any():
        raise ValueError(f"vectors in the stream are not {dim}-dimensional")
    return rows["id"].astype(np.int64), rows["v"].astype(np.float32)
