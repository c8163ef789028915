"""Re-seal every stored template under the newest sealing key, while the service runs.

Rows are re-sealed in small transactions (same associated data, so each stays bound to its
identity and version); a running server opens both old and new blobs throughout. The
saved face index files are re-sealed too, under the lock their savers take (a running server
also re-seals its own at its next save, following the ring like the templates do).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from authd.faces.enrollment import pending_aad, photo_aad
from authd.faces.gallery import template_aad
from authd.faces.models import MODEL_IDS, index_path
from authd.http.state import AppState
from authd.storage.db import transaction
from authd.storage.models import DedupCase, Identity
from matching import index_file

log = logging.getLogger("authd.faces.reseal")


@dataclass(frozen=True)
class ResealReport:
    templates: int
    pending: int
    key_id: str
    index_files: int = 0


def reseal_all(state: AppState, batch: int = 200) -> ResealReport:
    templates = pending = 0
    last_id = 0
    while True:
        with transaction(state.db) as session:
            rows = session.execute(select(Identity).where(
                Identity.id > last_id, Identity.template.is_not(None)
            ).order_by(Identity.id).limit(batch)).scalars().all()
            for row in rows:
                if row.template is not None and state.sealer.needs_reseal(row.template):
                    aad = template_aad(row.id, row.template_version)
                    row.template = state.sealer.seal(state.sealer.open(row.template, aad), aad)
                    templates += 1
                if row.photo is not None and state.sealer.needs_reseal(row.photo):
                    aad = photo_aad(row.id, row.template_version)
                    row.photo = state.sealer.seal(state.sealer.open(row.photo, aad), aad)
        if not rows:
            break
        last_id = rows[-1].id
    with transaction(state.db) as session:
        for case in session.execute(select(DedupCase).where(
                DedupCase.pending_template.is_not(None))).scalars():
            if case.pending_template is not None and \
                    state.sealer.needs_reseal(case.pending_template):
                aad = pending_aad(case.id)
                case.pending_template = state.sealer.seal(
                    state.sealer.open(case.pending_template, aad), aad)
                pending += 1
    return ResealReport(templates, pending, state.sealer.active_key_id, reseal_index_files(state))


def _index_files(state: AppState) -> list[Path]:
    """This installation's saved face indexes (one per model; AUTHD_INDEX_FILE may move them)."""
    paths = [index_path(state.settings, name) for name in MODEL_IDS]
    return [p for p in paths if p.exists()]


def reseal_index_files(state: AppState) -> int:
    """Re-seal every saved face index under the active key; the number re-sealed. One that
    does not open is left alone (the server rebuilds it from the database at start)."""
    count = 0
    for path in _index_files(state):
        try:
            with index_file.locked(path):
                count += index_file.reseal(path, state.sealer)
        except ValueError as exc:  # CorruptFile, or a label that is not JSON
            log.warning("face index file does not open: left for a rebuild",
                        extra={"path": path.name, "why": type(exc).__name__})
    return count
