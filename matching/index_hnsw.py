"""Graph search (``IndexHNSWFlat``) with tombstones.

FAISS cannot delete from an HNSW graph, so a removal is a tombstone: the node stays in the
graph for routing but a bitmap selector (``SearchParametersHNSW.sel``) keeps it out of
results. ``rebuild()`` compacts, and runs by itself once tombstones pass
``hnsw_max_tombstone_fraction``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from matching.index_backend import faiss_module, serialize
from matching.index_settings import IndexSettings


@dataclass
class HnswBackend:
    settings: IndexSettings
    index: Any = None
    labels: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))  # position -> id
    alive: np.ndarray = field(default_factory=lambda: np.empty(0, bool))  # position -> live?
    _selector: tuple[np.ndarray, Any] | None = None  # (bitmap, IDSelectorBitmap over it)

    def __post_init__(self) -> None:
        if self.index is None:
            self.index = faiss_module().IndexHNSWFlat(self.settings.dimension, self.settings.hnsw_m)
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
        faiss = faiss_module()
        bits = np.packbits(self.alive, bitorder="little")  # faiss reads bit (i & 7) of byte i>>3
        self._selector = (bits, faiss.IDSelectorBitmap(len(self.alive), faiss.swig_ptr(bits)))

    def search(self, x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        selector, params = self._selector, None
        if selector is not None:
            ef = self.index.hnsw.efSearch
            params = faiss_module().SearchParametersHNSW(sel=selector[1], efSearch=ef)
        d2, pos = self.index.search(x, k, params=params)
        return d2, np.where(pos >= 0, self.labels[np.maximum(pos, 0)], -1)

    def rebuild(self) -> None:
        live = np.flatnonzero(self.alive)
        x = self.index.reconstruct_n(0, self.index.ntotal)[live] if len(live) else None
        ids = self.labels[live]
        fresh = HnswBackend(self.settings)
        if x is not None:
            fresh.add(ids, x)
        self.index, self.labels, self.alive = fresh.index, fresh.labels, fresh.alive
        self._refresh_selector()

    def sections(self) -> dict[str, bytes]:
        return {"faiss": serialize(self.index), "labels": self.labels.tobytes(),
                "alive": self.alive.astype(np.uint8).tobytes()}

    def live_count(self) -> int:
        return int(np.count_nonzero(self.alive))
