"""The app factory: `create_app(settings)` wires everything in its lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from authd import __version__, errors, logs
from authd.clock import Clock
from authd.metrics import Metrics
from authd.middleware import RequestContext
from authd.routes import identities, ops
from authd.settings import Settings
from authd.state import AppState, open_state

Opener = Callable[[Settings, Clock | None], AppState]


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> FastAPI:
    settings = settings or Settings()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        logs.configure(settings.log_level)
        state = open_state(settings, clock)
        state.metrics = metrics
        app.state.authd = state
        try:
            yield
        finally:
            state.close()

    app = FastAPI(
        title="authd", version=__version__, lifespan=lifespan,
        summary="Identity authentication for social-protection programs",
    )
    errors.install(app)
    app.add_middleware(RequestContext, metrics=metrics, max_body_bytes=settings.max_body_bytes)
    app.include_router(ops.router)
    app.include_router(identities.router)
    return app
