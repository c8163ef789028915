"""The person an authentication is about: resolved from a UIN or VID, then admitted or refused.

Refusal reasons (audit only): `unknown_id` (no identity, or a revoked/expired VID),
`identity_deactivated`, `failure_cap_reached`.

Failed guesses are counted on the identity (`Identity.consecutive_failures`), across every
relying party, factor and OTP: SP 800-63B §5.2.2 limits consecutive failed attempts "on a
single subscriber account" (at most 100). At the cap every authentication of that person is
refused without looking at its evidence, until a success resets the count (a success by a
factor not at fault, e.g. face) or an operator does.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.orm import Session

from authd.exceptions import Refused
from authd.identities import IdType, resolve
from authd.storage.models import Identity

LOCKABLE = ("otp", "face")


def admit(
    session: Session, individual_id: str, id_type: IdType, now: int, *, max_failures: int
) -> Identity:
    """The active identity the ID names; raises Refused otherwise."""
    identity = resolve(session, individual_id, id_type, now)
    if identity is None:
        raise Refused("unknown_id")
    if identity.status != "active":
        raise Refused("identity_deactivated")
    if identity.consecutive_failures >= max_failures:
        raise Refused("failure_cap_reached")
    return identity


def is_locked(identity: Identity, factor: str) -> bool:
    return factor in (identity.locks or [])


def record_failure(session: Session, identity: Identity) -> None:
    """One more consecutive failure, incremented in SQL so concurrent failures all count."""
    session.execute(update(Identity).where(Identity.id == identity.id)
                    .values(consecutive_failures=Identity.consecutive_failures + 1))


def record_success(session: Session, identity: Identity) -> None:
    if identity.consecutive_failures:
        identity.consecutive_failures = 0
