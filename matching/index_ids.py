"""Row ids and vectors entering a face index: input checks and the id-set fingerprint.

The fingerprint (count and a 64-bit additive hash of splitmix64-mixed ids) is kept
incrementally by the index and computed afresh from the database's ids, so the two are
compared in O(1) at start-up. No faiss here.
"""

from __future__ import annotations

import numpy as np

from matching.errors import DimensionMismatch

MASK64 = (1 << 64) - 1


def as_matrix(vectors: np.ndarray, dimension: int) -> np.ndarray:
    x = np.asarray(vectors, dtype=np.float32)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2 or x.shape[1] != dimension:
        raise DimensionMismatch(f"expected vectors of dimension {dimension}, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("vectors must be finite")
    return np.ascontiguousarray(x)


def as_ids(ids: np.ndarray | list[int]) -> np.ndarray:
    a = np.ascontiguousarray(np.asarray(ids, dtype=np.int64).reshape(-1))
    if (a < 0).any():
        raise ValueError("ids must be non-negative (-1 is FAISS's empty slot)")
    if len(np.unique(a)) != len(a):
        raise ValueError("ids repeat within one call")
    return a


def _mix(ids: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: spreads ids so that sums of them are a good set hash."""
    z = ids.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def id_hash(ids: np.ndarray) -> int:
    return int(_mix(np.asarray(ids, dtype=np.int64)).sum(dtype=np.uint64))


def fingerprint_ids(ids: np.ndarray | list[int]) -> str:
    """Digest of a set of ids: count and a 64-bit additive hash. Same as FaceIndex.fingerprint()."""
    a = np.unique(np.asarray(ids, dtype=np.int64))
    return f"{len(a)}:{id_hash(a):016x}"
