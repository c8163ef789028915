"""One-time passwords (SP 800-63B §5.1.4.2 out-of-band, §5.1.5) and the `OtpStore` they live in.

- a 6-digit code from `secrets` (a CSPRNG), never derived from a counter or time, so there is
  no HOTP/TOTP path (and no RFC 4226/6238 vectors apply);
- stored only as HMAC-SHA256(otp_key, txn_id ":" code), compared in constant time;
- valid `otp_ttl_seconds`, single use, bound to one identity, one relying party and one
  purpose (`auth`: may yield a token; `resident`: may only authorize the resident's own
  controls);
- one live OTP per (identity, relying party): issuing supersedes the older ones;
- `otp_max_attempts` wrong codes burn it. Attempts live on the transaction; consecutive
  failures on the verifier (identity, relying party, purpose), so re-issuing resets neither.

Two stores with one behaviour, chosen once at start (`authd.otp.stores.build_store`): the
database (`otp_transactions`, `auth_failures`) and Redis when `AUTHD_REDIS_URL` is set (TTL
expiry, single use and attempts counted atomically in Lua).

Refusal reasons (audit only): otp_unknown_txn, otp_other_identity, otp_other_relying_party,
otp_wrong_purpose, otp_used, otp_burned, otp_superseded, otp_expired, otp_wrong_code.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Literal, Protocol

from sqlalchemy.orm import Session

from keys import constant_time_equals, hash_secret

Purpose = Literal["auth", "resident"]
CODE_DIGITS = 6
NO_HASH = "0" * 64


@dataclass(frozen=True)
class IssuedOtp:
    txn_id: str
    expires_at: int
    code: str

    def __repr__(self) -> str:
        return f"IssuedOtp({self.txn_id}, expires_at={self.expires_at})"


@dataclass(frozen=True)
class OtpStatus:
    """What a store knows of one transaction (no code, no hash)."""

    identity_id: int
    rp_id: str
    purpose: str
    expires_at: int
    attempts: int
    used: bool
    burned: bool
    superseded: bool


@dataclass(frozen=True)
class Verifier:
    """Whose consecutive failures count together (SP 800-63B §5.2.2 "per account and
    verifier"): one identity through one relying party for one purpose. An attack through one
    program's key never locks the person at another program or out of the resident controls."""

    identity_id: int
    rp_id: str
    purpose: Purpose


@dataclass(frozen=True)
class OtpPolicy:
    key: bytes
    ttl: int
    max_attempts: int
    lock_seconds: int  # a verifier's failures are forgotten this long after the last one


class OtpStore(Protocol):
    def issue(self, session: Session, identity_id: int, rp_id: str, purpose: Purpose, *,
              now: int) -> IssuedOtp:
        """Store a new OTP, superseding every live one of this identity at this relying party."""
        ...

    def verify(self, session: Session, txn_id: str, code: str, *, identity_id: int,
               rp_id: str, purpose: Purpose, now: int) -> None:
        """Consume the OTP or raise Refused; a wrong code counts an attempt (may burn it)."""
        ...

    def equalize(self, session: Session, txn_id: str, code: str) -> None:
        """The lookup and comparison `verify` does, with no effect (timing equalization)."""
        ...

    def status(self, session: Session, txn_id: str) -> OtpStatus | None: ...

    def failures(self, session: Session, verifier: Verifier, now: int) -> int:
        """Consecutive failures of the verifier still in force at `now`."""
        ...

    def fail(self, session: Session, verifier: Verifier, now: int) -> None:
        """One more consecutive failure (atomic: concurrent failures all count)."""
        ...

    def succeed(self, session: Session, verifier: Verifier) -> None: ...

    def reset(self, session: Session, identity_id: int, rp_id: str | None) -> int:
        """Clear an identity's failures (at one relying party, or all); how many cleared."""
        ...

    def close(self) -> None: ...


def new_code() -> str:
    return f"{secrets.randbelow(10 ** CODE_DIGITS):0{CODE_DIGITS}d}"


def code_hash(key: bytes, txn_id: str, code: str) -> str:
    return hash_secret(key, f"{txn_id}:{code}")


def mint(key: bytes, now: int, ttl: int) -> tuple[IssuedOtp, str]:
    """A fresh transaction id, code and its hash (the same work for real and decoy OTPs)."""
    issued = IssuedOtp(secrets.token_urlsafe(18), now + ttl, new_code())
    return issued, code_hash(key, issued.txn_id, issued.code)


def matches(key: bytes, stored: str | None, txn_id: str, code: str) -> bool:
    # Hash and compare even when there is no transaction, so both paths cost the same.
    return constant_time_equals(code_hash(key, txn_id, code), stored or NO_HASH) \
        and stored is not None


def unusable(txn: OtpStatus | None, identity_id: int, rp_id: str, purpose: Purpose,
             now: int) -> str | None:
    if txn is None:
        return "otp_unknown_txn"
    checks = (
        (txn.identity_id != identity_id, "otp_other_identity"),
        (txn.rp_id != rp_id, "otp_other_relying_party"),
        (txn.purpose != purpose, "otp_wrong_purpose"),
        (txn.used, "otp_used"),
        (txn.burned, "otp_burned"),
        (txn.superseded, "otp_superseded"),
        (now >= txn.expires_at, "otp_expired"),
    )
    return next((reason for failed, reason in checks if failed), None)
