"""schemathesis over the served OpenAPI document of the whole app (SQLite): no 5xx, and every
response conforms to what the document says (status, content type, headers, body schema)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance

from authd.http.app import create_app
from authd.registry.clients import SCOPES
from authd.settings import Settings
from tests.helpers import MASTER_KEY, bearer, make_key

pytestmark = pytest.mark.filterwarnings("ignore")

# The schema is read at collection time (schemathesis parametrizes from it), from the very app
# the fixture below then starts, with the real face model: the face routes are fuzzed too
# (random bytes as photos must be 4xx image_unreadable, never a 500).
DATA = Path(tempfile.mkdtemp(prefix="authd-schemathesis-")) / "data"
APP = create_app(Settings(data_dir=DATA, master_key=MASTER_KEY, database_url=None,
                          faces_enabled=True, face_workers=1))
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)
# A schema-valid body may still break a rule no JSON Schema states (a UIN's Verhoeff check
# digit, an unknown txn_id): a 4xx for it is right, so that one check does not apply.
NOT_APPLICABLE = [positive_data_acceptance]


@pytest.fixture(scope="module")
def headers() -> Iterator[dict[str, str]]:
    with TestClient(APP, raise_server_exceptions=False) as client:
        state = client.app.state.authd  # type: ignore[attr-defined]
        yield bearer(make_key(state, list(SCOPES), rp_id="fuzzer"))


@schema.parametrize()
@settings(max_examples=20, derandomize=True, deadline=None,
          suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema(case, headers):
    case.call_and_validate(headers=headers, excluded_checks=NOT_APPLICABLE)
