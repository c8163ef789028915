"""The OTP flow over HTTP for tests: enroll, request an OTP, read it from the outbox, use it."""

from __future__ import annotations

import json
import re
import time
from typing import Any

from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select

from authd.clock import Clock
from authd.http.state import AppState
from authd.otp.notify import OUTBOX_FILE
from authd.otp.transactions import OtpStatus, Verifier
from authd.registry import identities
from authd.storage.db import transaction
from authd.storage.models import AuditEvent
from tests.conftest import bearer, make_key

PHONE, EMAIL = "+212612345678", "amina@example.ma"
CODE = re.compile(r"\b(\d{6})\b")
REDIS_URL = "redis://127.0.0.1:6379/0"


class FrozenClock(Clock):
    """Time moves only when a test moves it (`offset`), so expiry and buckets are exact."""

    def __init__(self) -> None:
        super().__init__()
        self.base = int(time.time())

    def now(self) -> int:
        return self.base + self.offset


def enroll(client: TestClient, state: AppState, **person: Any) -> str:
    headers = bearer(make_key(state, ["enroll"], rp_id="station-1"))
    body = {"name": "Amina Alaoui", "phone": PHONE, "email": EMAIL, **person}
    r = client.post("/v1/identities", json=body, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()["uin"]


def counter(state: AppState, rp_id: str = "program-a", **options: Any) -> dict[str, str]:
    return bearer(make_key(state, ["auth"], rp_id=rp_id, **options))


def outbox(state: AppState) -> list[dict[str, Any]]:
    state.notifier.flush()
    path = state.settings.data_dir / OUTBOX_FILE
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def code_of(state: AppState, txn_id: str) -> str:
    texts = [m["text"] for m in outbox(state) if m["txn_id"] == txn_id]
    assert texts, f"no message for {txn_id}"
    match = CODE.search(texts[-1])
    assert match
    return match.group(1)


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def request_otp(client: TestClient, headers: dict[str, str], individual_id: str, *,
                id_type: str = "uin", channels: tuple[str, ...] = ("sms",),
                purpose: str = "auth") -> Response:
    body = {"individual_id": individual_id, "id_type": id_type, "channels": list(channels),
            "purpose": purpose}
    return client.post("/v1/otp", json=body, headers=headers)


def txn_of(client: TestClient, headers: dict[str, str], individual_id: str, **kw: Any) -> str:
    r = request_otp(client, headers, individual_id, **kw)
    assert r.status_code == 202, r.text
    return r.json()["txn_id"]


def authenticate(client: TestClient, headers: dict[str, str], individual_id: str, txn_id: str,
                 code: str, *, id_type: str = "uin") -> Response:
    body = {"individual_id": individual_id, "id_type": id_type, "txn_id": txn_id,
            "factors": {"otp": code}}
    return client.post("/v1/authenticate", json=body, headers=headers)


def events(state: AppState, action: str | None = None) -> list[AuditEvent]:
    with transaction(state.db) as session:
        query = select(AuditEvent).order_by(AuditEvent.seq)
        if action:
            query = query.where(AuditEvent.action == action)
        return list(session.execute(query).scalars())


def reasons(state: AppState, action: str = "authenticate") -> list[str | None]:
    return [e.reason for e in events(state, action)]


def assert_refused(r: Response) -> None:
    """The one body every failed authentication gets, whatever the reason."""
    assert r.status_code == 401, r.text
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "request_id"}
    assert body["error"]["code"] == "authentication_failed"
    assert body["error"]["message"] == "Authentication failed."


def identity_id(state: AppState, uin: str) -> int:
    with transaction(state.db) as session:
        return identities.get_by_uin(session, uin).id


def status(state: AppState, txn_id: str) -> OtpStatus | None:
    """What the running store (database or Redis) knows of a transaction."""
    with transaction(state.db) as session:
        return state.otps.status(session, txn_id)


def failures(state: AppState, uin: str, rp_id: str = "program-a", purpose: str = "auth") -> int:
    verifier = Verifier(identity_id(state, uin), rp_id, purpose)  # type: ignore[arg-type]
    with transaction(state.db) as session:
        return state.otps.failures(session, verifier, state.clock.now())


def set_failures(state: AppState, uin: str, n: int, rp_id: str = "program-a",
                 purpose: str = "auth") -> None:
    """Count `n` consecutive failures through the store (as n wrong guesses would)."""
    verifier = Verifier(identity_id(state, uin), rp_id, purpose)  # type: ignore[arg-type]
    with transaction(state.db) as session:
        state.otps.reset(session, verifier.identity_id, rp_id)
        for _ in range(n):
            state.otps.fail(session, verifier, state.clock.now())
