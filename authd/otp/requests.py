"""Requesting an OTP: resolve the ID, issue and store the code, hand it to the notifier.

A caller cannot tell which IDs exist, nor in which state an existing one is: every answer has
the same status, keys and formats and costs the same work (a code is minted and hashed, one
audit event is written in one transaction). An existing identity shows its real masked
destinations whether it is active, deactivated, locked or capped (a state must not change
the reply); an unknown ID shows stable decoys. Only for an active, usable identity is the
code stored and sent. The real reason goes to the audit log.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from authd.audit.events import AuditContext, AuditRecord, append
from authd.errors import Refused
from authd.otp import destinations, transactions
from authd.otp.notify import Channel, Notifier, OtpMessage
from authd.otp.transactions import IssuedOtp, OtpStore, Purpose, Verifier
from authd.registry import subjects
from authd.registry.clients import Client
from authd.registry.identities import IdType
from authd.settings import Settings
from authd.storage.db import transaction
from authd.storage.models import Identity

ACTION = "otp.request"


@dataclass(frozen=True)
class OtpRequest:
    individual_id: str
    id_type: IdType
    channels: tuple[Channel, ...]
    purpose: Purpose

    def __repr__(self) -> str:
        return f"OtpRequest({self.id_type}, {self.channels}, {self.purpose})"


@dataclass(frozen=True)
class OtpSender:
    """What requesting an OTP needs: the database, the OTP store, the notifier and the
    policy (the code's lifetime, the failure cap, the key that hashes codes and IDs)."""

    db: sessionmaker[Session]
    store: OtpStore
    notifier: Notifier
    ttl_seconds: int
    max_failures: int
    key: bytes = field(repr=False)

    @classmethod
    def of(cls, db: sessionmaker[Session], store: OtpStore, notifier: Notifier,
           settings: Settings, key: bytes) -> OtpSender:
        return cls(db, store, notifier, settings.otp_ttl_seconds,
                   settings.max_consecutive_failures, key)


@dataclass(frozen=True)
class Challenge:
    txn_id: str
    expires_at: int
    destinations: dict[str, str]


def message_text(code: str, purpose: Purpose, ttl: int) -> str:
    use = "to authenticate" if purpose == "auth" else "to change your authentication settings"
    return (f"Your one-time code {use} is {code}. It expires in {max(1, ttl // 60)} minutes. "
            "Never share it.")


def send_otp(
    sender: OtpSender, client: Client, req: OtpRequest, ctx: AuditContext, now: int,
    limits: Callable[[Session], None] | None = None,
) -> Challenge:
    """`limits` (the rate limits) runs first, in the same transaction."""
    key = sender.key
    messages: list[OtpMessage] = []
    with transaction(sender.db) as session:
        if limits is not None:
            limits(session)
        identity: Identity | None = None
        try:
            identity = subjects.found(session, req.individual_id, req.id_type, now)
            _check_usable(session, sender, client, identity, req, now)
            issued = sender.store.issue(session, identity.id, client.rp_id, req.purpose, now=now)
            messages = _messages(identity, req, issued, now, sender.ttl_seconds)
            record = _record(req, identity.uin, issued.txn_id, None, len(messages))
        except Refused as refusal:
            issued, _ = transactions.mint(key, now, sender.ttl_seconds)
            uin = identity.uin if identity is not None else (
                req.individual_id if req.id_type == "uin" else None)
            record = _record(req, uin, issued.txn_id, refusal.reason, 0)
        shown = destinations.shown(identity, req.channels, key, req.individual_id)
        append(session, ctx, record, now)
    for message in messages:  # after commit: a code is only ever sent for a stored OTP
        sender.notifier.send(message)
    return Challenge(issued.txn_id, issued.expires_at, shown)


def _check_usable(session: Session, sender: OtpSender, client: Client, identity: Identity,
                  req: OtpRequest, now: int) -> None:
    verifier = Verifier(identity.id, client.rp_id, req.purpose)
    subjects.ensure_usable(session, sender.store, identity, verifier, now,
                           max_failures=sender.max_failures)
    if req.purpose == "auth" and subjects.is_locked(identity, "otp"):
        raise Refused("auth_type_locked")


def _messages(
    identity: Identity, req: OtpRequest, issued: IssuedOtp, now: int, ttl: int
) -> list[OtpMessage]:
    text = message_text(issued.code, req.purpose, ttl)
    return [OtpMessage(at=now, channel=channel, to=to, txn_id=issued.txn_id, text=text)
            for channel in req.channels
            if (to := destinations.contact(identity, channel))]


def _record(
    req: OtpRequest, uin: str | None, txn_id: str, reason: str | None, sent: int
) -> AuditRecord:
    detail = {"txn_id": txn_id, "id_type": req.id_type, "channels": list(req.channels),
              "purpose": req.purpose, "sent": sent}
    outcome = "success" if reason is None else "refused"
    return AuditRecord(ACTION, outcome, reason=reason, uin=uin, factor="otp", detail=detail)
