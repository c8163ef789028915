"""Helpers shared across test modules (fixtures stay in the conftest files).

- the frozen clock that `tests/conftest.py` gives every test as `clock`;
- fresh databases: `scratch_database` (behind the `database_url` fixture);
- API keys and request bodies: `make_key`, `bearer`, `photo_b64`;
- the OTP flow over HTTP: enroll, request an OTP, read it from the outbox, use it;
- tokens without the OTP flow: an identity through the API, then `issue_token`;
- real `authd serve` processes on loopback: `free_port`, `start_server`, `wait_ready`.
"""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import create_engine, func, select, text
from typer.testing import CliRunner

from authd.cli.main import app as cli_app
from authd.clock import Clock
from authd.http.state import AppState
from authd.otp.notify import OUTBOX_FILE
from authd.otp.transactions import OtpStatus, Verifier
from authd.registry import clients, identities
from authd.storage.db import transaction
from authd.storage.models import AuditEvent, Identity
from authd.tokens.issuance import IssuedToken, issue_token

PG_URL = os.environ.get("AUTHD_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MASTER_KEY = "11" * 32
REDIS_URL = "redis://127.0.0.1:6379/0"
PHONE, EMAIL = "+212612345678", "amina@example.ma"
CODE = re.compile(r"\b(\d{6})\b")
FORM = {"content-type": "application/x-www-form-urlencoded"}
AUTHD = Path(sys.executable).with_name("authd")  # the venv's `authd` command


# -- time ---------------------------------------------------------------------------------


class FrozenClock(Clock):
    """Time moves only when a test moves it (`offset`), so expiry and buckets are exact."""

    def __init__(self) -> None:
        super().__init__()
        self.base = int(time.time())

    def now(self) -> int:
        return self.base + self.offset


# -- databases ------------------------------------------------------------------------------


@contextmanager
def scratch_database(kind: str, tmp_path: Path) -> Iterator[str]:
    """The URL of a fresh, empty database: a SQLite file under `tmp_path` (kind "sqlite"),
    or a PostgreSQL schema of its own, dropped after (kind "postgresql")."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'authd.db'}"
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


# -- API keys and bodies --------------------------------------------------------------------


def make_key(state: AppState, scopes: list[str], *, rp_id: str = "program-a",
             factors: tuple[str, ...] = ("otp", "face"), uin_in_token: bool = False,
             min_acr: int = 1, holder: str | None = None, ttl_days: int = 30) -> str:
    """An API key of `rp_id` (created with `factors` if it does not exist yet)."""
    now = state.clock.now()
    with transaction(state.db) as session:
        if session.get(clients.RelyingParty, rp_id) is None:
            clients.add_relying_party(session, rp_id=rp_id, name=f"Program {rp_id}",
                                      factors=list(factors), min_acr=min_acr,
                                      token_ttl_seconds=300, uin_in_token=uin_in_token, now=now)
            session.flush()
        return clients.issue_key(session, rp_id=rp_id, scopes=scopes, ttl_days=ttl_days,
                                 now=now, holder=holder).api_key


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def photo_b64(path: Path) -> dict[str, str]:
    return {"image_b64": base64.b64encode(path.read_bytes()).decode()}


def counts(state: AppState) -> tuple[int | None, int | None]:
    """(identities, audit events) in the database."""
    with transaction(state.db) as s:
        return (s.scalar(select(func.count()).select_from(Identity)),
                s.scalar(select(func.count()).select_from(AuditEvent)))


# -- the OTP flow over HTTP -----------------------------------------------------------------


def enroll(client: TestClient, state: AppState, **person: Any) -> str:
    """An identity with a phone and an e-mail (OTP destinations); its UIN."""
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


# -- tokens without the OTP flow --------------------------------------------------------------


def enroll_named(client: TestClient, state: AppState, name: str = "Amina") -> str:
    """An identity with a name only (no OTP destinations); its UIN."""
    headers = bearer(make_key(state, ["enroll"], rp_id="station-1"))
    r = client.post("/v1/identities", json={"name": name}, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()["uin"]


def rp_key(state: AppState, rp_id: str, scopes: tuple[str, ...] = ("auth", "introspect"),
           **options: Any) -> str:
    return make_key(state, list(scopes), rp_id=rp_id, **options)


def mint(state: AppState, api_key: str, uin: str, *, now: int | None = None,
         amr: list[str] | None = None, acr: int = 1, txn: str = "txn-1") -> IssuedToken:
    """A token for ``uin`` at the relying party that owns ``api_key``."""
    now = state.clock.now() if now is None else now
    with transaction(state.db) as session:
        rp_client = clients.authenticate(session, api_key, state.clock.now())
        identity = identities.get_by_uin(session, uin)
        return issue_token(state.tokens, session, rp_client, identity, amr=amr or ["otp"],
                           acr=acr,
                           txn=txn, now=now)


def introspect(client: TestClient, api_key: str, token: str) -> dict[str, Any]:
    r = client.post("/v1/tokens/introspect", data={"token": token},
                    headers={**bearer(api_key), **FORM})
    assert r.status_code == 200, r.text
    return r.json()


def revoke(client: TestClient, api_key: str, token: str) -> int:
    r = client.post("/v1/tokens/revoke", data={"token": token},
                    headers={**bearer(api_key), **FORM})
    return r.status_code


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    header, payload, _ = token.split(".")
    return json.loads(unb64(header)), json.loads(unb64(payload))


# -- real `authd serve` processes ---------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(**overrides: str) -> dict[str, str]:
    """This process's environment without any AUTHD_ variable, plus `overrides`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHD_")}
    env.update(overrides)
    return env


def wait_ready(base: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read() if proc.stderr is not None else ""
            raise AssertionError(f"server exited early ({proc.returncode}): {err[-2000:]}")
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError("server not ready in time")


def start_server(data_dir: Path, port: int, workers: int = 1) -> subprocess.Popen:
    env = server_env(AUTHD_DATA_DIR=str(data_dir), AUTHD_PORT=str(port),
                     AUTHD_WORKERS=str(workers))
    return subprocess.Popen([str(AUTHD), "serve"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def new_uin(client: TestClient, headers: dict[str, str]) -> str:
    """A new identity, with no face, through the API."""
    r = client.post("/v1/identities", json={}, headers=headers)
    assert r.status_code == 201, r.text
    return str(r.json()["uin"])


def put_face(client: TestClient, headers: dict[str, str], uin: str, path: Path) -> Any:
    return client.put(f"/v1/identities/{uin}/face", json=photo_b64(path), headers=headers)


def cli_invoker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """`authd ARGS...` in-process on a data dir of the test's own (SQLite, dev master key)."""
    monkeypatch.setenv("AUTHD_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("AUTHD_DATABASE_URL", raising=False)
    monkeypatch.delenv("AUTHD_MASTER_KEY", raising=False)

    def invoke(*args: str) -> Any:  # typer's CliRunner result
        return CliRunner().invoke(cli_app, list(args))

    return invoke
