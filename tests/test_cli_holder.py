"""API-key holders at the command line: `rp add` / `rp add-key --holder`, shown in `rp list`
and named in the audit log; an admin key needs one (four eyes compare holders)."""

from __future__ import annotations

import re

from sqlalchemy import select

from authd.cli.main import opened
from authd.storage.db import transaction
from authd.storage.models import AuditEvent
from tests.helpers import cli_invoker

KEY = re.compile(r"authd_([A-Za-z0-9]{12})_[A-Za-z0-9_-]+")


def test_holders_are_named_listed_and_audited(tmp_path, monkeypatch):
    run = cli_invoker(tmp_path, monkeypatch)

    assert run("init").exit_code == 0
    added = run("rp", "add", "registry", "--name", "Registry", "--scopes", "admin,enroll",
                "--holder", "Amina Alaoui")
    assert added.exit_code == 0, added.output
    second = run("rp", "add-key", "registry", "--scopes", "admin", "--holder", "Youssef Benali")
    assert second.exit_code == 0, second.output
    nameless = run("rp", "add-key", "registry", "--scopes", "admin,enroll")
    assert nameless.exit_code == 2 and "--holder" in nameless.output
    station = run("rp", "add-key", "registry", "--scopes", "enroll")  # no admin: optional
    assert station.exit_code == 0, station.output

    listed = run("rp", "list").output
    first_id, second_id = KEY.search(added.output).group(1), KEY.search(second.output).group(1)
    assert re.search(rf"key {first_id}\t.*holder=Amina Alaoui", listed)
    assert re.search(rf"key {second_id}\t.*holder=Youssef Benali", listed)
    assert re.search(rf"key {KEY.search(station.output).group(1)}\t.*holder=-", listed)
    with opened(tmp_path / "data") as state, transaction(state.db) as session:
        details = [e.detail for e in session.execute(select(AuditEvent).where(
            AuditEvent.action.in_(["rp.create", "apikey.create"])).order_by(
            AuditEvent.seq)).scalars()]
    assert [d.get("holder") for d in details if d.get("rp") == "registry"] == [
        "Amina Alaoui", "Youssef Benali", None]
