"""Face enrollment and 1:N dedup for enrollment stations and adjudicators.

Photos come as a multipart file (`image`) or as base64 in JSON (`{"image_b64": ...}`).
Encoding runs in the face service's pool; the database work runs in the thread pool.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from authd.audit.events import AuditContext, AuditRecord, append, append_alone
from authd.faces import enrollment
from authd.faces.runtime import galleries
from authd.faces.service import Probe
from authd.http.deps import AdminClient, AuditCtx, ClockDep, EnrollClient, StateDep
from authd.http.photos import Photo, encode_photo, read_photo
from authd.http.schemas import COMMON_ERRORS, IdentityOut, error_responses
from authd.http.state import AppState
from authd.registry import identities
from authd.registry.clients import Client
from authd.storage.db import transaction
from authd.storage.models import Identity

router = APIRouter(prefix="/v1", tags=["faces"])
FACE_ERRORS = {**COMMON_ERRORS, **error_responses(404, 409, 503)}
PHOTO_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {"schema": {
                "type": "object", "required": ["image"],
                "properties": {"image": {"type": "string", "format": "binary"}}}},
            "application/json": {"schema": {
                "type": "object", "required": ["image_b64"], "additionalProperties": False,
                "properties": {"image_b64": {"type": "string", "format": "byte"}}}},
        },
    }
}


class CandidateOut(BaseModel):
    rank: int
    score: float = Field(description="1 - distance/2, clipped to [0, 1]: higher is closer")
    uin: str = Field(description="masked unless the caller has scope admin")


class DedupSearchOut(BaseModel):
    candidates: list[CandidateOut]
    threshold_fmr: float | None = Field(description="per-comparison false-match rate the "
                                        "threshold was calibrated at (null when set by hand)")
    threshold_extrapolated: bool = Field(description="the FPIR target at this gallery size "
                                         "needs a lower FMR than the calibration measured: the "
                                         "lowest measured point is used")


class CaseOut(BaseModel):
    case_id: str
    status: Literal["open", "resolved", "closed"] = Field(
        description="closed: the identity's face was replaced or removed while it was open")
    uin: str
    opened_at: int
    candidates: list[CandidateOut]
    threshold: float | None = Field(None, description="dedup distance threshold the case was "
                                    "opened at (a candidate is nearer than it)")
    threshold_fmr: float | None = Field(None, description="per-comparison false-match rate "
                                        "that threshold was calibrated at (null: set by hand)")
    decision: Literal["distinct", "duplicate"] | None = None
    reason: str | None = None
    resolved_at: int | None = None
    duplicate_of: str | None = None


class ResolveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decision: Literal["distinct", "duplicate"]
    reason: str = Field(min_length=3, max_length=1000)
    duplicate_of: str | None = Field(None, description="UIN of the candidate it duplicates; "
                                     "default: the first candidate")


@router.put("/identities/{uin}/face", response_model=IdentityOut, openapi_extra=PHOTO_BODY,
            responses=FACE_ERRORS)
async def put_face(uin: str, request: Request, client: EnrollClient, state: StateDep,
                   clock: ClockDep, audit: AuditCtx) -> IdentityOut:
    """Enroll or replace the face of an identity, after a 1:N search for duplicates."""
    identities.validate_uin(uin)
    await run_in_threadpool(_enrollable, state, uin)  # a 404 never costs a photo decode
    photo = Photo()
    probe = await encode_photo(state, photo.read(read_photo(request, state)), audit,
                          "face.enroll", uin)
    return await run_in_threadpool(_store_face, state, client, audit, uin, probe,
                                   clock.now(), photo.data)


def _enrollable(state: AppState, uin: str) -> None:
    with transaction(state.db_read) as session:
        if identities.get_by_uin(session, uin).status != "active":
            raise identities.IdentityNotFound()


def _store_face(state: AppState, client: Client, ctx: AuditContext, uin: str,
                probe: Probe, now: int, photo: bytes | None) -> IdentityOut:
    with transaction(state.db) as session:
        identity = identities.get_by_uin(session, uin)
        if identity.status != "active":
            raise identities.IdentityNotFound()
        duplicate = enrollment.enroll_or_open_case(state, session, client, ctx, identity,
                                                   probe, now, photo=photo)
        out = IdentityOut.of(identity)
    if duplicate is not None:  # raised after the commit: the case and its audit event stay
        raise duplicate
    for gallery in galleries(state):
        gallery.catch_up()
    return out


@router.post("/dedup/search", response_model=DedupSearchOut, openapi_extra=PHOTO_BODY,
             responses=FACE_ERRORS)
async def dedup_search(request: Request, client: EnrollClient, state: StateDep,
                       audit: AuditCtx) -> DedupSearchOut:
    """1:N search for a photo without enrolling it."""
    probe = await encode_photo(state, read_photo(request, state), audit, "dedup.search")
    return await run_in_threadpool(_search, state, client, audit, probe)


def _search(state: AppState, client: Client, ctx: AuditContext, probe: Probe
            ) -> DedupSearchOut:
    assert state.faces is not None and state.gallery is not None
    now = state.clock.now()
    with transaction(state.db_read) as session:
        candidates = enrollment.find_duplicates(state, session, probe, exclude=None)
        views = enrollment.candidate_views(session, candidates, reveal_uin="admin" in client.scopes)
    threshold = enrollment.current_threshold(state)
    append_alone(state.db, ctx, AuditRecord("dedup.search", "success",
                                            detail={"candidates": len(views)}), now)
    fmr = None if threshold.fmr != threshold.fmr else threshold.fmr  # NaN: set by hand
    return DedupSearchOut(candidates=[CandidateOut(**v) for v in views], threshold_fmr=fmr,
                          threshold_extrapolated=threshold.extrapolated)


@router.get("/dedup/cases", response_model=list[CaseOut], responses=FACE_ERRORS)
def list_cases(client: AdminClient, state: StateDep,
               status: Literal["open", "resolved", "closed"] | None = None, limit: int = 50
               ) -> list[CaseOut]:
    with transaction(state.db_read) as session:
        cases = enrollment.list_cases(session, status, max(1, min(limit, 500)))
        return [case_out(session, c) for c in cases]


@router.get("/dedup/cases/{case_id}", response_model=CaseOut, responses=FACE_ERRORS)
def read_case(case_id: str, client: AdminClient, state: StateDep) -> CaseOut:
    with transaction(state.db_read) as session:
        return case_out(session, enrollment.get_case(session, case_id))


@router.post("/dedup/cases/{case_id}/resolve", response_model=CaseOut, responses=FACE_ERRORS)
def resolve_case(case_id: str, body: ResolveIn, client: AdminClient, state: StateDep,
                 clock: ClockDep, audit: AuditCtx) -> CaseOut:
    """Distinct: the enrollment completes. Duplicate: refused, linked to the existing UIN."""
    now = clock.now()
    with transaction(state.db) as session:
        case = enrollment.get_case(session, case_id)
        target = None
        if body.duplicate_of:
            target = identities.get_by_uin(session, body.duplicate_of).id
        identity = enrollment.resolve_case(state, session, case, decision=body.decision,
                                           reason=body.reason, resolver=enrollment.actor(client),
                                           duplicate_of=target, now=now)
        append(session, audit, AuditRecord("dedup.resolve", "success", reason=body.decision,
                                           uin=identity.uin, detail={
                                               "case": case.id, "actor": client.holder}), now)
        out = case_out(session, case)
    for gallery in galleries(state):
        gallery.catch_up()
    return out


def case_out(session, case) -> CaseOut:
    identity = session.get(Identity, case.identity_id)
    candidates = []
    for c in case.candidates:
        other = session.get(Identity, c["identity_id"])
        candidates.append(CandidateOut(rank=c["rank"], score=c["score"], uin=other.uin))
    duplicate = session.get(Identity, case.duplicate_of).uin if case.duplicate_of else None
    return CaseOut(case_id=case.id, status=case.status, uin=identity.uin,
                   opened_at=case.opened_at, candidates=candidates, threshold=case.threshold,
                   threshold_fmr=case.threshold_fmr, decision=case.decision,
                   reason=case.reason, resolved_at=case.resolved_at, duplicate_of=duplicate)
