"""Tokens over HTTP: issue → JWKS / introspection / revocation, pairwise sub, uin policy, and
verification by an independent JOSE implementation (joserfc) from the JWKS alone."""

from __future__ import annotations

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import select

from authd.storage.db import transaction
from authd.storage.models import AuditEvent, IssuedToken, RevokedToken
from authd.tokens.issuance import TOKEN_TYP
from tests.helpers import (
    FORM,
    bearer,
    enroll_named,
    introspect,
    make_key,
    mint,
    parts,
    revoke,
    rp_key,
)

# joserfc warns that RFC 9864 deprecates the polymorphic "EdDSA" name (for "Ed25519").
pytestmark = pytest.mark.filterwarnings("ignore:EdDSA is deprecated")


def test_introspection_of_an_active_token(client, state):
    uin = enroll_named(client, state)
    key = rp_key(state, "program-a")
    issued = mint(state, key, uin, amr=["face", "otp"], acr=2, txn="txn-42")
    body = introspect(client, key, issued.token)
    header, claims = parts(issued.token)
    assert header == {"alg": "EdDSA", "typ": TOKEN_TYP, "kid": state.keyring.active.kid}
    assert body == {**claims, "active": True, "token_type": "Bearer"}
    assert body["aud"] == "program-a" and body["amr"] == ["face", "otp"]
    assert body["acr"] == "urn:authd:acr:2" and body["txn"] == "txn-42"
    assert body["exp"] == body["iat"] + 300 == issued.expires_at
    assert body["jti"] == issued.jti and "uin" not in body and uin not in issued.token
    with transaction(state.db) as session:
        row = session.get(IssuedToken, issued.jti)
        assert (row.rp_id, row.expires_at) == ("program-a", issued.expires_at)


def test_introspection_accepts_json_and_says_no_store(client, state):
    uin = enroll_named(client, state)
    key = rp_key(state, "program-a")
    token = mint(state, key, uin).token
    r = client.post("/v1/tokens/introspect", json={"token": token, "token_type_hint": "x"},
                    headers=bearer(key))
    assert r.status_code == 200 and r.json()["active"] is True
    assert r.headers["cache-control"] == "no-store"


def test_introspection_not_audited(client, state):
    uin = enroll_named(client, state)
    key = rp_key(state, "program-a")
    token = mint(state, key, uin).token
    before = _audit_actions(state)
    introspect(client, key, token)
    introspect(client, key, "garbage")
    assert _audit_actions(state) == before


@pytest.mark.parametrize("scopes, status", [(("auth",), 403), (("enroll",), 403)])
def test_introspection_needs_the_introspect_scope(client, state, scopes, status):
    key = rp_key(state, "program-a", scopes)
    r = client.post("/v1/tokens/introspect", data={"token": "x"}, headers={**bearer(key), **FORM})
    assert r.status_code == status and r.json()["error"]["code"] == "insufficient_scope"
    r = client.post("/v1/tokens/introspect", data={"token": "x"}, headers=FORM)
    assert r.status_code == 401


@pytest.mark.parametrize("content, ctype, status, code", [
    (b"", "application/x-www-form-urlencoded", 422, "invalid_request"),
    (b"token_type_hint=x", "application/x-www-form-urlencoded", 422, "invalid_request"),
    (b'{"token": ', "application/json", 400, "malformed_json"),
    (b'["token"]', "application/json", 422, "invalid_request"),
    (b"token=x", "text/plain", 415, "unsupported_media_type"),
])
def test_bad_introspection_requests(client, state, content, ctype, status, code):
    key = rp_key(state, "program-a")
    r = client.post("/v1/tokens/introspect", content=content,
                    headers={**bearer(key), "content-type": ctype})
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code


def test_jwks_public_keys_with_cache_headers(client, state):
    r = client.get("/.well-known/jwks.json")
    assert r.status_code == 200
    jwks = r.json()
    # One key, published under both names of its algorithm (RFC 8037 EdDSA, RFC 9864 Ed25519)
    assert [(k["kid"], k["alg"]) for k in jwks["keys"]] == [
        (state.keyring.active.kid, "EdDSA"), (state.keyring.active.kid, "Ed25519")]
    assert all(set(k) == {"kty", "crv", "x", "kid", "use", "alg"} for k in jwks["keys"])
    assert r.headers["cache-control"] == "public, max-age=300"
    etag = r.headers["etag"]
    again = client.get("/.well-known/jwks.json", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.headers["etag"] == etag
    state.keyring.rotate(state.clock.now())
    changed = client.get("/.well-known/jwks.json", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert len({k["kid"] for k in changed.json()["keys"]}) == 2


def test_joserfc_verifies_with_only_the_jwks_fetched_over_http(client, state):
    uin = enroll_named(client, state)
    key = rp_key(state, "program-a")
    issued = mint(state, key, uin)
    key_set = KeySet.import_key_set(client.get("/.well-known/jwks.json").json())
    decoded = jwt.decode(issued.token, key_set, algorithms=["EdDSA"])
    assert decoded.header["typ"] == TOKEN_TYP and decoded.header["kid"]
    registry = jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": state.settings.issuer},
        aud={"essential": True, "value": "program-a"},
        exp={"essential": True}, nbf={"essential": True}, sub={"essential": True})
    registry.validate(decoded.claims)  # raises on a bad claim
    assert decoded.claims["jti"] == issued.jti


def test_pairwise_sub_differs_across_relying_parties_and_is_stable(client, state):
    uin, other = enroll_named(client, state), enroll_named(client, state, "Youssef")
    key_a, key_b = rp_key(state, "program-a"), rp_key(state, "program-b")
    sub = lambda k, u: parts(mint(state, k, u).token)[1]["sub"]  # noqa: E731
    assert sub(key_a, uin) == sub(key_a, uin)
    assert sub(key_a, uin) != sub(key_b, uin)
    assert sub(key_a, uin) != sub(key_a, other)
    assert uin not in sub(key_a, uin)


def test_uin_claim_only_where_policy_allows(client, state):
    uin = enroll_named(client, state)
    allowed = rp_key(state, "program-uin", uin_in_token=True)
    denied = rp_key(state, "program-a")
    assert parts(mint(state, allowed, uin).token)[1]["uin"] == uin
    assert introspect(client, allowed, mint(state, allowed, uin).token)["uin"] == uin
    assert "uin" not in parts(mint(state, denied, uin).token)[1]


def test_token_lifetime_is_policy_capped_at_the_maximum(client, state):
    from authd.storage.models import RelyingParty

    uin = enroll_named(client, state)
    key = rp_key(state, "program-a")
    for wanted, got in ((120, 120), (7200, state.settings.token_ttl_max_seconds)):
        with transaction(state.db) as session:
            session.get(RelyingParty, "program-a").token_ttl_seconds = wanted
        claims = parts(mint(state, key, uin).token)[1]
        assert claims["exp"] - claims["iat"] == got


def test_revocation(client, state):
    uin = enroll_named(client, state)
    key = rp_key(state, "program-a", ("auth",))
    reader = rp_key(state, "program-a", ("introspect",))
    issued = mint(state, key, uin)
    assert revoke(client, key, issued.token) == 200
    assert revoke(client, key, issued.token) == 200  # idempotent
    assert introspect(client, reader, issued.token) == {"active": False}
    with transaction(state.db) as session:
        row = session.get(RevokedToken, issued.jti)
        assert row.expires_at == issued.expires_at
        events = session.execute(select(AuditEvent).where(
            AuditEvent.action == "token.revoke")).scalars().all()
    assert [e.outcome for e in events] == ["success", "success"]
    assert all(e.subject and uin not in e.subject for e in events)


def test_only_the_tokens_audience_may_revoke(client, state):
    uin = enroll_named(client, state)
    owner, other = rp_key(state, "program-a"), rp_key(state, "program-b")
    token = mint(state, owner, uin).token
    assert revoke(client, other, token) == 200  # RFC 7009 §2.2: no hint either way
    assert introspect(client, owner, token)["active"] is True
    assert revoke(client, other, "not-a-token") == 200
    assert _audit_actions(state)[-2:] == [("token.revoke", "refused", "wrong_audience"),
                                          ("token.revoke", "refused", "malformed")]


def test_revocation_needs_auth_or_introspect_scope(client, state):
    key = make_key(state, ["enroll"], rp_id="program-a")
    r = client.post("/v1/tokens/revoke", data={"token": "x"}, headers={**bearer(key), **FORM})
    assert r.status_code == 403


def _audit_actions(state):
    with transaction(state.db) as session:
        rows = session.execute(select(AuditEvent).order_by(AuditEvent.seq)).scalars().all()
        return [(e.action, e.outcome, e.reason) for e in rows]
