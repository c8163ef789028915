"""This process's face index of one face model, kept in step with the database (the truth).

The index holds the open templates of one model (`identities.template_model`) of active
identities, keyed by identity row id; a template of another model never enters it. Every
template change appends a `gallery_changes` row in the same transaction; before a search each
process replays the rows it has not seen (re-reading the identity's current state, so replays
are idempotent). The index file in the data directory is a cache: it records the last change
it includes, and at start it is loaded and caught up, or rebuilt from the sealed templates
when it is missing, corrupt or does not match the database.

The index file is sealed like the templates it caches (AES-256-GCM under the sealing ring,
through the same TemplateVault, so it follows a rotation by `authd keys reseal`), bound to its
kind, model and id fingerprint; it and its record are written 0600. Sealing it rather than
rebuilding at every start was measured: `benchmarks/index_startup.py` (README).
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import ColumnElement, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from authd.faces.vault import TemplateVault
from authd.storage.models import GalleryChange, Identity
from keys.keyfile import atomic_write
from matching import index_file
from matching.index import FaceIndex, Hit, IndexCorrupt, IndexSettings, fingerprint_ids
from matching.templates import Template

log = logging.getLogger("authd.faces.gallery")


def template_aad(identity_id: int, version: int) -> bytes:
    """Associated data binding a sealed template to its identity row and template version."""
    return f"authd/template/v1/{identity_id}/{version}".encode()


def open_template(sealer: TemplateVault, identity: Identity) -> Template:
    assert identity.template is not None
    plain = sealer.open(identity.template, template_aad(identity.id, identity.template_version))
    return Template.from_bytes(plain)


GALLERY_LOCK = 7100  # PostgreSQL advisory lock id


def lock_gallery(session: Session) -> None:
    """Serialize gallery writers across processes until the transaction ends (SQLite:
    BEGIN IMMEDIATE already has). Search-then-store (dedup) runs under it, and change-log
    rows commit in seq order, so a replica never skips a row committed late."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"SELECT pg_advisory_xact_lock({GALLERY_LOCK})"))


def record_change(session: Session, identity_id: int, now: int) -> None:
    """Log a template change (add, replace or removal) inside the caller's transaction."""
    lock_gallery(session)  # re-entrant within one transaction
    session.add(GalleryChange(identity_id=identity_id, at=now))


@dataclass(frozen=True)
class GalleryStatus:
    count: int
    seen_seq: int
    rebuilt: bool


class Gallery:
    def __init__(self, db: sessionmaker[Session], sealer: TemplateVault, settings: IndexSettings,
                 path: Path, model_id: str) -> None:
        self.db, self.sealer, self.settings, self.path = db, sealer, settings, path
        self.model_id = model_id
        self.index = FaceIndex(settings)
        self.seen_seq = 0
        self._sync = threading.Lock()

    @property
    def meta_path(self) -> Path:
        return self.path.with_suffix(".json")

    def open(self) -> GalleryStatus:
        """Load the index file and catch up, or rebuild; then check it against the database."""
        rebuilt = not self._load()
        if rebuilt:
            self.rebuild()
        self.catch_up()
        if self.index.fingerprint() != self._database_fingerprint():
            log.warning("face index out of step with the database: rebuilding")
            self.rebuild()
            rebuilt = True
        return GalleryStatus(len(self.index), self.seen_seq, rebuilt)

    def _load(self) -> bool:
        try:
            index = FaceIndex.load(self.path, self.settings, self.sealer, self.model_id)
            meta = json.loads(self.meta_path.read_text())
            self.index, self.seen_seq = index, int(meta["seen_seq"])
            return True
        except FileNotFoundError:
            return False
        except (IndexCorrupt, ValueError, KeyError) as exc:
            log.warning("face index file unusable: rebuilding", extra={"why": type(exc).__name__})
            self.path.unlink(missing_ok=True)  # e.g. an unsealed file of an earlier version
            return False

    def rebuild(self) -> None:
        with self._sync, self.db() as session:
            seq = session.scalar(select(func.coalesce(func.max(GalleryChange.seq), 0))) or 0
            ids, vectors = self._active_templates(session)
        with self._sync:
            self.index = FaceIndex.build(self.settings, ids, vectors)
            self.seen_seq = seq

    def _mine(self) -> tuple[ColumnElement[bool], ...]:
        """The rows this index holds: active identities with a template of its model."""
        return (Identity.status == "active", Identity.template.is_not(None),
                Identity.template_model == self.model_id)

    def _active_templates(self, session: Session) -> tuple[np.ndarray, np.ndarray]:
        rows = session.execute(select(Identity).where(*self._mine())).scalars()
        pairs = [(r.id, open_template(self.sealer, r).vector) for r in rows]
        ids = np.array([p[0] for p in pairs], dtype=np.int64)
        vectors = np.array([p[1] for p in pairs], dtype=np.float32)
        vectors = vectors.reshape(-1, self.settings.dimension)
        return ids, vectors

    def _database_fingerprint(self) -> str:
        with self.db() as session:
            ids = session.scalars(select(Identity.id).where(*self._mine())).all()
        return fingerprint_ids(np.array(ids, dtype=np.int64))

    def catch_up(self, session: Session | None = None) -> int:
        """Apply every logged change not yet seen; the number applied.

        Pass the caller's session when it holds the gallery lock (enrollment), so the
        index reflects everything committed before the lock was taken.
        """
        with self._sync:
            if session is not None:
                return self._replay(session)
            with self.db() as own:
                return self._replay(own)

    def _replay(self, session: Session) -> int:
        changes = session.execute(select(GalleryChange).where(
            GalleryChange.seq > self.seen_seq).order_by(GalleryChange.seq)).scalars().all()
        for identity_id in dict.fromkeys(c.identity_id for c in changes):
            self._apply(session.get(Identity, identity_id), identity_id)
        if changes:
            self.seen_seq = changes[-1].seq
        return len(changes)

    def _apply(self, identity: Identity | None, identity_id: int) -> None:
        if identity is None or identity.status != "active" or identity.template is None \
                or identity.template_model != self.model_id:
            self.index.remove([identity_id])
            return
        self.index.add([identity_id], open_template(self.sealer, identity).vector[None, :])

    def search(self, vector: np.ndarray, k: int, session: Session | None = None) -> list[Hit]:
        self.catch_up(session)
        return self.index.search(vector[None, :], k)[0]

    def save(self) -> None:
        """Write the index file, then the record of what it includes (a crash in between
        leaves a meta file older than the index: replaying from it is harmless)."""
        with self._sync, index_file.locked(self.path):
            seq = self.seen_seq
            self.index.save(self.path, self.sealer, self.model_id)
            meta = json.dumps({"seen_seq": seq, "count": len(self.index)}).encode()
            atomic_write(self.meta_path, meta)  # 0600
