"""Authentication for program counters (scope `auth`): request an OTP, authenticate."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field, model_validator
from sqlalchemy.orm import Session

from authd.authentication.service import Attempt, admit_first, authenticate
from authd.http.deps import AuditCtx, AuthClient, ClockDep, StateDep
from authd.http.photos import b64_photo, encode_photo
from authd.http.schemas import IndividualId, OtpCode, Strict, TxnId
from authd.otp.requests import OtpRequest, send_otp

router = APIRouter(prefix="/v1", tags=["authentication"])


class OtpIn(Strict):
    individual_id: IndividualId
    id_type: Literal["uin", "vid"]
    channels: list[Literal["sms", "email"]] = Field(min_length=1, max_length=2)
    purpose: Literal["auth", "resident"] = Field(
        "auth", description="`resident`: an OTP for the resident's own controls (auth-locks, "
        "auth-history); it never yields a token")


class OtpOut(BaseModel):
    txn_id: str
    expires_at: int
    destinations: dict[str, str] = Field(description="masked destination per channel")


class FaceIn(Strict):
    image_b64: str = Field(min_length=1)


class FactorsIn(Strict):
    """The evidence, one key per factor; more factors are added here as they are supported."""

    otp: OtpCode | None = None
    face: FaceIn | None = None

    def evidence(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in type(self).model_fields
                if getattr(self, name) is not None}


class AuthenticateIn(Strict):
    individual_id: IndividualId
    id_type: Literal["uin", "vid"]
    txn_id: TxnId | None = None
    factors: FactorsIn

    @model_validator(mode="after")
    def _complete(self) -> AuthenticateIn:
        if not self.factors.evidence():
            raise ValueError("factors: at least one factor is required")
        if self.factors.otp is not None and self.txn_id is None:
            raise ValueError("txn_id: required with an otp factor")
        return self


class AuthenticateOut(BaseModel):
    authenticated: Literal[True]
    token: str
    token_type: str
    expires_at: int


@router.post("/otp", status_code=status.HTTP_202_ACCEPTED, response_model=OtpOut)
async def request_otp(
    body: OtpIn, client: AuthClient, state: StateDep, clock: ClockDep, audit: AuditCtx
) -> OtpOut:
    """Send an OTP to the resident. The answer is the same whether or not the ID exists."""
    # async, with the blocking work in the pool: FastAPI would also send the response model
    # of a plain `def` route through the pool, a second hop per request
    now = clock.now()
    throttle = state.throttle()

    def limits(session: Session) -> None:
        throttle.limit_otp_request(client.rp_id, body.id_type, body.individual_id, now,
                                   body.purpose, session)

    req = OtpRequest(body.individual_id, body.id_type, tuple(dict.fromkeys(body.channels)),
                     body.purpose)
    challenge = await run_in_threadpool(send_otp, state.otp_sender(), client, req, audit, now,
                                        limits)
    return OtpOut(txn_id=challenge.txn_id, expires_at=challenge.expires_at,
                  destinations=challenge.destinations)


@router.post("/authenticate", response_model=AuthenticateOut)
async def authenticate_person(
    body: AuthenticateIn, client: AuthClient, state: StateDep, clock: ClockDep, audit: AuditCtx
) -> AuthenticateOut:
    """200 with a signed token, or 401 `authentication_failed` whatever the reason; a face
    photo the quality gate refuses is a 422 with its code (the clerk retakes the photo)."""
    now = clock.now()
    throttle, evidence = state.throttle(), body.factors.evidence()
    attempt = Attempt(body.individual_id, body.id_type, body.txn_id, evidence)

    def limits(session: Session) -> None:  # charged in the call's own transaction
        throttle.limit_call(client.rp_id, body.id_type, body.individual_id, now,
                            session=session)

    if body.factors.face is not None:  # encoded in the face pool, never on the event loop
        # the person first: an unknown or refused ID never costs a photo decode
        await run_in_threadpool(admit_first, state, client, attempt, audit, now, limits)
        photo = b64_photo(body.factors.face.image_b64, state)
        uin = body.individual_id if body.id_type == "uin" else None
        encoded = {**evidence, "face": await encode_photo(state, photo, audit, "authenticate",
                                                          uin)}
        token = await run_in_threadpool(authenticate, state, client, Attempt(
            body.individual_id, body.id_type, body.txn_id, encoded), audit, now)
    else:
        token = await run_in_threadpool(authenticate, state, client, attempt, audit, now,
                                        limits)
    return AuthenticateOut(authenticated=True, token=token.token, token_type=token.token_type,
                           expires_at=token.expires_at)
