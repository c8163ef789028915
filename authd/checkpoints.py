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

from authd.audit import read_head
from authd.storage.models import AuditCheckpoint
from keys import InvalidToken, KeyRing
from keys.jws import (
    check_header,
    json_object,
    parse_compact,
    sign_compact,
    to_json,
    verify_signature,
)

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
    header = {"alg": "EdDSA", "kid": key.kid, "typ": TYP}
    jws = sign_compact(header, to_json(payload), key.private_key)
    session.add(AuditCheckpoint(tree_size=head.size, chain_hash=head.hash, at=now,
                                kid=key.kid, jws=jws))
    session.flush()
    return Checkpoint(head.size, head.hash, now, key.kid)


def newest(session: Session) -> AuditCheckpoint | None:
    return session.execute(select(AuditCheckpoint).order_by(AuditCheckpoint.id.desc())
                           .limit(1)).scalar_one_or_none()


def kid_of(jws: str) -> str:
    try:
        return check_header(parse_compact(jws).header)
    except InvalidToken as exc:
        raise BadCheckpoint(f"malformed ({exc.reason})") from None


def verify(jws: str, public_key: PublicKeyLookup) -> Checkpoint:
    """The signed content of a checkpoint; raises BadCheckpoint (never returns False)."""
    try:
        parsed = parse_compact(jws)
        kid = check_header(parsed.header)
        if parsed.header.get("typ") != TYP:
            raise BadCheckpoint("not an audit checkpoint")
        key = public_key(kid)
        if key is None:
            raise BadCheckpoint(f"signed by key {kid}, not in the key ring")
        verify_signature(parsed, key)
        body = json_object(parsed.payload)
    except InvalidToken as exc:
        raise BadCheckpoint(f"signature does not verify ({exc.reason})") from None
    except ValueError:
        raise BadCheckpoint("payload is not a JSON object") from None
    return _content(body, kid)


def _content(body: dict[str, Any], kid: str) -> Checkpoint:
    size, chain_hash, at = body.get("tree_size"), body.get("chain_hash"), body.get("timestamp")
    if not isinstance(size, int) or not isinstance(chain_hash, str) or not isinstance(at, int):
        raise BadCheckpoint(f"payload lacks tree_size/chain_hash/timestamp: {json.dumps(body)}")
    return Checkpoint(size, chain_hash, at, kid)
