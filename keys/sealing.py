"""Sealing of face templates with AES-256-GCM under an ordered key ring.

Blob layout::

    0x01 | len(key_id) (1 byte) | key_id (ASCII) | nonce (12) | ciphertext || tag (16)

The GCM associated data is ``header || aad`` where ``header`` is everything before the
nonce (self-delimiting, so the concatenation is unambiguous) and ``aad`` binds the blob to its
identity row: a template copied onto another row does not open (SP 800-38D §5.2.1.1 AAD).
The first key of the ring seals, every key opens (like pyca ``MultiFernet``), so rotation
never makes stored templates unreadable; :meth:`Sealer.needs_reseal` finds blobs to migrate.
Random 96-bit nonces: SP 800-38D §8.3 caps one key at 2**32 seals, rotate well before that.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Sequence
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from keys.errors import KeyFileError, SealError
from keys.keyfile import atomic_write, directory_lock, read_secret, write_secret

VERSION = b"\x01"
KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
SEALING_LABEL = "authd-sealing-key"
_KEY_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")


class Sealer:
    """Seal with the first key, open with any key of the ring."""

    def __init__(self, keys: Sequence[tuple[str, bytes]]) -> None:
        if not keys:
            raise ValueError("a Sealer needs at least one key")
        self._aeads: dict[str, AESGCM] = {}
        for key_id, key in keys:
            _check_key(key_id, key)
            if key_id in self._aeads:
                raise ValueError("duplicate sealing key id")
            self._aeads[key_id] = AESGCM(key)
        self._active = keys[0][0]

    @property
    def active_key_id(self) -> str:
        return self._active

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(self._aeads)

    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        """Encrypt and authenticate ``plaintext`` bound to ``aad`` under the active key."""
        header = _header(self._active)
        nonce = secrets.token_bytes(NONCE_BYTES)
        return header + nonce + self._aeads[self._active].encrypt(nonce, plaintext, header + aad)

    def open(self, blob: bytes, aad: bytes) -> bytes:
        """Return the plaintext, or raise SealError (wrong aad, tampered, unknown key id)."""
        key_id, header_len = _parse_header(blob)
        aead = self._aeads.get(key_id)
        if aead is None:
            raise SealError("sealed data uses a key that is not in the ring")
        nonce = blob[header_len : header_len + NONCE_BYTES]
        try:
            return aead.decrypt(nonce, blob[header_len + NONCE_BYTES :], blob[:header_len] + aad)
        except InvalidTag:
            raise SealError() from None

    def key_id_of(self, blob: bytes) -> str:
        """The id of the key that sealed ``blob`` (raises SealError when malformed)."""
        return _parse_header(blob)[0]

    def needs_reseal(self, blob: bytes) -> bool:
        """True when ``blob`` was sealed under a key other than the active one."""
        return self.key_id_of(blob) != self._active

    def __repr__(self) -> str:
        return f"Sealer(key_ids={list(self._aeads)!r})"


def _check_key(key_id: str, key: bytes) -> None:
    if not isinstance(key_id, str) or not _KEY_ID.fullmatch(key_id):
        raise ValueError("sealing key id must be 1-64 chars of [A-Za-z0-9_.-]")
    if not isinstance(key, bytes) or len(key) != KEY_BYTES:
        raise ValueError("sealing key must be 32 bytes (AES-256)")


def _header(key_id: str) -> bytes:
    raw = key_id.encode("ascii")
    return VERSION + bytes([len(raw)]) + raw


def _parse_header(blob: bytes) -> tuple[str, int]:
    if not isinstance(blob, bytes) or len(blob) < 2 or blob[:1] != VERSION:
        raise SealError("sealed data is malformed")
    header_len = 2 + blob[1]
    if len(blob) < header_len + NONCE_BYTES + TAG_BYTES:
        raise SealError("sealed data is malformed")
    try:
        return blob[2:header_len].decode("ascii"), header_len
    except UnicodeDecodeError:
        raise SealError("sealed data is malformed") from None


class SealingKeyStore:
    """Sealing keys on disk: one keyfile per key plus ``sealing-index.json`` (ring order).

    Key files are written before the index that names them, so a crash mid-rotation leaves
    an unused key file, never an index pointing at a missing key.
    """

    INDEX = "sealing-index.json"

    def __init__(self, directory: Path, master_key: bytes) -> None:
        self._dir = Path(directory)
        self._master_key = master_key

    def load_or_create(self) -> Sealer:
        """Load the ring, creating a first key when the directory has none."""
        self._dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        with directory_lock(self._dir):
            order = self._read_order()
            if not order:
                return self._rotate()
            return Sealer([(key_id, self._read_key(key_id)) for key_id in order])

    def rotate(self) -> Sealer:
        """Add a new key in front (it seals from now on); older keys stay to open."""
        self._dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        with directory_lock(self._dir):
            return self._rotate()

    def _rotate(self) -> Sealer:
        order = self._read_order()
        key_id = secrets.token_hex(8)
        key = AESGCM.generate_key(bit_length=256)
        write_secret(self._key_path(key_id), key, self._master_key, SEALING_LABEL)
        self._write_order([key_id, *order])
        return Sealer([(key_id, key), *((kid, self._read_key(kid)) for kid in order)])

    def _key_path(self, key_id: str) -> Path:
        if not _KEY_ID.fullmatch(key_id):
            raise KeyFileError("sealing index names an invalid key id")
        return self._dir / f"sealing-{key_id}.key"

    def _read_key(self, key_id: str) -> bytes:
        key = read_secret(self._key_path(key_id), self._master_key, SEALING_LABEL)
        if len(key) != KEY_BYTES:
            raise KeyFileError("sealing key file holds a key of the wrong size")
        return key

    def _read_order(self) -> list[str]:
        path = self._dir / self.INDEX
        if not path.exists():
            return []
        try:
            order = json.loads(path.read_text(encoding="utf-8"))["order"]
        except (OSError, ValueError, KeyError, TypeError):
            raise KeyFileError("sealing index is unreadable") from None
        if not isinstance(order, list) or not all(isinstance(k, str) for k in order):
            raise KeyFileError("sealing index is unreadable")
        return order

    def _write_order(self, order: list[str]) -> None:
        data = json.dumps({"version": 1, "order": order}, indent=2).encode()
        atomic_write(self._dir / self.INDEX, data)
