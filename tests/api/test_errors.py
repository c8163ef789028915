"""Bad input: each to its error code in the one JSON shape, with nothing written."""

from __future__ import annotations

import pytest

from tests.helpers import counts


def assert_error(r, status, code):
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "request_id"}
    assert body["error"]["code"] == code
    assert body["error"]["request_id"] == r.headers["x-request-id"]


@pytest.mark.parametrize("payload, status, code", [
    (b'{"name": "A"', 400, "malformed_json"),
    (b'{"name": 12}', 422, "invalid_request"),
    (b'{"nickname": "A"}', 422, "invalid_request"),
    (b'{"date_of_birth": "yesterday"}', 422, "invalid_request"),
    (b'{"email": "not-an-address"}', 422, "invalid_request"),
    (b'[]', 422, "invalid_request"),
])
def test_bad_bodies(client, enroll_headers, state, payload, status, code):
    r = client.post("/v1/identities", content=payload,
                    headers={**enroll_headers, "content-type": "application/json"})
    assert_error(r, status, code)
    assert counts(state) == (0, 0)


def test_validation_message_does_not_echo_values(client, enroll_headers):
    r = client.post("/v1/identities", json={"phone": "secret-ish-555"}, headers=enroll_headers)
    assert_error(r, 422, "invalid_request")
    assert "secret-ish-555" not in r.text and "phone" in r.json()["error"]["message"]


def test_body_over_limit_is_413(client, enroll_headers, settings, state):
    big = b'{"name": "' + b"a" * settings.max_body_bytes + b'"}'
    r = client.post("/v1/identities", content=big,
                    headers={**enroll_headers, "content-type": "application/json"})
    assert_error(r, 413, "body_too_large")

    def chunks():
        for _ in range(settings.max_body_bytes // 65536 + 2):
            yield b"a" * 65536

    r = client.post("/v1/identities", content=chunks(), headers=enroll_headers)  # no length
    assert_error(r, 413, "body_too_large")
    assert counts(state) == (0, 0)


def test_404_405_and_request_id(client):
    assert_error(client.get("/v1/nothing"), 404, "not_found")
    assert_error(client.delete("/healthz"), 405, "method_not_allowed")
    r = client.get("/healthz", headers={"x-request-id": "counter-42-abcdef"})
    assert r.headers["x-request-id"] == "counter-42-abcdef"
    r = client.get("/healthz", headers={"x-request-id": "bad id with spaces"})
    assert r.headers["x-request-id"] != "bad id with spaces"


def test_unexpected_error_is_opaque_500(client, enroll_headers, state):
    state.engine.dispose()
    broken = state.db.kw["bind"]
    state.db.configure(bind=None)  # every session now fails inside the route
    try:
        r = client.post("/v1/identities", json={}, headers=enroll_headers)
    finally:
        state.db.configure(bind=broken)
    assert_error(r, 500, "internal_error")
    assert "Traceback" not in r.text and "bind" not in r.text.lower()


def test_ops_endpoints(client):
    assert client.get("/healthz").json()["status"] == "ok"
    ready = client.get("/readyz").json()
    assert ready["status"] == "ok" and ready["checks"]["database"] == "ok"
    client.get("/v1/nothing")
    metrics = client.get("/metrics").text
    assert 'authd_requests_total{method="GET",route="/healthz",status="200"}' in metrics
    assert "authd_request_seconds_bucket" in metrics
    assert client.get("/openapi.json").json()["info"]["title"] == "authd"
