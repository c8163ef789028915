"""What a face index is built with (kind, dimension, graph and list sizes) and what it answers.

Shared by the facade (``matching.index``) and the three backends; no faiss here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

IndexKind = Literal["flat", "hnsw", "ivf"]
KINDS = ("flat", "hnsw", "ivf")


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
        if self.kind not in KINDS:
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
