"""Identity API over HTTP on both databases: create, read masked, deactivate, VIDs."""

from __future__ import annotations

from sqlalchemy import func, select

from authd.registry.uin import verhoeff_valid
from authd.storage.db import transaction
from authd.storage.models import AuditEvent, Identity
from tests.conftest import bearer, make_key

PERSON = {"name": "Amina Alaoui", "date_of_birth": "1984-03-02", "sex": "F",
          "phone": "+212612345678", "email": "amina@example.ma"}


def counts(state):
    with transaction(state.db) as s:
        return (s.scalar(select(func.count()).select_from(Identity)),
                s.scalar(select(func.count()).select_from(AuditEvent)))


def test_create_issues_a_valid_uin_and_masks_contacts(client, enroll_headers):
    r = client.post("/v1/identities", json=PERSON, headers=enroll_headers)
    assert r.status_code == 201, r.text
    body = r.json()
    assert len(body["uin"]) == 12 and verhoeff_valid(body["uin"])
    assert body["phone"] == "+212*******78" and body["email"] == "a***@example.ma"
    assert "612345678" not in r.text and "amina@" not in r.text
    shown = client.get(f"/v1/identities/{body['uin']}", headers=enroll_headers).json()
    assert shown == body


def test_given_uin_kept_and_duplicate_refused(client, enroll_headers, state):
    r = client.post("/v1/identities", json={"uin": "234567890124"}, headers=enroll_headers)
    assert r.status_code == 201 and r.json()["uin"] == "234567890124"
    again = client.post("/v1/identities", json={"uin": "234567890124"}, headers=enroll_headers)
    assert again.status_code == 409 and again.json()["error"]["code"] == "uin_exists"
    assert counts(state) == (1, 1)


def test_bad_check_digit_is_invalid_uin_and_writes_nothing(client, enroll_headers, state):
    r = client.post("/v1/identities", json={"uin": "234567890123"}, headers=enroll_headers)
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_uin"
    r = client.get("/v1/identities/12345", headers=enroll_headers)
    assert r.json()["error"]["code"] == "invalid_uin"
    assert counts(state) == (0, 0)


def test_deactivate(client, enroll_headers):
    uin = client.post("/v1/identities", json={}, headers=enroll_headers).json()["uin"]
    r = client.post(f"/v1/identities/{uin}/deactivate", headers=enroll_headers)
    assert r.status_code == 200 and r.json()["status"] == "deactivated"
    missing = client.post("/v1/identities/234567890124/deactivate", headers=enroll_headers)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "identity_not_found"


def test_vids_create_revoke_and_expire(client, enroll_headers, state, clock):
    from authd.registry import identities

    uin = client.post("/v1/identities", json={}, headers=enroll_headers).json()["uin"]
    perpetual = client.post("/v1/vids", json={"uin": uin, "kind": "perpetual"},
                            headers=enroll_headers)
    temporary = client.post("/v1/vids", json={"uin": uin, "ttl_seconds": 600},
                            headers=enroll_headers)
    assert perpetual.status_code == temporary.status_code == 201
    pv, tv = perpetual.json()["vid"], temporary.json()["vid"]
    assert len(pv) == 16 and verhoeff_valid(pv) and perpetual.json()["expires_at"] is None
    with transaction(state.db) as s:
        assert identities.resolve(s, tv, "vid", clock.now()).uin == uin
        assert identities.resolve(s, tv, "vid", clock.now() + 601) is None  # expired
    r = client.post(f"/v1/vids/{pv}/revoke", headers=enroll_headers)
    assert r.status_code == 200 and r.json()["revoked_at"] is not None
    with transaction(state.db) as s:
        assert identities.resolve(s, pv, "vid", clock.now()) is None


def test_bad_vid_requests(client, enroll_headers):
    uin = client.post("/v1/identities", json={}, headers=enroll_headers).json()["uin"]
    r = client.post("/v1/vids", json={"uin": uin, "kind": "temporary"}, headers=enroll_headers)
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request"
    r = client.post("/v1/vids/1234567890123456/revoke", headers=enroll_headers)
    assert r.json()["error"]["code"] in {"invalid_vid", "vid_not_found"}


def test_every_change_writes_exactly_one_audit_event(client, enroll_headers, state):
    uin = client.post("/v1/identities", json=PERSON, headers=enroll_headers).json()["uin"]
    vid = client.post("/v1/vids", json={"uin": uin, "ttl_seconds": 600},
                      headers=enroll_headers).json()["vid"]
    client.post(f"/v1/vids/{vid}/revoke", headers=enroll_headers)
    client.post(f"/v1/identities/{uin}/deactivate", headers=enroll_headers)
    client.get(f"/v1/identities/{uin}", headers=enroll_headers)  # a read: no event
    with transaction(state.db) as s:
        events = s.execute(select(AuditEvent).order_by(AuditEvent.seq)).scalars().all()
        assert [e.action for e in events] == [
            "identity.create", "vid.create", "vid.revoke", "identity.deactivate"]
        assert all(e.rp_id == "program-a" and e.subject == "XXXXXXXX" + uin[-4:]
                   for e in events)
        text = " ".join(str(vars(e)) for e in events)
    assert "612345678" not in text and "amina@" not in text and uin not in text


def test_api_keys_and_scopes(client, state, clock):
    from authd.registry import clients

    auth_only = make_key(state, ["auth"])
    r = client.post("/v1/identities", json={}, headers=bearer(auth_only))
    assert r.status_code == 403 and r.json()["error"]["code"] == "insufficient_scope"
    for headers in ({}, bearer("authd_nothing_here"), {"Authorization": "Basic abc"},
                    bearer(auth_only[:-1] + ("A" if auth_only[-1] != "A" else "B"))):
        r = client.post("/v1/identities", json={}, headers=headers)
        assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_client"
    enroll = make_key(state, ["enroll"])
    with transaction(state.db) as s:
        clients.revoke_key(s, enroll.split("_")[1], clock.now())
    r = client.post("/v1/identities", json={}, headers=bearer(enroll))
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_client"
    expiring = make_key(state, ["enroll"])
    clock.offset = 31 * 86400
    r = client.post("/v1/identities", json={}, headers=bearer(expiring))
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_client"


def test_api_key_cache_bounds_revocation_delay(client, state, clock):
    """A key used just before its revocation keeps working in this process for at most
    api_key_cache_seconds; a key never seen here is refused at once."""
    from authd.registry import clients

    key = make_key(state, ["enroll"])
    assert client.post("/v1/identities", json={}, headers=bearer(key)).status_code == 201
    with transaction(state.db) as s:
        clients.revoke_key(s, key.split("_")[1], clock.now())
    ttl = state.settings.api_key_cache_seconds
    assert ttl > 0
    clock.offset += ttl
    r = client.post("/v1/identities", json={}, headers=bearer(key))
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_client"
