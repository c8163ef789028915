"""Exact search (``IndexIDMap2(IndexFlatL2)``): the reference the other kinds are measured
against, and IVF's form until it has enough vectors to train."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from matching.index_backend import faiss_module, serialize
from matching.index_settings import IndexSettings


@dataclass
class FlatBackend:
    settings: IndexSettings
    index: Any = None

    def __post_init__(self) -> None:
        if self.index is None:
            faiss = faiss_module()
            self.index = faiss.IndexIDMap2(faiss.IndexFlatL2(self.settings.dimension))

    def add(self, ids: np.ndarray, x: np.ndarray) -> None:
        self.index.add_with_ids(x, ids)

    def remove(self, ids: np.ndarray) -> None:
        self.index.remove_ids(ids)

    def search(self, x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        d2, ids = self.index.search(x, k)
        return d2, ids

    def dump(self) -> tuple[np.ndarray, np.ndarray]:
        ids = faiss_module().vector_to_array(self.index.id_map).astype(np.int64)
        return ids, self.index.index.reconstruct_n(0, self.index.ntotal)

    def sections(self) -> dict[str, bytes]:
        return {"faiss": serialize(self.index)}

    def rebuild(self) -> None:
        return None  # exact and compact already

    def live_count(self) -> int:
        return int(self.index.ntotal)
