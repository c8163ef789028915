"""The OTP flow over HTTP on both databases and both OTP stores (database, Redis): request,
read the outbox, authenticate; every failure reason gives the same 401 and its own audit
reason."""

from __future__ import annotations

import logging
import os
import stat

import pytest
from sqlalchemy import select

from authd.storage.db import transaction
from authd.storage.models import Identity
from authd.tokens.issuance import verify_for
from tests.helpers import (
    EMAIL,
    PHONE,
    assert_refused,
    authenticate,
    bearer,
    code_of,
    counter,
    enroll,
    events,
    failures,
    make_key,
    outbox,
    reasons,
    request_otp,
    set_failures,
    status,
    txn_of,
    wrong,
)


@pytest.fixture
def settings(settings, otp_store):
    # Per-ID buckets wide open here: tests/api/test_otp_limits.py covers them.
    return settings.model_copy(update={"rate_id_burst": 1000, **otp_store})


def test_flow_end_to_end(client, state, clock):
    uin = enroll(client, state)
    headers = counter(state)
    r = request_otp(client, headers, uin, channels=("sms", "email"))
    assert r.status_code == 202, r.text
    body = r.json()
    assert set(body) == {"txn_id", "expires_at", "destinations"}
    assert body["expires_at"] == clock.now() + 180
    assert body["destinations"] == {"sms": "********78", "email": "a***@***"}
    sent = outbox(state)
    assert [(m["channel"], m["to"]) for m in sent] == [("sms", PHONE), ("email", EMAIL)]
    assert {m["txn_id"] for m in sent} == {body["txn_id"]}
    path = state.settings.data_dir / "outbox.jsonl"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600

    r = authenticate(client, headers, uin, body["txn_id"], code_of(state, body["txn_id"]))
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["authenticated"] is True and out["token_type"] == "Bearer"  # noqa: S105
    claims = verify_for(state.tokens, out["token"], "program-a", clock.now())
    assert claims["amr"] == ["otp"] and claims["txn"] == body["txn_id"]
    assert out["expires_at"] == claims["exp"]
    assert [(e.outcome, e.reason, e.factor) for e in events(state, "authenticate")] == [
        ("success", None, "otp")]


def test_flow_by_vid(client, state, enroll_headers):
    uin = enroll(client, state)
    vid = client.post("/v1/vids", json={"uin": uin, "kind": "perpetual"},
                      headers=enroll_headers).json()["vid"]
    headers = counter(state)
    txn = txn_of(client, headers, vid, id_type="vid")
    r = authenticate(client, headers, vid, txn, code_of(state, txn), id_type="vid")
    assert r.status_code == 200, r.text


def test_every_failure_is_the_same_401_with_its_own_audit_reason(client, state, clock,
                                                                  enroll_headers):
    uin, other = enroll(client, state), enroll(client, state, phone="+212600000011")
    a, b = counter(state), counter(state, rp_id="program-b")
    face_only = counter(state, rp_id="face-only", factors=("face",))
    expected = []

    def refused(reason: str, r) -> None:
        assert_refused(r)
        expected.append(reason)

    txn = txn_of(client, a, uin)
    code = code_of(state, txn)
    refused("otp_wrong_code", authenticate(client, a, uin, txn, wrong(code)))
    refused("otp_other_relying_party", authenticate(client, b, uin, txn, code))
    refused("otp_other_identity", authenticate(client, a, other, txn, code))
    refused("otp_unknown_txn", authenticate(client, a, uin, "no-such-txn-id", code))
    refused("unknown_id", authenticate(client, a, "234567890124", txn, code))
    refused("factor_not_allowed", authenticate(client, face_only, uin, txn, code))
    assert authenticate(client, a, uin, txn, code).status_code == 200
    expected.append(None)
    refused("otp_used", authenticate(client, a, uin, txn, code))

    clock.offset += 31
    txn = txn_of(client, a, uin)
    clock.offset += 181
    refused("otp_expired", authenticate(client, a, uin, txn, code_of(state, txn)))

    clock.offset += 31
    old = txn_of(client, a, uin)
    clock.offset += 31
    txn_of(client, a, uin)
    refused("otp_superseded", authenticate(client, a, uin, old, code_of(state, old)))

    clock.offset += 31
    resident_txn = txn_of(client, a, uin, purpose="resident")
    refused("otp_wrong_purpose",
            authenticate(client, a, uin, resident_txn, code_of(state, resident_txn)))

    clock.offset += 31
    txn = txn_of(client, a, uin)
    client.post(f"/v1/identities/{uin}/deactivate", headers=enroll_headers)
    refused("identity_deactivated", authenticate(client, a, uin, txn, code_of(state, txn)))
    assert reasons(state) == expected


def test_burned_after_three_wrong_codes(client, state):
    uin, headers = enroll(client, state), counter(state)
    txn = txn_of(client, headers, uin)
    code = code_of(state, txn)
    for _ in range(3):
        assert_refused(authenticate(client, headers, uin, txn, wrong(code)))
    assert_refused(authenticate(client, headers, uin, txn, code))  # right code, too late
    assert reasons(state) == ["otp_wrong_code"] * 3 + ["otp_burned"]
    row = status(state, txn)
    assert row.burned and row.attempts == 3 and not row.used


def test_reissue_never_resets_the_failure_count_and_success_does(client, state, clock):
    uin, headers = enroll(client, state), counter(state)
    for _ in range(2):
        txn = txn_of(client, headers, uin)
        authenticate(client, headers, uin, txn, wrong(code_of(state, txn)))
        clock.offset += 31
    assert failures(state, uin) == 2
    txn = txn_of(client, headers, uin)
    assert authenticate(client, headers, uin, txn, code_of(state, txn)).status_code == 200
    assert failures(state, uin) == 0


def test_failure_cap_refuses_even_the_right_code(client, state, clock):
    uin, headers = enroll(client, state), counter(state)
    set_failures(state, uin, 100)
    r = request_otp(client, headers, uin)
    assert r.status_code == 202 and outbox(state) == []  # nothing sent
    assert [e.reason for e in events(state, "otp.request")] == ["failure_cap_reached"]
    set_failures(state, uin, 99)
    clock.offset += 31
    txn = txn_of(client, headers, uin)
    code = code_of(state, txn)
    assert_refused(authenticate(client, headers, uin, txn, wrong(code)))
    assert_refused(authenticate(client, headers, uin, txn, code))
    assert reasons(state) == ["otp_wrong_code", "failure_cap_reached"]


def test_resend_cooldown(client, state, clock):
    uin, headers = enroll(client, state), counter(state)
    assert request_otp(client, headers, uin).status_code == 202
    clock.offset += 10
    r = request_otp(client, headers, uin)
    assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limited"
    assert r.headers["Retry-After"] == "20"
    # the cool-down is per relying party: another program is not held back
    assert request_otp(client, counter(state, rp_id="program-b"), uin).status_code == 202
    clock.offset += 20
    assert request_otp(client, headers, uin).status_code == 202
    assert len(events(state, "otp.request")) == 3  # a throttled call changes nothing


def test_one_live_otp_per_person_and_relying_party(client, state, clock):
    uin = enroll(client, state)
    a, b = counter(state), counter(state, rp_id="program-b")
    first_a, first_b = txn_of(client, a, uin), txn_of(client, b, uin)
    clock.offset += 31
    second_a = txn_of(client, a, uin)
    assert status(state, first_a).superseded
    assert not status(state, first_b).superseded and not status(state, second_a).superseded
    assert authenticate(client, b, uin, first_b, code_of(state, first_b)).status_code == 200


def test_unknown_deactivated_locked_and_capped_ids_are_indistinguishable(client, state,
                                                                        enroll_headers):
    known = enroll(client, state)
    deactivated = enroll(client, state)
    client.post(f"/v1/identities/{deactivated}/deactivate", headers=enroll_headers)
    locked = enroll(client, state)
    with transaction(state.db) as s:
        s.execute(select(Identity).where(Identity.uin == locked)).scalar_one().locks = ["otp"]
    capped = enroll(client, state)
    set_failures(state, capped, state.settings.max_consecutive_failures)
    headers = counter(state)
    answers = {}
    for name, uin in (("known", known), ("unknown", "234567890124"),
                      ("deactivated", deactivated), ("locked", locked), ("capped", capped)):
        r = request_otp(client, headers, uin, channels=("sms", "email"))
        answers[name] = r
    shapes = {name: (r.status_code, sorted(r.json()), sorted(r.json()["destinations"]),
                     len(r.json()["txn_id"]), r.json()["expires_at"] - state.clock.now(),
                     sorted(r.headers.keys() - {"x-request-id", "content-length"}))
              for name, r in answers.items()}
    assert len(set(map(repr, shapes.values()))) == 1, shapes
    for r in answers.values():  # same mask formats
        masks = r.json()["destinations"]
        assert masks["sms"][:8] == "********" and masks["sms"][8:].isdigit()
        assert masks["email"][0].isalpha() and masks["email"][1:] == "***@***"
    # an existing identity shows its real masks whatever its state (a state change must not
    # turn them into a decoy); only an unknown ID gets the decoy, stable across requests
    real = {"sms": "********78", "email": "a***@***"}
    for name in ("known", "deactivated", "locked", "capped"):
        assert answers[name].json()["destinations"] == real, name
    again = request_otp(client, counter(state, rp_id="program-b"), "234567890124",
                        channels=("sms", "email"))
    assert again.json()["destinations"] == answers["unknown"].json()["destinations"]
    assert [m["txn_id"] for m in outbox(state)] == [answers["known"].json()["txn_id"]] * 2
    assert reasons(state, "otp.request") == [None, "unknown_id", "identity_deactivated",
                                             "auth_type_locked", "failure_cap_reached",
                                             "unknown_id"]


def test_locked_otp_fails_with_auth_type_locked(client, state):
    uin, headers = enroll(client, state), counter(state)
    txn = txn_of(client, headers, uin)
    with transaction(state.db) as s:
        s.execute(select(Identity).where(Identity.uin == uin)).scalar_one().locks = ["otp"]
    assert_refused(authenticate(client, headers, uin, txn, code_of(state, txn)))
    assert reasons(state) == ["auth_type_locked"]
    assert not status(state, txn).used  # the evidence was not spent


def test_face_factor_without_face_matching_and_bad_requests(client, state):
    uin, headers = enroll(client, state), counter(state)
    body = {"individual_id": uin, "id_type": "uin", "factors": {"face": {"image_b64": "AAAA"}}}
    r = client.post("/v1/authenticate", json=body, headers=headers)  # faces_enabled=False
    assert r.status_code == 503 and r.json()["error"]["code"] == "faces_unavailable"
    for bad in ({"individual_id": uin, "id_type": "uin", "factors": {}},
                {"individual_id": uin, "id_type": "uin", "factors": {"otp": "123456"}},
                {"individual_id": uin, "id_type": "uin", "txn_id": "abcdefgh",
                 "factors": {"otp": "12345"}}):
        r = client.post("/v1/authenticate", json=bad, headers=headers)
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request"
        assert "12345" not in r.text
    r = request_otp(client, bearer(make_key(state, ["enroll"])), uin)
    assert r.status_code == 403
    assert events(state, "authenticate") == []


def test_no_otp_in_logs_audit_or_responses(client, state, clock, caplog):
    caplog.set_level(logging.DEBUG)
    uin, headers = enroll(client, state), counter(state)
    txn = txn_of(client, headers, uin)
    code = code_of(state, txn)
    bodies = [authenticate(client, headers, uin, txn, wrong(code)).text,
              authenticate(client, headers, uin, txn, code).text]
    clock.offset += 31
    txn2 = txn_of(client, headers, uin, purpose="resident")
    code2 = code_of(state, txn2)
    bodies.append(client.post("/v1/auth-locks", headers=headers, json={
        "individual_id": uin, "id_type": "uin", "txn_id": txn2, "otp": code2,
        "lock": ["face"]}).text)
    logged = caplog.text + " ".join(str(r.__dict__) for r in caplog.records)
    audited = " ".join(str(vars(e)) for e in events(state))
    for secret in (code, wrong(code), code2, PHONE, EMAIL, uin):
        assert secret not in logged
        assert secret not in audited
    for secret in (code, wrong(code), code2):
        assert all(secret not in body for body in bodies)
