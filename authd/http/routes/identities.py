"""Identity API for enrollment stations (scope `enroll`): identities and their VIDs."""

from __future__ import annotations

from fastapi import APIRouter, status
from fastapi.concurrency import run_in_threadpool

from authd.audit.events import AuditContext, AuditRecord, append
from authd.faces import enrollment
from authd.faces.runtime import galleries
from authd.faces.service import Probe
from authd.http.deps import AuditCtx, ClockDep, EnrollClient, StateDep
from authd.http.photos import Photo, b64_photo, encode_photo
from authd.http.schemas import IdentityIn, IdentityOut, VidIn, VidOut
from authd.http.state import AppState
from authd.registry import identities
from authd.registry.clients import Client
from authd.registry.identities import NewIdentity
from authd.storage.db import transaction

router = APIRouter(prefix="/v1", tags=["identities"])


@router.post("/identities", status_code=status.HTTP_201_CREATED, response_model=IdentityOut)
async def create_identity(
    body: IdentityIn, client: EnrollClient, state: StateDep, clock: ClockDep, audit: AuditCtx
) -> IdentityOut:
    """Create an identity (UIN issued when absent), with a face when one is given."""
    probe, photo = None, Photo()
    if body.face is not None:  # encoded first: a refused photo creates nothing
        probe = await encode_photo(state, photo.read(b64_photo(body.face.image_b64, state)),
                              audit, "identity.create", body.uin)
    return await run_in_threadpool(_create, state, client, audit, body, probe, clock.now(),
                                   photo.data)


def _create(state: AppState, client: Client, audit: AuditContext, body: IdentityIn,
            probe: Probe | None, now: int, photo: bytes | None) -> IdentityOut:
    with transaction(state.db) as session:
        identity = identities.create_identity(
            session, NewIdentity(**body.model_dump(exclude_none=True, exclude={"face"})), now)
        duplicate = None
        if probe is None:
            append(session, audit, AuditRecord("identity.create", "success", uin=identity.uin),
                   now)
        else:
            duplicate = enrollment.enroll_or_open_case(
                state, session, client, audit, identity, probe, now, created=True,
                action="identity.create", photo=photo)
        out = IdentityOut.of(identity)
    if duplicate is not None:
        raise duplicate
    if probe is not None:
        for gallery in galleries(state):
            gallery.catch_up()
    return out


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
        enrollment.close_open_cases(session, identity.id, now, "identity_deactivated")
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
