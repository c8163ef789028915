"""Chunked file sealing (keys.sealed_file): round trips, and every alteration refused."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keys import Sealer, SealError, file_needs_reseal, open_file, seal_file, sealed_file

SEALER = Sealer([("file-key", bytes(range(32)))])
AAD = b"authd/test-file/v1"


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sealed_file, "CHUNK_BYTES", 64)  # several chunks from a small file


@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=600))
def test_round_trip(data: bytes) -> None:
    assert open_file(SEALER, seal_file(SEALER, data, AAD), AAD) == data


def test_many_chunks_round_trip_and_hide_the_plaintext(small_chunks: None) -> None:
    data = bytes(range(256)) * 3
    blob = seal_file(SEALER, data, AAD)
    assert struct.unpack_from("<QI", blob, 4) == (len(data), 12)
    assert open_file(SEALER, blob, AAD) == data
    assert bytes(range(16, 48)) not in blob


def _chunk_spans(blob: bytes) -> list[tuple[int, int]]:
    spans, offset = [], 4 + 12
    while offset < len(blob):
        (size,) = struct.unpack_from("<I", blob, offset)
        spans.append((offset, offset + 4 + size))
        offset += 4 + size
    return spans


def test_chunks_cannot_be_dropped_swapped_or_moved(small_chunks: None) -> None:
    blob = seal_file(SEALER, b"x" * 300, AAD)
    head = blob[:16]
    chunks = [blob[a:b] for a, b in _chunk_spans(blob)]
    for altered in (head + b"".join(chunks[:-1]),  # the last chunk dropped
                    head + b"".join([chunks[1], chunks[0], *chunks[2:]]),  # two swapped
                    head + b"".join([chunks[0], *chunks])):  # one repeated
        with pytest.raises(SealError):
            open_file(SEALER, altered, AAD)
    with pytest.raises(SealError):
        open_file(SEALER, blob, AAD + b"/other-model")
    flipped = bytearray(blob)
    flipped[len(blob) // 2] ^= 1
    with pytest.raises(SealError):
        open_file(SEALER, bytes(flipped), AAD)


def test_reseal_is_flagged_after_rotation() -> None:
    blob = seal_file(SEALER, b"index", AAD)
    rotated = Sealer([("new-key", bytes(32)), ("file-key", bytes(range(32)))])
    assert not file_needs_reseal(SEALER, blob) and file_needs_reseal(rotated, blob)
    assert not file_needs_reseal(rotated, seal_file(rotated, open_file(rotated, blob, AAD), AAD))
