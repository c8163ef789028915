"""Face enrollment with 1:N deduplication, and the adjudication of possible duplicates.

`enroll_face` is the one path of the API (PUT face, POST identities with a face) and of the
batch. Before a template is stored for an identity, the galleries are searched; a candidate
closer than the dedup threshold opens a case and nothing is enrolled until an admin other
than the one who opened it (another key holder) resolves the case (four eyes). An identity
has at most one open case per candidate set (a retry gets the open case back); a `distinct`
decision is remembered for each pair it cleared; storing a new face closes the identity's
open cases. The search and the store happen under one lock (SQLite's write lock, or a
PostgreSQL advisory lock), so two stations enrolling the same face at once cannot both miss
each other.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from authd.audit.events import AuditContext, AuditRecord, append
from authd.errors import AuthdError, Conflict, InvalidRequest, NotFound
from authd.faces.gallery import Gallery, lock_gallery, record_change, template_aad
from authd.faces.service import FaceService, Probe
from authd.http.state import AppState
from authd.registry.clients import Client
from authd.storage.models import DedupCase, DedupDistinctPair, Identity
from matching.calibration import Threshold
from matching.dedup import Candidate, find_candidates
from matching.templates import Template


class PossibleDuplicate(AuthdError):
    code, status_code = "possible_duplicate", 409
    message = "This face may already belong to an enrolled identity; a dedup case is open."

    def __init__(self, case_id: str, uin: str, candidates: list[dict]) -> None:
        super().__init__()
        self.public_details = {"case_id": case_id, "uin": uin, "candidates": candidates}


class CaseNotFound(NotFound):
    code, message = "case_not_found", "No such dedup case."


class FourEyes(AuthdError):
    code, status_code = "four_eyes_required", 403
    message = ("A dedup case must be resolved by another person than the one who opened it "
               "(another key holder).")


@dataclass(frozen=True)
class Enrolled:
    identity_id: int
    template_version: int


def store_template(state: AppState, session: Session, identity: Identity, template: Template,
                   now: int, photo: bytes | None = None, *, keep: bool | None = None,
                   keep_case: str | None = None, new_face: bool = True) -> Enrolled:
    """Seal and store `template` as the identity's current one and log the gallery change;
    for a new face (not a re-encoding of the kept photo under another model) the identity's
    open dedup cases (but `keep_case`) close. The photo is kept (sealed)
    where `keep` (default: `face_keep_photos`) asks for it; else it is dropped.
    `template_model` records the model that made the template."""
    identity.template_version = (identity.template_version or 0) + 1
    aad = template_aad(identity.id, identity.template_version)
    identity.template = state.sealer.seal(template.to_bytes(), aad)
    keep = photo is not None and (state.settings.face_keep_photos if keep is None else keep)
    identity.photo = state.sealer.seal(photo, photo_aad(identity.id, identity.template_version)) \
        if keep and photo is not None else None
    identity.template_model = template.model_id
    identity.template_quality = _quality(template)
    identity.updated_at = now
    record_change(session, identity.id, now)
    if new_face:
        close_open_cases(session, identity.id, now, "face_replaced", keep=keep_case)
    return Enrolled(identity.id, identity.template_version)


def loaded_models(state: AppState) -> set[str]:
    models = {old.service.model_id for old in state.legacy_faces}
    return models | ({state.faces.model_id} if state.faces is not None else set())


def photo_aad(identity_id: int, version: int) -> bytes:
    return f"authd/photo/v1/{identity_id}/{version}".encode()


def _quality(template: Template) -> dict:
    q = template.quality
    fields = ("face_height_px", "brightness", "sharpness", "faces_found")
    source = q if isinstance(q, dict) else vars(q)
    return {k: source[k] for k in fields if k in source}


def find_duplicates(state: AppState, session: Session, probe: Probe,
                    exclude: int | None) -> list[Candidate]:
    """Candidates closer than each gallery's dedup threshold for its size (one search,
    matching.dedup.find_candidates, per gallery): the configured model's gallery, then
    (a migration under way) each older model's, with the probe's template of that model.
    Distances of two models are not comparable, so each gallery keeps its own order and the
    configured model's candidates rank first. `exclude` (the identity enrolling) is skipped,
    and so is every identity an adjudicator already found distinct from it."""
    skip = {exclude} | distinct_partners(session, exclude) if exclude is not None else set()
    found: list[Candidate] = []
    k = state.settings.dedup_top_k
    for gallery, service, template in _searches(state, probe):
        gallery.catch_up(session)
        threshold = service.dedup_threshold(len(gallery.index)).value  # caught up
        found += find_candidates(gallery.index, template.vector, k=k, threshold=threshold,
                                 exclude=skip | {c.identity_id for c in found})
    return [replace(c, rank=rank) for rank, c in enumerate(found[:k], start=1)]


def distinct_partners(session: Session, identity_id: int) -> set[int]:
    """Identities an adjudicator decided are not the same person as `identity_id`."""
    pairs = session.execute(select(DedupDistinctPair.low_id, DedupDistinctPair.high_id).where(
        or_(DedupDistinctPair.low_id == identity_id, DedupDistinctPair.high_id == identity_id)))
    return {low if high == identity_id else high for low, high in pairs}


def _searches(state: AppState, probe: Probe) -> Iterator[tuple[Gallery, FaceService, Template]]:
    assert state.gallery is not None and state.faces is not None
    yield state.gallery, state.faces, probe.template
    for old in state.legacy_faces:
        template = probe.for_model(old.service.model_id)
        if isinstance(template, Template):  # that model refused the photo: nothing to search
            yield old.gallery, old.service, template


def current_threshold(state: AppState) -> Threshold:
    """The configured model's dedup threshold at its gallery's current size."""
    assert state.faces is not None and state.gallery is not None
    return state.faces.dedup_threshold(len(state.gallery.index))


def candidate_views(session: Session, candidates: list[Candidate], *,
                    reveal_uin: bool) -> list[dict]:
    from authd.registry.uin import mask_uin

    views = []
    for c in candidates:
        uin = session.get(Identity, c.identity_id).uin  # type: ignore[union-attr]
        views.append({"rank": c.rank, "score": round(c.score, 4),
                      "uin": uin if reveal_uin else mask_uin(uin)})
    return views


@dataclass(frozen=True)
class Actor:
    """Who enrolls: the API key (or batch) and the person holding it."""

    key_id: str
    holder: str


@dataclass(frozen=True)
class CaseOpened:
    case_id: str
    candidates: tuple[Candidate, ...]
    reused: bool  # a retry: the case already open for this identity and candidate set


def enroll_face(state: AppState, session: Session, identity: Identity, probe: Probe, now: int,
                *, actor: Actor, created: bool, photo: bytes | None = None
                ) -> Enrolled | CaseOpened:
    """The one enrollment path (API and batch): search the galleries under the gallery lock,
    then store the template, or hold it in a dedup case. Status rule: an identity created by
    this enrollment waits `pending` while its case is open; an existing one keeps its status
    (and its current face, if any)."""
    lock_gallery(session)
    candidates = find_duplicates(state, session, probe, exclude=identity.id)
    if not candidates:
        return store_template(state, session, identity, probe.template, now, photo)
    if created:
        identity.status = "pending"
    return open_case(state, session, identity, probe.template, candidates, actor, now)


def audit_record(done: Enrolled | CaseOpened, uin: str, actor: Actor,
                 action: str = "face.enroll") -> AuditRecord:
    """The enrollment's one audit event, for the API and the batch alike."""
    if isinstance(done, Enrolled):
        return AuditRecord(action, "success", uin=uin, factor="face",
                           detail={"actor": actor.holder})
    return AuditRecord(action, "refused", reason="possible_duplicate", uin=uin, factor="face",
                       detail={"case": done.case_id, "reused": done.reused,
                               "candidates": len(done.candidates), "actor": actor.holder})


def candidate_set(candidates: list[Candidate]) -> str:
    """A fixed-size key of the set of candidate identities (order and distances aside)."""
    ids = ",".join(str(i) for i in sorted({c.identity_id for c in candidates}))
    return hashlib.sha256(ids.encode()).hexdigest()


def open_case(state: AppState, session: Session, identity: Identity, template: Template,
              candidates: list[Candidate], actor: Actor, now: int) -> CaseOpened:
    """A new case; or, for a retry, the case already open for this identity and candidate
    set (same id; the pending template is the first one's)."""
    key = candidate_set(candidates)
    existing = session.execute(select(DedupCase).where(
        DedupCase.identity_id == identity.id, DedupCase.candidate_set == key,
        DedupCase.status == "open")).scalars().first()
    if existing is not None:
        return CaseOpened(existing.id, tuple(candidates), reused=True)
    case_id, threshold = str(uuid.uuid4()), current_threshold(state)
    session.add(DedupCase(
        id=case_id, identity_id=identity.id, opened_by=actor.key_id, opened_at=now,
        opened_holder=actor.holder, status="open", candidate_set=key,
        candidates=[{"rank": c.rank, "identity_id": c.identity_id, "distance": round(c.distance, 4),
                     "score": round(c.score, 4)} for c in candidates],
        pending_template=state.sealer.seal(template.to_bytes(), pending_aad(case_id)),
        template_model=template.model_id, threshold=round(threshold.value, 6),
        threshold_fmr=None if threshold.fmr != threshold.fmr else threshold.fmr,  # NaN: by hand
    ))
    return CaseOpened(case_id, tuple(candidates), reused=False)


def close_open_cases(session: Session, identity_id: int, now: int, reason: str,
                     keep: str | None = None) -> int:
    """Close the identity's open cases (its face was replaced or removed): their pending
    templates are dropped; the number closed."""
    cases = session.execute(select(DedupCase).where(
        DedupCase.identity_id == identity_id, DedupCase.status == "open")).scalars().all()
    closed = [c for c in cases if c.id != keep]
    for case in closed:
        case.status, case.reason, case.resolved_at = "closed", reason, now
        case.pending_template = None
    return len(closed)


def pending_aad(case_id: str) -> bytes:
    return f"authd/pending-template/v1/{case_id}".encode()


def get_case(session: Session, case_id: str) -> DedupCase:
    case = session.get(DedupCase, case_id)
    if case is None:
        raise CaseNotFound()
    return case


def list_cases(session: Session, status: str | None, limit: int) -> list[DedupCase]:
    query = select(DedupCase).order_by(DedupCase.opened_at.desc()).limit(limit)
    if status:
        query = query.where(DedupCase.status == status)
    return list(session.execute(query).scalars())


def resolve_case(state: AppState, session: Session, case: DedupCase, *, decision: str,
                 reason: str, resolver: Actor, duplicate_of: int | None, now: int) -> Identity:
    """Distinct: the enrollment completes, and the pairs (identity, candidate) are remembered
    as different people. Duplicate: refused and linked to the existing one. The resolver must
    be another person than the opener: another holder, not only another key."""
    if case.status != "open":
        raise Conflict(f"This dedup case is already {case.status}.")
    if resolver.key_id == case.opened_by or resolver.holder == (case.opened_holder
                                                                 or case.opened_by):
        raise FourEyes()
    identity = session.get(Identity, case.identity_id)
    assert identity is not None
    if decision == "distinct":
        lock_gallery(session)
        template = Template.from_bytes(state.sealer.open(case.pending_template or b"",
                                                         pending_aad(case.id)))
        if template.model_id not in loaded_models(state):
            raise Conflict("This case's photo was encoded by a face model no longer in use: "
                           "enroll the person's photo again.")
        if identity.status == "pending":
            identity.status = "active"
        store_template(state, session, identity, template, now, keep_case=case.id)
        remember_distinct(session, case, now)
    else:
        known = {c["identity_id"] for c in case.candidates}
        target = duplicate_of if duplicate_of is not None else case.candidates[0]["identity_id"]
        if target not in known:
            raise InvalidRequest("duplicate_of must be one of the case's candidates.")
        case.duplicate_of = target
        if identity.status == "pending":
            identity.status = "rejected"
    case.status, case.decision, case.reason = "resolved", decision, reason
    case.resolved_by, case.resolved_at, case.pending_template = resolver.key_id, now, None
    case.resolved_holder = resolver.holder
    return identity


def remember_distinct(session: Session, case: DedupCase, now: int) -> None:
    for other in {c["identity_id"] for c in case.candidates} - {case.identity_id}:
        low, high = sorted((case.identity_id, other))
        if session.get(DedupDistinctPair, (low, high)) is None:
            session.add(DedupDistinctPair(low_id=low, high_id=high, case_id=case.id,
                                          decided_at=now))


def enroll_or_open_case(state: AppState, session: Session, client: Client, ctx: AuditContext,
                        identity: Identity, probe: Probe, now: int, *, created: bool = False,
                        action: str = "face.enroll", photo: bytes | None = None
                        ) -> PossibleDuplicate | None:
    """enroll_face for an API caller: None when stored, else the 409 to raise
    after commit (a retry gets the open case back); either way the call's one audit event,
    named `action`."""
    who = actor(client)
    done = enroll_face(state, session, identity, probe, now, actor=who,
                                  created=created, photo=photo)
    append(session, ctx, audit_record(done, identity.uin, who, action), now)
    if isinstance(done, Enrolled):
        return None
    views = candidate_views(session, list(done.candidates),
                                       reveal_uin="admin" in client.scopes)
    return PossibleDuplicate(done.case_id, identity.uin, views)


def actor(client: Client) -> Actor:
    return Actor(key_id=client.key_id, holder=client.holder or client.key_id)
