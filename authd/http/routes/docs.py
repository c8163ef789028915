"""API documentation that works with no internet: Swagger UI at /docs and ReDoc at /redoc,
their scripts and styles served by authd itself (the files ship in the `fastapi-offline`
wheel), and a small page at / that links to them and to the health endpoints.

FastAPI's own /docs loads Swagger UI from a CDN, which is blank on the closed networks a
national ID back end usually runs on.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from authd import __version__

ASSETS_URL = "/static/docs"
ASSETS_DIR = Path(str(files("fastapi_offline") / "static"))
# No online validator badge (it would load an image from the validator's site).
SWAGGER_PARAMETERS = {"validatorUrl": None, "persistAuthorization": False}

router = APIRouter(include_in_schema=False)

HOME = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>authd</title>
<link rel="icon" href="{assets}/favicon.png"></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 2em auto">
<h1>authd {version}</h1>
<p>Identity authentication for social-protection programs.</p>
<ul>
<li><a href="/docs">API documentation (Swagger UI)</a> &middot; <a href="/redoc">ReDoc</a>
    &middot; <a href="/openapi.json">OpenAPI document</a></li>
<li><a href="/healthz">/healthz</a> (alive) &middot; <a href="/readyz">/readyz</a>
    (database, keys and face workers ready) &middot; <a href="/metrics">/metrics</a></li>
<li><a href="/.well-known/jwks.json">/.well-known/jwks.json</a> (token verification keys)</li>
</ul></body></html>
"""


@router.get("/", response_class=HTMLResponse)
def home() -> HTMLResponse:
    return HTMLResponse(HOME.format(assets=ASSETS_URL, version=__version__))


@router.get("/docs", response_class=HTMLResponse)
def swagger_ui() -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url="/openapi.json", title="authd API",
        oauth2_redirect_url="/docs/oauth2-redirect",
        swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
        swagger_favicon_url=f"{ASSETS_URL}/favicon.png",
        swagger_ui_parameters=SWAGGER_PARAMETERS,
    )


@router.get("/docs/oauth2-redirect", response_class=HTMLResponse)
def swagger_ui_redirect() -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()


@router.get("/redoc", response_class=HTMLResponse)
def redoc() -> HTMLResponse:
    return get_redoc_html(
        openapi_url="/openapi.json", title="authd API",
        redoc_js_url=f"{ASSETS_URL}/redoc.standalone.js",
        redoc_favicon_url=f"{ASSETS_URL}/favicon.png", with_google_fonts=False,
    )


def install(app: FastAPI) -> None:
    """Mount the assets and the pages (the app is made with docs_url=None, redoc_url=None)."""
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS_DIR), name="docs-assets")
    app.include_router(router)
