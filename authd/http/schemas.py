"""Pydantic models of the HTTP edge: what clients send and what they get back."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, EmailStr, Field

from authd.masking import mask_email, mask_phone
from authd.registry.uin import mask_uin
from authd.storage.models import Identity, Vid


def _iso_date(value: object) -> object:
    """Dates arrive as "YYYY-MM-DD" (the documented format), never as a number of seconds."""
    if isinstance(value, int | float):
        raise ValueError("a date is written YYYY-MM-DD")
    return value


IndividualId = Annotated[str, Field(min_length=12, max_length=16, pattern=r"^[0-9]+$",
                                     description="a UIN (12 digits) or a VID (16 digits)")]
TxnId = Annotated[str, Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
OtpCode = Annotated[str, Field(pattern=r"^[0-9]{6}$",
                               description="the 6-digit code the resident received")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PhotoIn(Strict):
    image_b64: str = Field(min_length=1, description="the photo (JPEG, PNG, WebP, GIF), base64")

    def __repr__(self) -> str:
        return "PhotoIn(...)"


class IdentityIn(Strict):
    uin: str | None = Field(None, description="12 digits ending in a Verhoeff check digit; "
                            "issued when absent", examples=["234567890124"])
    name: str | None = Field(None, max_length=200)
    date_of_birth: Annotated[date | None, BeforeValidator(_iso_date)] = None
    sex: Literal["F", "M", "X"] | None = None
    phone: str | None = Field(None, pattern=r"^\+?[0-9 ]{6,20}$")
    email: EmailStr | None = None
    face: PhotoIn | None = Field(None, description="enroll a face at once (1:N dedup first); "
                                 "a possible duplicate answers 409 and leaves the identity "
                                 "pending until the dedup case is resolved")


class IdentityOut(BaseModel):
    uin: str
    status: Literal["active", "deactivated", "pending", "rejected"]
    name: str | None
    date_of_birth: date | None
    sex: str | None
    phone: str | None = Field(description="masked")
    email: str | None = Field(description="masked")
    has_face: bool
    created_at: int

    @classmethod
    def of(cls, identity: Identity, *, masked_uin: bool = False) -> IdentityOut:
        return cls(
            uin=mask_uin(identity.uin) if masked_uin else identity.uin, status=identity.status,
            name=identity.name, date_of_birth=identity.date_of_birth, sex=identity.sex,
            phone=mask_phone(identity.phone), email=mask_email(identity.email),
            has_face=identity.template is not None, created_at=identity.created_at,
        )


class VidIn(Strict):
    uin: str
    kind: Literal["perpetual", "temporary"] = "temporary"
    ttl_seconds: int | None = Field(None, ge=60, le=366 * 86400)


class VidOut(BaseModel):
    vid: str
    kind: str
    created_at: int
    expires_at: int | None
    revoked_at: int | None

    @classmethod
    def of(cls, vid: Vid) -> VidOut:
        return cls(vid=vid.vid, kind=vid.kind, created_at=vid.created_at,
                   expires_at=vid.expires_at, revoked_at=vid.revoked_at)


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    checks: dict[str, str] = {}


class ErrorBody(BaseModel):
    code: str = Field(description="a word a client can act on, e.g. otp_expired")
    message: str
    request_id: str


class ErrorOut(BaseModel):
    """The one error shape of every endpoint."""

    error: ErrorBody


def error_responses(*statuses: int) -> dict[int | str, dict[str, object]]:
    """OpenAPI `responses=` entries documenting the error shape for ``statuses``."""
    return {status: {"model": ErrorOut} for status in statuses}


# What any authenticated /v1 endpoint may answer besides its success (documented so that
# clients and schemathesis know the error shape): bad JSON, no/bad key, scope, not found,
# conflict, body too large, validation, rate limit.
API_ERRORS = error_responses(400, 401, 403, 404, 409, 413, 422, 429, 503)
COMMON_ERRORS = error_responses(400, 401, 403, 413, 422, 429)


class TokenIn(Strict):
    token: str = Field(min_length=1, max_length=8192)
    token_type_hint: str | None = Field(None, max_length=64)


class IntrospectionOut(BaseModel):
    """RFC 7662 §2.2: only ``active`` for an inactive token, the claims for an active one."""

    active: bool
    token_type: str | None = None
    iss: str | None = None
    aud: str | None = None
    sub: str | None = None
    iat: int | None = None
    nbf: int | None = None
    exp: int | None = None
    jti: str | None = None
    amr: list[str] | None = None
    acr: str | None = None
    txn: str | None = None
    uin: str | None = Field(None, description="only where the relying party's policy allows")


class Jwk(BaseModel):
    kty: Literal["OKP"]
    crv: Literal["Ed25519"]
    x: str
    kid: str
    use: Literal["sig"]
    alg: Literal["EdDSA", "Ed25519"]


class Jwks(BaseModel):
    keys: list[Jwk]
