"""Dedup cases over HTTP with real photos (SQLite and PostgreSQL): one open case per identity
and candidate set, `distinct` remembered per pair, a new face closes open cases, the threshold
stored with the case, and four eyes meaning two key holders, not two keys."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from authd.storage.db import transaction
from authd.storage.models import AuditEvent, DedupCase, DedupDistinctPair
from tests.helpers import bearer, make_key, new_uin, put_face

DISTINCT = {"decision": "distinct", "reason": "checked the documents: different people"}


def holder_key(state, holder: str | None, scopes=("admin", "enroll"), rp_id="registry") -> dict:
    return bearer(make_key(state, list(scopes), rp_id=rp_id, factors=("face",), holder=holder))


@pytest.fixture
def keys(face_state):
    return {"station": holder_key(face_state, None, ("enroll",), rp_id="station-1"),
            "amina": holder_key(face_state, "Amina Alaoui"),
            "youssef": holder_key(face_state, "Youssef Benali")}


def enrolled(client, headers, path) -> str:
    uin = new_uin(client, headers)
    r = put_face(client, headers, uin, path)
    assert r.status_code == 200, r.text
    return uin


def open_cases(state) -> list[DedupCase]:
    with transaction(state.db) as s:
        return list(s.execute(select(DedupCase).where(DedupCase.status == "open")).scalars())


def test_a_retry_returns_the_open_case(face_client, keys, faces_dir, face_state):
    obama = faces_dir / "samples/obama"
    first = enrolled(face_client, keys["station"], obama / "obama.jpg")
    second = new_uin(face_client, keys["station"])
    ids = []
    for path in ("obama3.jpg", "obama3.jpg", "obama2.jpg"):  # retries, even with another shot
        r = put_face(face_client, keys["amina"], second, obama / path)
        assert r.status_code == 409, r.text
        assert r.json()["error"]["candidates"][0]["uin"] == first
        ids.append(r.json()["error"]["case_id"])
    assert ids[0] == ids[1] == ids[2]
    assert [c.id for c in open_cases(face_state)] == [ids[0]]
    listed = face_client.get("/v1/dedup/cases?status=open", headers=keys["youssef"]).json()
    assert [c["case_id"] for c in listed] == [ids[0]]
    # the existing identity keeps its status (the same rule as the batch's)
    shown = face_client.get(f"/v1/identities/{second}", headers=keys["station"]).json()
    assert shown["status"] == "active" and shown["has_face"] is False
    with transaction(face_state.db) as s:
        reused = [e.detail["reused"] for e in s.execute(select(AuditEvent).where(
            AuditEvent.reason == "possible_duplicate")).scalars()]
    assert reused == [False, True, True]


def test_distinct_is_remembered_for_the_pair(face_client, keys, faces_dir, face_state):
    obama = faces_dir / "samples/obama"
    first = enrolled(face_client, keys["station"], obama / "obama.jpg")
    twin = new_uin(face_client, keys["station"])
    r = put_face(face_client, keys["station"], twin, obama / "obama1.jpg")
    assert r.status_code == 409, r.text
    case_id = r.json()["error"]["case_id"]
    done = face_client.post(f"/v1/dedup/cases/{case_id}/resolve", json=DISTINCT,
                            headers=keys["amina"])
    assert done.status_code == 200, done.text
    with transaction(face_state.db) as s:
        assert s.query(DedupDistinctPair).count() == 1
    # Re-enrolling the same photo, for either of the pair, opens no new case for that pair.
    again = put_face(face_client, keys["station"], twin, obama / "obama1.jpg")
    assert again.status_code == 200, again.text
    back = put_face(face_client, keys["station"], first, obama / "obama.jpg")
    assert back.status_code == 200, back.text
    assert open_cases(face_state) == []
    # A third identity is still held for both.
    third = new_uin(face_client, keys["station"])
    held = put_face(face_client, keys["station"], third, obama / "obama2.jpg")
    assert held.status_code == 409
    assert {c["uin"][-4:] for c in held.json()["error"]["candidates"]} == {first[-4:], twin[-4:]}


def test_a_new_face_or_deactivation_closes_open_cases(face_client, keys, faces_dir, face_state):
    s = faces_dir / "samples"
    enrolled(face_client, keys["station"], s / "obama/obama.jpg")
    second = new_uin(face_client, keys["station"])
    case_id = put_face(face_client, keys["station"], second,
                       s / "obama/obama3.jpg").json()["error"]["case_id"]
    replaced = put_face(face_client, keys["station"], second, s / "kit_harington/john1.jpeg")
    assert replaced.status_code == 200, replaced.text
    case = face_client.get(f"/v1/dedup/cases/{case_id}", headers=keys["amina"]).json()
    assert case["status"] == "closed" and case["reason"] == "face_replaced"
    late = face_client.post(f"/v1/dedup/cases/{case_id}/resolve", json=DISTINCT,
                            headers=keys["youssef"])
    assert late.status_code == 409
    with transaction(face_state.db) as session:
        assert session.get(DedupCase, case_id).pending_template is None

    third = new_uin(face_client, keys["station"])
    other = put_face(face_client, keys["station"], third, s / "obama/obama2.jpg")
    assert other.status_code == 409
    face_client.post(f"/v1/identities/{third}/deactivate", headers=keys["station"])
    assert open_cases(face_state) == []
    closed = face_client.get("/v1/dedup/cases?status=closed", headers=keys["amina"]).json()
    assert {c["case_id"] for c in closed} == {case_id, other.json()["error"]["case_id"]}


def test_the_case_carries_the_threshold_it_opened_at(face_client, keys, faces_dir, face_state):
    obama = faces_dir / "samples/obama"
    enrolled(face_client, keys["station"], obama / "obama.jpg")
    expected = face_state.faces.dedup_threshold(len(face_state.gallery.index))
    second = new_uin(face_client, keys["station"])
    case_id = put_face(face_client, keys["station"], second,
                       obama / "obama3.jpg").json()["error"]["case_id"]
    enrolled(face_client, keys["station"], faces_dir / "samples/biden/biden.jpg")  # grows
    case = face_client.get(f"/v1/dedup/cases/{case_id}", headers=keys["amina"]).json()
    assert case["threshold"] == pytest.approx(expected.value, abs=1e-6)
    assert case["threshold_fmr"] == pytest.approx(expected.fmr)
    assert 1 - case["threshold"] / 2 <= case["candidates"][0]["score"]


def test_four_eyes_are_two_holders_not_two_keys(face_client, keys, faces_dir, face_state):
    """Regression (issue 9.5): a second admin key of the same person resolved the case."""
    obama = faces_dir / "samples/obama"
    enrolled(face_client, keys["station"], obama / "obama.jpg")
    second = new_uin(face_client, keys["station"])
    case_id = put_face(face_client, keys["amina"], second,
                       obama / "obama3.jpg").json()["error"]["case_id"]
    amina_again = holder_key(face_state, "Amina Alaoui")  # another key, the same person
    refused = face_client.post(f"/v1/dedup/cases/{case_id}/resolve", json=DISTINCT,
                               headers=amina_again)
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"]["code"] == "four_eyes_required"
    done = face_client.post(f"/v1/dedup/cases/{case_id}/resolve", json=DISTINCT,
                            headers=keys["youssef"])
    assert done.status_code == 200, done.text
    with transaction(face_state.db) as s:
        case = s.get(DedupCase, case_id)
        assert (case.opened_holder, case.resolved_holder) == ("Amina Alaoui", "Youssef Benali")
        actors = [e.detail.get("actor") for e in s.execute(select(AuditEvent).where(
            AuditEvent.action.in_(["face.enroll", "dedup.resolve"])).order_by(
            AuditEvent.seq)).scalars()]
    assert actors[-2:] == ["Amina Alaoui", "Youssef Benali"]


def test_holder_names_are_checked(face_state):
    with pytest.raises(ValueError, match="holder"):
        holder_key(face_state, "bad\nname")
    with pytest.raises(ValueError, match="holder"):
        holder_key(face_state, "x" * 101)
