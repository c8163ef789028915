"""The on-disk envelope of a saved face index: header, sections, checksum, atomic replace.

Layout::

    MAGIC(8) | u32 header length | header (JSON) | sections, in header order | sha256(all before)

The header travels inside the file rather than in a sidecar, so one ``os.replace`` swaps data
and metadata together, and the trailing digest covers the header as well as the data: a
truncated file or a flipped byte anywhere fails ``read``. No faiss here: sections are bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import threading
from pathlib import Path
from typing import Any

from keys.keyfile import fsync_dir

MAGIC = b"AUTHDFX1"
_DIGEST = hashlib.sha256().digest_size


class CorruptFile(ValueError):
    """The file is not an intact index envelope."""


def write(path: Path, header: dict[str, Any], sections: dict[str, bytes]) -> None:
    """Write temp file, fsync, rename over ``path``, fsync the directory (crash-safe)."""
    header = {**header, "sections": [[name, len(blob)] for name, blob in sections.items()]}
    head = json.dumps(header, sort_keys=True).encode()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    digest = hashlib.sha256()
    try:
        with open(tmp, "wb") as f:
            for part in (MAGIC, struct.pack("<I", len(head)), head, *sections.values()):
                digest.update(part)
                f.write(part)
            f.write(digest.digest())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(path.parent)


def read(path: Path) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Header and sections of an intact file; CorruptFile otherwise."""
    data = Path(path).read_bytes()
    if len(data) < len(MAGIC) + 4 + _DIGEST or not data.startswith(MAGIC):
        raise CorruptFile("not an authd index file")
    body, digest = data[:-_DIGEST], data[-_DIGEST:]
    if hashlib.sha256(body).digest() != digest:
        raise CorruptFile("checksum mismatch (truncated or altered)")
    (head_len,) = struct.unpack_from("<I", body, len(MAGIC))
    start = len(MAGIC) + 4
    header = json.loads(body[start : start + head_len])
    sections, offset = {}, start + head_len
    for name, size in header["sections"]:
        sections[name] = body[offset : offset + size]
        offset += size
    if offset != len(body):
        raise CorruptFile("sections do not add up to the file size")
    return header, sections
