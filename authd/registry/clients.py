"""Relying parties (programs and their counters) and their API keys.

An API key is `authd_<key id>_<secret>`: 160 random bits of secret, shown once, stored only
as a SHA-256 hash (a high-entropy secret needs no slow hash), looked up by key id and
compared in constant time. Keys expire and can be revoked. A key names its holder, the
person who uses it: four-eyes rules compare holders, so one person's two keys count once.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from cachetools import TTLCache
from sqlalchemy import select
from sqlalchemy.orm import Session

from authd.errors import Conflict, InsufficientScope, InvalidClient, NotFound
from authd.storage.models import ApiKey, RelyingParty

SCOPES = ("enroll", "auth", "introspect", "admin", "resident_portal")
FACTORS = ("otp", "face")
RP_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]{1,63}$")
HOLDER = re.compile(r"^[^\x00-\x1f\x7f]{1,100}$")
_KEY = re.compile(r"^authd_([A-Za-z0-9]{12})_([A-Za-z0-9_-]{20,64})$")


@dataclass(frozen=True)
class Client:
    """The authenticated caller of one request."""

    rp_id: str
    rp_name: str
    key_id: str
    scopes: frozenset[str]
    allowed_factors: tuple[str, ...]
    min_acr: int
    token_ttl_seconds: int
    uin_in_token: bool
    key_expires_at: int = 0
    holder: str = ""  # the person holding the key (a key without one: its key id)

    def require(self, scope: str) -> None:
        if scope not in self.scopes:
            raise InsufficientScope()


@dataclass(frozen=True)
class IssuedKey:
    key_id: str
    api_key: str  # shown once
    expires_at: int

    def __repr__(self) -> str:
        return f"IssuedKey({self.key_id})"


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def add_relying_party(
    session: Session, *, rp_id: str, name: str, factors: list[str], min_acr: int,
    token_ttl_seconds: int, uin_in_token: bool, now: int,
) -> RelyingParty:
    if not RP_ID.match(rp_id):
        raise ValueError("relying-party id: 2-64 of a-z 0-9 _ . -, starting with a letter or digit")
    if not factors or set(factors) - set(FACTORS):
        raise ValueError(f"factors must be a non-empty subset of {', '.join(FACTORS)}")
    if session.get(RelyingParty, rp_id) is not None:
        raise Conflict(f"relying party {rp_id} already exists")
    rp = RelyingParty(
        id=rp_id, name=name, allowed_factors=sorted(set(factors)), min_acr=min_acr,
        token_ttl_seconds=token_ttl_seconds, uin_in_token=uin_in_token, created_at=now,
    )
    session.add(rp)
    return rp


def issue_key(
    session: Session, *, rp_id: str, scopes: list[str], ttl_days: int, now: int,
    holder: str | None = None,
) -> IssuedKey:
    if session.get(RelyingParty, rp_id) is None:
        raise NotFound(f"no relying party {rp_id}")
    if not scopes or set(scopes) - set(SCOPES):
        raise ValueError(f"scopes must be a non-empty subset of {', '.join(SCOPES)}")
    if holder is not None and not HOLDER.match(holder.strip()):
        raise ValueError("holder: 1-100 printable characters naming the person holding the key")
    key_id = "".join(secrets.choice("ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789")
                     for _ in range(12))
    secret = secrets.token_urlsafe(20)
    expires_at = now + ttl_days * 86400
    session.add(ApiKey(key_id=key_id, rp_id=rp_id, secret_hash=_hash(secret),
                       scopes=sorted(set(scopes)), created_at=now, expires_at=expires_at,
                       holder=holder.strip() if holder is not None else None))
    return IssuedKey(key_id=key_id, api_key=f"authd_{key_id}_{secret}", expires_at=expires_at)


def revoke_key(session: Session, key_id: str, now: int) -> None:
    key = session.get(ApiKey, key_id)
    if key is None:
        raise NotFound(f"no API key {key_id}")
    key.revoked_at = key.revoked_at or now


def authenticate(session: Session, presented: str | None, now: int) -> Client:
    """The client a bearer API key belongs to; InvalidClient for any failure, same message."""
    match = _KEY.match(presented or "")
    key = session.get(ApiKey, match.group(1)) if match else None
    secret = match.group(2) if match else "x"
    # Compare even when the key id is unknown so both paths cost the same.
    good = hmac.compare_digest(_hash(secret), key.secret_hash if key else _hash("y"))
    if not key or not good or key.revoked_at is not None or key.expires_at <= now:
        raise InvalidClient()
    rp = session.get(RelyingParty, key.rp_id)
    assert rp is not None  # foreign key
    return Client(
        rp_id=rp.id, rp_name=rp.name, key_id=key.key_id, scopes=frozenset(key.scopes),
        allowed_factors=tuple(rp.allowed_factors), min_acr=rp.min_acr,
        token_ttl_seconds=rp.token_ttl_seconds, uin_in_token=rp.uin_in_token,
        key_expires_at=key.expires_at, holder=key.holder or key.key_id,
    )


class ClientCache:
    """API keys that authenticated in the last `ttl` seconds: spares a database read per call.

    A cachetools TTLCache on the application's clock (bounded: the least recently used
    entry goes first), keyed by a hash of the presented key (never the key itself). An entry
    never outlives the key's expiry; a revocation reaches every process within `ttl` seconds
    (0: no cache).
    """

    def __init__(self, ttl: int, size: int = 4096,
                 timer: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._entries: TTLCache[str, Client] = TTLCache(size, max(ttl, 1), timer=timer)
        self._lock = threading.Lock()  # TTLCache is not thread-safe; routes run in threads

    def get(self, presented: str, now: int) -> Client | None:
        if not self.ttl:
            return None
        with self._lock:
            client = self._entries.get(_hash(presented))
        return client if client is not None and now < client.key_expires_at else None

    def put(self, presented: str, client: Client) -> None:
        if self.ttl:
            with self._lock:
                self._entries[_hash(presented)] = client


def list_relying_parties(session: Session) -> list[tuple[RelyingParty, list[ApiKey]]]:
    rps = session.execute(select(RelyingParty).order_by(RelyingParty.id)).scalars().all()
    keys = session.execute(select(ApiKey)).scalars().all()
    return [(rp, [k for k in keys if k.rp_id == rp.id]) for rp in rps]
