"""The 1:N face index: FAISS behind one small class, keyed by identity row id.

Only the ``matching.index*`` modules import faiss, lazily, so importing ``matching.index``
costs nothing. Three kinds share one interface (``IndexSettings.kind``):

- ``flat`` (``index_flat``): exact search; the reference the others are measured against.
- ``hnsw`` (``index_hnsw``): graph search, removals as tombstones, compacted by ``rebuild()``.
- ``ivf`` (``index_ivf``): inverted lists, exact flat until there is enough data to train.

Distances in ``Hit`` are Euclidean (the square root of FAISS's squared L2), so they compare
directly with face_recognition's 0.6 tolerance. A saved index is sealed (``index_file``):
``save`` and ``load`` take the sealing ring and the face model the file belongs to.

Thread safety: a readers-writer lock. Searches hold the read side and run in parallel
(FAISS releases the GIL during ``search``); add, remove and rebuild hold the write side.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from keys.sealed_file import ChunkSealer
from matching import index_file
from matching.errors import DimensionMismatch, FaceIndexError, IndexCorrupt, IndexMismatch
from matching.index_backend import Backend, deserialize, set_num_threads
from matching.index_flat import FlatBackend
from matching.index_hnsw import HnswBackend
from matching.index_ids import MASK64, as_ids, as_matrix, fingerprint_ids, id_hash
from matching.index_ivf import IvfBackend
from matching.index_settings import Hit, IndexKind, IndexSettings
from matching.rwlock import ReadWriteLock

__all__ = ["DimensionMismatch", "FaceIndex", "FaceIndexError", "Hit", "IndexCorrupt",
           "IndexKind", "IndexMismatch", "IndexSettings", "fingerprint_ids", "set_num_threads"]


def _new_backend(settings: IndexSettings) -> Backend:
    kinds: dict[str, type] = {"flat": FlatBackend, "hnsw": HnswBackend, "ivf": IvfBackend}
    return kinds[settings.kind](settings)  # type: ignore[no-any-return]


def _restore_backend(settings: IndexSettings, header: dict[str, Any],
                     sections: dict[str, bytes]) -> Backend:
    index = deserialize(sections["faiss"])
    if settings.kind == "hnsw":
        labels = np.frombuffer(sections["labels"], dtype=np.int64).copy()
        alive = np.frombuffer(sections["alive"], dtype=np.uint8).astype(bool)
        return HnswBackend(settings, index, labels, alive)
    if settings.kind == "ivf":
        return IvfBackend(settings, index, trained=bool(header["trained"]))
    return FlatBackend(settings, index)


def _check_label(label: dict[str, Any], settings: IndexSettings, model: str) -> None:
    if label.get("build") != settings.build_params or label.get("model") != model:
        raise IndexMismatch(f"index built with {label.get('build')} for model "
                            f"{label.get('model')}, settings ask for {settings.build_params} "
                            f"for {model}; rebuild it from the database")


def _hits(distances: np.ndarray, ids: np.ndarray) -> list[Hit]:
    return [Hit(int(i), float(d)) for d, i in zip(distances, ids, strict=True) if i >= 0]


class FaceIndex:
    """A set of (identity id, encoding) pairs answering k-nearest-neighbour queries."""

    def __init__(self, settings: IndexSettings | None = None) -> None:
        self.settings = settings or IndexSettings()
        self._backend: Backend = _new_backend(self.settings)
        self._ids: set[int] = set()
        self._hash = 0  # sum of splitmix64(id) mod 2**64 over self._ids
        self._lock = ReadWriteLock()

    @classmethod
    def build(cls, settings: IndexSettings, ids: np.ndarray, vectors: np.ndarray) -> FaceIndex:
        """A fresh index holding exactly these rows (e.g. all identities in the database)."""
        index = cls(settings)
        index.add(ids, vectors)
        return index

    def __len__(self) -> int:
        return len(self._ids)

    def __repr__(self) -> str:
        return f"FaceIndex(kind={self.settings.kind!r}, count={len(self)})"

    def ids(self) -> np.ndarray:
        with self._lock.read():
            return np.sort(np.fromiter(self._ids, dtype=np.int64, count=len(self._ids)))

    def contains(self, id: int) -> bool:
        return int(id) in self._ids

    def fingerprint(self) -> str:
        """Count and set hash of the ids; equals ``fingerprint_ids(database ids)`` when in step."""
        with self._lock.read():
            return f"{len(self._ids)}:{self._hash:016x}"

    @property
    def tombstones(self) -> int:
        return getattr(self._backend, "tombstones", 0)

    def _present(self, ids: np.ndarray) -> np.ndarray:
        return np.fromiter((i in self._ids for i in ids.tolist()), bool, len(ids))

    def add(self, ids: np.ndarray | list[int], vectors: np.ndarray) -> None:
        """Add rows; an id already present has its vector replaced."""
        id_arr, x = as_ids(ids), as_matrix(vectors, self.settings.dimension)
        if len(id_arr) != len(x):
            raise ValueError(f"{len(id_arr)} ids for {len(x)} vectors")
        if not len(id_arr):
            return
        with self._lock.write():
            present = self._present(id_arr)
            if present.any():
                self._backend.remove(id_arr[present])
            self._backend.add(id_arr, x)
            self._ids.update(id_arr[~present].tolist())
            self._hash = (self._hash + id_hash(id_arr[~present])) & MASK64

    def remove(self, ids: np.ndarray | list[int]) -> None:
        """Remove rows; ids not in the index are ignored."""
        id_arr = as_ids(ids)
        with self._lock.write():
            known = id_arr[self._present(id_arr)]
            if not len(known):
                return
            self._backend.remove(known)
            self._ids.difference_update(known.tolist())
            self._hash = (self._hash - id_hash(known)) & MASK64

    def rebuild(self) -> None:
        """Compact HNSW tombstones / retrain IVF's quantizer; a no-op for flat."""
        with self._lock.write():
            self._backend.rebuild()

    def search(self, vectors: np.ndarray, k: int) -> list[list[Hit]]:
        """The k nearest rows to each query vector, nearest first (fewer if the index is small)."""
        if k < 1:
            raise ValueError("k must be at least 1")
        x = as_matrix(vectors, self.settings.dimension)
        with self._lock.read():
            if not self._ids:
                return [[] for _ in range(len(x))]
            d2, ids = self._backend.search(x, min(k, len(self._ids)))
        dist = np.sqrt(np.maximum(d2, 0.0))
        return [_hits(row_d, row_i) for row_d, row_i in zip(dist, ids, strict=True)]

    def save(self, path: Path, sealer: ChunkSealer, model: str) -> None:
        """Seal and write atomically (0600 temp file, fsync, rename); the label (kind, model,
        id fingerprint) is the associated data."""
        with self._lock.read():
            sections = {"ids": np.sort(np.fromiter(self._ids, np.int64, len(self._ids))).tobytes()}
            sections.update(self._backend.sections())
            header = {"count": len(self._ids),
                      "trained": bool(getattr(self._backend, "trained", False))}
            label = {"format": 2, "kind": self.settings.kind, "build": self.settings.build_params,
                     "model": model, "fingerprint": f"{len(self._ids)}:{self._hash:016x}"}
        index_file.write(Path(path), label, header, sections, sealer)

    @classmethod
    def load(cls, path: Path, settings: IndexSettings, sealer: ChunkSealer,
             model: str) -> FaceIndex:
        """Read a saved index; IndexCorrupt if damaged or sealed under no key of the ring,
        IndexMismatch if built otherwise or for another model."""
        try:
            label, header, sections = index_file.read(Path(path), sealer)
            _check_label(label, settings, model)
            index = cls(settings)
            index._backend = _restore_backend(settings, header, sections)
            ids = np.frombuffer(sections["ids"], dtype=np.int64)
        except FaceIndexError:
            raise
        except (ValueError, KeyError, TypeError, RuntimeError) as exc:  # json, faiss, layout
            raise IndexCorrupt(f"{path} cannot be read as an index: {type(exc).__name__}") from exc
        index._ids, index._hash = set(ids.tolist()), id_hash(ids)
        if len(ids) != header["count"] or index._backend.live_count() != len(ids) \
                or index.fingerprint() != label.get("fingerprint"):
            raise IndexCorrupt(f"{path}: the stored ids do not match the file's label")
        return index
