"""The on-disk envelope of a saved face index: sealed, checksummed, atomically replaced.

Layout::

    MAGIC(8) | u32 label length | label (JSON) | seal_file(inner)
    inner = u32 header length | header (JSON) | sections, in header order | sha256(all before)

The label is in the clear and says what the file is (format, index kind, face model and the
fingerprint of the ids it holds); it is the associated data of the AES-256-GCM sealing
(``keys.sealed_file`` under the sealing ring), so it cannot be changed and a file cannot be
passed off as another model's or another kind's. Everything else, every vector included, is
sealed: no template reaches the disk in the clear. The header travels inside the file rather
than in a sidecar, so one ``os.replace`` swaps data and metadata together. Files are written
0600. No faiss here: sections are bytes.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from keys import SealError, file_needs_reseal, open_file, seal_file
from keys.keyfile import fsync_dir
from keys.sealed_file import ChunkSealer

MAGIC = b"AUTHDFX2"
_DIGEST = hashlib.sha256().digest_size
_U32 = struct.Struct("<I")


class CorruptFile(ValueError):
    """The file is not an intact index envelope, or does not open under the sealing ring."""


def label_aad(label: dict[str, Any]) -> bytes:
    return b"authd/face-index/v2|" + json.dumps(label, sort_keys=True).encode()


def write(path: Path, label: dict[str, Any], header: dict[str, Any], sections: dict[str, bytes],
          sealer: ChunkSealer) -> None:
    """Seal, then write temp file (0600), fsync, rename over ``path``, fsync the directory."""
    header = {**header, "sections": [[name, len(blob)] for name, blob in sections.items()]}
    head = json.dumps(header, sort_keys=True).encode()
    body = b"".join([_U32.pack(len(head)), head, *sections.values()])
    inner = body + hashlib.sha256(body).digest()
    write_sealed(path, label, seal_file(sealer, inner, label_aad(label)))


def write_sealed(path: Path, label: dict[str, Any], sealed: bytes) -> None:
    clear = json.dumps(label, sort_keys=True).encode()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o600)  # umask-proof, and a stale temp file's mode
            for part in (MAGIC, _U32.pack(len(clear)), clear, sealed):
                f.write(part)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(path.parent)


def read_label(path: Path) -> tuple[dict[str, Any], bytes]:
    """The clear label and the sealed rest of a file; CorruptFile when it is not one."""
    data = Path(path).read_bytes()
    if len(data) < len(MAGIC) + _U32.size or not data.startswith(MAGIC):
        raise CorruptFile("not an authd sealed index file")
    (size,) = _U32.unpack_from(data, len(MAGIC))
    start = len(MAGIC) + _U32.size
    label = json.loads(data[start : start + size])
    if not isinstance(label, dict):
        raise CorruptFile("index file label is not an object")
    return label, data[start + size :]


def read(path: Path, sealer: ChunkSealer) -> tuple[dict[str, Any], dict[str, Any],
                                                   dict[str, bytes]]:
    """Label, header and sections of an intact file; CorruptFile otherwise."""
    label, sealed = read_label(path)
    try:
        inner = open_file(sealer, sealed, label_aad(label))
    except SealError as exc:
        raise CorruptFile(f"index file does not open: {exc.code}") from None
    body, digest = inner[:-_DIGEST], inner[-_DIGEST:]
    if len(inner) < _U32.size + _DIGEST or hashlib.sha256(body).digest() != digest:
        raise CorruptFile("checksum mismatch (truncated or altered)")
    (head_len,) = _U32.unpack_from(body, 0)
    header = json.loads(body[_U32.size : _U32.size + head_len])
    sections, offset = {}, _U32.size + head_len
    for name, size in header["sections"]:
        sections[name] = body[offset : offset + size]
        offset += size
    if offset != len(body):
        raise CorruptFile("sections do not add up to the file size")
    return label, header, sections


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Exclusive flock beside ``path`` (0600): a saver and `authd keys reseal` (another
    process) never interleave, so a re-seal cannot put back an older index over a newer one
    whose record (``seen_seq``) was already written."""
    fd = os.open(path.with_name(f".{path.name}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def reseal(path: Path, sealer: ChunkSealer) -> bool:
    """Re-seal a saved index under the ring's active key (no faiss, no parsing of the
    vectors); False when it already was. CorruptFile when it does not open. Hold
    :func:`locked` around it."""
    label, sealed = read_label(path)
    try:
        if not file_needs_reseal(sealer, sealed):
            return False
        inner = open_file(sealer, sealed, label_aad(label))
    except SealError as exc:
        raise CorruptFile(f"index file does not open: {exc.code}") from None
    write_sealed(path, label, seal_file(sealer, inner, label_aad(label)))
    return True
