"""Requesting an OTP: resolve the ID, issue and store the code, hand it to the notifier.

A caller cannot tell which IDs exist, nor in which state an existing one is: every answer has
the same status, keys and formats and costs the same work (a code is minted and hashed, one
audit event is written in one transaction). An existing identity shows its real masked
destinations whether it is active, deactivated, locked or capped (a state must not change
the reply); an unknown ID shows stable decoys. Only for an active, usable identity is the
code stored and sent. The real reason goes to the audit log.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from authd.audit.events import AuditContext, AuditRecord, append
from authd.errors import Refused
from authd.http.state import AppState
from authd.otp import destinations
from authd.otp import transactions as otp
from authd.otp.notify import Channel, Notifier, OtpMessage
from authd.registry import subjects
from authd.registry.clients import Client
from authd.registry.identities import IdType
from authd.storage.db import transaction
from authd.storage.models import Identity

ACTION = "otp.request"


@dataclass(frozen=True)
class OtpRequest:
    individual_id: str
    id_type: IdType
    channels: tuple[Channel, ...]
    purpose: otp.Purpose

    def __repr__(self) -> str:
        return f"OtpRequest({self.id_type}, {self.channels}, {self.purpose})"


@dataclass(frozen=True)
class Challenge:
    txn_id: str
    expires_at: int
    destinations: dict[str, str]


def message_text(code: str, purpose: otp.Purpose, ttl: int) -> str:
    use = "to authenticate" if purpose == "auth" else "to change your authentication settings"
    return (f"Your one-time code {use} is {code}. It expires in {max(1, ttl // 60)} minutes. "
            "Never share it.")


def request_otp(
    state: AppState, client: Client, req: OtpRequest, ctx: AuditContext, now: int
) -> Challenge:
    settings, key = state.settings, state.secrets.otp_key
    messages: list[OtpMessage] = []
    with transaction(state.db) as session:
        identity: Identity | None = None
        try:
            identity = subjects.found(session, req.individual_id, req.id_type, now)
            _admit(session, state, client, identity, req, now)
            issued = state.otps.issue(session, identity.id, client.rp_id, req.purpose, now=now)
            messages = _messages(identity, req, issued, now, settings.otp_ttl_seconds)
            record = _record(req, identity.uin, issued.txn_id, None, len(messages))
        except Refused as refusal:
            issued, _ = otp.mint(key, now, settings.otp_ttl_seconds)
            uin = identity.uin if identity is not None else (
                req.individual_id if req.id_type == "uin" else None)
            record = _record(req, uin, issued.txn_id, refusal.reason, 0)
        shown = destinations.shown(identity, req.channels, key, req.individual_id)
        append(session, ctx, record, now)
    notifier: Notifier = state.extras["notifier"]
    for message in messages:  # after commit: a code is only ever sent for a stored OTP
        notifier.send(message)
    return Challenge(issued.txn_id, issued.expires_at, shown)


def _admit(session: Session, state: AppState, client: Client, identity: Identity,
           req: OtpRequest, now: int) -> None:
    verifier = otp.Verifier(identity.id, client.rp_id, req.purpose)
    subjects.admit(session, state.otps, identity, verifier, now,
                   max_failures=state.settings.max_consecutive_failures)
    if req.purpose == "auth" and subjects.is_locked(identity, "otp"):
        raise Refused("auth_type_locked")


def _messages(
    identity: Identity, req: OtpRequest, issued: otp.IssuedOtp, now: int, ttl: int
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
