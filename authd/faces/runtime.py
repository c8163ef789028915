"""The face models and galleries of a running state: attach them at start (the configured
model, and the older ones during a migration), encode a photo under every loaded model, save
the galleries periodically, close them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from authd.faces.gallery import Gallery
from authd.faces.models import index_path, plan_models
from authd.faces.service import FaceQueue, FaceService, ModelFaces, Probe
from authd.http.state import AppState
from matching.errors import MatchingError
from matching.index import IndexSettings
from matching.templates import Template

log = logging.getLogger("authd.faces.runtime")


def face_queue(state: AppState) -> FaceQueue:
    """The server's FaceQueue, made on first use from the settings."""
    if state.face_queue is None:
        settings = state.settings
        state.face_queue = FaceQueue(settings.face_workers, settings.face_queue_per_rp,
                                     settings.face_busy_retry_after)
    return state.face_queue


async def extract_probe(state: AppState, data: bytes, rp_id: str) -> Probe:
    """The photo's templates under every loaded model, encoded at once in their pools, in
    `rp_id`'s turn (FacesBusy when it has too many in flight); the configured model's
    refusal (a MatchingError) is the caller's to report."""
    async with face_queue(state).turn(rp_id):
        return await _extract_probe(state, data)


async def _extract_probe(state: AppState, data: bytes) -> Probe:
    assert state.faces is not None
    jobs = [state.faces.extract(data), *(old.service.extract(data) for old in state.legacy_faces)]
    results = await asyncio.gather(*jobs, return_exceptions=True)
    if isinstance(results[0], BaseException):
        raise results[0]
    others: dict[str, Template | str] = {}
    for old, result in zip(state.legacy_faces, results[1:], strict=True):
        if isinstance(result, MatchingError):
            others[old.service.model_id] = result.code
        elif isinstance(result, BaseException):
            raise result
        else:
            others[old.service.model_id] = result
    return Probe(results[0], others)  # type: ignore[arg-type]


def open_gallery(state: AppState, service: FaceService) -> Gallery:
    settings = state.settings
    gallery = Gallery(state.db_read, state.sealer,
                      IndexSettings(kind=settings.index_kind, dimension=service.dimension),
                      index_path(settings, service.name), service.model_id)
    status = gallery.open()
    log.info("face gallery open", extra={"model": service.name, "count": status.count,
                                          "rebuilt": status.rebuilt})
    return gallery


def attach_faces(state: AppState, shared: Sequence[FaceService] = ()) -> Gallery:
    """Load the face models the gallery needs (the configured one; the older ones too during
    a migration), starting those not `shared` by the caller; FaceModelMismatch when the
    gallery holds another model's templates and no migration is under way."""
    settings = state.settings
    with state.db_read() as session:
        plan = plan_models(settings, session)
    given = {s.name: s for s in shared}

    def service(name: str) -> tuple[FaceService, bool]:
        return (given[name], False) if name in given else (FaceService.start(settings, name), True)

    state.faces, _ = service(plan.current)
    state.gallery = gallery = open_gallery(state, state.faces)
    legacy = []
    for name in plan.legacy:
        old, owned = service(name)
        legacy.append(ModelFaces(old, open_gallery(state, old), owned))
    state.legacy_faces = tuple(legacy)
    services = [state.faces, *(old.service for old in legacy)]
    state.readiness.update(
        index=lambda: "ok" if state.gallery is gallery else "failing",
        faces=lambda: "ok" if all(s.healthy() for s in services) else "failing")
    return gallery


def galleries(state: AppState) -> list[Gallery]:
    current = [state.gallery] if state.gallery is not None else []
    return current + [old.gallery for old in state.legacy_faces]


async def open_faces(state: AppState, faces: Sequence[FaceService]) -> list[asyncio.Task]:
    """In the lifespan: attach faces off the event loop; the periodic index save is returned."""
    if not state.settings.faces_enabled:
        return []
    await asyncio.to_thread(attach_faces, state, faces)
    return [asyncio.create_task(_save_periodically(state, state.settings.index_save_seconds))]


async def _save_periodically(state: AppState, seconds: int) -> None:
    while True:
        await asyncio.sleep(seconds)
        for gallery in galleries(state):
            await asyncio.to_thread(gallery.catch_up)
            await asyncio.to_thread(gallery.save)


def close_faces(state: AppState, *, owned: bool) -> None:
    for gallery in galleries(state):
        gallery.catch_up()
        gallery.save()
    if owned and state.faces is not None:
        state.faces.close()
    for old in state.legacy_faces:
        if old.owned:
            old.service.close()
