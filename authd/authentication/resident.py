"""The resident's own controls, each authorized by a resident-purpose OTP.

Why a separate purpose: a resident who locked OTP authentication must still be able to use
an OTP to unlock it (or read their history). An OTP requested with purpose `resident` is
issued and verified even when OTP is locked, but it can never yield a token (authenticate
accepts `auth` OTPs only); an `auth` OTP cannot change locks. So a lock means exactly
"no relying party can authenticate me with this factor".

The history a relying party reads is its own rows only: a counter holding a resident's OTP
must not learn where else that person authenticates. The whole history (every relying party)
is for a key that also holds the `resident_portal` scope (the resident's own portal).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from authd.audit.events import AuditContext, AuditRecord, subject_ref
from authd.authentication.decision import RESIDENT_POLICY
from authd.authentication.service import Attempt, Trace, audited, verify_subject
from authd.errors import InvalidRequest
from authd.http.state import AppState
from authd.registry.clients import Client
from authd.registry.subjects import LOCKABLE
from authd.storage.models import AuditEvent, Identity, RelyingParty

HISTORY_LIMIT = 50
PORTAL_SCOPE = "resident_portal"


@dataclass(frozen=True)
class HistoryEntry:
    at: int
    relying_party: str
    factor: str | None
    outcome: str


def _verified(session: Session, state: AppState, client: Client, attempt: Attempt,
              now: int, trace: Trace) -> Identity:
    identity, _ = verify_subject(session, state, client, attempt, policy=RESIDENT_POLICY,
                                 purpose="resident", now=now, trace=trace)
    return identity


def new_locks(current: list[str], lock: set[str], unlock: set[str]) -> list[str]:
    if lock & unlock:
        raise InvalidRequest("A factor cannot be both locked and unlocked.")
    if (lock | unlock) - set(LOCKABLE):
        raise InvalidRequest(f"Lockable factors: {', '.join(LOCKABLE)}.")
    return sorted((set(current) | lock) - unlock)


def change_locks(
    state: AppState, client: Client, attempt: Attempt, lock: set[str], unlock: set[str],
    ctx: AuditContext, now: int,
) -> list[str]:
    new_locks([], lock, unlock)  # a bad request is refused before any OTP is spent

    def work(session: Session, trace: Trace) -> tuple[list[str], AuditRecord]:
        identity = _verified(session, state, client, attempt, now, trace)
        identity.locks = new_locks(list(identity.locks or []), lock, unlock)
        identity.updated_at = now
        return list(identity.locks), AuditRecord(
            "resident.auth_locks", "success", uin=identity.uin, factor="otp",
            detail={"lock": sorted(lock), "unlock": sorted(unlock)})

    return audited(state, ctx, attempt, "resident.auth_locks", now, work)


def read_history(
    state: AppState, client: Client, attempt: Attempt, ctx: AuditContext, now: int
) -> list[HistoryEntry]:
    def work(session: Session, trace: Trace) -> tuple[list[HistoryEntry], AuditRecord]:
        identity = _verified(session, state, client, attempt, now, trace)
        seen_by = None if PORTAL_SCOPE in client.scopes else client.rp_id
        entries = history(session, state.secrets.subject_key, identity.uin, rp_id=seen_by)
        return entries, AuditRecord("resident.auth_history", "success", uin=identity.uin,
                                    factor="otp", detail={"events": len(entries),
                                                          "scope": seen_by or "all"})

    return audited(state, ctx, attempt, "resident.auth_history", now, work)


def history(session: Session, subject_key: bytes, uin: str, *, rp_id: str | None,
            limit: int = HISTORY_LIMIT) -> list[HistoryEntry]:
    """The newest authentication events about `uin`, found by its keyed audit reference: at
    relying party `rp_id` only, or at every relying party when `rp_id` is None."""
    query = (
        select(AuditEvent.at, RelyingParty.name, AuditEvent.rp_id, AuditEvent.factor,
               AuditEvent.outcome)
        .outerjoin(RelyingParty, RelyingParty.id == AuditEvent.rp_id)
        .where(AuditEvent.subject_ref == subject_ref(subject_key, uin),
               AuditEvent.action == "authenticate"))
    if rp_id is not None:
        query = query.where(AuditEvent.rp_id == rp_id)
    rows = session.execute(query.order_by(AuditEvent.seq.desc()).limit(limit)).all()
    return [HistoryEntry(r.at, r.name or r.rp_id or "unknown", r.factor, r.outcome)
            for r in rows]
