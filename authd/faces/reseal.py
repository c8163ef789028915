"""Re-seal every stored template under the newest sealing key, while the service runs.

Rows are re-sealed in small transactions (same associated data, so each stays bound to its
identity and version); a running server opens both old and new blobs throughout.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from authd.faces.enrollment import pending_aad, photo_aad
from authd.faces.gallery import template_aad
from authd.http.state import AppState
from authd.storage.db import transaction
from authd.storage.models import DedupCase, Identity


@dataclass(frozen=True)
class ResealReport:
    templates: int
    pending: int
    key_id: str


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
    return ResealReport(templates, pending, state.sealer.active_key_id)
