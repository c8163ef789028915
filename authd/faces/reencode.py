"""`authd faces migrate --to MODEL`: re-encode the gallery under another face model.

Each identity still on another model is re-encoded from its kept, sealed photo
(`face_keep_photos`) and stored in a transaction of its own with its audit event, so a crash
loses nothing and a re-run continues with the identities still on an old model. Identities
with no kept photo (or whose photo the new model's quality gate refuses) are listed for
re-capture: they keep authenticating on their old template, since servers load the old model
too while the migration is under way, until they are enrolled again. The migration is
finished once no active identity holds a template of another model; servers then load only
the new one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from authd.audit.events import AuditContext, AuditRecord, append
from authd.errors import Conflict
from authd.faces.enrollment import photo_aad, store_template
from authd.faces.gallery import lock_gallery
from authd.faces.models import migration_under_way, model_id
from authd.faces.service import FaceService
from authd.http.state import AppState
from authd.storage.db import transaction
from authd.storage.models import FaceMigration, Identity
from matching.errors import MatchingError
from matching.templates import Template

ACTOR = "cli-faces-migrate"


@dataclass(frozen=True)
class Outcome:
    uin: str
    outcome: str  # migrated | recapture | skipped
    code: str = ""  # why: no_photo, a quality code, inactive, changed
    from_model: str = ""


@dataclass(frozen=True)
class _Row:
    identity_id: int
    uin: str
    version: int
    from_model: str
    active: bool
    photo: bytes | None

    def __repr__(self) -> str:  # never the photo
        return f"_Row({self.identity_id}, {self.from_model})"


def begin(state: AppState, to_model: str, now: int) -> FaceMigration:
    """The migration to `to_model` under way, resumed or started (recorded in the database,
    so servers started from now on load the old models too)."""
    with transaction(state.db) as session:
        running = migration_under_way(session)
        if running is not None and running.to_model != to_model:
            raise Conflict(f"A migration to {running.to_model} is under way: finish it first "
                           f"(authd faces migrate --to {running.to_model}).")
        if running is None:
            running = FaceMigration(to_model=to_model, started_at=now, updated_at=now)
            session.add(running)
            session.flush()
        return running


def todo(state: AppState, to_model: str) -> list[int]:
    """Identities whose template is of another model, in id order."""
    with transaction(state.db_read) as session:
        return list(session.scalars(select(Identity.id).where(
            Identity.template.is_not(None), Identity.template_model != to_model
        ).order_by(Identity.id)))


def remaining(session: Session, to_model: str) -> int:
    """Active identities still on another model (they block the migration's end)."""
    return int(session.scalar(select(func.count()).select_from(Identity).where(
        Identity.status == "active", Identity.template.is_not(None),
        Identity.template_model != to_model)) or 0)


@dataclass(frozen=True)
class Migrated:
    outcomes: list[Outcome]
    remaining: int  # active identities still on an old model (to re-capture)

    @property
    def finished(self) -> bool:
        return self.remaining == 0


def migrate(state: AppState, service: FaceService, *, chunk: int = 16,
            progress: Callable[[int], None] = lambda n: None) -> Migrated:
    """Re-encode every identity on another model with `service`'s model."""
    to_model = service.model_id
    if model_id(service.name) != to_model:
        raise ValueError("the face service does not run the model it names")
    migration = begin(state, to_model, state.clock.now())
    ids, outcomes = todo(state, to_model), []
    for start in range(0, len(ids), chunk):
        rows = _load(state, ids[start:start + chunk])
        outcomes += list(_encode_and_store(state, service, rows))
        progress(len(rows))
    return Migrated(outcomes, _finish(state, migration.id, to_model, outcomes))


def _load(state: AppState, ids: list[int]) -> list[_Row]:
    with transaction(state.db_read) as session:
        rows = session.scalars(select(Identity).where(Identity.id.in_(ids))
                               .order_by(Identity.id)).all()
        return [_Row(r.id, r.uin, r.template_version, r.template_model or "",
                     r.status == "active", _open_photo(state, r)) for r in rows]


def _open_photo(state: AppState, identity: Identity) -> bytes | None:
    if identity.photo is None:
        return None
    return state.sealer.open(identity.photo, photo_aad(identity.id, identity.template_version))


def _encode_and_store(state: AppState, service: FaceService,
                      rows: list[_Row]) -> Iterator[Outcome]:
    jobs = {r.identity_id: service.submit(r.photo) for r in rows if r.photo is not None}
    for row in rows:
        if row.photo is None:
            yield Outcome(row.uin, "recapture" if row.active else "skipped",
                          "no_photo" if row.active else "inactive", row.from_model)
            continue
        try:
            template = jobs[row.identity_id].result()
        except MatchingError as exc:
            yield Outcome(row.uin, "recapture" if row.active else "skipped", exc.code,
                          row.from_model)
            continue
        yield _store(state, row, template)


def _store(state: AppState, row: _Row, template: Template) -> Outcome:
    """Store the new template unless the identity changed since it was read (re-enrolled,
    deactivated: then the newer state stands)."""
    now = state.clock.now()
    ctx = AuditContext(request_id=f"faces-migrate-{row.identity_id}", rp_id="cli",
                       subject_key=state.secrets.subject_key)
    with transaction(state.db) as session:
        lock_gallery(session)
        identity = session.get(Identity, row.identity_id)
        if identity is None or identity.template_version != row.version:
            return Outcome(row.uin, "skipped", "changed", row.from_model)
        store_template(state, session, identity, template, now, row.photo, keep=True,
                       new_face=False)
        append(session, ctx, AuditRecord("face.migrate", "success", uin=row.uin, factor="face",
                                         detail={"from": row.from_model, "to": template.model_id}),
               now)
    return Outcome(row.uin, "migrated", "", row.from_model)


def _finish(state: AppState, migration_id: int, to_model: str, outcomes: list[Outcome]) -> int:
    """One audit event for the run; the migration ends when nothing active is left on an
    old model. The number left."""
    now = state.clock.now()
    ctx = AuditContext(request_id=f"faces-migrate-run-{migration_id}", rp_id="cli",
                       subject_key=state.secrets.subject_key)
    with transaction(state.db) as session:
        migration = session.get(FaceMigration, migration_id)
        assert migration is not None
        left = remaining(session, to_model)
        migration.updated_at = now
        if left == 0:
            migration.finished_at = now
        counts = {k: sum(1 for o in outcomes if o.outcome == k)
                  for k in ("migrated", "recapture", "skipped")}
        append(session, ctx, AuditRecord("faces.migrate", "success", detail={
            "to": to_model, **counts, "remaining": left, "finished": left == 0}), now)
    return left
