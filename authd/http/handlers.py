"""One JSON error shape for every error: {"error": {"code", "message", "request_id"}}.

Our three exception trees (AuthdError, MatchingError, KeysError) keep one contract
(authd.errors.ErrorContract): the body carries their `code`, `message` and `public_details`,
the response their `headers`; `audit_details` are never rendered. Validation errors name the
fields at fault but never echo their values; a 5xx, ours or unexpected, says nothing of the
internals.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from authd.errors import AuthdError, ErrorContract
from authd.logs import request_id_var
from keys.errors import KeysError
from matching.errors import MatchingError

log = logging.getLogger("authd.http.handlers")

# The roots of the three trees; typed so that mypy checks each one keeps the contract.
TREES: tuple[type[ErrorContract], ...] = (AuthdError, MatchingError, KeysError)

HTTP_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 406: "not_acceptable", 413: "body_too_large",
    415: "unsupported_media_type", 429: "rate_limited",
}


def error_response(status: int, code: str, message: str, headers: dict | None = None,
                   details: dict[str, Any] | None = None) -> JSONResponse:
    error = {"code": code, "message": message, "request_id": request_id_var.get()}
    body = {"error": {**(details or {}), **error}}
    return JSONResponse(body, status_code=status, headers=headers)


async def _ours(_: Request, exc: ErrorContract) -> JSONResponse:
    code, status = exc.code, exc.status_code
    if status == 500:
        log.error("server-side failure", extra={"code": code})
        return error_response(status, code, "Internal error.")
    if status > 500:  # unavailable or busy: our own fixed message, e.g. with a Retry-After
        log.warning("service unavailable", extra={"code": code})
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    headers.update(exc.headers)  # e.g. Retry-After on a 429
    return error_response(status, code, exc.message, headers, dict(exc.public_details))


def _where(error: dict[str, Any]) -> str:
    return ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "body"


async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return error_response(400, "malformed_json", "The body is not valid JSON.")
    # The message names each field and what is wrong, never the value sent.
    parts = [f"{_where(e)}: {e.get('msg', 'invalid')}" for e in errors[:5]]
    return error_response(422, "invalid_request", "; ".join(parts))


async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
    code = HTTP_CODES.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else code
    return error_response(exc.status_code, code, message, getattr(exc, "headers", None))


def install(app: FastAPI) -> None:
    for tree in TREES:
        app.add_exception_handler(tree, _ours)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http)  # type: ignore[arg-type]
    # Unexpected exceptions are turned into the error shape by middleware.RequestContext,
    # which runs inside Starlette's ServerErrorMiddleware and so still knows the request id.
