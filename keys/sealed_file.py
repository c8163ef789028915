"""Sealing of large files (the face index) in AES-256-GCM chunks under the sealing ring.

A file can outgrow what one GCM call takes (cryptography caps a message at 2**31 - 1 bytes,
and a 1M-template index is 512 MiB), so the plaintext is cut into chunks of ``CHUNK_BYTES``,
each sealed by :class:`keys.sealing.Sealer` (its own random nonce, the ring's active key id in
its header). Layout::

    MAGIC(4) | u64 plaintext length | u32 chunk count | (u32 length | sealed chunk) * count

Chunk ``i`` is bound to ``aad || i || count || plaintext length`` (the STREAM idea of
Hoang, Reyhanitabar, Rogaway and Vizár 2015), so chunks cannot be dropped, reordered,
duplicated, truncated at the end, or moved into another file whose ``aad`` differs.
"""

from __future__ import annotations

import struct
from typing import Protocol

from keys.errors import SealError

MAGIC = b"ASF1"
CHUNK_BYTES = 16 << 20
_HEAD = struct.Struct("<QI")
_LEN = struct.Struct("<I")


class ChunkSealer(Protocol):
    """A Sealer, or anything that follows one (authd's TemplateVault)."""

    def seal(self, plaintext: bytes, aad: bytes) -> bytes: ...
    def open(self, blob: bytes, aad: bytes) -> bytes: ...
    def needs_reseal(self, blob: bytes) -> bool: ...


def _chunk_aad(aad: bytes, index: int, count: int, total: int) -> bytes:
    return aad + struct.pack("<IIQ", index, count, total)


def seal_file(sealer: ChunkSealer, plaintext: bytes, aad: bytes) -> bytes:
    """The sealed form of ``plaintext`` bound to ``aad`` (under the ring's active key)."""
    total = len(plaintext)
    count = max(1, -(-total // CHUNK_BYTES))
    view = memoryview(plaintext)
    parts = [MAGIC, _HEAD.pack(total, count)]
    for i in range(count):
        chunk = bytes(view[i * CHUNK_BYTES : (i + 1) * CHUNK_BYTES])
        sealed = sealer.seal(chunk, _chunk_aad(aad, i, count, total))
        parts += [_LEN.pack(len(sealed)), sealed]
    return b"".join(parts)


def _chunks(blob: bytes) -> tuple[int, list[bytes]]:
    if len(blob) < len(MAGIC) + _HEAD.size or not blob.startswith(MAGIC):
        raise SealError("sealed file is malformed")
    total, count = _HEAD.unpack_from(blob, len(MAGIC))
    offset, chunks = len(MAGIC) + _HEAD.size, []
    for _ in range(count):
        if offset + _LEN.size > len(blob):
            raise SealError("sealed file is truncated")
        (size,) = _LEN.unpack_from(blob, offset)
        offset += _LEN.size
        chunks.append(blob[offset : offset + size])
        offset += size
    if offset != len(blob) or not chunks:
        raise SealError("sealed file is malformed")
    return total, chunks


def open_file(sealer: ChunkSealer, blob: bytes, aad: bytes) -> bytes:
    """The plaintext of a :func:`seal_file` blob, or SealError (altered, other aad, no key)."""
    total, chunks = _chunks(blob)
    count = len(chunks)
    plain = b"".join(sealer.open(c, _chunk_aad(aad, i, count, total))
                     for i, c in enumerate(chunks))
    if len(plain) != total:
        raise SealError("sealed file is malformed")
    return plain


def file_needs_reseal(sealer: ChunkSealer, blob: bytes) -> bool:
    """True when any chunk was sealed under a key other than the ring's active one."""
    return any(sealer.needs_reseal(chunk) for chunk in _chunks(blob)[1])
