"""Face enrollment with 1:N deduplication, and the adjudication of possible duplicates.

Before a template is stored for an identity, the gallery is searched; a candidate closer than
the dedup threshold opens a case and nothing is enrolled until an admin other than the one who
opened it resolves the case (four eyes). The search and the store happen under one lock
(SQLite's write lock, or a PostgreSQL advisory lock), so two stations enrolling the same face
at once cannot both miss each other.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from authd.errors import AuthdError, Conflict, InvalidRequest, NotFound
from authd.faces.gallery import Gallery, lock_gallery, record_change, template_aad
from authd.faces.service import FaceService, Probe
from authd.http.state import AppState
from authd.storage.models import DedupCase, Identity
from matching.dedup import Candidate, score
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
    message = "A dedup case must be resolved by an admin other than the one who opened it."


@dataclass(frozen=True)
class Enrolled:
    identity_id: int
    template_version: int


def store_template(state: AppState, session: Session, identity: Identity, template: Template,
                   now: int, photo: bytes | None = None, *, keep: bool | None = None) -> Enrolled:
    """Seal and store `template` as the identity's current one and log the gallery change.
    The photo is kept (sealed) where `keep` (default: `face_keep_photos`) asks for it; else
    it is dropped. `template_model` records the model that made the template."""
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
    """Candidates closer than each gallery's dedup threshold for its size: the configured
    model's gallery, then (a migration under way) each older model's, with the probe's
    template of that model. Distances of two models are not comparable, so each gallery
    keeps its own order and the configured model's candidates rank first."""
    close: list[tuple[int, float]] = []
    for gallery, service, template in _searches(state, probe):
        hits = gallery.search(template.vector, state.settings.dedup_top_k + 1, session)
        threshold = service.dedup_threshold(len(gallery.index)).value  # caught up
        seen = {c[0] for c in close}
        close += [(h.id, h.distance) for h in hits
                  if h.id != exclude and h.distance < threshold and h.id not in seen]
    return [Candidate(rank, identity_id, d, score(d))
            for rank, (identity_id, d) in enumerate(close[: state.settings.dedup_top_k], start=1)]


def _searches(state: AppState, probe: Probe) -> Iterator[tuple[Gallery, FaceService, Template]]:
    assert state.gallery is not None and state.faces is not None
    yield state.gallery, state.faces, probe.template
    for old in state.legacy_faces:
        template = probe.for_model(old.service.model_id)
        if isinstance(template, Template):  # that model refused the photo: nothing to search
            yield old.gallery, old.service, template


def candidate_views(session: Session, candidates: list[Candidate], *,
                    reveal_uin: bool) -> list[dict]:
    from authd.registry.uin import mask_uin

    views = []
    for c in candidates:
        uin = session.get(Identity, c.identity_id).uin  # type: ignore[union-attr]
        views.append({"rank": c.rank, "score": round(c.score, 4),
                      "uin": uin if reveal_uin else mask_uin(uin)})
    return views


def open_case(state: AppState, session: Session, identity: Identity, template: Template,
              candidates: list[Candidate], opened_by: str, now: int) -> DedupCase:
    case_id = str(uuid.uuid4())
    case = DedupCase(
        id=case_id, identity_id=identity.id, opened_by=opened_by, opened_at=now, status="open",
        candidates=[{"rank": c.rank, "identity_id": c.identity_id, "distance": round(c.distance, 4),
                     "score": round(c.score, 4)} for c in candidates],
        pending_template=state.sealer.seal(template.to_bytes(), pending_aad(case_id)),
        template_model=template.model_id,
    )
    session.add(case)
    return case


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
                 reason: str, resolver: str, duplicate_of: int | None, now: int) -> Identity:
    """Distinct: the enrollment completes. Duplicate: refused and linked to the existing one."""
    if case.status != "open":
        raise Conflict("This dedup case is already resolved.")
    if resolver == case.opened_by:
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
        store_template(state, session, identity, template, now)
    else:
        known = {c["identity_id"] for c in case.candidates}
        target = duplicate_of if duplicate_of is not None else case.candidates[0]["identity_id"]
        if target not in known:
            raise InvalidRequest("duplicate_of must be one of the case's candidates.")
        case.duplicate_of = target
        if identity.status == "pending":
            identity.status = "rejected"
    case.status, case.decision, case.reason = "resolved", decision, reason
    case.resolved_by, case.resolved_at, case.pending_template = resolver, now, None
    return identity
