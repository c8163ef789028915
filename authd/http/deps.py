"""Dependencies, declared once as Annotated aliases; tests override them, never patch globals.

They are `async def`: FastAPI runs a plain `def` dependency in the thread pool, a hop that
cost more than the dependency itself (the one that may read the database does so in the
pool). Each reads the state from the request rather than through another dependency:
FastAPI resolves every node of the graph on every request, and that was most of its cost."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from authd.audit.events import AuditContext
from authd.clock import Clock
from authd.errors import InsufficientScope, InvalidClient
from authd.http.state import AppState
from authd.logs import request_id_var
from authd.registry.clients import Client, authenticate
from authd.storage.db import transaction

_bearer = HTTPBearer(auto_error=False, description="API key: `authd_<key id>_<secret>`")


async def get_state(request: Request) -> AppState:
    return request.app.state.authd


StateDep = Annotated[AppState, Depends(get_state)]


async def get_clock(request: Request) -> Clock:
    return request.app.state.authd.clock  # type: ignore[no-any-return]


ClockDep = Annotated[Clock, Depends(get_clock)]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


# The scope key under which middleware.RequestContext leaves the client it authenticated
# (before the body was read); the dependency below then only reads it.
CLIENT_SCOPE_KEY = "authd.client"


def client_for(state: AppState, authorization: str | None, now: int) -> Client:
    """The client an `Authorization: Bearer <API key>` header names; InvalidClient for a
    missing header, another scheme or a bad key (the key cache spares a database read)."""
    scheme, _, presented = (authorization or "").partition(" ")
    presented = presented.strip()
    if scheme.lower() != "bearer" or not presented:
        raise InvalidClient()
    cached = state.client_cache.get(presented, now)
    if cached is not None:
        return cached
    with transaction(state.db_read) as session:
        client = authenticate(session, presented, now)
    state.client_cache.put(presented, client)
    return client


async def get_client(request: Request, credentials: Credentials) -> Client:
    known = request.scope.get(CLIENT_SCOPE_KEY)
    if isinstance(known, Client):
        return known
    if credentials is None:
        raise InvalidClient()
    state: AppState = request.app.state.authd
    return await run_in_threadpool(client_for, state,
                                   f"{credentials.scheme} {credentials.credentials}",
                                   state.clock.now())


def require(scope: str) -> Callable[[Client], Awaitable[Client]]:
    async def checked(client: Annotated[Client, Depends(get_client)]) -> Client:
        client.require(scope)
        return client

    return checked


def require_any(*scopes: str) -> Callable[[Client], Awaitable[Client]]:
    async def checked(client: Annotated[Client, Depends(get_client)]) -> Client:
        if not client.scopes & set(scopes):
            raise InsufficientScope()
        return client

    return checked


EnrollClient = Annotated[Client, Depends(require("enroll"))]
AuthClient = Annotated[Client, Depends(require("auth"))]
IntrospectClient = Annotated[Client, Depends(require("introspect"))]
AdminClient = Annotated[Client, Depends(require("admin"))]
RevokeClient = Annotated[Client, Depends(require_any("auth", "introspect"))]


async def audit_context(request: Request,
                        client: Annotated[Client, Depends(get_client)]) -> AuditContext:
    return AuditContext(request_id=request_id_var.get(), rp_id=client.rp_id,
                        subject_key=request.app.state.authd.secrets.subject_key)


AuditCtx = Annotated[AuditContext, Depends(audit_context)]
