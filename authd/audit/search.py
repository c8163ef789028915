"""Search of the audit log, shared by `GET /v1/audit/events` and `authd audit show`.

Filters: the subject (a UIN, or a VID resolved to its UIN even when revoked or expired),
relying party, action, outcome, reason code and a time range; newest first, with a cursor
(the last sequence number seen). Events are found by the subject's keyed reference, so the
log itself never holds a UIN: a subject is shown masked, as stored, unless the caller may
see it (`reveal`) and named it in the query. Reads only the events table's columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from authd.audit.events import subject_ref
from authd.errors import InvalidRequest
from authd.registry.uin import validate_uin, validate_vid
from authd.storage.models import AuditEvent, Identity, Vid

MAX_LIMIT = 500
OUTCOMES = ("success", "failure", "refused")


@dataclass(frozen=True)
class AuditQuery:
    uin: str | None = None
    vid: str | None = None
    rp_id: str | None = None
    action: str | None = None
    outcome: str | None = None
    reason: str | None = None
    since: int | None = None  # epoch seconds, inclusive
    until: int | None = None  # epoch seconds, exclusive
    cursor: str | None = None
    limit: int = 50

    def __repr__(self) -> str:  # never show the subject
        return f"AuditQuery(rp={self.rp_id}, action={self.action}, outcome={self.outcome})"


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    at: int
    request_id: str
    rp_id: str | None
    action: str
    outcome: str
    reason: str | None
    subject: str | None
    factor: str | None
    detail: dict[str, Any] | None


@dataclass(frozen=True)
class AuditPage:
    events: tuple[AuditEntry, ...]
    next_cursor: str | None


def may_reveal(scopes: frozenset[str] | set[str]) -> bool:
    """The one rule: only an admin caller sees a subject unmasked."""
    return "admin" in scopes


def search(session: Session, query: AuditQuery, *, subject_key: bytes, reveal: bool
           ) -> AuditPage:
    """One page of events matching `query`, newest first; InvalidRequest on a bad filter."""
    limit = _limit(query.limit)
    uin = _subject_uin(session, query)
    stmt = select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(limit + 1)
    if query.uin or query.vid:
        # A VID naming nothing matches nothing (no reference can equal "").
        stmt = stmt.where(AuditEvent.subject_ref == (subject_ref(subject_key, uin) if uin else ""))
    for column, value in ((AuditEvent.rp_id, query.rp_id), (AuditEvent.action, query.action),
                          (AuditEvent.outcome, query.outcome), (AuditEvent.reason, query.reason)):
        if value:
            stmt = stmt.where(column == value)
    if query.since is not None:
        stmt = stmt.where(AuditEvent.at >= query.since)
    if query.until is not None:
        stmt = stmt.where(AuditEvent.at < query.until)
    if query.cursor:
        stmt = stmt.where(AuditEvent.seq < _cursor(query.cursor))
    rows = session.execute(stmt).scalars().all()
    shown = uin if (reveal and uin) else None
    events = tuple(_entry(e, shown) for e in rows[:limit])
    more = len(rows) > limit
    return AuditPage(events, str(events[-1].seq) if more else None)


def _limit(value: int) -> int:
    if not 1 <= value <= MAX_LIMIT:
        raise InvalidRequest(f"limit: between 1 and {MAX_LIMIT}")
    return value


def _cursor(value: str) -> int:
    if not value.isascii() or not value.isdigit() or len(value) > 18:
        raise InvalidRequest("cursor: use the next_cursor of the previous page")
    return int(value)


def _subject_uin(session: Session, query: AuditQuery) -> str | None:
    if query.uin and query.vid:
        raise InvalidRequest("Give a UIN or a VID, not both.")
    if query.outcome and query.outcome not in OUTCOMES:
        raise InvalidRequest(f"outcome: one of {', '.join(OUTCOMES)}")
    if query.uin:
        return validate_uin(query.uin)
    if query.vid:
        vid = session.get(Vid, validate_vid(query.vid))
        identity = session.get(Identity, vid.identity_id) if vid else None
        return identity.uin if identity else None
    return None


def _entry(event: AuditEvent, uin: str | None) -> AuditEntry:
    return AuditEntry(
        seq=event.seq, at=event.at, request_id=event.request_id, rp_id=event.rp_id,
        action=event.action, outcome=event.outcome, reason=event.reason,
        subject=uin if (uin and event.subject) else event.subject, factor=event.factor,
        detail=event.detail,
    )
