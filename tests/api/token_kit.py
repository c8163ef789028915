"""Making tokens without the OTP flow: an identity through the API, then `issue_token`."""

from __future__ import annotations

import base64
import json
from typing import Any

from fastapi.testclient import TestClient

from authd.http.state import AppState
from authd.registry import clients, identities
from authd.storage.db import transaction
from authd.tokens.issuance import IssuedToken, issue_token
from tests.api.otp_kit import FrozenClock  # noqa: F401  (shared by the token tests)
from tests.conftest import bearer, make_key

FORM = {"content-type": "application/x-www-form-urlencoded"}


def enroll(client: TestClient, state: AppState, name: str = "Amina") -> str:
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
        return issue_token(state.tokens, session, rp_client, identity, amr=amr or ["otp"], acr=acr,
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
