"""/docs, /redoc and / work on a network with no internet: every script, style and icon they
reference is same-origin and served by authd itself."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

ASSET = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url:\s*['"]([^'"]+)['"]""")
TYPES = {".js": "javascript", ".css": "text/css", ".png": "image/png", ".json": "application/json"}


def references(html: str) -> list[str]:
    return [a or b for a, b in ASSET.findall(html)]


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_page_loads_only_same_origin_assets_and_they_are_served(client, page):
    r = client.get(page)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    refs = references(r.text)
    scripts = [u for u in refs if u.endswith(".js")]
    assert scripts, f"{page} names no script: {refs}"
    assert "cdn" not in r.text.lower() and "googleapis" not in r.text
    for url in refs:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc, f"{page} loads {url} from elsewhere"
        assert url.startswith("/"), url
        asset = client.get(url)
        assert asset.status_code == 200, url
        suffix = next((s for s in TYPES if parts.path.endswith(s)), None)
        if suffix:
            assert TYPES[suffix] in asset.headers["content-type"], (url, asset.headers)
        assert len(asset.content) > 100


def test_swagger_bundle_is_a_version_that_reads_openapi_3_1(client):
    spec = client.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.1")
    bundle = client.get("/static/docs/swagger-ui-bundle.js").text
    # Swagger UI renders OpenAPI 3.1 from version 5 on (4.x shows "no valid version field").
    assert "isOAS31" in bundle


def test_home_page_links_docs_and_health(client):
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    links = set(references(r.text))
    assert {"/docs", "/redoc", "/openapi.json", "/healthz", "/readyz"} <= links
    for link in links:
        assert not urlsplit(link).netloc
        assert client.get(link).status_code in (200, 503), link  # /readyz may say not ready
