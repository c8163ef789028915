"""The database layer: durability of acknowledged writes (SQLite), the migration lock, and a
bounded wait for a database that is not up yet."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import create_engine, event, text

from authd.http.state import open_database
from authd.settings import Settings
from authd.storage.db import (
    DatabaseUnreachable,
    make_engine,
    migrate,
    migration_lock,
    normalize_url,
    wait_for_database,
    writer_lock,
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


def test_sqlite_writer_lock_is_held_until_the_commit_has_returned(tmp_path):
    """The next writer may only start once SQLite's COMMIT (with its fsync) is done: let in
    earlier, it meets SQLite's own lock, gets SQLITE_BUSY and sleeps in the busy handler."""
    engine = make_engine(f"sqlite:///{tmp_path / 'w.db'}")
    lock = writer_lock(str(tmp_path / "w.db"))
    depth_at_commit: list[int] = []
    event.listen(engine, "commit", lambda conn: depth_at_commit.append(lock._depth))
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (1)"))
    assert depth_at_commit == [1, 1]  # held while SQLAlchemy hands over to SQLite's COMMIT
    assert lock._depth == 0  # and released after it
    with pytest.raises(RuntimeError), engine.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (2)"))
        raise RuntimeError("rolled back")
    assert lock._depth == 0
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 1
    engine.dispose()
