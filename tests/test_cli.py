"""The `authd` command, run in-process against a real SQLite data dir."""

from __future__ import annotations

import re

import pytest
from typer.main import get_command

from authd.cli.main import app
from tests.helpers import cli_invoker

KEY = re.compile(r"authd_[A-Za-z0-9]{12}_[A-Za-z0-9_-]+")


@pytest.fixture
def run(tmp_path, monkeypatch):
    return cli_invoker(tmp_path, monkeypatch)


def test_init_prints_the_first_key_once(run, tmp_path):
    first = run("init")
    assert first.exit_code == 0 and len(KEY.findall(first.output)) == 1
    again = run("init")
    assert again.exit_code == 0 and not KEY.findall(again.output)
    key_file = tmp_path / "data-dev-secrets" / "dev-master.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert key_file.parent.stat().st_mode & 0o777 == 0o700


def test_development_master_key_is_not_in_the_data_dir_it_protects(run, tmp_path):
    """A copy of the data dir (a backup, a docker build context) must not carry the key that
    opens its key files."""
    assert run("init").exit_code == 0
    data = tmp_path / "data"
    master = (tmp_path / "data-dev-secrets" / "dev-master.key").read_text().strip()
    assert len(master) == 64
    for path in data.rglob("*"):
        if path.is_file():
            assert master.encode() not in path.read_bytes(), path
            assert bytes.fromhex(master) not in path.read_bytes(), path


def test_a_master_key_left_in_the_data_dir_is_moved_out(run, tmp_path):
    assert run("init").exit_code == 0
    outside = tmp_path / "data-dev-secrets" / "dev-master.key"
    legacy = tmp_path / "data" / "dev-master.key"
    outside.rename(legacy)  # the layout before this change
    assert run("rp", "list").exit_code == 0  # the key files still open with the same key
    assert outside.exists() and not legacy.exists()


def test_relying_party_lifecycle(run):
    run("init")
    added = run("rp", "add", "cash-transfer", "--name", "Cash transfer", "--factors", "otp",
                "--scopes", "auth,introspect")
    assert added.exit_code == 0, added.output
    key_id = KEY.search(added.output).group(0).split("_")[1]
    listed = run("rp", "list").output
    assert "cash-transfer" in listed and f"key {key_id}" in listed and "active" in listed
    assert KEY.search(listed) is None  # never a secret
    assert run("rp", "revoke-key", key_id).exit_code == 0
    assert "revoked" in run("rp", "list").output
    assert run("rp", "revoke-key", "nosuchkey000").exit_code == 1
    dup = run("rp", "add", "cash-transfer", "--name", "again")
    assert dup.exit_code == 1 and "already exists" in dup.output
    bad = run("rp", "add", "x", "--name", "y", "--factors", "iris")
    assert bad.exit_code == 2


def test_identity_and_vid_commands(run):
    added = run("identity", "add", "--name", "Amina", "--phone", "+212612345678",
                "--dob", "1984-03-02")
    assert added.exit_code == 0, added.output
    uin = added.output.strip().splitlines()[-1]
    shown = run("identity", "show", uin)
    assert shown.exit_code == 0 and "+212*******78" in shown.output
    assert "612345678" not in shown.output
    vid = run("vid", "create", uin, "--ttl", "3600").output.strip().splitlines()[-1]
    assert len(vid) == 16
    assert run("vid", "revoke", vid).exit_code == 0
    assert run("identity", "deactivate", uin).exit_code == 0
    assert '"deactivated"' in run("identity", "show", uin).output
    assert run("audit", "verify").exit_code == 0


def test_clear_errors(run):
    bad = run("identity", "show", "234567890123")
    assert bad.exit_code == 1 and "check digit" in bad.output
    missing = run("identity", "show", "234567890124")
    assert missing.exit_code == 1 and "No active identity" in missing.output
    assert run("identity", "add", "--dob", "yesterday").exit_code == 2


def test_production_without_master_key_refuses(run, monkeypatch):
    monkeypatch.setenv("AUTHD_MODE", "production")
    result = run("init")
    assert result.exit_code == 2 and "AUTHD_MASTER_KEY is required" in result.output


def _commands(group, prefix=()):
    for name, command in getattr(group, "commands", {}).items():
        yield (*prefix, name)
        yield from _commands(command, (*prefix, name))


def test_help_on_every_command(run):
    paths = list(_commands(get_command(app)))
    assert {("serve",), ("init",), ("rp", "add"), ("audit", "verify")} <= set(paths)
    for path in paths:
        result = run(*path, "--help")
        assert result.exit_code == 0 and "Usage" in result.output, path


def test_reset_failures(run, tmp_path):
    from authd.http.state import open_state
    from authd.otp.transactions import Verifier
    from authd.settings import Settings
    from authd.storage.db import transaction

    uin = run("identity", "add").output.strip().splitlines()[-1]
    state = open_state(Settings(data_dir=tmp_path / "data", faces_enabled=False))
    now = state.clock.now()
    try:
        with transaction(state.db) as s:
            identity_id = identities_id(s, uin)
            a, b = (Verifier(identity_id, rp, "auth") for rp in ("program-a", "program-b"))
            for verifier in (a, a, b):
                state.otps.fail(s, verifier, now)
        result = run("identity", "reset-failures", uin, "--rp", "program-a")
        assert result.exit_code == 0 and "1 failure counter(s) cleared at program-a" \
            in result.output
        with transaction(state.db) as s:
            assert (state.otps.failures(s, a, now), state.otps.failures(s, b, now)) == (0, 1)
        result = run("identity", "reset-failures", uin)
        assert result.exit_code == 0 and "1 failure counter(s) cleared" in result.output
        with transaction(state.db) as s:
            assert state.otps.failures(s, b, now) == 0
    finally:
        state.close()
    assert run("audit", "verify").exit_code == 0


def identities_id(session, uin: str) -> int:
    from authd.registry import identities

    return identities.get_by_uin(session, uin).id
