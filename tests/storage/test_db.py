"""The database layer: durability of acknowledged writes (SQLite), the migration lock, and a
bounded wait for a database that is not up yet."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import create_engine, text

from authd.http.state import open_database
from authd.settings import Settings
from authd.storage.db import (
    DatabaseUnreachable,
    make_engine,
    migrate,
    migration_lock,
    normalize_url,
    wait_for_database,
)
from tests.helpers import free_port


def test_sqlite_commits_are_synced_by_default(tmp_path):
    """synchronous=FULL: WAL frames are fsynced at each commit, so a write the client was
    told about survives a power cut (NORMAL syncs only at checkpoints)."""
    settings = Settings(data_dir=tmp_path, master_key="11" * 32)
    engine, _ = open_database(settings)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    engine.dispose()
    relaxed = make_engine(f"sqlite:///{tmp_path / 'b.db'}", synchronous="NORMAL")
    with relaxed.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL, opt-in
    relaxed.dispose()


def test_migration_lock_excludes_a_second_migrator(database_url):
    """While one process holds the lock (here: this thread), another migrator waits."""
    engine = make_engine(database_url)
    other = create_engine(normalize_url(database_url))
    done = threading.Event()

    def second() -> None:
        migrate(other)
        done.set()

    with migration_lock(engine):
        thread = threading.Thread(target=second)
        thread.start()
        assert not done.wait(1.0), "a second migration ran while the lock was held"
    thread.join(60)
    assert done.is_set()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
    engine.dispose()
    other.dispose()


def test_wait_for_database_gives_up_after_its_budget_with_one_line():
    port = free_port()
    engine = make_engine(f"postgresql://u:secret-pw@127.0.0.1:{port}/x")
    said: list[str] = []
    with pytest.raises(DatabaseUnreachable) as caught:
        wait_for_database(engine, 1.0, say=said.append)
    assert len(said) == 1 and f"127.0.0.1:{port}/x" in said[0]
    message = str(caught.value)
    assert message.startswith(f"database 127.0.0.1:{port}/x not reachable after")
    assert "secret-pw" not in message + said[0] and "\n" not in message
    engine.dispose()
