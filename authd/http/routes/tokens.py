"""Tokens for relying parties: JWKS (RFC 7517), introspection (RFC 7662), revocation (RFC 7009).

Introspection changes nothing and is not audited; revocation is, once per call. Both answer
the same way for every kind of bad token, so a caller learns nothing about other parties'
tokens: `{"active": false}` for introspection, an empty 200 for revocation (RFC 7009 §2.2).
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from authd.audit.events import AuditRecord, append
from authd.http.deps import AuditCtx, ClockDep, IntrospectClient, RevokeClient, StateDep
from authd.http.schemas import COMMON_ERRORS, IntrospectionOut, Jwks, TokenIn, error_responses
from authd.http.state import AppState
from authd.storage.db import transaction
from authd.tokens import issuance
from keys import InvalidToken

router = APIRouter(tags=["tokens"])

JWKS_MAX_AGE = 300
FORM = "application/x-www-form-urlencoded"
_TOKEN_SCHEMA = TokenIn.model_json_schema()
# The body is parsed by `token_request` (form or JSON), so describe it by hand.
TOKEN_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {
    FORM: {"schema": _TOKEN_SCHEMA}, "application/json": {"schema": _TOKEN_SCHEMA}}}}
TOKEN_ERRORS = {**COMMON_ERRORS, **error_responses(415)}


async def token_request(request: Request) -> TokenIn:
    """The `token` parameter, form-encoded (RFC 7662 §2.1, RFC 7009 §2.1) or as JSON.

    Unknown parameters are ignored (RFC 6749 §3.2).
    """
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media == FORM:
        form = await request.form()
        data: Any = {k: v for k, v in form.items() if isinstance(v, str)}
    elif media == "application/json":
        try:
            data = json.loads(await request.body())
        except ValueError:
            raise RequestValidationError([{"type": "json_invalid", "loc": ("body",),
                                           "msg": "JSON decode error"}]) from None
    else:
        raise HTTPException(415, f"Send the token as {FORM} or application/json.")
    try:
        return TokenIn.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_input=False)) from None


TokenBody = Annotated[TokenIn, Depends(token_request)]


@router.get("/.well-known/jwks.json", response_model=Jwks,
            responses={304: {"description": "Not modified (If-None-Match)"}})
def jwks(request: Request, state: StateDep, clock: ClockDep) -> Response:
    """Public signing keys: the active key and retired keys whose tokens may still be valid."""
    body = json.dumps(state.signing.jwks(clock.now()), separators=(",", ":")).encode()
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    # Cached for less time than a retired key stays published, so a relying party never
    # drops a key whose tokens are still valid; a new kid makes it re-fetch anyway.
    max_age = min(JWKS_MAX_AGE, state.signing.lifetime // 2)
    headers = {"Cache-Control": f"public, max-age={max_age}", "ETag": etag}
    if etag in _etags(request.headers.get("if-none-match", "")):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


def _etags(header: str) -> set[str]:
    return {part.strip().removeprefix("W/") for part in header.split(",")}


@router.post("/v1/tokens/introspect", response_model=IntrospectionOut,
             response_model_exclude_none=True, responses=TOKEN_ERRORS, openapi_extra=TOKEN_BODY)
async def introspect(
    body: TokenBody, client: IntrospectClient, state: StateDep, clock: ClockDep,
    response: Response,
) -> IntrospectionOut:
    """RFC 7662: the claims of an active token of the caller's relying party, else inactive."""
    response.headers["Cache-Control"] = "no-store"
    # async, with the one blocking step in the pool: FastAPI would also send the response
    # model of a plain `def` route through the pool, a second hop per request
    return await run_in_threadpool(_introspect, state, body.token, client.rp_id, clock.now())


def _introspect(state: AppState, token: str, rp_id: str, now: int) -> IntrospectionOut:
    try:
        with transaction(state.db_read) as session:  # reads only: no writer lock
            claims = issuance.active_claims(state.tokens, session, token, rp_id, now)
    except InvalidToken:
        return IntrospectionOut(active=False)
    fields = {k: claims.get(k) for k in IntrospectionOut.model_fields if k in claims}
    return IntrospectionOut(**fields, active=True, token_type=issuance.TOKEN_TYPE)


@router.post("/v1/tokens/revoke", response_class=Response, openapi_extra=TOKEN_BODY,
             responses={200: {"description": "Revoked, or nothing to revoke (RFC 7009 §2.2)",
                              "content": {}}, **TOKEN_ERRORS})
def revoke(
    body: TokenBody, client: RevokeClient, state: StateDep, clock: ClockDep, audit: AuditCtx
) -> Response:
    """RFC 7009: revoke a token of the caller's own relying party; 200 whatever the token."""
    now = clock.now()
    with transaction(state.db) as session:
        try:
            identity = issuance.revoke(state.tokens, session, body.token, client.rp_id, now)
            record = AuditRecord("token.revoke", "success", uin=identity.uin)
        except InvalidToken as exc:
            record = AuditRecord("token.revoke", "refused", reason=exc.reason)
        append(session, audit, record, now)
    return Response(status_code=200, headers={"Cache-Control": "no-store"})
