"""Ed25519 signing key ring (RFC 8037), persisted encrypted in a directory.

``ring.json`` holds the metadata in ring order (first = active signer); each private key is
``signing-<kid>.key``, encrypted by :mod:`keys.keyfile` under the master key. Retired keys
keep verifying (and stay in JWKS) until every token they signed has expired, then
:meth:`KeyRing.prune` removes them; :meth:`KeyRing.revoke` removes a compromised key at
once. kid is the RFC 7638 thumbprint of the public key.

Processes sharing the directory serialise changes with a file lock and re-read the ring
under it, so the disk is the truth; other replicas see a rotation on their next load.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from keys.errors import KeyFileError, UnknownKey
from keys.jwk import published_jwks, thumbprint
from keys.keyfile import atomic_write, directory_lock, read_secret, write_secret

SIGNING_LABEL = "authd-signing-key"
RING_FILE = "ring.json"
_KID = re.compile(r"[A-Za-z0-9_-]{1,64}")  # base64url: safe as a file name


@dataclass(frozen=True)
class KeyInfo:
    kid: str
    created_at: int
    retired_at: int | None = None

    def still_needed(self, now: int, max_token_lifetime: int) -> bool:
        """Active, or retired recently enough that a token it signed may still be valid."""
        return self.retired_at is None or self.retired_at + max_token_lifetime >= now


@dataclass(frozen=True)
class SigningKey:
    info: KeyInfo
    private_key: Ed25519PrivateKey = field(repr=False, compare=False)

    @property
    def kid(self) -> str:
        return self.info.kid

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()


class KeyRing:
    """Ordered Ed25519 keys: the first signs, all verify (like pyca ``MultiFernet``)."""

    def __init__(self, directory: Path, master_key: bytes, keys: list[SigningKey]) -> None:
        self._dir = Path(directory)
        self._master_key = master_key
        self._keys = list(keys)

    @classmethod
    def load_or_create(cls, directory: Path, master_key: bytes, now: int) -> KeyRing:
        """Load the ring in ``directory``; create it with one active key if empty."""
        directory = Path(directory)
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        ring = cls(directory, master_key, [])
        with directory_lock(directory):
            ring._reload()
            if not ring._keys:
                ring._rotate(now)
        return ring

    @property
    def active(self) -> SigningKey:
        return self._keys[0]

    @property
    def keys(self) -> tuple[SigningKey, ...]:
        return tuple(self._keys)

    def rotate(self, now: int) -> KeyInfo:
        """Make a new key active; the previous active key gets ``retired_at = now``."""
        with directory_lock(self._dir):
            self._reload()
            return self._rotate(now)

    def rotate_if_due(self, now: int, period_seconds: int) -> KeyInfo | None:
        """Rotate when the active key is at least ``period_seconds`` old.

        Decided on the ring as it is on disk, so replicas racing here rotate only once.
        """
        with directory_lock(self._dir):
            self._reload()
            if now - self.active.info.created_at >= period_seconds:
                return self._rotate(now)
        return None

    def prune(self, now: int, max_token_lifetime: int) -> tuple[KeyInfo, ...]:
        """Drop retired keys whose every signed token has expired, and delete their files.

        The metadata is rewritten first, so a crash leaves an orphan file, never a ring
        entry without its key.
        """
        with directory_lock(self._dir):
            self._reload()
            keep = [k for k in self._keys if k.info.still_needed(now, max_token_lifetime)]
            dropped = [k for k in self._keys if k not in keep]
            if dropped:
                self._keys = keep
                self._write_infos()
            for key in dropped:
                self._key_path(key.kid).unlink(missing_ok=True)
        return tuple(key.info for key in dropped)

    def revoke(self, kid: str, now: int) -> KeyInfo:
        """Remove a compromised key at once, whatever tokens it signed; return its info.

        The active key is replaced first (a new key signs from now on). Like :meth:`prune`,
        ring.json is rewritten before the key file is deleted; processes sharing the
        directory drop the key on their next re-read (a ``stat`` of ring.json tells them).
        """
        with directory_lock(self._dir):
            self._reload()
            found = next((k for k in self._keys if k.kid == kid), None)
            if found is None:
                raise UnknownKey()
            if found is self._keys[0]:
                self._rotate(now)
            self._keys = [k for k in self._keys if k.kid != kid]
            self._write_infos()
            self._key_path(kid).unlink(missing_ok=True)
        return found.info

    def jwks(self, now: int, max_token_lifetime: int) -> dict[str, list[dict[str, str]]]:
        """Public JWK Set (RFC 7517 §5): active key plus retired keys still needed.

        Pass ``max_token_lifetime`` including any verifier leeway.
        """
        needed = [k for k in self._keys if k.info.still_needed(now, max_token_lifetime)]
        return {"keys": [jwk for k in needed for jwk in published_jwks(k.public_key, k.kid)]}

    def reload(self) -> None:
        """Pick up rotations and prunes made by another process (ring.json is the truth)."""
        self._reload()

    def public_key(self, kid: str) -> Ed25519PublicKey | None:
        """The public key for ``kid`` if it is in the ring (usable as ``verify_jwt(keys=)``)."""
        return next((k.public_key for k in self._keys if k.kid == kid), None)

    def __repr__(self) -> str:
        return f"KeyRing(directory={str(self._dir)!r}, kids={[k.kid for k in self._keys]!r})"

    def _rotate(self, now: int) -> KeyInfo:
        """Rotate with the lock held: key file first, then ring.json naming it."""
        private_key = Ed25519PrivateKey.generate()
        new = SigningKey(KeyInfo(thumbprint(private_key.public_key()), now), private_key)
        raw = private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        write_secret(self._key_path(new.kid), raw, self._master_key, SIGNING_LABEL)
        self._keys = [new, *(_retired(key, now) for key in self._keys)]
        self._write_infos()
        return new.info

    def _reload(self) -> None:
        """Re-read ring.json, decrypting only keys not already in memory."""
        loaded = {k.kid: k.private_key for k in self._keys}
        self._keys = [
            SigningKey(info, loaded[info.kid]) if info.kid in loaded else self._load_key(info)
            for info in self._read_infos()
        ]

    def _key_path(self, kid: str) -> Path:
        return self._dir / f"signing-{kid}.key"

    def _load_key(self, info: KeyInfo) -> SigningKey:
        raw = read_secret(self._key_path(info.kid), self._master_key, SIGNING_LABEL)
        try:
            private_key = Ed25519PrivateKey.from_private_bytes(raw)
        except ValueError:
            raise KeyFileError("signing key file holds a malformed key") from None
        if thumbprint(private_key.public_key()) != info.kid:
            raise KeyFileError("signing key file does not match its kid")
        return SigningKey(info, private_key)

    def _read_infos(self) -> list[KeyInfo]:
        path = self._dir / RING_FILE
        if not path.exists():
            return []
        try:
            return [_info_from_json(item) for item in json.loads(path.read_text())["keys"]]
        except (OSError, ValueError, KeyError, TypeError):
            raise KeyFileError("ring.json is unreadable") from None

    def _write_infos(self) -> None:
        items = [dataclasses.asdict(k.info) for k in self._keys]
        atomic_write(self._dir / RING_FILE, json.dumps({"version": 1, "keys": items}).encode())


def _retired(key: SigningKey, now: int) -> SigningKey:
    if key.info.retired_at is not None:
        return key
    return dataclasses.replace(key, info=dataclasses.replace(key.info, retired_at=now))


def _info_from_json(item: Any) -> KeyInfo:
    kid, created, retired = item["kid"], item["created_at"], item["retired_at"]
    if not isinstance(kid, str) or not _KID.fullmatch(kid) or not isinstance(created, int):
        raise ValueError("bad key entry")
    if retired is not None and not isinstance(retired, int):
        raise ValueError("bad key entry")
    return KeyInfo(kid, created, retired)
