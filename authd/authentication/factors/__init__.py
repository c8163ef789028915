"""Authentication factors: each checks its evidence for one identity and returns a
`FactorResult` only when it verified, or raises `Refused(reason)` (the client sees only
`authentication_failed`; the reason goes to the audit log).

A checker is `check(ctx: FactorContext, evidence) -> FactorResult`; authd.authentication.service
maps factor names to checkers. Adding a factor (face) = one module here + one map entry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from authd.http.state import AppState
from authd.otp.transactions import Purpose, Verifier
from authd.registry.clients import Client
from authd.storage.models import Identity


@dataclass(frozen=True)
class FactorResult:
    """A factor that verified (a failed one raised instead)."""

    factor: str
    detail: dict[str, Any] = field(default_factory=dict, kw_only=True)  # audit-safe facts


@dataclass(frozen=True)
class FactorContext:
    session: Session
    state: AppState
    client: Client
    identity: Identity
    txn_id: str | None
    purpose: Purpose
    now: int

    @property
    def verifier(self) -> Verifier:
        return Verifier(self.identity.id, self.client.rp_id, self.purpose)

    def record_failure(self) -> None:
        self.state.otps.fail(self.session, self.verifier, self.now)


Checker = Callable[[FactorContext, Any], FactorResult]
