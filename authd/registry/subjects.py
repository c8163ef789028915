"""The person an authentication is about: resolved from a UIN or VID, then found usable or
refused.

Refusal reasons (audit only): `unknown_id` (no identity, or a revoked/expired VID),
`identity_deactivated`, `failure_cap_reached`.

Failed guesses are counted per verifier (authd.otp.transactions.Verifier: the identity
through one relying party for one purpose), in the OTP store: SP 800-63B §5.2.2 limits
consecutive failed attempts "on a single subscriber account" per verifier (at most 100). So
an attack through one program's key locks that program's path to the person only: another
program, and the resident's own controls (purpose `resident`), still work. At the cap that
verifier's authentications are refused without looking at the evidence until a success
resets the count (a factor not at fault, e.g. face), `failure_lock_seconds` pass after the
last failure, or an operator runs `authd identity reset-failures UIN [--rp ID]`.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from authd.errors import Refused
from authd.otp.transactions import OtpStore, Verifier
from authd.registry.identities import IdType, resolve
from authd.storage.models import Identity

LOCKABLE = ("otp", "face")


def found(session: Session, individual_id: str, id_type: IdType, now: int) -> Identity:
    """The identity the ID names, whatever its state; raises Refused(`unknown_id`)."""
    identity = resolve(session, individual_id, id_type, now)
    if identity is None:
        raise Refused("unknown_id")
    return identity


def ensure_usable(
    session: Session, store: OtpStore, identity: Identity, verifier: Verifier, now: int, *,
    max_failures: int,
) -> Identity:
    """The identity if it is active and its verifier is under the failure cap."""
    if identity.status != "active":
        raise Refused("identity_deactivated")
    if store.failures(session, verifier, now) >= max_failures:
        raise Refused("failure_cap_reached")
    return identity


def is_locked(identity: Identity, factor: str) -> bool:
    return factor in (identity.locks or [])
