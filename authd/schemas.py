"""Pydantic models of the HTTP edge: what clients send and what they get back."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from authd.masking import mask_email, mask_phone
from authd.storage.models import Identity, Vid
from authd.uin import mask_uin


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IdentityIn(Strict):
    uin: str | None = Field(None, description="12 digits ending in a Verhoeff check digit; "
                            "issued when absent", examples=["234567890124"])
    name: str | None = Field(None, max_length=200)
    date_of_birth: date | None = None
    sex: Literal["F", "M", "X"] | None = None
    phone: str | None = Field(None, pattern=r"^\+?[0-9 ]{6,20}$")
    email: EmailStr | None = None


class IdentityOut(BaseModel):
    uin: str
    status: Literal["active", "deactivated"]
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
