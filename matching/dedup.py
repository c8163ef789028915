"""1:N de-duplication: who in the index (or in one enrollment batch) looks like this face.

Scores: ``score = clip(1 - distance / 2, 0, 1)``. dlib encodings have norms of 1.3-1.5 and
share a common direction, so distances between faces fall well inside [0, 2] (two photos of
one person ~0.3-0.6, different people ~0.6-1.0): identical faces score 1.0, the usual 0.6
tolerance scores 0.7. The score is a display convenience, a monotone map of the distance;
decisions are taken on the distance and its threshold.
"""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass

import numpy as np

from matching.index import FaceIndex, Hit, IndexSettings


@dataclass(frozen=True)
class Candidate:
    rank: int  # 1 = closest
    identity_id: int
    distance: float  # Euclidean
    score: float  # clip(1 - distance / 2, 0, 1)


def score(distance: float) -> float:
    return float(min(1.0, max(0.0, 1.0 - distance / 2.0)))


def find_candidates(index: FaceIndex, vector: np.ndarray, *, k: int, threshold: float,
                    exclude: Set[int] = frozenset()) -> list[Candidate]:
    """The (at most) k identities nearer than ``threshold``, closest first, ``exclude`` skipped.

    ``exclude`` is over-fetched for, so excluding an identity (say, the person's own record on
    re-enrollment) does not shrink the list below k.
    """
    if k < 1:
        raise ValueError("k must be at least 1")
    (hits,) = index.search(np.asarray(vector, dtype=np.float32).reshape(1, -1), k + len(exclude))
    kept = sorted((h for h in hits if h.id not in exclude and h.distance < threshold),
                  key=lambda h: (h.distance, h.id))
    return [Candidate(rank, h.id, h.distance, score(h.distance))
            for rank, h in enumerate(kept[:k], start=1)]


def within_batch_duplicates(vectors: np.ndarray, threshold: float) -> list[tuple[int, int, float]]:
    """Pairs (i, j, distance), i < j, of rows of one batch nearer than ``threshold``.

    Exact: a temporary flat index answers k-NN for every row at once, and only rows whose
    k-th neighbour is still inside the threshold are asked again with a doubled k, so a
    crowd of look-alikes is found whole without an O(n^2) Python loop.
    """
    x = np.asarray(vectors, dtype=np.float32)
    if x.ndim != 2 or len(x) < 2:
        return []
    index = FaceIndex.build(IndexSettings(kind="flat", dimension=x.shape[1]),
                            np.arange(len(x), dtype=np.int64), x)
    pairs: dict[tuple[int, int], float] = {}
    rows, k = np.arange(len(x)), min(len(x), 16)
    while len(rows):
        results = index.search(x[rows], k)
        for row, hits in zip(rows.tolist(), results, strict=True):
            for hit in hits:
                if hit.id != row and hit.distance < threshold:
                    pairs[(min(row, hit.id), max(row, hit.id))] = hit.distance
        rows = _rows_to_widen(rows, results, threshold, k, len(x))
        k = min(2 * k, len(x))
    return sorted(((i, j, d) for (i, j), d in pairs.items()), key=lambda p: (p[2], p[0], p[1]))


def _rows_to_widen(rows: np.ndarray, results: list[list[Hit]], threshold: float, k: int,
                   n: int) -> np.ndarray:
    if k >= n:
        return rows[:0]
    full = [len(hits) == k and hits[-1].distance < threshold for hits in results]
    return rows[np.asarray(full, dtype=bool)]
