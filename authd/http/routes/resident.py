"""The resident's controls (scope `auth`: the channel the resident uses), each authorized by
a resident-purpose OTP: lock/unlock auth types, read their own authentication history.

The history is a POST so that the OTP travels in the body, never in a URL (URLs end up in
proxy and access logs)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from authd.authentication import resident
from authd.authentication.service import Attempt
from authd.http.deps import AuditCtx, AuthClient, ClockDep, StateDep
from authd.http.schemas import IndividualId, OtpCode, Strict, TxnId

router = APIRouter(prefix="/v1", tags=["resident"])
Factor = Literal["otp", "face"]


class ResidentIn(Strict):
    individual_id: IndividualId
    id_type: Literal["uin", "vid"]
    txn_id: TxnId
    otp: OtpCode

    def attempt(self) -> Attempt:
        return Attempt(self.individual_id, self.id_type, self.txn_id, {"otp": self.otp})


class AuthLocksIn(ResidentIn):
    lock: list[Factor] = Field(default_factory=list, max_length=2)
    unlock: list[Factor] = Field(default_factory=list, max_length=2)


class AuthLocksOut(BaseModel):
    locks: list[str]


class HistoryEventOut(BaseModel):
    at: int
    relying_party: str
    factor: str | None
    outcome: str


class HistoryOut(BaseModel):
    events: list[HistoryEventOut]


@router.post("/auth-locks", response_model=AuthLocksOut)
def auth_locks(
    body: AuthLocksIn, client: AuthClient, state: StateDep, clock: ClockDep, audit: AuditCtx
) -> AuthLocksOut:
    """Lock or unlock authentication types for the resident; returns the locks now in force."""
    now = clock.now()
    state.throttle().limit_call(client.rp_id, body.id_type, body.individual_id, now,
                                "resident")
    locks = resident.change_locks(state, client, body.attempt(), set(body.lock),
                                  set(body.unlock), audit, now)
    return AuthLocksOut(locks=locks)


@router.post("/auth-history/query", response_model=HistoryOut)
def auth_history(
    body: ResidentIn, client: AuthClient, state: StateDep, clock: ClockDep, audit: AuditCtx
) -> HistoryOut:
    """The resident's last 50 authentication events (time, relying party, factor, outcome)
    at this relying party; at every relying party for a key with scope `resident_portal`."""
    now = clock.now()
    state.throttle().limit_call(client.rp_id, body.id_type, body.individual_id, now,
                                "resident")
    entries = resident.read_history(state, client, body.attempt(), audit, now)
    return HistoryOut(events=[HistoryEventOut(at=e.at, relying_party=e.relying_party,
                                              factor=e.factor, outcome=e.outcome)
                              for e in entries])
