"""The audit chain and `authd audit verify` against edited, deleted and reordered rows."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import select, text, update
from typer.testing import CliRunner

from authd.audit import AuditContext, AuditRecord, append, verify_chain
from authd.cli import app as cli
from authd.state import open_state
from authd.storage.db import transaction
from authd.storage.models import AuditEvent


@pytest.fixture
def chained(settings, monkeypatch):
    """A state with five chained events, and an env that points the CLI at it."""
    monkeypatch.setenv("AUTHD_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("AUTHD_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("AUTHD_MASTER_KEY", settings.master_key.get_secret_value())
    state = open_state(settings)
    ctx = AuditContext(request_id="req-1", rp_id="program-a", subject_key=b"k" * 32)
    for i in range(5):
        with transaction(state.db) as s:
            append(s, ctx, AuditRecord("identity.create", "success", uin="234567890124",
                                       detail={"i": i}), 1_800_000_000 + i)
    yield state
    state.close()


def verify_cli():
    return CliRunner().invoke(cli, ["audit", "verify"])


def test_intact_chain_verifies(chained):
    with transaction(chained.db) as s:
        assert verify_chain(s) == []
    result = verify_cli()
    assert result.exit_code == 0 and "intact" in result.output


def test_edited_event_is_found(chained):
    with transaction(chained.db) as s:
        s.execute(update(AuditEvent).where(AuditEvent.seq == 3).values(outcome="failure"))
    result = verify_cli()
    assert result.exit_code == 1 and "event 3 was changed" in result.output


def test_deleted_event_is_found(chained):
    with transaction(chained.db) as s:
        s.execute(text("DELETE FROM audit_events WHERE seq = 2"))
    result = verify_cli()
    assert result.exit_code == 1 and "event 2 is missing" in result.output


def test_deleted_tail_is_found(chained):
    with transaction(chained.db) as s:
        s.execute(text("DELETE FROM audit_events WHERE seq = 5"))
    result = verify_cli()
    assert result.exit_code == 1 and "newest events were deleted" in result.output


def test_reordered_events_are_found(chained):
    with transaction(chained.db) as s:
        rows = {e.seq: e for e in s.execute(select(AuditEvent)).scalars()}
        a, b = rows[2], rows[4]
        s.execute(update(AuditEvent).where(AuditEvent.seq == 2).values(seq=-2))
        s.execute(update(AuditEvent).where(AuditEvent.seq == 4).values(seq=2))
        s.execute(update(AuditEvent).where(AuditEvent.seq == -2).values(seq=4))
        assert a.hash != b.hash
    result = verify_cli()
    assert result.exit_code == 1 and "does not follow" in result.output


def test_forbidden_detail_is_refused(chained):
    ctx = AuditContext(request_id="r", rp_id=None, subject_key=b"k" * 32)
    with pytest.raises(ValueError), transaction(chained.db) as s:
        append(s, ctx, AuditRecord("otp.send", "success", detail={"otp": "123456"}), 0)
    assert os.environ["AUTHD_MASTER_KEY"]  # the fixture's env really was in place
