"""Template sealing for a running service that follows the sealing ring on disk.

`authd keys reseal` (another process) rotates the sealing ring and re-seals every template
while servers run. A server notices the new ring by a `stat` of the ring's index file before
it seals (so new templates use the new key) and re-reads it when a blob names a key it does
not hold (so it opens what the reseal wrote).
"""

from __future__ import annotations

import threading
from pathlib import Path

from keys import Sealer, SealingKeyStore


class TemplateVault:
    def __init__(self, store: SealingKeyStore, directory: Path) -> None:
        self._store, self._index = store, directory / SealingKeyStore.INDEX
        self._lock = threading.Lock()
        self._sealer = store.load_or_create()
        self._seen = self._signature()

    def _signature(self) -> tuple[int, int]:
        st = self._index.stat()
        return st.st_mtime_ns, st.st_ino

    def _current(self) -> Sealer:
        if self._signature() != self._seen:
            with self._lock:
                self._sealer = self._store.load_or_create()
                self._seen = self._signature()
        return self._sealer

    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        return self._current().seal(plaintext, aad)

    def open(self, blob: bytes, aad: bytes) -> bytes:
        sealer = self._current()
        if sealer.key_id_of(blob) not in sealer.key_ids:
            with self._lock:
                self._sealer = sealer = self._store.load_or_create()
        return sealer.open(blob, aad)

    def needs_reseal(self, blob: bytes) -> bool:
        return self._current().needs_reseal(blob)

    @property
    def active_key_id(self) -> str:
        return self._current().active_key_id

    def __repr__(self) -> str:
        return f"TemplateVault(active={self._sealer.active_key_id})"
