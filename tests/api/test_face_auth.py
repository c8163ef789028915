"""1:1 face authentication at a counter, alone and with an OTP, on real photos."""

from __future__ import annotations

import pytest

from tests.helpers import (
    assert_refused,
    bearer,
    code_of,
    counter,
    enroll,
    events,
    make_key,
    parts,
    photo_b64,
    reasons,
    txn_of,
)

S = "samples"


@pytest.fixture
def station(face_state):
    return bearer(make_key(face_state, ["enroll"], rp_id="station-1"))


def enrolled(client, state, station, faces_dir, photo) -> str:
    uin = enroll(client, state)
    r = client.put(f"/v1/identities/{uin}/face", json=photo_b64(faces_dir / S / photo),
                   headers=station)
    assert r.status_code == 200, r.text
    return uin


def face_auth(client, headers, uin, path, **extra):
    body = {"individual_id": uin, "id_type": "uin",
            "factors": {"face": photo_b64(path), **extra.pop("factors", {})}, **extra}
    return client.post("/v1/authenticate", json=body, headers=headers)


@pytest.mark.parametrize("enrolled_photo, probe", [
    ("obama/obama.jpg", "obama/obama1.jpg"),
    ("obama/obama.jpg", "obama/obama2.jpg"),
    ("obama/obama.jpg", "obama/obama3.jpg"),
    ("kit_harington/john1.jpeg", "kit_harington/john2.jpeg"),
])
def test_same_person_is_accepted(face_client, face_state, station, faces_dir, enrolled_photo,
                                 probe):
    uin = enrolled(face_client, face_state, station, faces_dir, enrolled_photo)
    r = face_auth(face_client, counter(face_state, factors=("face",)), uin, faces_dir / S / probe)
    assert r.status_code == 200, r.text
    _, claims = parts(r.json()["token"])
    assert claims["amr"] == ["face"] and claims["aud"] == "program-a"
    event = events(face_state, "authenticate")[-1]
    assert (event.outcome, event.factor) == ("success", "face")
    metrics = face_client.get("/metrics").text
    assert 'authd_authentications_total{factor="face",outcome="success"} 1.0' in metrics
    assert event.detail["distance"] < event.detail["threshold"]


def test_different_person_is_refused_opaquely(face_client, face_state, station, faces_dir):
    uin = enrolled(face_client, face_state, station, faces_dir, "obama/obama.jpg")
    r = face_auth(face_client, counter(face_state), uin, faces_dir / S / "biden/biden.jpg")
    assert_refused(r)
    assert "distance" not in r.text
    event = events(face_state, "authenticate")[-1]
    assert event.reason == "face_mismatch" and event.detail["distance"] > event.detail["threshold"]
    metrics = face_client.get("/metrics").text
    assert 'authd_authentications_total{factor="face",outcome="failure"} 1.0' in metrics


def test_quality_refusal_is_422_with_its_code(face_client, face_state, station, faces_dir):
    uin = enrolled(face_client, face_state, station, faces_dir, "obama/obama.jpg")
    r = face_auth(face_client, counter(face_state), uin,
                  faces_dir / S / "_multi_face/obama_and_biden.jpg")
    assert r.status_code == 422 and r.json()["error"]["code"] == "multiple_faces"
    assert events(face_state, "authenticate")[-1].reason == "multiple_faces"


def test_face_and_otp_for_a_two_factor_program(face_client, face_state, station, faces_dir):
    uin = enrolled(face_client, face_state, station, faces_dir, "obama/obama.jpg")
    strict = counter(face_state, rp_id="pension", min_acr=2)
    only_face = face_auth(face_client, strict, uin, faces_dir / S / "obama/obama2.jpg")
    assert_refused(only_face)
    assert reasons(face_state)[-1] == "acr_too_low"
    txn = txn_of(face_client, strict, uin)
    r = face_auth(face_client, strict, uin, faces_dir / S / "obama/obama2.jpg", txn_id=txn,
                  factors={"otp": code_of(face_state, txn)})
    assert r.status_code == 200, r.text
    header, claims = parts(r.json()["token"])
    assert claims["amr"] == ["face", "otp"] and claims["acr"].endswith(":2")


def test_locked_face_unenrolled_and_disallowed(face_client, face_state, station, faces_dir):
    uin = enrolled(face_client, face_state, station, faces_dir, "obama/obama.jpg")
    bare = enroll(face_client, face_state)
    r = face_auth(face_client, counter(face_state), bare, faces_dir / S / "obama/obama2.jpg")
    assert_refused(r)
    assert reasons(face_state)[-1] == "face_not_enrolled"
    otp_only = counter(face_state, rp_id="otp-only", factors=("otp",))
    assert_refused(face_auth(face_client, otp_only, uin, faces_dir / S / "obama/obama2.jpg"))
    assert reasons(face_state)[-1] == "factor_not_allowed"
    from authd.storage.db import transaction
    from authd.storage.models import Identity

    with transaction(face_state.db) as s:
        row = s.query(Identity).filter_by(uin=uin).one()
        row.locks = ["face"]
    assert_refused(face_auth(face_client, counter(face_state), uin,
                             faces_dir / S / "obama/obama2.jpg"))
    assert reasons(face_state)[-1] == "auth_type_locked"
