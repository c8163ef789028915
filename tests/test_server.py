"""A real `authd serve` process on loopback: first start, API key, a call, clean shutdown."""

from __future__ import annotations

import re
import signal

import httpx
import pytest

from tests.helpers import free_port, start_server, wait_ready

pytestmark = pytest.mark.slow


def test_serve_first_start_and_call(tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start_server(tmp_path / "data", port)
    try:
        wait_ready(base, proc)
        r = httpx.post(f"{base}/v1/identities", json={"name": "Amina"}, timeout=10)
        assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_client"
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    key = re.search(r"authd_[A-Za-z0-9]{12}_[A-Za-z0-9_-]+", out)
    assert key, "first start prints the default relying party's key"
    assert key.group(0) not in err  # the key is shown once, on stdout, never logged
    # uvicorn shuts down gracefully on SIGTERM, then re-raises the signal it caught.
    assert proc.returncode in (0, -signal.SIGTERM) and "shutdown complete" in err
    # Second start on the same data dir: same key still valid, no new key printed.
    proc = start_server(tmp_path / "data", port)
    try:
        wait_ready(base, proc)
        r = httpx.post(f"{base}/v1/identities", json={"name": "Amina"}, timeout=10,
                       headers={"Authorization": f"Bearer {key.group(0)}"})
        assert r.status_code == 201, r.text
        assert r.headers["x-request-id"]
    finally:
        proc.send_signal(signal.SIGTERM)
        out2, err2 = proc.communicate(timeout=30)
    assert "authd_" not in out2
    request_lines = [line for line in err2.splitlines() if '"msg": "request"' in line]
    assert any(r.headers["x-request-id"] in line for line in request_lines)
