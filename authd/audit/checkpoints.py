"""Signed checkpoints of the audit chain head, in the style of a transparency log's signed tree
head (RFC 6962 §3.5, RFC 9162 §4.10): tree size, chain hash, time, signed by the key ring.

A checkpoint is a JWS compact (EdDSA, `kid` in the header, typ `authd-audit-checkpoint+jws`)
whose payload is {"origin", "tree_size", "chain_hash", "timestamp"}: anyone holding the JWKS
can check it with any JOSE library. The chain hash at size N commits to events 1..N, so the
newest good checkpoint vouches for everything before it, even against someone able to
rewrite the whole table and re-link it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from authd.audit.events import read_head
from authd.storage.models import AuditCheckpoint
from keys import InvalidToken, KeyRing, sign_jws, verify_jws
from keys.encoding import b64url_decode

TYP = "authd-audit-checkpoint+jws"
PublicKeyLookup = Callable[[str], Any]


@dataclass(frozen=True)
class Checkpoint:
    tree_size: int
    chain_hash: str
    timestamp: int
    kid: str


class BadCheckpoint(Exception):  # noqa: N818 - a verification outcome, named by what it is
    """A checkpoint whose signature or payload does not verify; `reason` says which."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def sign_head(session: Session, ring: KeyRing, origin: str, now: int) -> Checkpoint | None:
    """Sign the current head unless the newest checkpoint already covers it."""
    head = read_head(session)
    last = newest(session)
    if head is None or head.size == 0 or (last is not None and last.tree_size == head.size):
        return None
    key = ring.active
    payload = {"origin": origin, "tree_size": head.size, "chain_hash": head.hash,
               "timestamp": now}
    jws = sign_jws(payload, key, TYP)
    session.add(AuditCheckpoint(tree_size=head.size, chain_hash=head.hash, at=now,
                                kid=key.kid, jws=jws))
    session.flush()
    return Checkpoint(head.size, head.hash, now, key.kid)


def newest(session: Session) -> AuditCheckpoint | None:
    return session.execute(select(AuditCheckpoint).order_by(AuditCheckpoint.id.desc())
                           .limit(1)).scalar_one_or_none()


def kid_of(jws: str) -> str:
    """The kid a checkpoint names, read without verifying it (for messages)."""
    try:
        header = json.loads(b64url_decode(jws.split(".", 1)[0]))
        kid = header["kid"]
    except (ValueError, KeyError, TypeError):
        raise BadCheckpoint("malformed (header)") from None
    if not isinstance(kid, str):
        raise BadCheckpoint("malformed (kid)")
    return kid


def verify(jws: str, public_key: PublicKeyLookup) -> Checkpoint:
    """The signed content of a checkpoint; raises BadCheckpoint (never returns False)."""
    try:
        kid, body = verify_jws(jws, keys=public_key, typ=TYP)
    except InvalidToken as exc:
        if exc.reason == "bad_typ":
            raise BadCheckpoint("not an audit checkpoint") from None
        if exc.reason == "unknown_kid":
            raise BadCheckpoint(f"signed by key {kid_of(jws)}, not in the key ring") from None
        raise BadCheckpoint(f"signature does not verify ({exc.reason})") from None
    return _content(body, kid)


def _content(body: dict[str, Any], kid: str) -> Checkpoint:
    size, chain_hash, at = body.get("tree_size"), body.get("chain_hash"), body.get("timestamp")
    if not isinstance(size, int) or not isinstance(chain_hash, str) or not isinstance(at, int):
        raise BadCheckpoint(f"payload lacks tree_size/chain_hash/timestamp: {json.dumps(body)}")
    return Checkpoint(size, chain_hash, at, kid)
