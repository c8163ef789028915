"""Face enrollment, 1:N dedup and adjudication over HTTP, with real photos and real dlib."""

from __future__ import annotations

import base64
import json
import logging

import pytest
from sqlalchemy import select

from authd.faces.gallery import open_template
from authd.storage.db import transaction
from authd.storage.models import AuditEvent, Identity
from keys import SealError
from tests.helpers import bearer, make_key, new_uin, photo_b64, put_face


@pytest.fixture
def keys(face_state):
    return {
        "enroll": bearer(make_key(face_state, ["enroll"], rp_id="station-1")),
        "admin1": bearer(make_key(face_state, ["admin", "enroll"], rp_id="registry")),
        "admin2": bearer(make_key(face_state, ["admin", "enroll"], rp_id="registry")),
    }


def test_enroll_then_search_finds_the_person(face_client, keys, faces_dir, face_state):
    uin = new_uin(face_client, keys["enroll"])
    r = put_face(face_client, keys["enroll"], uin, faces_dir / "samples/obama/obama.jpg")
    assert r.status_code == 200 and r.json()["has_face"] is True, r.text
    other = new_uin(face_client, keys["enroll"])
    r = put_face(face_client, keys["enroll"], other, faces_dir / "samples/biden/biden.jpg")
    assert r.status_code == 200, r.text
    probe = photo_b64(faces_dir / "samples/obama/obama2.jpg")
    found = face_client.post("/v1/dedup/search", json=probe, headers=keys["enroll"]).json()
    assert [c["uin"] for c in found["candidates"]] == ["XXXXXXXX" + uin[-4:]]
    # closer than the 1:1 threshold of the model (a score is 1 - distance / 2)
    closer = 1 - face_state.faces.verify_threshold.value / 2
    assert found["candidates"][0]["rank"] == 1 and found["candidates"][0]["score"] > closer
    full = face_client.post("/v1/dedup/search", json=probe, headers=keys["admin1"]).json()
    assert full["candidates"][0]["uin"] == uin
    nobody = photo_b64(faces_dir / "samples/kit_harington/john1.jpeg")
    assert face_client.post("/v1/dedup/search", json=nobody,
                            headers=keys["enroll"]).json()["candidates"] == []


def test_multipart_upload(face_client, keys, faces_dir):
    uin = new_uin(face_client, keys["enroll"])
    with open(faces_dir / "samples/kit_harington/john1.jpeg", "rb") as f:
        r = face_client.put(f"/v1/identities/{uin}/face", files={"image": ("p.jpg", f)},
                            headers=keys["enroll"])
    assert r.status_code == 200 and r.json()["has_face"], r.text


def test_duplicate_opens_a_case_and_four_eyes_resolve_it(face_client, keys, faces_dir, face_state):
    first = new_uin(face_client, keys["enroll"])
    put_face(face_client, keys["enroll"], first, faces_dir / "samples/obama/obama.jpg")
    second = new_uin(face_client, keys["enroll"])
    r = put_face(face_client, keys["admin1"], second, faces_dir / "samples/obama/obama3.jpg")
    assert r.status_code == 409, r.text
    err = r.json()["error"]
    assert err["code"] == "possible_duplicate" and err["candidates"][0]["uin"] == first
    case_id = err["case_id"]
    with transaction(face_state.db) as s:
        assert s.execute(select(Identity).where(Identity.uin == second)).scalar_one().template is None
    assert len(face_state.gallery.index) == 1  # nothing enrolled while the case is open

    cases = face_client.get("/v1/dedup/cases?status=open", headers=keys["admin2"]).json()
    assert [c["case_id"] for c in cases] == [case_id]
    assert face_client.get("/v1/dedup/cases", headers=keys["enroll"]).status_code == 403
    decision = {"decision": "duplicate", "reason": "same person, re-enrollment attempt"}
    same = face_client.post(f"/v1/dedup/cases/{case_id}/resolve", json=decision,
                            headers=keys["admin1"])
    assert same.status_code == 403 and same.json()["error"]["code"] == "four_eyes_required"
    done = face_client.post(f"/v1/dedup/cases/{case_id}/resolve", json=decision,
                            headers=keys["admin2"])
    assert done.status_code == 200, done.text
    assert done.json()["duplicate_of"] == first and done.json()["status"] == "resolved"
    again = face_client.post(f"/v1/dedup/cases/{case_id}/resolve", json=decision,
                             headers=keys["admin2"])
    assert again.status_code == 409
    assert len(face_state.gallery.index) == 1
    with transaction(face_state.db) as s:
        actions = [e.action for e in s.execute(select(AuditEvent)).scalars()]
    assert actions.count("dedup.resolve") == 1 and "face.enroll" in actions


def test_distinct_resolution_completes_the_enrollment(face_client, keys, faces_dir, face_state):
    first = new_uin(face_client, keys["enroll"])
    put_face(face_client, keys["enroll"], first, faces_dir / "samples/obama/obama.jpg")
    twin = new_uin(face_client, keys["enroll"])
    r = put_face(face_client, keys["admin1"], twin, faces_dir / "samples/obama/obama1.jpg")
    assert r.status_code == 409
    case_id = r.json()["error"]["case_id"]
    done = face_client.post(f"/v1/dedup/cases/{case_id}/resolve",
                            json={"decision": "distinct", "reason": "identical twins, checked"},
                            headers=keys["admin2"])
    assert done.status_code == 200, done.text
    shown = face_client.get(f"/v1/identities/{twin}", headers=keys["enroll"]).json()
    assert shown["has_face"] is True
    assert len(face_state.gallery.index) == 2


@pytest.mark.parametrize("name, status, code", [
    ("samples/_multi_face/obama_and_biden.jpg", 422, "multiple_faces"),
    ("README.md", 422, "image_unreadable"),
])
def test_refused_photos(face_client, keys, faces_dir, face_state, name, status, code):
    uin = new_uin(face_client, keys["enroll"])
    r = put_face(face_client, keys["enroll"], uin, faces_dir / name)
    assert r.status_code == status and r.json()["error"]["code"] == code, r.text
    with transaction(face_state.db) as s:
        assert s.execute(select(Identity).where(Identity.uin == uin)).scalar_one().template is None
        last = s.execute(select(AuditEvent).order_by(AuditEvent.seq.desc())).scalars().first()
    assert (last.action, last.outcome, last.reason) == ("face.enroll", "refused", code)


def test_truncated_huge_and_bad_base64(face_client, keys, faces_dir, tmp_path):
    import struct
    import zlib

    uin = new_uin(face_client, keys["enroll"])
    data = (faces_dir / "samples/obama/obama.jpg").read_bytes()
    cut = {"image_b64": base64.b64encode(data[: len(data) // 2]).decode()}
    r = face_client.put(f"/v1/identities/{uin}/face", json=cut, headers=keys["enroll"])
    assert r.json()["error"]["code"] == "image_unreadable"

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0)  # declares 20,000 x 20,000
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) \
        + chunk(b"IEND", b"")
    r = face_client.put(f"/v1/identities/{uin}/face",
                        json={"image_b64": base64.b64encode(png).decode()}, headers=keys["enroll"])
    assert r.status_code == 413 and r.json()["error"]["code"] == "image_too_large"
    r = face_client.put(f"/v1/identities/{uin}/face", json={"image_b64": "@@not base64@@"},
                        headers=keys["enroll"])
    assert r.status_code == 422 and r.json()["error"]["code"] == "image_unreadable"
    r = face_client.put(f"/v1/identities/{uin}/face", json={"photo": "x"}, headers=keys["enroll"])
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request"


def test_sealed_template_swapped_between_identities_fails(face_client, keys, faces_dir, face_state):
    a = new_uin(face_client, keys["enroll"])
    b = new_uin(face_client, keys["enroll"])
    put_face(face_client, keys["enroll"], a, faces_dir / "samples/obama/obama.jpg")
    put_face(face_client, keys["enroll"], b, faces_dir / "samples/kit_harington/john1.jpeg")
    with transaction(face_state.db) as s:
        row_a = s.execute(select(Identity).where(Identity.uin == a)).scalar_one()
        row_b = s.execute(select(Identity).where(Identity.uin == b)).scalar_one()
        assert open_template(face_state.sealer, row_b).dimension == 128
        row_b.template = row_a.template  # an insider copies A's template into B's row
        with pytest.raises(SealError):
            open_template(face_state.sealer, row_b)


def test_no_template_or_image_in_logs_or_audit(face_client, keys, faces_dir, face_state, caplog):
    caplog.set_level(logging.DEBUG)
    uin = new_uin(face_client, keys["enroll"])
    path = faces_dir / "samples/obama/obama.jpg"
    put_face(face_client, keys["enroll"], uin, path)
    face_client.post("/v1/dedup/search", json=photo_b64(path), headers=keys["enroll"])
    with transaction(face_state.db) as s:
        template = open_template(face_state.sealer,
                                 s.execute(select(Identity).where(Identity.uin == uin)).scalar_one())
        audit = json.dumps([{k: v for k, v in vars(e).items() if not k.startswith("_")}
                            for e in s.execute(select(AuditEvent)).scalars()], default=str)
    text = caplog.text + audit
    image_b64 = photo_b64(path)["image_b64"]
    assert image_b64[100:140] not in text
    for value in template.vector[:8]:
        assert f"{value:.6f}" not in text and repr(float(value)) not in text
    assert "face.enroll" in audit


def test_reseal_while_serving(face_client, keys, faces_dir, face_state, settings):
    from authd.faces.reseal import reseal_all
    from authd.http.state import open_state
    from keys import SealingKeyStore

    first = new_uin(face_client, keys["enroll"])
    put_face(face_client, keys["enroll"], first, faces_dir / "samples/obama/obama.jpg")
    old_key = face_state.sealer.active_key_id
    # Another process (the `authd keys reseal` CLI) rotates and re-seals while we serve.
    other = open_state(settings)
    try:
        SealingKeyStore(settings.data_dir / "sealing-keys",
                        bytes.fromhex(settings.master_key.get_secret_value())).rotate()
        report = reseal_all(other)
    finally:
        other.close()
    assert report.templates == 1 and report.key_id != old_key
    with transaction(face_state.db) as s:
        row = s.execute(select(Identity).where(Identity.uin == first)).scalar_one()
        assert not face_state.sealer.needs_reseal(row.template)
        assert open_template(face_state.sealer, row).dimension == 128  # the server follows
    second = new_uin(face_client, keys["enroll"])
    put_face(face_client, keys["enroll"], second, faces_dir / "samples/kit_harington/john1.jpeg")
    with transaction(face_state.db) as s:
        row = s.execute(select(Identity).where(Identity.uin == second)).scalar_one()
        assert face_state.sealer.active_key_id == report.key_id
        assert not face_state.sealer.needs_reseal(row.template)
    face_state.gallery.rebuild()  # every template opens after the reseal
    assert len(face_state.gallery.index) == 2


def test_create_with_face_and_pending_duplicate(face_client, keys, faces_dir, face_state):
    r = face_client.post("/v1/identities", headers=keys["enroll"], json={
        "name": "Barack", "face": photo_b64(faces_dir / "samples/obama/obama.jpg")})
    assert r.status_code == 201 and r.json()["has_face"] and r.json()["status"] == "active"
    first = r.json()["uin"]
    again = face_client.post("/v1/identities", headers=keys["admin1"], json={
        "name": "Barack again", "face": photo_b64(faces_dir / "samples/obama/obama2.jpg")})
    assert again.status_code == 409, again.text
    err = again.json()["error"]
    assert err["code"] == "possible_duplicate" and err["candidates"][0]["uin"] == first
    pending = face_client.get(f"/v1/identities/{err['uin']}", headers=keys["enroll"]).json()
    assert pending["status"] == "pending" and pending["has_face"] is False
    bad = face_client.post("/v1/identities", headers=keys["enroll"], json={
        "name": "Nobody", "face": photo_b64(faces_dir / "README.md")})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "image_unreadable"
    with transaction(face_state.db) as s:
        events = s.execute(select(AuditEvent).order_by(AuditEvent.seq)).scalars().all()
        assert s.query(Identity).count() == 2  # the refused photo created nothing
    # one event per call: created, possible duplicate, refused photo
    assert [(e.action, e.outcome, e.reason) for e in events] == [
        ("identity.create", "success", None),
        ("identity.create", "refused", "possible_duplicate"),
        ("identity.create", "refused", "image_unreadable")]
    done = face_client.post(f"/v1/dedup/cases/{err['case_id']}/resolve", headers=keys["admin2"],
                            json={"decision": "distinct", "reason": "different people"})
    assert done.status_code == 200
    shown = face_client.get(f"/v1/identities/{err['uin']}", headers=keys["enroll"]).json()
    assert shown["status"] == "active" and shown["has_face"] is True


def test_deactivation_removes_the_face_from_the_index(face_client, keys, faces_dir, face_state):
    uin = new_uin(face_client, keys["enroll"])
    put_face(face_client, keys["enroll"], uin, faces_dir / "samples/obama/obama.jpg")
    probe = photo_b64(faces_dir / "samples/obama/obama2.jpg")
    assert face_client.post("/v1/dedup/search", json=probe, headers=keys["enroll"]).json()[
        "candidates"]
    face_client.post(f"/v1/identities/{uin}/deactivate", headers=keys["enroll"])
    assert face_client.post("/v1/dedup/search", json=probe, headers=keys["enroll"]).json()[
        "candidates"] == []
    assert len(face_state.gallery.index) == 0


@pytest.mark.parametrize("keep", [False, True])
def test_photos_kept_only_when_asked_and_then_sealed(settings, clock, face_service, faces_dir,
                                                    keep):
    from fastapi.testclient import TestClient

    from authd.faces.enrollment import photo_aad
    from authd.http.app import create_app

    app = create_app(settings.model_copy(update={"faces_enabled": True,
                                                 "face_keep_photos": keep}),
                     clock=clock, faces=face_service)
    path = faces_dir / "samples/obama/obama.jpg"
    with TestClient(app) as client:
        state = client.app.state.authd
        headers = bearer(make_key(state, ["enroll"]))
        uin = new_uin(client, headers)
        assert put_face(client, headers, uin, path).status_code == 200
        with transaction(state.db) as s:
            row = s.execute(select(Identity).where(Identity.uin == uin)).scalar_one()
            if not keep:
                assert row.photo is None
                return
            assert path.read_bytes()[200:260] not in row.photo  # sealed, not stored in clear
            opened = state.sealer.open(row.photo, photo_aad(row.id, row.template_version))
            assert opened == path.read_bytes()


def test_quality_thresholds_are_settings(settings, clock, faces_dir):
    """A deployment that wants larger faces says so in its settings, and the gate follows."""
    from fastapi.testclient import TestClient

    from authd.faces.service import pipeline_settings
    from authd.http.app import create_app

    strict = settings.model_copy(update={"faces_enabled": True, "face_min_face_px": 400,
                                         "face_workers": 1})
    assert pipeline_settings(strict).quality.min_face_px == 400
    turned = pipeline_settings(settings.model_copy(update={"face_max_yaw": 0.3,
                                                           "face_min_detection_score": 0.9}))
    assert (turned.quality.max_yaw, turned.quality.min_detection_score) == (0.3, 0.9)
    with TestClient(create_app(strict, clock=clock)) as client:
        headers = bearer(make_key(client.app.state.authd, ["enroll"]))
        uin = new_uin(client, headers)
        r = put_face(client, headers, uin, faces_dir / "samples/kit_harington/john1.jpeg")
    assert r.status_code == 422 and r.json()["error"]["code"] == "face_too_small"
