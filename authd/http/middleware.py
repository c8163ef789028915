"""Pure-ASGI middleware: request id, access log line, metrics, API key, body-size limit.

For every /v1 route (a path a route answers) the API key is checked first, from the headers
alone: a missing or bad key is a 401 `invalid_client` before a byte of the body is read,
parsed or validated (an anonymous caller can make the server neither buffer a body nor tell
it which fields it wants). The client found is left in the scope for the route's dependency
(authd.http.deps)."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Mapping
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from authd.errors import AuthdError
from authd.http.deps import CLIENT_SCOPE_KEY, client_for
from authd.http.handlers import error_response
from authd.http.metrics import Metrics
from authd.logs import request_id_var

log = logging.getLogger("authd.access")
_GOOD_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class RequestContext:
    """Outermost: gives every request an id, limits its body, times and counts it."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics, max_body_bytes: int) -> None:
        self.app, self.metrics, self.max_body = app, metrics, max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        offered = _header(scope, b"x-request-id")
        rid = offered if offered and _GOOD_ID.match(offered) else uuid.uuid4().hex
        token = request_id_var.set(rid)
        status: dict[str, int] = {"code": 500}
        started = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self._guarded(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - started
            route = _route_template(scope)
            self.metrics.observe(route, scope["method"], status["code"], elapsed)
            log.info("request", extra={"method": scope["method"], "route": route,
                                       "status": status["code"], "ms": round(elapsed * 1000, 2)})
            request_id_var.reset(token)

    async def _guarded(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app; an unexpected exception becomes an opaque 500 with our request id."""
        started = {"response": False}

        async def tracking_send(message: Message) -> None:
            started["response"] |= message["type"] == "http.response.start"
            await send(message)

        try:
            await self._checked(scope, receive, tracking_send)
        except Exception as exc:  # the one place that turns a crash into the error shape
            log.error("unexpected error", extra={"exc_type": type(exc).__name__})
            if started["response"]:
                raise
            await error_response(500, "internal_error", "Internal error.")(scope, receive, send)

    async def _checked(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The API key (on /v1), then the body size, then the app."""
        if scope["path"].startswith("/v1/"):
            try:
                scope[CLIENT_SCOPE_KEY] = await _client(scope)
            except AuthdError as exc:  # InvalidClient; the body stays unread
                if _routed(scope):  # (the route table is walked only for a refused key)
                    await error_response(exc.status_code, exc.code, str(exc),
                                         {"WWW-Authenticate": "Bearer"})(scope, receive, send)
                    return
        replay = await self._bounded_body(scope, receive)
        if replay is None:
            response = error_response(413, "body_too_large",
                                      f"The body is larger than {self.max_body} bytes.")
            await response(scope, receive, send)
            return
        await self.app(scope, replay, send)

    async def _bounded_body(self, scope: Scope, receive: Receive) -> Receive | None:
        """Read the body up to the limit; None when it is over (before reading it all)."""
        declared = _header(scope, b"content-length")
        if declared and declared.isdigit() and int(declared) > self.max_body:
            return None
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return _replay([message], receive)
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_body:
                return None
            more = message.get("more_body", False)
        body = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        return _replay([body], receive)


def _routed(scope: Scope) -> bool:
    """A route answers this path (with this method or another): an unknown path stays a
    404 whoever asks."""
    return any(route.matches(scope)[0] is not Match.NONE for route in scope["app"].routes)


async def _client(scope: Scope) -> Any:
    """The client the Authorization header names (authd.http.deps.client_for); a key seen
    lately comes from the cache, on the loop; otherwise the database, in the thread pool."""
    state = scope["app"].state.authd
    authorization, now = _header(scope, b"authorization"), state.clock.now()
    cached = _cached(state, authorization, now)
    if cached is not None:
        return cached
    return await run_in_threadpool(client_for, state, authorization, now)


def _cached(state: Any, authorization: str | None, now: int) -> Any:
    scheme, _, presented = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        return None
    return state.client_cache.get(presented.strip(), now)


def _replay(messages: list[Message], then: Receive) -> Receive:
    """The messages already read, then the real channel: a response that listens for the
    client's disconnect (a file, a stream) must not hear one that did not happen."""
    pending = list(messages)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await then()

    return replay


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


def _route_template(scope: Mapping[str, Any]) -> str:
    route = scope.get("route")
    return getattr(route, "path", None) or "unmatched"
