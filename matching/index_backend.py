"""What the three FAISS backends share: the lazy faiss import and the backend protocol.

faiss is imported only by the ``matching.index*`` modules, and lazily, so importing
``matching.index`` costs nothing.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np


def faiss_module() -> Any:
    import faiss  # lazy: keeps `import matching.index` light

    return faiss


def set_num_threads(n: int) -> None:
    """Cap FAISS's OpenMP threads (per process), e.g. 1 for per-query latency benchmarks."""
    faiss_module().omp_set_num_threads(n)


class Backend(Protocol):
    def add(self, ids: np.ndarray, x: np.ndarray) -> None: ...  # ids are all new
    def remove(self, ids: np.ndarray) -> None: ...  # ids are all present
    def search(self, x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]: ...
    def sections(self) -> dict[str, bytes]: ...
    def rebuild(self) -> None: ...
    def live_count(self) -> int: ...


def serialize(index: Any) -> bytes:
    return faiss_module().serialize_index(index).tobytes()


def deserialize(blob: bytes) -> Any:
    return faiss_module().deserialize_index(np.frombuffer(blob, dtype=np.uint8))
