"""Upkeep of the signing key ring inside a running server: rotate, prune, follow other processes.

- Rotation: the active key signs for at most ``key_rotation_days``. Issuing checks the
  active key's age in memory (no lock, no I/O) and rotates when due; the periodic upkeep
  does the same for a server that issues nothing.
- Pruning: a retired key stays published until every token it signed has expired, i.e.
  ``retired_at + token_ttl_max_seconds + LEEWAY_SECONDS``; then the upkeep deletes it.
- Several processes (uvicorn workers, replicas, ``authd keys rotate``) share the key
  directory. ``ring.json`` is replaced atomically on every change, so a ``stat`` of it (cheap,
  done before JWKS, introspection and issuing) tells when to re-read the ring.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from anyio import to_thread

from authd.clock import Clock
from authd.settings import Settings
from keys import KeyRing
from keys.ring import RING_FILE

log = logging.getLogger("authd.tokens.rotation")

# Clock skew a verifier may allow (RFC 7519 §4.1.4 "some small leeway"); our own verifiers
# and `authd token verify` use it, and retired keys stay published for it too.
LEEWAY_SECONDS = 30
UPKEEP_INTERVAL_SECONDS = 60
SIGNING_DIR = "signing-keys"  # as opened by authd.http.state.open_state

PublicKeyLookup = Callable[[str], Any]
FileSignature = tuple[int, int, int]


def max_token_lifetime(settings: Settings) -> int:
    """How long after its retirement a key may still have signed a valid token."""
    return settings.token_ttl_max_seconds + LEEWAY_SECONDS


def rotation_seconds(settings: Settings) -> int:
    return settings.key_rotation_days * 86400


def ring_file(settings: Settings) -> Path:
    return settings.data_dir / SIGNING_DIR / RING_FILE


def _signature(path: Path) -> FileSignature | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_ino, st.st_size)


@dataclass(eq=False)
class SigningKeys:
    """The key ring of a running server, kept in step with ring.json on disk."""

    keyring: KeyRing
    path: Path  # ring.json
    rotation_seconds: int
    lifetime: int  # max_token_lifetime
    seen: FileSignature | None = field(default=None, repr=False)  # ring.json when last read

    @classmethod
    def of(cls, keyring: KeyRing, settings: Settings) -> SigningKeys:
        return cls(keyring, ring_file(settings), rotation_seconds(settings),
                   max_token_lifetime(settings))

    def refresh(self) -> bool:
        """Re-read the ring when ring.json changed since we last read it; True when re-read.

        A re-read of an unchanged file could not teach us a new kid, so forged kids cost us a
        ``stat`` and nothing more.
        """
        current = _signature(self.path)
        if current == self.seen:
            return False
        self.keyring.reload()
        self.seen = current
        return True

    def rotate_if_due(self, now: int) -> bool:
        """Rotate when the active key is older than the rotation period; True if rotated
        here."""
        if now - self.keyring.active.info.created_at < self.rotation_seconds:
            return False
        # Decided again under the directory lock on the ring as on disk: racing processes
        # rotate once, and the losers simply pick up the winner's key.
        rotated = self.keyring.rotate_if_due(now, self.rotation_seconds) is not None
        self._mark_read()
        if rotated:
            log.info("signing key rotated", extra={"kid": self.keyring.active.kid})
        return rotated

    def published_key(self, now: int) -> PublicKeyLookup:
        """Key lookup for verification limited to the keys JWKS publishes at ``now``."""
        by_kid = {k.kid: k for k in self.keyring.keys}

        def lookup(kid: str) -> Any:
            key = by_kid.get(kid)
            if key is None or not key.info.still_needed(now, self.lifetime):
                return None
            return key.public_key

        return lookup

    def jwks(self, now: int) -> dict[str, list[dict[str, str]]]:
        self.refresh()
        return self.keyring.jwks(now, self.lifetime)

    def upkeep(self, now: int) -> None:
        """One round: follow other processes, rotate when due, prune keys no longer needed."""
        self.refresh()
        self.rotate_if_due(now)
        dropped = self.keyring.prune(now, self.lifetime)
        self._mark_read()
        for info in dropped:
            log.info("retired signing key pruned", extra={"kid": info.kid})

    def _mark_read(self) -> None:
        """After a rotate/prune (which re-read the ring under the lock) the file is known."""
        self.seen = _signature(self.path)


async def run_upkeep(signing: SigningKeys, clock: Clock,
                     interval: float = UPKEEP_INTERVAL_SECONDS) -> None:
    """The lifespan's timer: one upkeep round per ``interval``, in a worker thread."""
    while True:
        try:
            await to_thread.run_sync(signing.upkeep, clock.now())
        except Exception:  # keep serving with the ring we have; the next round retries
            log.exception("key ring upkeep failed")
        await asyncio.sleep(interval)


def start_upkeep(signing: SigningKeys, clock: Clock) -> asyncio.Task[None]:
    return asyncio.get_running_loop().create_task(run_upkeep(signing, clock),
                                                  name="keyring-upkeep")
