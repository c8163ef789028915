"""Secrets at rest: small blobs encrypted on disk under the operator's master key.

File layout (all binary)::

    b"AKF1" | salt (16) | nonce (12) | AES-256-GCM ciphertext || tag (16)

The file key is HKDF-SHA256(master_key, salt, info=label) (RFC 5869), so each file and each
purpose ("authd-signing-key", "authd-sealing-key") gets its own AES key and a random 96-bit
nonce is never reused under one key (SP 800-38D §8.2.2, §8.3). The label is also the GCM
associated data, so a file written for one purpose does not open as another.
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import os
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from keys.errors import KeyFileError

MAGIC = b"AKF1"
MASTER_KEY_BYTES = 32
_SALT_BYTES = 16
_NONCE_BYTES = 12  # SP 800-38D §5.2.1.1: 96-bit IVs are the recommended length
_HEADER_BYTES = len(MAGIC) + _SALT_BYTES + _NONCE_BYTES
_MASTER_KEY_HELP = "master key must be 32 bytes given as base64url/base64 or 64 hex characters"


def generate_master_key() -> bytes:
    """Return 32 fresh random bytes from the OS CSPRNG."""
    return secrets.token_bytes(MASTER_KEY_BYTES)


def parse_master_key(text: str) -> bytes:
    """Parse a master key from 64 hex chars or base64url/base64 (padded or not) of 32 bytes.

    The error message never echoes the value: it may be a near-miss of the real key.
    """
    value = text.strip()
    key = _try_hex(value) if len(value) == 2 * MASTER_KEY_BYTES else _try_base64(value)
    if key is None or len(key) != MASTER_KEY_BYTES:
        raise ValueError(_MASTER_KEY_HELP)
    return key


def _try_hex(value: str) -> bytes | None:
    try:
        return bytes.fromhex(value)
    except ValueError:
        return None


def _try_base64(value: str) -> bytes | None:
    padded = value.rstrip("=") + "=" * (-len(value.rstrip("=")) % 4)
    altchars = b"-_" if ("-" in value or "_" in value) else b"+/"
    try:
        return base64.b64decode(padded, altchars=altchars, validate=True)
    except (binascii.Error, ValueError):
        return None


def write_secret(path: Path, secret: bytes, master_key: bytes, label: str) -> None:
    """Encrypt ``secret`` under ``master_key`` and write it atomically with mode 0600."""
    salt = secrets.token_bytes(_SALT_BYTES)
    nonce = secrets.token_bytes(_NONCE_BYTES)
    aead = AESGCM(_file_key(master_key, salt, label))
    atomic_write(path, MAGIC + salt + nonce + aead.encrypt(nonce, secret, label.encode()))


def read_secret(path: Path, master_key: bytes, label: str) -> bytes:
    """Decrypt a file written by :func:`write_secret`; raise KeyFileError on any failure."""
    try:
        blob = Path(path).read_bytes()
    except OSError:
        raise KeyFileError(f"key file {Path(path).name!r} is missing or unreadable") from None
    if len(blob) < _HEADER_BYTES + 16 or not blob.startswith(MAGIC):
        raise KeyFileError(f"key file {Path(path).name!r} is not an authd key file")
    salt = blob[len(MAGIC) : len(MAGIC) + _SALT_BYTES]
    nonce = blob[len(MAGIC) + _SALT_BYTES : _HEADER_BYTES]
    try:
        aead = AESGCM(_file_key(master_key, salt, label))
        return aead.decrypt(nonce, blob[_HEADER_BYTES:], label.encode())
    except InvalidTag:
        raise KeyFileError(
            f"key file {Path(path).name!r} does not open: wrong master key, label or tampered"
        ) from None


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a 0600 temp file in the same directory + os.replace.

    The mode is set before any byte is written, and the file and directory are fsynced, so
    a crash leaves either the old file or the new one, never a torn or world-readable one.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o600)  # mkstemp already uses 0600; make it explicit and umask-proof
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable (POSIX: fsync the directory itself)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _file_key(master_key: bytes, salt: bytes, label: str) -> bytes:
    """HKDF-SHA256 (RFC 5869) of the master key, salted per file, bound to the label."""
    if not isinstance(master_key, bytes) or len(master_key) != MASTER_KEY_BYTES:
        raise ValueError("master key must be exactly 32 bytes")
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=label.encode())
    return hkdf.derive(master_key)


@contextmanager
def directory_lock(directory: Path) -> Iterator[None]:
    """Exclusive advisory lock (flock) on ``directory/.lock`` for read-modify-write cycles.

    Serialises key creation, rotation and pruning between processes sharing a directory;
    not re-entrant, so hold it once per operation.
    """
    fd = os.open(Path(directory) / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the flock
