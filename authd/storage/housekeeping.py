"""Periodic purge of rows nobody needs any more: expired tokens' records, used OTPs, and
failure counters past `failure_lock_seconds` (which no longer count).

An issued or revoked token's row matters until the token expires (introspection, revocation);
an OTP transaction until it expires. Past that (plus the verifier leeway) they are deleted,
so these tables stay the size of the live traffic instead of growing with history. The audit
log keeps what happened.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import CursorResult, Result, delete
from sqlalchemy.orm import Session, sessionmaker

from authd.clock import Clock
from authd.settings import Settings
from authd.storage.db import transaction
from authd.storage.models import AuthFailure, IssuedToken, OtpTransaction, RevokedToken
from authd.tokens.rotation import LEEWAY_SECONDS

log = logging.getLogger("authd.storage.housekeeping")
INTERVAL_SECONDS = 300


@dataclass(frozen=True)
class Purged:
    issued_tokens: int
    revoked_tokens: int
    otp_transactions: int
    auth_failures: int = 0


def purge_expired(db: sessionmaker[Session], settings: Settings, now: int) -> Purged:
    cutoff = now - LEEWAY_SECONDS
    with transaction(db) as session:
        counts = [_rowcount(session.execute(delete(model).where(model.expires_at < cutoff)))
                  for model in (IssuedToken, RevokedToken, OtpTransaction)]
        forgotten = now - settings.failure_lock_seconds
        counts.append(_rowcount(session.execute(
            delete(AuthFailure).where(AuthFailure.last_at <= forgotten))))
    return Purged(*counts)


async def run(db: sessionmaker[Session], settings: Settings, clock: Clock,
              interval: float = INTERVAL_SECONDS) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            purged = await asyncio.to_thread(purge_expired, db, settings, clock.now())
        except Exception as exc:  # a failed purge is retried next time; serving goes on
            log.warning("housekeeping failed", extra={"exc_type": type(exc).__name__})
            continue
        if any(vars(purged).values()):
            log.info("purged expired rows", extra=vars(purged))


def start(db: sessionmaker[Session], settings: Settings, clock: Clock) -> asyncio.Task[None]:
    return asyncio.get_running_loop().create_task(run(db, settings, clock), name="housekeeping")


def _rowcount(result: Result[Any]) -> int:
    """The rows a DELETE removed (a DML statement's result is a CursorResult)."""
    return cast("CursorResult[Any]", result).rowcount
