"""The resident's controls over HTTP on both databases and both OTP stores: auth-locks and
auth-history, each authorized by a resident-purpose OTP."""

from __future__ import annotations

import pytest

from tests.helpers import (
    assert_refused,
    authenticate,
    bearer,
    code_of,
    counter,
    enroll,
    make_key,
    reasons,
    txn_of,
    wrong,
)


@pytest.fixture
def settings(settings, otp_store):
    return settings.model_copy(update={"rate_id_burst": 1000, **otp_store})


def resident_body(client, headers, state, uin, **extra):
    txn = txn_of(client, headers, uin, purpose="resident")
    return {"individual_id": uin, "id_type": "uin", "txn_id": txn,
            "otp": code_of(state, txn), **extra}


def test_lock_otp_then_unlock_it_with_a_resident_otp(client, state, clock):
    uin, headers = enroll(client, state), counter(state)
    r = client.post("/v1/auth-locks", headers=headers,
                    json=resident_body(client, headers, state, uin, lock=["otp"]))
    assert r.status_code == 200 and r.json() == {"locks": ["otp"]}

    clock.offset += 31
    txn = txn_of(client, headers, uin)  # an auth OTP: answered, but nothing is sent
    assert_refused(authenticate(client, headers, uin, txn, "123456"))
    assert reasons(state, "otp.request")[-1] == "auth_type_locked"

    clock.offset += 31  # a resident OTP is still issued while OTP is locked
    r = client.post("/v1/auth-locks", headers=headers,
                    json=resident_body(client, headers, state, uin, unlock=["otp"]))
    assert r.status_code == 200 and r.json() == {"locks": []}
    clock.offset += 31
    txn = txn_of(client, headers, uin)
    assert authenticate(client, headers, uin, txn, code_of(state, txn)).status_code == 200


def test_resident_controls_need_a_resident_otp(client, state, clock):
    uin, headers = enroll(client, state), counter(state)
    txn = txn_of(client, headers, uin)  # purpose auth
    body = {"individual_id": uin, "id_type": "uin", "txn_id": txn, "otp": code_of(state, txn),
            "lock": ["face"]}
    assert_refused(client.post("/v1/auth-locks", headers=headers, json=body))
    clock.offset += 31
    body = resident_body(client, headers, state, uin, lock=["face"])
    body["otp"] = wrong(body["otp"])
    assert_refused(client.post("/v1/auth-locks", headers=headers, json=body))
    assert reasons(state, "resident.auth_locks") == ["otp_wrong_purpose", "otp_wrong_code"]
    clock.offset += 31
    bad = resident_body(client, headers, state, uin, lock=["otp"], unlock=["otp"])
    r = client.post("/v1/auth-locks", headers=headers, json=bad)
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request"


def test_history_lists_the_residents_own_events_with_relying_party_names(client, state, clock):
    uin, someone_else = enroll(client, state), enroll(client, state)
    a, b = counter(state), counter(state, rp_id="program-b")
    txn = txn_of(client, a, uin)
    authenticate(client, a, uin, txn, wrong(code_of(state, txn)))
    authenticate(client, a, uin, txn, code_of(state, txn))
    txn = txn_of(client, b, uin)
    authenticate(client, b, uin, txn, code_of(state, txn))
    other = txn_of(client, a, someone_else)
    clock.offset += 31
    authenticate(client, a, someone_else, other, code_of(state, other))

    r = client.post("/v1/auth-history/query", headers=a,
                    json=resident_body(client, a, state, uin))
    assert r.status_code == 200, r.text
    events = r.json()["events"]  # program-a sees its own rows only, never program-b's
    assert [(e["relying_party"], e["factor"], e["outcome"]) for e in events] == [
        ("Program program-a", "otp", "success"),
        ("Program program-a", "otp", "failure"),
    ]
    assert all(isinstance(e["at"], int) for e in events)
    assert set(events[0]) == {"at", "relying_party", "factor", "outcome"}

    portal = bearer(make_key(state, ["auth", "resident_portal"], rp_id="resident-portal"))
    r = client.post("/v1/auth-history/query", headers=portal,
                    json=resident_body(client, portal, state, uin))
    assert r.status_code == 200, r.text
    assert [(e["relying_party"], e["outcome"]) for e in r.json()["events"]] == [
        ("Program program-b", "success"),
        ("Program program-a", "success"),
        ("Program program-a", "failure"),
    ]


def test_history_keeps_the_last_fifty(client, state, clock):
    uin, headers = enroll(client, state), counter(state)
    txn = txn_of(client, headers, uin)
    for _ in range(55):  # unknown txn ids: refused, each one audited against this UIN
        authenticate(client, headers, uin, "nonexistent-txn", "000000")
    clock.offset += 31
    r = client.post("/v1/auth-history/query", headers=headers,
                    json=resident_body(client, headers, state, uin))
    assert r.status_code == 200 and len(r.json()["events"]) == 50
    assert txn
