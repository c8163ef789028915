"""GET /v1/audit/events and `authd audit show`: filters, cursor pages, masking, bad input.

Both answer from authd.audit.search.search, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from authd.cli.main import app as cli
from tests.helpers import (
    MASTER_KEY,
    bearer,
    code_of,
    counter,
    enroll,
    make_key,
    txn_of,
    wrong,
)


@pytest.fixture
def history(client, state, clock):
    """Two people; program-a fails then passes an OTP for the first; program-b asks for the
    second an hour later. Returns (uin_a, vid_a, uin_b, admin headers)."""
    uin_a, uin_b = enroll(client, state), enroll(client, state, name="Karim Benali")
    enroller = bearer(make_key(state, ["enroll"], rp_id="station-1"))
    vid = client.post("/v1/vids", json={"uin": uin_a, "kind": "perpetual"}, headers=enroller)
    assert vid.status_code == 201, vid.text
    program_a = counter(state)
    txn = txn_of(client, program_a, uin_a)
    for code in (wrong(code_of(state, txn)), code_of(state, txn)):
        client.post("/v1/authenticate", headers=program_a, json={
            "individual_id": uin_a, "id_type": "uin", "txn_id": txn, "factors": {"otp": code}})
    clock.offset += 3600
    txn_of(client, counter(state, rp_id="program-b"), uin_b)
    admin = bearer(make_key(state, ["admin"], rp_id="registry-admin"))
    return uin_a, vid.json()["vid"], uin_b, admin


def events(client, headers, **params):
    r = client.get("/v1/audit/events", params=params, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def test_filters(client, clock, history):
    uin_a, vid_a, uin_b, admin = history
    about_a = events(client, admin, uin=uin_a)["events"]
    assert [e["action"] for e in about_a] == [
        "authenticate", "authenticate", "otp.request", "vid.create", "identity.create"]
    assert {e["subject"] for e in about_a} == {uin_a}  # admin named the subject: shown whole
    assert [e["seq"] for e in events(client, admin, vid=vid_a)["events"]] == [
        e["seq"] for e in about_a]
    refused = events(client, admin, uin=uin_a, outcome="failure")["events"]
    assert [(e["reason"], e["rp_id"], e["factor"]) for e in refused] == [
        ("otp_wrong_code", "program-a", "otp")]
    assert [e["seq"] for e in events(client, admin, reason="otp_wrong_code")["events"]] == [
        refused[0]["seq"]]
    by_b = events(client, admin, rp_id="program-b")["events"]
    assert [(e["action"], e["subject"]) for e in by_b] == [("otp.request", "X" * 8 + uin_b[-4:])]
    late = events(client, admin, since=clock.base + 1800)["events"]
    assert [e["seq"] for e in late] == [by_b[0]["seq"]]
    early = events(client, admin, until=clock.base + 1800, action="authenticate")["events"]
    assert [e["outcome"] for e in early] == ["success", "failure"]
    assert events(client, admin, rp_id="nobody")["events"] == []


def test_cursor_pages_cover_everything_once(client, history):
    admin = history[3]
    everything = events(client, admin, limit=500)
    assert everything["next_cursor"] is None
    seen, cursor = [], None
    while True:
        page = events(client, admin, limit=3, **({"cursor": cursor} if cursor else {}))
        assert len(page["events"]) <= 3
        seen += [e["seq"] for e in page["events"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [e["seq"] for e in everything["events"]] == sorted(seen, reverse=True)
    assert len(seen) >= 7 and len(set(seen)) == len(seen)


def test_subjects_stay_masked_unless_named(client, history):
    uin_a, _, _, admin = history
    subjects = {e["subject"] for e in events(client, admin)["events"] if e["subject"]}
    assert subjects and all(s.startswith("X" * 8) for s in subjects)
    assert uin_a not in json.dumps(events(client, admin))


def test_scope_and_bad_input(client, state, history):
    uin_a, vid_a, _, admin = history
    r = client.get("/v1/audit/events", headers=counter(state))
    assert r.status_code == 403 and r.json()["error"]["code"] == "insufficient_scope"
    assert client.get("/v1/audit/events").json()["error"]["code"] == "invalid_client"
    bad_uin = uin_a[:-1] + str((int(uin_a[-1]) + 1) % 10)
    for params, code in (({"uin": bad_uin}, "invalid_uin"),
                         ({"uin": uin_a, "vid": vid_a}, "invalid_request"),
                         ({"cursor": "abc"}, "invalid_request"), ({"limit": 0}, "invalid_request"),
                         ({"outcome": "maybe"}, "invalid_request"),
                         ({"since": -1}, "invalid_request"), ({"uin": "12ab"}, "invalid_request")):
        r = client.get("/v1/audit/events", params=params, headers=admin)
        assert r.status_code == 422 and r.json()["error"]["code"] == code, (params, r.text)
    unknown_vid = "1234567890123455"  # well formed, never issued
    assert events(client, admin, vid=unknown_vid)["events"] == []


def test_clients_me(client, state):
    key = make_key(state, ["auth", "introspect"], rp_id="cash", factors=("otp",))
    me = client.get("/v1/clients/me", headers=bearer(key)).json()
    assert me["rp_id"] == "cash" and me["scopes"] == ["auth", "introspect"]
    assert me["allowed_factors"] == ["otp"] and key.split("_")[1] == me["key_id"]
    assert key.split("_")[2] not in json.dumps(me)
    assert client.get("/v1/clients/me").status_code == 401
    assert "/v1/clients/me" in client.get("/openapi.json").json()["paths"]


def test_cli_show_shares_the_query(client, state, settings, history, monkeypatch):
    uin_a, _, _, admin = history
    monkeypatch.setenv("AUTHD_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("AUTHD_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("AUTHD_MASTER_KEY", MASTER_KEY)
    run = CliRunner().invoke(cli, ["audit", "show", "--uin", uin_a, "--json"])
    assert run.exit_code == 0, run.output
    lines = [json.loads(line) for line in run.stdout.splitlines()]
    api = events(client, admin, uin=uin_a)["events"]
    assert [(x["seq"], x["subject"], x["reason"]) for x in lines] == [
        (e["seq"], e["subject"], e["reason"]) for e in api]
    table = CliRunner().invoke(cli, ["audit", "show", "--rp", "program-a", "--outcome",
                                     "failure", "--limit", "1"])
    assert table.exit_code == 0, table.output
    header, row = table.stdout.splitlines()
    assert header.split()[:4] == ["SEQ", "TIME", "RP", "ACTION"]
    assert "otp_wrong_code" in row and "program-a" in row
    paged = CliRunner().invoke(cli, ["audit", "show", "--limit", "2"])
    assert "more: --cursor" in paged.stderr
    bad = CliRunner().invoke(cli, ["audit", "show", "--since", "yesterday"])
    assert bad.exit_code == 2 and "not a time" in bad.stderr
