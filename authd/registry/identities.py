"""The identity registry: UINs, their status and contacts, and their VIDs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from authd.errors import IdentityNotFound, InvalidRequest, UinTaken, VidNotFound
from authd.faces.gallery import record_change
from authd.registry.uin import new_uin, new_vid, validate_uin, validate_vid
from authd.storage.models import Identity, Vid

IdType = Literal["uin", "vid"]


@dataclass(frozen=True)
class NewIdentity:
    uin: str | None = None
    name: str | None = None
    date_of_birth: date | None = None
    sex: str | None = None
    phone: str | None = None
    email: str | None = None

    def __repr__(self) -> str:  # contacts are never shown
        return "NewIdentity(...)"


def create_identity(session: Session, new: NewIdentity, now: int) -> Identity:
    uin = validate_uin(new.uin) if new.uin else _free_uin(session)
    if session.execute(select(Identity.id).where(Identity.uin == uin)).first():
        raise UinTaken()
    identity = Identity(
        uin=uin, status="active", name=new.name, date_of_birth=new.date_of_birth, sex=new.sex,
        phone=new.phone, email=new.email, created_at=now, updated_at=now, locks=[],
        template_version=0, consecutive_failures=0,
    )
    session.add(identity)
    try:
        session.flush()
    except IntegrityError as exc:  # a concurrent insert of the same UIN
        raise UinTaken() from exc
    return identity


def _free_uin(session: Session) -> str:
    while True:
        uin = new_uin()
        if not session.execute(select(Identity.id).where(Identity.uin == uin)).first():
            return uin


def get_by_uin(session: Session, uin: str) -> Identity:
    identity = session.execute(
        select(Identity).where(Identity.uin == validate_uin(uin))
    ).scalar_one_or_none()
    if identity is None:
        raise IdentityNotFound()
    return identity


def deactivate(session: Session, uin: str, now: int) -> Identity:
    """Deactivate; its face leaves every replica's index (through the gallery change log)."""
    identity = get_by_uin(session, uin)
    identity.status = "deactivated"
    identity.updated_at = now
    if identity.template is not None:
        record_change(session, identity.id, now)
    return identity


_BY_UIN = select(Identity).where(Identity.uin == bindparam("uin"))  # built (and keyed) once


def resolve(session: Session, individual_id: str, id_type: IdType, now: int) -> Identity | None:
    """The identity a UIN or a live VID names, active or not; None when it names nothing.

    A revoked or expired VID resolves to nothing, as an unknown one does.
    """
    if id_type == "uin":
        validate_uin(individual_id)
        return session.execute(_BY_UIN, {"uin": individual_id}).scalar_one_or_none()
    validate_vid(individual_id)
    vid = session.get(Vid, individual_id)
    if vid is None or vid.revoked_at is not None:
        return None
    if vid.expires_at is not None and vid.expires_at <= now:
        return None
    return session.get(Identity, vid.identity_id)


def create_vid(
    session: Session, uin: str, kind: Literal["perpetual", "temporary"], ttl_seconds: int | None,
    now: int,
) -> Vid:
    identity = get_by_uin(session, uin)
    if identity.status != "active":
        raise IdentityNotFound()
    if kind == "temporary" and not ttl_seconds:
        raise InvalidRequest("A temporary VID needs ttl_seconds.")
    if kind == "perpetual" and ttl_seconds:
        raise InvalidRequest("A perpetual VID takes no ttl_seconds.")
    vid = Vid(vid=_free_vid(session), identity_id=identity.id, kind=kind, created_at=now,
              expires_at=now + ttl_seconds if ttl_seconds else None)
    session.add(vid)
    session.flush()
    return vid


def _free_vid(session: Session) -> str:
    while True:
        vid = new_vid()
        if session.get(Vid, vid) is None:
            return vid


def revoke_vid(session: Session, vid: str, now: int) -> tuple[Vid, Identity]:
    record = session.get(Vid, validate_vid(vid))
    if record is None:
        raise VidNotFound()
    record.revoked_at = record.revoked_at or now
    identity = session.get(Identity, record.identity_id)
    assert identity is not None  # foreign key
    return record, identity
