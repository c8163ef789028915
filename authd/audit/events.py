"""The audit log: one event per state-changing or authentication call, hash-chained.

An event is written in the caller's transaction with an ordered id (`seq`) and no chain
fields, so no request waits on another's audit write. The sequencer (authd.audit.sequencer, one
per deployment) links committed events in id order shortly after: each gets a chain position
and the SHA-256 of its canonical content and of the event before it, and `audit_head` keeps
the number of linked events and the newest hash (written by the sequencer only). Signed
checkpoints of that head (authd.audit.checkpoints) make a rewritten chain detectable too.
`authd audit verify` (authd.audit.verify) finds an edited, deleted (the tail included) or
reordered linked event. Events name a masked subject and a keyed reference to it (for the
resident's own history), never an OTP, key, image, template, phone or e-mail.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session, sessionmaker

from authd.registry.uin import mask_uin
from authd.storage.db import transaction
from authd.storage.models import AuditEvent, AuditHead, table_of

GENESIS = "0" * 64
FORBIDDEN_DETAIL_KEYS = frozenset({"otp", "code", "image", "photo", "template", "phone", "email"})


@dataclass(frozen=True)
class AuditRecord:
    action: str
    outcome: str  # success | failure | refused
    reason: str | None = None
    uin: str | None = None
    factor: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"AuditRecord({self.action}, {self.outcome}, {self.reason})"


@dataclass(frozen=True)
class AuditContext:
    request_id: str
    rp_id: str | None
    subject_key: bytes


def subject_ref(key: bytes, uin: str) -> str:
    return hmac.new(key, uin.encode(), hashlib.sha256).hexdigest()[:40]


def _digest(fields: dict[str, Any]) -> str:
    blob = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def _content(event: AuditEvent) -> dict[str, Any]:
    return {
        "seq": event.seq, "at": event.at, "request_id": event.request_id, "rp_id": event.rp_id,
        "action": event.action, "outcome": event.outcome, "reason": event.reason,
        "subject": event.subject, "subject_ref": event.subject_ref, "factor": event.factor,
        "detail": event.detail, "prev_hash": event.prev_hash,
    }


_INSERT = insert(table_of(AuditEvent))  # built once: the hot path's one audit statement


def append(session: Session, ctx: AuditContext, record: AuditRecord, now: int) -> None:
    """Append one event inside the caller's transaction (atomic with the change it records).

    Only an insert: the id comes from the table's own sequence (PostgreSQL) or rowid
    (SQLite), and the chain is left to the sequencer, so there is no shared row to lock.
    A Core insert, not an ORM object: nothing reads the event back in the same transaction.
    """
    if FORBIDDEN_DETAIL_KEYS & record.detail.keys():
        raise ValueError("audit detail names a field that must never be logged")
    session.execute(_INSERT, {
        "at": now, "request_id": ctx.request_id, "rp_id": ctx.rp_id,
        "action": record.action, "outcome": record.outcome, "reason": record.reason,
        "subject": mask_uin(record.uin) if record.uin else None,
        "subject_ref": subject_ref(ctx.subject_key, record.uin) if record.uin else None,
        "factor": record.factor, "detail": record.detail or None,
    })


def append_alone(
    factory: sessionmaker[Session], ctx: AuditContext, record: AuditRecord, now: int
) -> None:
    """Append in a transaction of its own: for failures whose request changes nothing else."""
    with transaction(factory) as session:
        append(session, ctx, record, now)


@dataclass(frozen=True)
class Head:
    """The chain as linked so far: how many events, and the newest one's hash."""

    size: int
    hash: str


def link_pending(session: Session, limit: int = 1000) -> Head:
    """Link up to `limit` committed, unlinked events in id order; the new head.

    The head row is locked first (FOR UPDATE; on SQLite the write lock is already held), so
    two linkers never interleave even if the election were ever wrong.
    """
    head = session.execute(
        select(AuditHead).where(AuditHead.id == 1).with_for_update()).scalar_one()
    pending = session.execute(select(AuditEvent).where(AuditEvent.chain_pos.is_(None))
                              .order_by(AuditEvent.seq).limit(limit)).scalars().all()
    for event in pending:
        event.chain_pos, event.prev_hash = head.seq + 1, head.hash
        event.hash = event_hash(event)
        head.seq, head.hash = event.chain_pos, event.hash
    session.flush()
    return Head(head.seq, head.hash)


def has_pending(session: Session) -> bool:
    """Any committed event not yet linked (a read: on SQLite it takes no write lock)."""
    query = select(AuditEvent.seq).where(AuditEvent.chain_pos.is_(None)).limit(1)
    return session.execute(query).first() is not None


def event_hash(event: AuditEvent) -> str:
    return _digest(_content(event))


def read_head(session: Session) -> Head | None:
    row = session.execute(select(AuditHead).where(AuditHead.id == 1)).scalar_one_or_none()
    return Head(row.seq, row.hash) if row else None
