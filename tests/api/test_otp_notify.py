"""OTP delivery: the outbox file, and the signed webhook against a real HTTP server on
loopback (a gateway that fails twice then succeeds, one that always fails, a slow one)."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import multiprocessing
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from pydantic import SecretStr

from authd.otp.notify import BackgroundNotifier, OtpMessage, OutboxNotifier, WebhookNotifier
from tests.helpers import counter, enroll, request_otp

SECRET = b"gateway-shared-secret-0123456789"
MESSAGE = OtpMessage(at=1, channel="sms", to="+212612345678", txn_id="txn-1",
                     text="Your one-time code to authenticate is 493817.")


class Gateway:
    """A real HTTP server: answers the scripted statuses in turn, then 200."""

    def __init__(self, statuses: list[int], hold: threading.Event | None = None) -> None:
        self.statuses, self.hold, self.received = list(statuses), hold, []
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if gateway.hold is not None:
                    gateway.hold.wait(10)
                gateway.received.append((dict(self.headers), body))
                status = gateway.statuses.pop(0) if gateway.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/sms"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def gateway_factory() -> Iterator:
    made: list[Gateway] = []

    def make(statuses: list[int], hold: threading.Event | None = None) -> Gateway:
        made.append(Gateway(statuses, hold))
        return made[-1]

    yield make
    for g in made:
        g.close()


def webhook(url: str, **kw) -> WebhookNotifier:
    return WebhookNotifier(url, SECRET, tries=3, backoff=0.01, **kw)


def test_webhook_signs_the_body(gateway_factory):
    gateway = gateway_factory([])
    webhook(gateway.url).send(MESSAGE)
    [(headers, body)] = gateway.received
    expected = hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    assert headers["X-Authd-Signature"] == f"sha256={expected}"
    assert json.loads(body) == {"at": 1, "channel": "sms", "to": "+212612345678",
                                "txn_id": "txn-1", "text": MESSAGE.text}


def test_webhook_retries_with_backoff_then_succeeds(gateway_factory):
    gateway, waits = gateway_factory([503, 500]), []
    webhook(gateway.url, sleep=waits.append).send(MESSAGE)
    assert len(gateway.received) == 3 and _jittered(waits)


def _jittered(waits: list[float]) -> bool:
    """Exponential backoff with full jitter: the n-th wait is random in [0, 0.01 * 2**n]."""
    bounded = len(waits) == 2 and all(0 <= w <= 0.01 * 2**n for n, w in enumerate(waits))
    return bounded and waits != [0.01, 0.02]  # not the bare exponential (jitter is random)


def test_webhook_that_always_fails_is_logged_without_the_code(gateway_factory, caplog):
    caplog.set_level(logging.DEBUG)
    gateway = gateway_factory([500] * 10)
    notifier = BackgroundNotifier(webhook(gateway.url))
    notifier.send(MESSAGE)
    notifier.flush()
    notifier.close()
    assert len(gateway.received) == 3
    logged = caplog.text + " ".join(str(r.__dict__) for r in caplog.records)
    assert "OTP delivery failed" in caplog.text and "txn-1" in logged
    assert "493817" not in logged and "612345678" not in logged


def test_permanent_refusal_is_not_retried_and_unreachable_gateway_is(gateway_factory):
    gateway = gateway_factory([400])
    notifier = BackgroundNotifier(webhook(gateway.url))
    notifier.send(MESSAGE)
    notifier.flush()
    assert len(gateway.received) == 1
    waits: list[float] = []
    with pytest.raises(Exception, match="3 attempt"):
        webhook("http://127.0.0.1:9/nothing-listens", sleep=waits.append).send(MESSAGE)
    assert _jittered(waits)


def _append_many(path: str, n: int) -> None:
    notifier = OutboxNotifier(Path(path))
    for i in range(n):
        notifier.send(OtpMessage(at=i, channel="sms", to="x", txn_id=f"p{i}", text="y" * 3000))


def test_outbox_appends_whole_lines_from_threads_and_processes(tmp_path):
    path = tmp_path / "outbox.jsonl"
    threads = [threading.Thread(target=_append_many, args=(str(path), 50)) for _ in range(4)]
    procs = [multiprocessing.get_context("spawn").Process(target=_append_many,
                                                          args=(str(path), 50))
             for _ in range(2)]
    for worker in (*threads, *procs):
        worker.start()
    for worker in (*threads, *procs):
        worker.join()
    lines = path.read_text().splitlines()
    assert len(lines) == 300 and all(json.loads(line)["text"] == "y" * 3000 for line in lines)
    assert path.stat().st_mode & 0o777 == 0o600


@pytest.fixture
def hold() -> threading.Event:
    return threading.Event()


@pytest.fixture
def slow_gateway(gateway_factory, hold) -> Gateway:
    return gateway_factory([503], hold)  # holds every request until released; fails once


@pytest.fixture
def settings(settings, slow_gateway):
    return settings.model_copy(update={
        "otp_notifier": "webhook", "otp_webhook_url": slow_gateway.url,
        "otp_webhook_secret": SecretStr(SECRET.decode()), "otp_webhook_backoff_seconds": 0.01})


def test_api_answers_202_without_waiting_for_the_gateway(client, state, hold, slow_gateway):
    uin, headers = enroll(client, state), counter(state)
    r = request_otp(client, headers, uin)  # the gateway is holding every request
    assert r.status_code == 202 and slow_gateway.received == []
    hold.set()
    state.notifier.flush()
    assert len(slow_gateway.received) == 2  # a 503, then delivered on the retry
    [delivered] = {json.loads(body)["txn_id"] for _, body in slow_gateway.received}
    assert delivered == r.json()["txn_id"]


def test_outbox_drops_entries_older_than_the_otp_lifetime(tmp_path):
    path = tmp_path / "outbox.jsonl"
    notifier = OutboxNotifier(path, max_age=180)
    for at in (1000, 1100, 1150):
        notifier.send(OtpMessage(at=at, channel="sms", to="x", txn_id=f"t{at}", text="y"))
    assert [json.loads(ln)["txn_id"] for ln in path.read_text().splitlines()] == \
        ["t1000", "t1100", "t1150"]
    notifier.send(OtpMessage(at=1270, channel="sms", to="x", txn_id="t1270", text="y"))
    # 1000 < 1270 - 180: gone; the others are still within an OTP's life
    assert [json.loads(ln)["txn_id"] for ln in path.read_text().splitlines()] == \
        ["t1100", "t1150", "t1270"]
    notifier.send(OtpMessage(at=2000, channel="sms", to="x", txn_id="t2000", text="y"))
    assert [json.loads(ln)["txn_id"] for ln in path.read_text().splitlines()] == ["t2000"]
    assert path.stat().st_mode & 0o777 == 0o600


def test_the_app_prunes_its_outbox(tmp_path):
    from authd.otp.notify import build_notifier
    from authd.settings import Settings

    notifier = build_notifier(Settings(otp_ttl_seconds=60), tmp_path)
    try:
        notifier.send(OtpMessage(at=0, channel="sms", to="x", txn_id="old", text="y"))
        notifier.send(OtpMessage(at=61, channel="sms", to="x", txn_id="new", text="y"))
        notifier.flush()
    finally:
        notifier.close()
    lines = (tmp_path / "outbox.jsonl").read_text().splitlines()
    assert [json.loads(ln)["txn_id"] for ln in lines] == ["new"]
