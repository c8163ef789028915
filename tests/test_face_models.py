"""Face models side by side, on real photos, real models and real SQLite/PostgreSQL: templates
per model, the start refused on a gallery of another model, and `authd faces migrate` from a
gallery enrolled with dlib to sface."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import undefer
from typer.testing import CliRunner

from authd.cli.main import app as cli
from authd.faces.models import FaceModelMismatch
from authd.http.app import create_app
from authd.storage.db import transaction
from authd.storage.models import AuditEvent, FaceMigration, Identity
from tests.helpers import AUTHD, MASTER_KEY, bearer, make_key, photo_b64

pytestmark = pytest.mark.slow


DLIB, SFACE = "dlib_resnet_v1", "sface"


def serving(settings, clock, services, **update) -> TestClient:
    return TestClient(create_app(settings.model_copy(update={"faces_enabled": True, **update}),
                                 clock=clock, faces=services))


def enroll(client, headers, path) -> str:
    uin = client.post("/v1/identities", json={}, headers=headers).json()["uin"]
    r = client.put(f"/v1/identities/{uin}/face", json=photo_b64(path), headers=headers)
    assert r.status_code == 200, r.text
    return uin


def authenticate(client, headers, uin, path):
    return client.post("/v1/authenticate", headers=headers, json={
        "individual_id": uin, "id_type": "uin", "factors": {"face": photo_b64(path)}})


def last_event(state, action: str) -> AuditEvent:
    with transaction(state.db_read) as s:
        return s.execute(select(AuditEvent).where(AuditEvent.action == action)
                         .order_by(AuditEvent.seq.desc())).scalars().first()


def rows(state) -> dict[str, Identity]:
    with transaction(state.db_read) as s:
        # the photo column is deferred: loaded here, read after the session ends
        return {i.uin: i for i in s.execute(select(Identity).options(
            undefer(Identity.photo))).scalars()}


@pytest.fixture
def run(settings, monkeypatch):
    """The `authd` command on the test's database, configured for sface."""
    monkeypatch.setenv("AUTHD_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("AUTHD_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("AUTHD_MASTER_KEY", MASTER_KEY)
    monkeypatch.setenv("AUTHD_FACE_MODEL", "sface")
    monkeypatch.delenv("AUTHD_MODE", raising=False)
    return lambda *args: CliRunner().invoke(cli, list(args))


def test_migration_from_a_dlib_gallery_to_sface(settings, clock, faces_dir, face_service,
                                                dlib_face_service, run, tmp_path):
    s = faces_dir / "samples"
    # A gallery enrolled with dlib: two identities with kept photos, one without.
    with serving(settings, clock, [dlib_face_service], face_model="dlib",
                 face_keep_photos=True) as client:
        state = client.app.state.authd
        station = bearer(make_key(state, ["enroll"], rp_id="station"))
        admin = bearer(make_key(state, ["enroll", "admin"], rp_id="registry"))
        counter = bearer(make_key(state, ["auth"], rp_id="counter", factors=("face",)))
        kept_a = enroll(client, station, s / "obama/obama.jpg")
        kept_c = enroll(client, station, s / "kit_harington/john1.jpeg")
    with serving(settings, clock, [dlib_face_service], face_model="dlib") as client:
        no_photo_b = enroll(client, station, s / "biden/biden.jpg")
        state = client.app.state.authd
        before = rows(state)
    assert {r.template_model for r in before.values()} == {DLIB}
    assert before[no_photo_b].photo is None and before[kept_a].photo is not None

    # sface configured on a dlib gallery: the server refuses to start and says what to do.
    with pytest.raises(FaceModelMismatch, match="authd faces migrate --to sface"), \
            serving(settings, clock, [face_service]):
        pass
    refused = run("serve")
    assert refused.exit_code == 1 and "authd faces migrate --to sface" in refused.output

    first = run("faces", "migrate", "--to", "sface", "--processes", "1",
                "--report", str(tmp_path / "m1"))
    assert first.exit_code == 0, first.output
    assert f"  {no_photo_b}" in first.output and "migration under way" in first.output
    report = json.loads((tmp_path / "m1.json").read_text())
    outcome = {r["uin"]: (r["outcome"], r["code"], r["from_model"]) for r in report["rows"]}
    assert outcome == {kept_a: ("migrated", "", DLIB), kept_c: ("migrated", "", DLIB),
                       no_photo_b: ("recapture", "no_photo", DLIB)}
    assert (tmp_path / "m1.csv").read_text().count("\n") == 4

    # During the migration the server loads both models and never mixes them.
    with serving(settings, clock, [face_service, dlib_face_service]) as client:
        state = client.app.state.authd
        now = rows(state)
        assert {u: now[u].template_model for u in now} == {
            kept_a: SFACE, kept_c: SFACE, no_photo_b: DLIB}
        assert now[kept_a].template_version == before[kept_a].template_version + 1
        assert [old.service.name for old in state.legacy_faces] == ["dlib"]
        dlib_gallery = state.legacy_faces[0].gallery
        assert sorted(state.gallery.index.ids().tolist()) == sorted(
            [now[kept_a].id, now[kept_c].id])
        assert dlib_gallery.index.ids().tolist() == [now[no_photo_b].id]

        assert authenticate(client, counter, kept_a, s / "obama/obama2.jpg").status_code == 200
        assert last_event(state, "authenticate").detail["model"] == "sface"
        r = authenticate(client, counter, no_photo_b, s / "biden/biden2.jpg")
        assert r.status_code == 200, r.text  # on its old dlib template, with a dlib probe
        assert last_event(state, "authenticate").detail["model"] == "dlib"
        assert authenticate(client, counter, kept_a, s / "biden/biden2.jpg").status_code == 401
        event = last_event(state, "authenticate")
        assert (event.reason, event.detail["model"]) == ("face_mismatch", "sface")

        # A second enrollment of B is caught in the dlib gallery; of A in the sface one.
        for photo, owner in (("biden/biden2.jpg", no_photo_b), ("obama/obama3.jpg", kept_a)):
            uin = client.post("/v1/identities", json={}, headers=station).json()["uin"]
            dup = client.put(f"/v1/identities/{uin}/face", json=photo_b64(s / photo),
                             headers=admin)
            assert dup.status_code == 409, dup.text
            assert dup.json()["error"]["candidates"][0]["uin"] == owner

    status = run("faces", "status")
    assert f"{SFACE}: 2 active" in status.output and f"{DLIB}: 1 active" in status.output
    assert "migration to sface under way" in status.output

    # Re-running continues: the migrated ones are not redone, B is listed again.
    second = run("faces", "migrate", "--to", "sface", "--processes", "1",
                 "--report", str(tmp_path / "m2"))
    assert second.exit_code == 0, second.output
    report = json.loads((tmp_path / "m2.json").read_text())
    assert [(r["uin"], r["outcome"]) for r in report["rows"]] == [(no_photo_b, "recapture")]
    assert rows(state)[kept_a].template_version == now[kept_a].template_version

    # B is re-captured (enrolled again, now with sface): the migration can finish.
    with serving(settings, clock, [face_service, dlib_face_service]) as client:
        r = client.put(f"/v1/identities/{no_photo_b}/face",
                       json=photo_b64(s / "biden/biden.jpg"), headers=station)
        assert r.status_code == 200, r.text
    third = run("faces", "migrate", "--to", "sface", "--processes", "1",
                "--report", str(tmp_path / "m3"))
    assert third.exit_code == 0 and "migration finished" in third.output, third.output

    with serving(settings, clock, [face_service]) as client:  # sface alone, nothing left
        state = client.app.state.authd
        assert state.legacy_faces == () and len(state.gallery.index) == 3
        assert authenticate(client, counter, no_photo_b, s / "biden/biden2.jpg").status_code == 200
        assert last_event(state, "authenticate").detail["model"] == "sface"
        with transaction(state.db_read) as session:
            migrations = session.execute(select(FaceMigration)).scalars().all()
            migrated = session.execute(select(AuditEvent).where(
                AuditEvent.action == "face.migrate")).scalars().all()
            runs = session.execute(select(AuditEvent).where(
                AuditEvent.action == "faces.migrate")).scalars().all()
        assert [(m.to_model, m.finished_at is not None) for m in migrations] == [(SFACE, True)]
        assert sorted(e.subject[-4:] for e in migrated) == sorted(u[-4:] for u in (kept_a, kept_c))
        assert [e.detail["finished"] for e in runs] == [False, False, True]
    assert run("audit", "verify").exit_code == 0


def test_migration_killed_midway_loses_nothing_and_resumes(settings, clock, faces_dir,
                                                           dlib_face_service, run):
    """SIGKILL `authd faces migrate` after its first stored identity: every identity is whole
    (old template and photo, or new template and photo), and a re-run finishes the rest."""
    import os
    import signal
    import subprocess
    import time

    from authd.faces.enrollment import photo_aad
    from authd.faces.gallery import open_template

    if not settings.database_url.startswith("sqlite"):
        pytest.skip("one database is enough for the process-kill test")
    lfw = sorted((faces_dir / "lfw/images").iterdir())
    photos = [sorted(d.iterdir())[0] for d in lfw[: 40 : 2]]
    with serving(settings, clock, [dlib_face_service], face_model="dlib",
                 face_keep_photos=True) as client:
        state = client.app.state.authd
        station = bearer(make_key(state, ["enroll"], rp_id="station"))
        for path in photos:
            uin = client.post("/v1/identities", json={}, headers=station).json()["uin"]
            r = client.put(f"/v1/identities/{uin}/face", json=photo_b64(path), headers=station)
            assert r.status_code in (200, 409, 422), r.text
        enrolled = {u: r for u, r in rows(state).items() if r.template is not None}
    assert len(enrolled) >= 10

    env = dict(os.environ)  # the `run` fixture's AUTHD_* settings: this test's database
    proc = subprocess.Popen([str(AUTHD), "faces", "migrate", "--to", "sface", "--processes", "1"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if any(r.template_model == SFACE for r in rows(state).values()):
                break
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    after = rows(state)
    moved = [u for u in enrolled if after[u].template_model == SFACE]
    assert 1 <= len(moved) < len(enrolled), "the kill was meant to land mid-migration"
    for uin in enrolled:  # each one whole: its template and photo open under its version
        row = after[uin]
        template = open_template(state.sealer, row)
        assert template.model_id == row.template_model
        assert state.sealer.open(row.photo, photo_aad(row.id, row.template_version))
    again = run("faces", "migrate", "--to", "sface", "--processes", "1")
    assert again.exit_code == 0 and "migration finished" in again.output, again.output
    final = rows(state)
    assert all(final[u].template_model == SFACE for u in enrolled)
    assert all(final[u].template_version == after[u].template_version for u in moved)


def test_a_template_is_never_compared_with_another_models(settings, clock, faces_dir,
                                                          face_service, dlib_face_service):
    """A dlib template written behind a running sface server's back (a misconfigured
    replica): the sface server neither indexes it nor compares a probe with it."""
    s = faces_dir / "samples"
    with serving(settings, clock, [face_service]) as client:
        state = client.app.state.authd
        station = bearer(make_key(state, ["enroll", "admin"], rp_id="station"))
        counter = bearer(make_key(state, ["auth"], rp_id="counter", factors=("face",)))
        with serving(settings, clock, [dlib_face_service], face_model="dlib") as replica:
            uin = enroll(replica, station, s / "obama/obama.jpg")
        assert rows(state)[uin].template_model == DLIB
        r = authenticate(client, counter, uin, s / "obama/obama2.jpg")
        assert r.status_code == 401
        event = last_event(state, "authenticate")
        assert event.reason == "face_model_unavailable" and "distance" not in event.detail
        found = client.post("/v1/dedup/search", json=photo_b64(s / "obama/obama2.jpg"),
                            headers=station)
        assert found.status_code == 200 and found.json()["candidates"] == []
        assert len(state.gallery.index) == 0  # caught up, and the dlib template left out
        other = enroll(client, station, s / "obama/obama1.jpg")  # no cross-model duplicate
        assert rows(state)[other].template_model == SFACE and len(state.gallery.index) == 1
