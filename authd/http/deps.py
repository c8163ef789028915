"""Dependencies, declared once as Annotated aliases; tests override them, never patch globals."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from authd.audit.events import AuditContext
from authd.clock import Clock
from authd.errors import InsufficientScope, InvalidClient
from authd.http.state import AppState
from authd.logs import request_id_var
from authd.registry.clients import Client, authenticate
from authd.storage.db import transaction

_bearer = HTTPBearer(auto_error=False, description="API key: `authd_<key id>_<secret>`")


def get_state(request: Request) -> AppState:
    return request.app.state.authd


StateDep = Annotated[AppState, Depends(get_state)]


def get_clock(state: StateDep) -> Clock:
    return state.clock


ClockDep = Annotated[Clock, Depends(get_clock)]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def get_client(state: StateDep, clock: ClockDep, credentials: Credentials) -> Client:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise InvalidClient()
    presented, now = credentials.credentials, clock.now()
    cached = state.client_cache.get(presented, now)
    if cached is not None:
        return cached
    with transaction(state.db_read) as session:
        client = authenticate(session, presented, now)
    state.client_cache.put(presented, client)
    return client


def require(scope: str) -> Callable[[Client], Client]:
    def checked(client: Annotated[Client, Depends(get_client)]) -> Client:
        client.require(scope)
        return client

    return checked


def require_any(*scopes: str) -> Callable[[Client], Client]:
    def checked(client: Annotated[Client, Depends(get_client)]) -> Client:
        if not client.scopes & set(scopes):
            raise InsufficientScope()
        return client

    return checked


EnrollClient = Annotated[Client, Depends(require("enroll"))]
AuthClient = Annotated[Client, Depends(require("auth"))]
IntrospectClient = Annotated[Client, Depends(require("introspect"))]
AdminClient = Annotated[Client, Depends(require("admin"))]
RevokeClient = Annotated[Client, Depends(require_any("auth", "introspect"))]


def audit_context(state: StateDep, client: Annotated[Client, Depends(get_client)]) -> AuditContext:
    return AuditContext(request_id=request_id_var.get(), rp_id=client.rp_id,
                        subject_key=state.secrets.subject_key)


AuditCtx = Annotated[AuditContext, Depends(audit_context)]
