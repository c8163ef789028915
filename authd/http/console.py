"""The console: a browser app for counters, enrollment stations and adjudicators at /console.

Plain ES modules, CSS and one JSON catalogue per language, served from the package (no CDN,
no build step). Every console response carries a strict Content-Security-Policy (no inline
script or style, nothing from another origin) and refuses to be framed. The console calls
only the public /v1 API.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

STATIC = Path(__file__).with_name("console_static")
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
       "media-src 'self' blob: mediastream:; connect-src 'self'; font-src 'self'; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
HEADERS = {
    "content-security-policy": CSP, "x-frame-options": "DENY",
    "x-content-type-options": "nosniff", "referrer-policy": "no-referrer",
    "permissions-policy": "camera=(self), microphone=(), geolocation=()",
    "cross-origin-opener-policy": "same-origin", "cache-control": "no-cache",
}


class SecurityHeaders:
    """Adds the console's security headers to every response of the wrapped app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []),
                                      *((k.encode(), v.encode()) for k, v in HEADERS.items())]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def languages() -> list[str]:
    """The languages the console offers: one catalogue file each (adding one is a file)."""
    return sorted(p.stem for p in (STATIC / "i18n").glob("*.json"))


def mount(app: FastAPI) -> None:
    @app.get("/console", include_in_schema=False)
    def console_root() -> RedirectResponse:
        return RedirectResponse("/console/", status_code=308)

    @app.get("/console/i18n/languages.json", include_in_schema=False)
    def console_languages() -> JSONResponse:
        return JSONResponse(languages(), headers=HEADERS)

    app.mount("/console", SecurityHeaders(StaticFiles(directory=STATIC, html=True)),
              name="console")
