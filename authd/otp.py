"""One-time passwords over `otp_transactions` (SP 800-63B §5.1.4.2 out-of-band, §5.1.5).

- a 6-digit code from `secrets` (a CSPRNG), never derived from a counter or time, so there is
  no HOTP/TOTP path (and no RFC 4226/6238 vectors apply);
- stored only as HMAC-SHA256(otp_key, txn_id ":" code), compared in constant time;
- valid `otp_ttl_seconds`, single use, bound to one identity, one relying party and one
  purpose (`auth`: may yield a token; `resident`: may only authorize the resident's own
  controls);
- one live OTP per (identity, relying party): issuing supersedes the older ones;
- `otp_max_attempts` wrong codes burn it. Attempts live on the transaction, consecutive
  failures on the identity (authd.subjects), so re-issuing never resets either.

Refusal reasons (audit only): otp_unknown_txn, otp_other_identity, otp_other_relying_party,
otp_wrong_purpose, otp_used, otp_burned, otp_superseded, otp_expired, otp_wrong_code.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from authd.exceptions import Refused
from authd.storage.models import Identity, OtpTransaction
from keys import constant_time_equals, hash_secret

Purpose = Literal["auth", "resident"]
CODE_DIGITS = 6


class OtpRefused(Refused):
    def __init__(self, reason: str) -> None:
        super().__init__(reason, factor="otp")


@dataclass(frozen=True)
class IssuedOtp:
    txn_id: str
    expires_at: int
    code: str

    def __repr__(self) -> str:
        return f"IssuedOtp({self.txn_id}, expires_at={self.expires_at})"


def new_code() -> str:
    return f"{secrets.randbelow(10 ** CODE_DIGITS):0{CODE_DIGITS}d}"


def code_hash(key: bytes, txn_id: str, code: str) -> str:
    return hash_secret(key, f"{txn_id}:{code}")


def mint(key: bytes, now: int, ttl: int) -> tuple[IssuedOtp, str]:
    """A fresh transaction id, code and its hash (the same work for real and decoy OTPs)."""
    issued = IssuedOtp(secrets.token_urlsafe(18), now + ttl, new_code())
    return issued, code_hash(key, issued.txn_id, issued.code)


def issue(
    session: Session, key: bytes, identity_id: int, rp_id: str, purpose: Purpose, *,
    now: int, ttl: int,
) -> IssuedOtp:
    """Store a new OTP, superseding every live one of this identity at this relying party."""
    # Lock the identity row (PostgreSQL; SQLite's BEGIN IMMEDIATE already serializes) so two
    # concurrent requests cannot both leave a live OTP.
    session.execute(select(Identity.id).where(Identity.id == identity_id).with_for_update())
    session.execute(
        update(OtpTransaction)
        .where(OtpTransaction.identity_id == identity_id, OtpTransaction.rp_id == rp_id,
               OtpTransaction.used_at.is_(None), OtpTransaction.superseded_at.is_(None),
               OtpTransaction.burned.is_(False), OtpTransaction.expires_at > now)
        .values(superseded_at=now))
    issued, hashed = mint(key, now, ttl)
    session.add(OtpTransaction(
        txn_id=issued.txn_id, identity_id=identity_id, rp_id=rp_id, purpose=purpose,
        code_hash=hashed, created_at=now, expires_at=issued.expires_at, attempts=0,
        burned=False))
    session.flush()
    return issued


def _load(session: Session, txn_id: str) -> OtpTransaction | None:
    return session.execute(
        select(OtpTransaction).where(OtpTransaction.txn_id == txn_id).with_for_update()
    ).scalar_one_or_none()


def _matches(key: bytes, txn: OtpTransaction | None, txn_id: str, code: str) -> bool:
    # Hash and compare even when there is no transaction, so both paths cost the same.
    stored = txn.code_hash if txn is not None else "0" * 64
    return constant_time_equals(code_hash(key, txn_id, code), stored) and txn is not None


def equalize(session: Session, key: bytes, txn_id: str, code: str) -> None:
    """The lookup and comparison `verify` does, with no effect: spent on refused subjects so
    that an unknown ID costs what a wrong code costs."""
    _matches(key, _load(session, txn_id), txn_id, code)


def _unusable(
    txn: OtpTransaction | None, identity_id: int, rp_id: str, purpose: Purpose, now: int
) -> str | None:
    if txn is None:
        return "otp_unknown_txn"
    checks = (
        (txn.identity_id != identity_id, "otp_other_identity"),
        (txn.rp_id != rp_id, "otp_other_relying_party"),
        (txn.purpose != purpose, "otp_wrong_purpose"),
        (txn.used_at is not None, "otp_used"),
        (txn.burned, "otp_burned"),
        (txn.superseded_at is not None, "otp_superseded"),
        (now >= txn.expires_at, "otp_expired"),
    )
    return next((reason for failed, reason in checks if failed), None)


def verify(
    session: Session, key: bytes, txn_id: str, code: str, *, identity_id: int, rp_id: str,
    purpose: Purpose, now: int, max_attempts: int,
) -> None:
    """Consume the OTP or raise OtpRefused; a wrong code counts an attempt (and may burn it)."""
    txn = _load(session, txn_id)
    matches = _matches(key, txn, txn_id, code)
    reason = _unusable(txn, identity_id, rp_id, purpose, now)
    if reason is not None:
        raise OtpRefused(reason)
    assert txn is not None
    if not matches:
        txn.attempts += 1
        txn.burned = txn.attempts >= max_attempts
        raise OtpRefused("otp_wrong_code")
    txn.used_at = now
