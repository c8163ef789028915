"""Identity API for enrollment stations (scope `enroll`): identities and their VIDs."""

from __future__ import annotations

from fastapi import APIRouter, status

from authd import identities
from authd.audit import AuditRecord, append
from authd.deps import AuditCtx, ClockDep, EnrollClient, StateDep
from authd.identities import NewIdentity
from authd.schemas import IdentityIn, IdentityOut, VidIn, VidOut
from authd.storage.db import transaction

router = APIRouter(prefix="/v1", tags=["identities"])


@router.post("/identities", status_code=status.HTTP_201_CREATED, response_model=IdentityOut)
def create_identity(
    body: IdentityIn, client: EnrollClient, state: StateDep, clock: ClockDep, audit: AuditCtx
) -> IdentityOut:
    now = clock.now()
    with transaction(state.db) as session:
        identity = identities.create_identity(
            session, NewIdentity(**body.model_dump(exclude_none=True)), now)
        append(session, audit, AuditRecord("identity.create", "success", uin=identity.uin), now)
        return IdentityOut.of(identity)


@router.get("/identities/{uin}", response_model=IdentityOut)
def read_identity(uin: str, client: EnrollClient, state: StateDep) -> IdentityOut:
    with transaction(state.db) as session:
        return IdentityOut.of(identities.get_by_uin(session, uin))


@router.post("/identities/{uin}/deactivate", response_model=IdentityOut)
def deactivate_identity(
    uin: str, client: EnrollClient, state: StateDep, clock: ClockDep, audit: AuditCtx
) -> IdentityOut:
    now = clock.now()
    with transaction(state.db) as session:
        identity = identities.deactivate(session, uin, now)
        append(session, audit, AuditRecord("identity.deactivate", "success", uin=uin), now)
        return IdentityOut.of(identity)


@router.post("/vids", status_code=status.HTTP_201_CREATED, response_model=VidOut)
def create_vid(
    body: VidIn, client: EnrollClient, state: StateDep, clock: ClockDep, audit: AuditCtx
) -> VidOut:
    now = clock.now()
    with transaction(state.db) as session:
        vid = identities.create_vid(session, body.uin, body.kind, body.ttl_seconds, now)
        append(session, audit, AuditRecord("vid.create", "success", uin=body.uin,
                                           detail={"kind": body.kind}), now)
        return VidOut.of(vid)


@router.post("/vids/{vid}/revoke", response_model=VidOut)
def revoke_vid(
    vid: str, client: EnrollClient, state: StateDep, clock: ClockDep, audit: AuditCtx
) -> VidOut:
    now = clock.now()
    with transaction(state.db) as session:
        record, identity = identities.revoke_vid(session, vid, now)
        append(session, audit, AuditRecord("vid.revoke", "success", uin=identity.uin), now)
        return VidOut.of(record)
