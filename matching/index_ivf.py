"""Inverted lists (``IndexIVFFlat``).

Until the index holds ``ivf_train_multiple * ivf_nlist`` vectors (FAISS asks for ~39
training points per centroid) it stays exact flat; at that point it trains on what it holds
and switches.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from matching.index_backend import faiss_module, serialize
from matching.index_flat import FlatBackend
from matching.index_settings import IndexSettings


@dataclass
class IvfBackend:
    """Exact flat until there is enough data to train the coarse quantizer, then IVF-Flat."""

    settings: IndexSettings
    index: Any = None
    trained: bool = False

    def __post_init__(self) -> None:
        if self.index is None:
            self.index = FlatBackend(self.settings).index
        if self.trained:
            self.index.nprobe = self.settings.ivf_nprobe

    @property
    def train_at(self) -> int:
        return self.settings.ivf_train_multiple * self.settings.ivf_nlist

    def add(self, ids: np.ndarray, x: np.ndarray) -> None:
        if self.trained or self.index.ntotal + len(ids) < self.train_at:
            self.index.add_with_ids(x, ids)
            return
        old_ids, old_x = FlatBackend(self.settings, self.index).dump()
        self._train_and_fill(np.concatenate([old_ids, ids]), np.concatenate([old_x, x]))

    def _train_and_fill(self, ids: np.ndarray, x: np.ndarray) -> None:
        faiss, s = faiss_module(), self.settings
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
        return {"faiss": serialize(self.index)}

    def live_count(self) -> int:
        return int(self.index.ntotal)
