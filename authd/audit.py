"""The audit log: one event per state-changing or authentication call, hash-chained.

Each event holds the SHA-256 of its own canonical content and of the event before it, and
`audit_head` holds the newest sequence number and hash, so an edited, deleted (anywhere,
the tail included) or reordered event is found by `verify_chain`. Events name a masked
subject and a keyed reference to it (for the resident's own history), never an OTP, key,
image, template, phone or e-mail.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from authd.storage.db import transaction
from authd.storage.models import AuditEvent, AuditHead
from authd.uin import mask_uin

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


def append(session: Session, ctx: AuditContext, record: AuditRecord, now: int) -> AuditEvent:
    """Append one event inside the caller's transaction (atomic with the change it records)."""
    if FORBIDDEN_DETAIL_KEYS & record.detail.keys():
        raise ValueError("audit detail names a field that must never be logged")
    # Bump the head first: the row lock (PostgreSQL) or write lock (SQLite, BEGIN IMMEDIATE)
    # serializes appenders, so the chain stays linear under concurrency.
    session.execute(update(AuditHead).where(AuditHead.id == 1).values(seq=AuditHead.seq + 1))
    head = session.execute(select(AuditHead).where(AuditHead.id == 1)).scalar_one()
    event = AuditEvent(
        seq=head.seq, at=now, request_id=ctx.request_id, rp_id=ctx.rp_id,
        action=record.action, outcome=record.outcome, reason=record.reason,
        subject=mask_uin(record.uin) if record.uin else None,
        subject_ref=subject_ref(ctx.subject_key, record.uin) if record.uin else None,
        factor=record.factor, detail=record.detail or None, prev_hash=head.hash,
    )
    event.hash = _digest(_content(event))
    head.hash = event.hash
    session.add(event)
    session.flush()
    return event


def append_alone(
    factory: sessionmaker[Session], ctx: AuditContext, record: AuditRecord, now: int
) -> None:
    """Append in a transaction of its own: for failures whose request changes nothing else."""
    with transaction(factory) as session:
        append(session, ctx, record, now)


def verify_chain(session: Session) -> list[str]:
    """Every problem found in the chain, as a sentence; an empty list means intact."""
    problems: list[str] = []
    prev_hash, expected = GENESIS, 1
    for event in session.execute(select(AuditEvent).order_by(AuditEvent.seq)).scalars():
        if event.seq != expected:
            problems.append(f"event {expected} is missing (next found: {event.seq})")
        if event.prev_hash != prev_hash:
            problems.append(f"event {event.seq} does not follow the event before it")
        if _digest(_content(event)) != event.hash:
            problems.append(f"event {event.seq} was changed after it was written")
        prev_hash, expected = event.hash, event.seq + 1
    head = session.execute(select(AuditHead).where(AuditHead.id == 1)).scalar_one_or_none()
    if head is None or head.seq != expected - 1 or head.hash != prev_hash:
        problems.append("the newest events were deleted or the chain head was altered")
    return problems
