"""The 1:N face index: FAISS behind one small class, keyed by identity row id.

This is the only module of ours that imports faiss, and it does so lazily, so importing
``matching.index`` costs nothing. Three kinds share one interface:

- ``flat``: exact search (``IndexIDMap2(IndexFlatL2)``); the reference the others are
  measured against.
- ``hnsw``: graph search (``IndexHNSWFlat``). FAISS cannot delete from an HNSW graph, so a
  removal is a tombstone: the node stays in the graph for routing but a bitmap selector
  (``SearchParametersHNSW.sel``) keeps it out of results. ``rebuild()`` compacts, and runs by
  itself once tombstones pass ``hnsw_max_tombstone_fraction``.
- ``ivf``: inverted lists (``IndexIVFFlat``). Until the index holds
  ``ivf_train_multiple * ivf_nlist`` vectors (FAISS asks for ~39 training points per
  centroid) it stays exact flat; at that point it trains on what it holds and switches.

Distances in ``Hit`` are Euclidean (the square root of FAISS's squared L2), so they compare
directly with face_recognition's 0.6 tolerance.

Thread safety: a readers-writer lock. Searches hold the read side and run in parallel
(FAISS releases the GIL during ``search``); add, remove and rebuild hold the write side.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from matching import index_file
from matching.errors import MatchingError
from matching.rwlock import ReadWriteLock

IndexKind = Literal["flat", "hnsw", "ivf"]
_KINDS = ("flat", "hnsw", "ivf")
_MASK64 = (1 << 64) - 1


class FaceIndexError(MatchingError):
    """Base of the index's errors (ours, not builtins.IndexError): server-side, so 500.

    ``message`` is fixed text for clients; ``detail`` (paths, shapes) is for the log only.
    """

    code = "index_error"
    status_code = 500
    message = "The face index is unavailable. Try again later."

    def __init__(self, detail: str = "") -> None:
        super().__init__()
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.message} [{self.detail}]" if self.detail else self.message


class IndexCorrupt(FaceIndexError):
    """An index file is truncated, altered, or not an index file at all."""

    code = "index_corrupt"


class IndexMismatch(IndexCorrupt):
    """An index file is intact but was built with other settings (kind, dimension, ...)."""

    code = "index_mismatch"


class DimensionMismatch(FaceIndexError, ValueError):
    """Vectors whose width is not the index's dimension."""

    code = "dimension_mismatch"


@dataclass(frozen=True)
class IndexSettings:
    kind: IndexKind = "flat"
    dimension: int = 128
    hnsw_m: int = 32
    hnsw_ef_search: int = 128  # 64 gave recall@10 0.887 at 1M (benchmarks/dedup_scale.py)
    ivf_nlist: int = 1024
    ivf_nprobe: int = 16
    # Beyond the contract, with defaults: when HNSW compacts, when IVF trains.
    hnsw_max_tombstone_fraction: float = 0.2
    ivf_train_multiple: int = 39

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"unknown index kind {self.kind!r}")
        if min(self.dimension, self.hnsw_m, self.hnsw_ef_search) < 1:
            raise ValueError("dimension, hnsw_m and hnsw_ef_search must be positive")
        if min(self.ivf_nlist, self.ivf_nprobe, self.ivf_train_multiple) < 1:
            raise ValueError("ivf_nlist, ivf_nprobe and ivf_train_multiple must be positive")

    @property
    def build_params(self) -> dict[str, Any]:
        """What is baked into a saved index: a file built otherwise does not load."""
        params: dict[str, Any] = {"kind": self.kind, "dimension": self.dimension}
        if self.kind == "hnsw":
            params["hnsw_m"] = self.hnsw_m
        if self.kind == "ivf":
            params["ivf_nlist"] = self.ivf_nlist
        return params


@dataclass(frozen=True)
class Hit:
    id: int
    distance: float  # Euclidean


def _faiss() -> Any:
    import faiss  # lazy: keeps `import matching.index` light

    return faiss


def set_num_threads(n: int) -> None:
    """Cap FAISS's OpenMP threads (per process), e.g. 1 for per-query latency benchmarks."""
    _faiss().omp_set_num_threads(n)


# ---------------------------------------------------------------- input checks


def _as_matrix(vectors: np.ndarray, dimension: int) -> np.ndarray:
    x = np.asarray(vectors, dtype=np.float32)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2 or x.shape[1] != dimension:
        raise DimensionMismatch(f"expected vectors of dimension {dimension}, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("vectors must be finite")
    return np.ascontiguousarray(x)


def _as_ids(ids: np.ndarray | list[int]) -> np.ndarray:
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


def _id_hash(ids: np.ndarray) -> int:
    return int(_mix(np.asarray(ids, dtype=np.int64)).sum(dtype=np.uint64))


def fingerprint_ids(ids: np.ndarray | list[int]) -> str:
    """Digest of a set of ids: count and a 64-bit additive hash. Same as FaceIndex.fingerprint()."""
    a = np.unique(np.asarray(ids, dtype=np.int64))
    return f"{len(a)}:{_id_hash(a):016x}"


# ---------------------------------------------------------------- backends


class _Backend(Protocol):
    def add(self, ids: np.ndarray, x: np.ndarray) -> None: ...  # ids are all new
    def remove(self, ids: np.ndarray) -> None: ...  # ids are all present
    def search(self, x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]: ...
    def sections(self) -> dict[str, bytes]: ...
    def rebuild(self) -> None: ...


def _serialize(index: Any) -> bytes:
    return _faiss().serialize_index(index).tobytes()


def _deserialize(blob: bytes) -> Any:
    return _faiss().deserialize_index(np.frombuffer(blob, dtype=np.uint8))


@dataclass
class _FlatBackend:
    settings: IndexSettings
    index: Any = None

    def __post_init__(self) -> None:
        if self.index is None:
            faiss = _faiss()
            self.index = faiss.IndexIDMap2(faiss.IndexFlatL2(self.settings.dimension))

    def add(self, ids: np.ndarray, x: np.ndarray) -> None:
        self.index.add_with_ids(x, ids)

    def remove(self, ids: np.ndarray) -> None:
        self.index.remove_ids(ids)

    def search(self, x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        d2, ids = self.index.search(x, k)
        return d2, ids

    def dump(self) -> tuple[np.ndarray, np.ndarray]:
        ids = _faiss().vector_to_array(self.index.id_map).astype(np.int64)
        return ids, self.index.index.reconstruct_n(0, self.index.ntotal)

    def sections(self) -> dict[str, bytes]:
        return {"faiss": _serialize(self.index)}

    def rebuild(self) -> None:
        return None  # exact and compact already


@dataclass
class _HnswBackend:
    settings: IndexSettings
    index: Any = None
    labels: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))  # position -> id
    alive: np.ndarray = field(default_factory=lambda: np.empty(0, bool))  # position -> live?
    _selector: tuple[np.ndarray, Any] | None = None  # (bitmap, IDSelectorBitmap over it)

    def __post_init__(self) -> None:
        if self.index is None:
            self.index = _faiss().IndexHNSWFlat(self.settings.dimension, self.settings.hnsw_m)
            self.index.hnsw.efConstruction = max(40, 2 * self.settings.hnsw_m)
        self.index.hnsw.efSearch = self.settings.hnsw_ef_search
        self._refresh_selector()

    @property
    def tombstones(self) -> int:
        return int(len(self.alive) - np.count_nonzero(self.alive))

    def add(self, ids: np.ndarray, x: np.ndarray) -> None:
        self.index.add(x)
        self.labels = np.concatenate([self.labels, ids])
        self.alive = np.concatenate([self.alive, np.ones(len(ids), bool)])
        self._refresh_selector()

    def remove(self, ids: np.ndarray) -> None:
        self.alive[np.isin(self.labels, ids) & self.alive] = False
        if self.tombstones > self.settings.hnsw_max_tombstone_fraction * len(self.alive):
            self.rebuild()
        self._refresh_selector()

    def _refresh_selector(self) -> None:
        if not self.tombstones:
            self._selector = None
            return
        bits = np.packbits(self.alive, bitorder="little")  # faiss reads bit (i & 7) of byte i>>3
        self._selector = (bits, _faiss().IDSelectorBitmap(len(self.alive), _faiss().swig_ptr(bits)))

    def search(self, x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        selector, params = self._selector, None
        if selector is not None:
            ef = self.index.hnsw.efSearch
            params = _faiss().SearchParametersHNSW(sel=selector[1], efSearch=ef)
        d2, pos = self.index.search(x, k, params=params)
        return d2, np.where(pos >= 0, self.labels[np.maximum(pos, 0)], -1)

    def rebuild(self) -> None:
        live = np.flatnonzero(self.alive)
        x = self.index.reconstruct_n(0, self.index.ntotal)[live] if len(live) else None
        ids = self.labels[live]
        fresh = _HnswBackend(self.settings)
        if x is not None:
            fresh.add(ids, x)
        self.index, self.labels, self.alive = fresh.index, fresh.labels, fresh.alive
        self._refresh_selector()

    def sections(self) -> dict[str, bytes]:
        return {"faiss": _serialize(self.index), "labels": self.labels.tobytes(),
                "alive": self.alive.astype(np.uint8).tobytes()}


@dataclass
class _IvfBackend:
    """Exact flat until there is enough data to train the coarse quantizer, then IVF-Flat."""

    settings: IndexSettings
    index: Any = None
    trained: bool = False

    def __post_init__(self) -> None:
        if self.index is None:
            self.index = _FlatBackend(self.settings).index
        if self.trained:
            self.index.nprobe = self.settings.ivf_nprobe

    @property
    def train_at(self) -> int:
        return self.settings.ivf_train_multiple * self.settings.ivf_nlist

    def add(self, ids: np.ndarray, x: np.ndarray) -> None:
        if self.trained or self.index.ntotal + len(ids) < self.train_at:
            self.index.add_with_ids(x, ids)
            return
        old_ids, old_x = _FlatBackend(self.settings, self.index).dump()
        self._train_and_fill(np.concatenate([old_ids, ids]), np.concatenate([old_x, x]))

    def _train_and_fill(self, ids: np.ndarray, x: np.ndarray) -> None:
        faiss, s = _faiss(), self.settings
        ivf = faiss.IndexIVFFlat(faiss.IndexFlatL2(s.dimension), s.dimension, s.ivf_nlist)
        ivf.train(x)  # k-means; FAISS subsamples to 256 points per centroid
        ivf.add_with_ids(x, ids)
        ivf.nprobe = s.ivf_nprobe
        self.index, self.trained = ivf, True

    def remove(self, ids: np.ndarray) -> None:
        self.index.remove_ids(ids)  # IndexIVF removes natively (a scan of the lists)

    def search(self, x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        d2, ids = self.index.search(x, k)
        return d2, ids

    def rebuild(self) -> None:
        """Retrain on today's population (the quantizer was fitted to an earlier one)."""
        if not self.trained:
            return
        from faiss.contrib.inspect_tools import get_invlist

        parts = [get_invlist(self.index.invlists, i) for i in range(self.index.nlist)]
        ids = np.concatenate([p[0] for p in parts]).astype(np.int64)
        codes = np.concatenate([p[1] for p in parts])  # IVF-Flat codes are the raw float32s
        x = codes.view(np.float32).reshape(-1, self.settings.dimension)
        if len(ids) >= self.train_at:
            self._train_and_fill(ids, np.ascontiguousarray(x))

    def sections(self) -> dict[str, bytes]:
        return {"faiss": _serialize(self.index)}


def _new_backend(settings: IndexSettings) -> _Backend:
    kinds: dict[str, type] = {"flat": _FlatBackend, "hnsw": _HnswBackend, "ivf": _IvfBackend}
    return kinds[settings.kind](settings)  # type: ignore[no-any-return]


def _restore_backend(settings: IndexSettings, header: dict[str, Any],
                     sections: dict[str, bytes]) -> _Backend:
    index = _deserialize(sections["faiss"])
    if settings.kind == "hnsw":
        labels = np.frombuffer(sections["labels"], dtype=np.int64).copy()
        alive = np.frombuffer(sections["alive"], dtype=np.uint8).astype(bool)
        return _HnswBackend(settings, index, labels, alive)
    if settings.kind == "ivf":
        return _IvfBackend(settings, index, trained=bool(header["trained"]))
    return _FlatBackend(settings, index)


def _check_settings(header: dict[str, Any], settings: IndexSettings) -> None:
    if header.get("build") != settings.build_params:
        raise IndexMismatch(f"index built with {header.get('build')}, settings ask for "
                            f"{settings.build_params}; rebuild it from the database")


# ---------------------------------------------------------------- the index


class FaceIndex:
    """A set of (identity id, 128-d encoding) pairs answering k-nearest-neighbour queries."""

    def __init__(self, settings: IndexSettings | None = None) -> None:
        self.settings = settings or IndexSettings()
        self._backend: _Backend = _new_backend(self.settings)
        self._ids: set[int] = set()
        self._hash = 0  # sum of _mix(id) mod 2**64 over self._ids
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
        id_arr, x = _as_ids(ids), _as_matrix(vectors, self.settings.dimension)
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
            self._hash = (self._hash + _id_hash(id_arr[~present])) & _MASK64

    def remove(self, ids: np.ndarray | list[int]) -> None:
        """Remove rows; ids not in the index are ignored."""
        id_arr = _as_ids(ids)
        with self._lock.write():
            known = id_arr[self._present(id_arr)]
            if not len(known):
                return
            self._backend.remove(known)
            self._ids.difference_update(known.tolist())
            self._hash = (self._hash - _id_hash(known)) & _MASK64

    def rebuild(self) -> None:
        """Compact HNSW tombstones / retrain IVF's quantizer; a no-op for flat."""
        with self._lock.write():
            self._backend.rebuild()

    def search(self, vectors: np.ndarray, k: int) -> list[list[Hit]]:
        """The k nearest rows to each query vector, nearest first (fewer if the index is small)."""
        if k < 1:
            raise ValueError("k must be at least 1")
        x = _as_matrix(vectors, self.settings.dimension)
        with self._lock.read():
            if not self._ids:
                return [[] for _ in range(len(x))]
            d2, ids = self._backend.search(x, min(k, len(self._ids)))
        dist = np.sqrt(np.maximum(d2, 0.0))
        return [_hits(row_d, row_i) for row_d, row_i in zip(dist, ids, strict=True)]

    def save(self, path: Path) -> None:
        """Write atomically (temp file, fsync, rename) with a header and a sha256 trailer."""
        with self._lock.read():
            sections = {"ids": np.sort(np.fromiter(self._ids, np.int64, len(self._ids))).tobytes()}
            sections.update(self._backend.sections())
            header = {"format": 1, "build": self.settings.build_params, "count": len(self._ids),
                      "trained": bool(getattr(self._backend, "trained", False))}
        index_file.write(Path(path), header, sections)

    @classmethod
    def load(cls, path: Path, settings: IndexSettings) -> FaceIndex:
        """Read a saved index; IndexCorrupt if damaged, IndexMismatch if built otherwise."""
        try:
            header, sections = index_file.read(Path(path))
            _check_settings(header, settings)
            index = cls(settings)
            index._backend = _restore_backend(settings, header, sections)
            ids = np.frombuffer(sections["ids"], dtype=np.int64)
        except FaceIndexError:
            raise
        except (ValueError, KeyError, TypeError, RuntimeError) as exc:  # json, faiss, layout
            raise IndexCorrupt(f"{path} cannot be read as an index: {type(exc).__name__}") from exc
        if len(ids) != header["count"] or _live_count(index._backend) != len(ids):
            raise IndexCorrupt(f"{path}: header count does not match the stored index")
        index._ids, index._hash = set(ids.tolist()), _id_hash(ids)
        return index


def _hits(distances: np.ndarray, ids: np.ndarray) -> list[Hit]:
    return [Hit(int(i), float(d)) for d, i in zip(distances, ids, strict=True) if i >= 0]


def _live_count(backend: _Backend) -> int:
    if isinstance(backend, _HnswBackend):
        return int(np.count_nonzero(backend.alive))
    return int(backend.index.ntotal)  # type: ignore[attr-defined]
