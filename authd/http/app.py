"""The app factory: `create_app(settings)` wires everything in its lifespan."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress

from fastapi import FastAPI

from authd import __version__, logs
from authd.audit import sequencer
from authd.clock import Clock
from authd.faces.runtime import close_faces, open_faces
from authd.faces.service import FaceService
from authd.http import console, handlers
from authd.http.metrics import Metrics
from authd.http.middleware import RequestContext
from authd.http.routes import audit, auth, docs, identities, ops, resident, tokens
from authd.http.routes import faces as face_routes  # `faces` is create_app's parameter
from authd.http.schemas import API_ERRORS
from authd.http.state import open_state
from authd.settings import Settings
from authd.storage import housekeeping
from authd.tokens import rotation


def create_app(settings: Settings | None = None, *, clock: Clock | None = None,
               faces: FaceService | Sequence[FaceService] | None = None) -> FastAPI:
    """The app; `faces` lets a caller share loaded face services, one per model (tests,
    benchmarks); the app starts those it needs and was not given."""
    settings = settings or Settings()
    shared = [faces] if isinstance(faces, FaceService) else list(faces or ())
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        logs.configure(settings.log_level)
        state = open_state(settings, clock)
        state.metrics = metrics
        app.state.authd = state
        upkeep = rotation.start_upkeep(state.signing, state.clock)
        purge = housekeeping.start(state.db, state.settings, state.clock)
        chain = state.audit_chain()
        linker, election = sequencer.start(chain)
        face_tasks = await open_faces(state, shared)
        try:
            yield
        finally:
            for task in (upkeep, purge, linker, *face_tasks):
                task.cancel()
                with suppress(asyncio.CancelledError):
                    await task
            await asyncio.to_thread(sequencer.finish, chain, election)
            close_faces(state, owned=state.faces not in shared)
            state.close()

    app = FastAPI(
        title="authd", version=__version__, lifespan=lifespan,
        summary="Identity authentication for social-protection programs",
        docs_url=None, redoc_url=None,  # served from the package by routes/docs.py
    )
    handlers.install(app)
    app.add_middleware(RequestContext, metrics=metrics, max_body_bytes=settings.max_body_bytes)
    app.include_router(ops.router)
    docs.install(app)
    app.include_router(identities.router, responses=API_ERRORS)
    app.include_router(tokens.router)
    app.include_router(auth.router, responses=API_ERRORS)
    app.include_router(resident.router, responses=API_ERRORS)
    app.include_router(face_routes.router, responses=API_ERRORS)
    app.include_router(audit.router)
    console.mount(app)
    return app
