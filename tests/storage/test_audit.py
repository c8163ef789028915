"""The audit chain linked by the sequencer, its signed checkpoints, and `authd audit verify`
against edited, deleted, reordered and re-linked rows and forged checkpoints (SQLite and
PostgreSQL)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select, text, update
from typer.testing import CliRunner

from authd.audit import sequencer
from authd.audit.checkpoints import TYP
from authd.audit.events import AuditContext, AuditRecord, append, link_pending
from authd.audit.verify import verify
from authd.cli.main import app as cli
from authd.http.state import open_state
from authd.storage.db import transaction
from authd.storage.models import AuditCheckpoint, AuditEvent, AuditHead
from keys import KeyRing, sign_jws
from keys.encoding import b64url_encode

CTX = AuditContext(request_id="req-1", rp_id="program-a", subject_key=b"k" * 32)


def write(state, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        with transaction(state.db) as s:
            append(s, CTX, AuditRecord("identity.create", "success", uin="234567890124",
                                       detail={"i": i}), 1_800_000_000 + i)


@pytest.fixture
def chained(settings, monkeypatch):
    """A state with five events linked and checkpointed, and an env pointing the CLI at it."""
    monkeypatch.setenv("AUTHD_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("AUTHD_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("AUTHD_MASTER_KEY", settings.master_key.get_secret_value())
    state = open_state(settings)
    write(state, 5)
    done = sequencer.one_round(state.audit_chain(), sign=True)
    assert done.linked == 5 and done.checkpoint is not None and done.checkpoint.tree_size == 5
    yield state
    state.close()


def verify_cli():
    return CliRunner().invoke(cli, ["audit", "verify"])


def sql(state, statement: str) -> None:
    with transaction(state.db) as s:
        s.execute(text(statement))


def test_events_are_written_unlinked_and_shown_until_linked(chained):
    write(chained, 2, start=5)
    result = verify_cli()
    assert result.exit_code == 0, result.output
    assert "5 events linked" in result.output
    assert "2 events not yet linked (ids 6..7)" in result.output
    sequencer.one_round(chained.audit_chain(), sign=True)
    result = verify_cli()
    assert result.exit_code == 0 and "7 events linked; 2 signed checkpoints verified" \
        in result.output and "not yet linked" not in result.output


def test_edited_event_is_found(chained):
    with transaction(chained.db) as s:
        s.execute(update(AuditEvent).where(AuditEvent.seq == 3).values(outcome="failure"))
    result = verify_cli()
    assert result.exit_code == 1
    assert "event 3 (chain position 3) was changed after it was linked" in result.output
    assert "first bad event: event 3 (chain position 3)" in result.output


def test_deleted_event_is_found(chained):
    sql(chained, "DELETE FROM audit_events WHERE seq = 2")
    result = verify_cli()
    assert result.exit_code == 1
    assert "chain positions 2..2 are missing" in result.output
    assert "first bad event: the event at chain position 2" in result.output


def test_deleted_tail_is_found(chained):
    sql(chained, "DELETE FROM audit_events WHERE seq IN (4, 5)")
    result = verify_cli()
    assert result.exit_code == 1
    assert "newest linked events were deleted: the head counts 5, the chain ends at 3" \
        in result.output
    assert "first bad event: the event at chain position 4" in result.output


def test_deleted_tail_and_head_rewound_is_found_by_the_checkpoint(chained):
    with transaction(chained.db) as s:
        fourth = s.execute(select(AuditEvent).where(AuditEvent.seq == 4)).scalar_one()
        s.execute(update(AuditHead).values(seq=4, hash=fourth.hash))
        s.execute(text("DELETE FROM audit_events WHERE seq = 5"))
    result = verify_cli()
    assert result.exit_code == 1
    assert "covers 5 events but the chain ends at 4" in result.output


def test_reordered_events_are_found(chained):
    with transaction(chained.db) as s:
        s.execute(update(AuditEvent).where(AuditEvent.seq == 2).values(chain_pos=-2))
        s.execute(update(AuditEvent).where(AuditEvent.seq == 4).values(chain_pos=2))
        s.execute(update(AuditEvent).where(AuditEvent.seq == 2).values(chain_pos=4))
    result = verify_cli()
    assert result.exit_code == 1
    assert "event 4 (chain position 2) does not follow the event before it" in result.output
    assert "first bad event: event 4 (chain position 2)" in result.output


def test_gap_left_by_a_rolled_back_transaction_is_not_an_error(chained, database_url):
    class Abort(Exception):
        pass

    with pytest.raises(Abort), transaction(chained.db) as s:
        append(s, CTX, AuditRecord("identity.create", "success"), 1_800_000_100)
        raise Abort
    write(chained, 2, start=5)
    sequencer.one_round(chained.audit_chain(), sign=True)
    with transaction(chained.db) as s:
        ids = list(s.execute(select(AuditEvent.seq).order_by(AuditEvent.seq)).scalars())
        positions = list(s.execute(select(AuditEvent.chain_pos).order_by(AuditEvent.seq))
                         .scalars())
    assert positions == [1, 2, 3, 4, 5, 6, 7]
    if database_url.startswith("postgresql"):  # a sequence never gives a number back
        assert ids == [1, 2, 3, 4, 5, 7, 8]
    result = verify_cli()
    assert result.exit_code == 0 and "audit log intact" in result.output, result.output


def test_rewritten_and_relinked_chain_is_found_by_the_signed_checkpoint(chained):
    """Someone with write access edits event 3 and re-links 3..5 with correct hashes: the
    chain is self-consistent again, only the signed checkpoint can tell."""
    with transaction(chained.db) as s:
        s.execute(update(AuditEvent).where(AuditEvent.seq == 3).values(outcome="failure"))
        s.execute(update(AuditEvent).where(AuditEvent.seq >= 3)
                  .values(chain_pos=None, prev_hash=None, hash=None))
        second = s.execute(select(AuditEvent).where(AuditEvent.seq == 2)).scalar_one()
        s.execute(update(AuditHead).values(seq=2, hash=second.hash))
    with transaction(chained.db) as s:
        link_pending(s)
    result = verify_cli()
    assert result.exit_code == 1
    assert "checkpoint 1 (tree size 5): the chain no longer reproduces the signed hash" \
        in result.output


def _forge(chained, jws: str, tree_size: int, chain_hash: str, kid: str) -> None:
    with transaction(chained.db) as s:
        s.add(AuditCheckpoint(tree_size=tree_size, chain_hash=chain_hash, at=1_800_000_000,
                              kid=kid, jws=jws))


def _head(chained) -> tuple[int, str]:
    with transaction(chained.db) as s:
        head = s.execute(select(AuditHead)).scalar_one()
        return head.seq, head.hash


def test_checkpoint_forged_with_another_key_is_found(chained, tmp_path: Path):
    size, head_hash = _head(chained)
    impostor = KeyRing.load_or_create(tmp_path / "impostor", b"\x22" * 32, 1_800_000_000).active
    payload = {"origin": "x", "tree_size": size, "chain_hash": head_hash,
               "timestamp": 1_800_000_000}
    jws = sign_jws(payload, impostor, TYP)
    _forge(chained, jws, size, head_hash, impostor.kid)
    result = verify_cli()
    assert result.exit_code == 1
    assert f"checkpoint 2 (tree size 5): signed by key {impostor.kid}, not in the key ring" \
        in result.output


def test_checkpoint_with_a_swapped_payload_is_found(chained):
    """The real kid and a real signature, over other content: the signature fails."""
    with transaction(chained.db) as s:
        real = s.execute(select(AuditCheckpoint)).scalar_one()
    header, _, signature = real.jws.split(".")
    payload = {"origin": "x", "tree_size": 5, "chain_hash": "f" * 64, "timestamp": 1}
    forged = f"{header}.{b64url_encode(json.dumps(payload).encode())}.{signature}"
    _forge(chained, forged, 5, "f" * 64, real.kid)
    result = verify_cli()
    assert result.exit_code == 1
    assert "checkpoint 2 (tree size 5): signature does not verify (bad_signature)" \
        in result.output


def test_checkpoint_columns_edited_are_found(chained):
    with transaction(chained.db) as s:
        s.execute(update(AuditCheckpoint).values(tree_size=4))
    result = verify_cli()
    assert result.exit_code == 1 and "its columns differ from what was signed" in result.output


def test_one_sequencer_per_database(chained):
    first, second = sequencer.Election(chained.engine), sequencer.Election(chained.engine)
    try:
        assert first.try_lead() is True
        assert second.try_lead() is False  # a second server (or the CLI) stands by
        assert first.try_lead() is True  # still leading
        result = CliRunner().invoke(cli, ["audit", "link"])
        assert result.exit_code == 0 and "is the audit sequencer" in result.output
        first.release()
        assert second.try_lead() is True  # the lock passes on when the leader goes
    finally:
        first.release()
        second.release()


def test_cli_link_links_and_signs(chained):
    write(chained, 3, start=5)
    result = CliRunner().invoke(cli, ["audit", "link"])
    assert result.exit_code == 0, result.output
    assert "linked 3 events; chain size 8; checkpoint signed by" in result.output
    with transaction(chained.db) as s:
        report = verify(s, chained.keyring.public_key)
    assert report.intact and report.linked == 8 and report.checkpoints_verified == 2


def test_forbidden_detail_is_refused(chained):
    ctx = AuditContext(request_id="r", rp_id=None, subject_key=b"k" * 32)
    with pytest.raises(ValueError), transaction(chained.db) as s:
        append(s, ctx, AuditRecord("otp.send", "success", detail={"otp": "123456"}), 0)


def test_upgrade_keeps_a_chain_written_before_the_sequencer(database_url, tmp_path):
    """Events chained by the old in-transaction code (revision 0003) verify after 0004, and
    new events continue the same chain."""
    from alembic import command

    from authd.audit.events import GENESIS, _content, _digest
    from authd.settings import Settings
    from authd.storage.db import alembic_config, make_engine
    from tests.helpers import MASTER_KEY

    engine = make_engine(database_url)
    command.upgrade(alembic_config(engine), "0003")
    prev = GENESIS
    with engine.begin() as conn:
        for seq in (1, 2, 3):
            row = {"seq": seq, "at": 1_800_000_000 + seq, "request_id": f"r{seq}",
                   "rp_id": "cli", "action": "rp.create", "outcome": "success", "reason": None,
                   "subject": None, "subject_ref": None, "factor": None,
                   "detail": {"rp": f"p{seq}"}, "prev_hash": prev}
            event = AuditEvent(**row)
            row["hash"] = prev = _digest(_content(event))
            row["detail"] = json.dumps(row["detail"])
            conn.execute(text("INSERT INTO audit_events (seq, at, request_id, rp_id, action, "
                              "outcome, reason, subject, subject_ref, factor, detail, "
                              "prev_hash, hash) VALUES (:seq, :at, :request_id, :rp_id, "
                              ":action, :outcome, :reason, :subject, :subject_ref, :factor, "
                              ":detail, :prev_hash, :hash)"), row)
        conn.execute(text("UPDATE audit_head SET seq = 3, hash = :h"), {"h": prev})
    engine.dispose()
    state = open_state(Settings(data_dir=tmp_path / "data", database_url=database_url,
                                master_key=MASTER_KEY, faces_enabled=False))
    try:
        with transaction(state.db) as s:
            report = verify(s, state.keyring.public_key)
        assert report.intact and report.linked == 3 and report.unlinked == ()
        write(state, 2)
        done = sequencer.one_round(state.audit_chain(), sign=True)
        assert done.linked == 2 and done.head.size == 5
        with transaction(state.db) as s:
            report = verify(s, state.keyring.public_key)
            ids = list(s.execute(select(AuditEvent.seq).order_by(AuditEvent.seq)).scalars())
        assert ids == [1, 2, 3, 4, 5]
        assert report.intact and report.linked == 5 and report.checkpoints_verified == 1
    finally:
        state.close()
