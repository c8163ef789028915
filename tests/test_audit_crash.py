"""SIGKILL the audit sequencer (a real `authd serve`) in the middle of a stream of audited calls:
after a restart, or with a second replica taking over, every acknowledged call's event is in
the chain and `authd audit verify` passes."""

from __future__ import annotations

import signal
import subprocess
import threading
import time

import httpx
import pytest

from authd.audit.events import subject_ref
from authd.audit.verify import verify
from authd.http.state import open_state
from authd.settings import Settings
from authd.storage.db import transaction
from authd.storage.models import AuditEvent
from tests.helpers import AUTHD, MASTER_KEY, free_port, make_key, server_env, wait_ready

pytestmark = pytest.mark.slow


def env_of(settings: Settings) -> dict[str, str]:
    return server_env(
        AUTHD_DATA_DIR=str(settings.data_dir), AUTHD_MASTER_KEY=MASTER_KEY,
        AUTHD_DATABASE_URL=settings.resolved_database_url, AUTHD_FACES_ENABLED="false",
        AUTHD_LOG_LEVEL="WARNING", AUTHD_AUDIT_LINK_SECONDS="0.05",
        AUTHD_AUDIT_CHECKPOINT_SECONDS="0.3", AUTHD_RATE_RP_PER_SECOND="100000",
        AUTHD_RATE_RP_BURST="100000")


def serve(settings: Settings, port: int) -> subprocess.Popen:
    proc = subprocess.Popen([str(AUTHD), "serve", "--port", str(port)],  # noqa: S603
                            env=env_of(settings), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        wait_ready(f"http://127.0.0.1:{port}", proc)
    except AssertionError:
        proc.kill()
        raise
    return proc


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)


class Stream:
    """Threads creating identities (each one audited) until stopped; the acknowledged UINs."""

    def __init__(self, ports: list[int], key: str, threads: int = 3) -> None:
        self.acked: list[str] = []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(ports[i % len(ports)], key))
                        for i in range(threads)]
        for t in self.threads:
            t.start()

    def _run(self, port: int, key: str) -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10,
                          headers={"Authorization": f"Bearer {key}"}) as http:
            while not self.stop.is_set():
                try:
                    r = http.post("/v1/identities", json={"name": "Crash Test"})
                except httpx.TransportError:
                    return  # the server died under us: this call was never acknowledged
                if r.status_code == 201:
                    self.acked.append(r.json()["uin"])

    def wait_for(self, n: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while len(self.acked) < n and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(self.acked) >= n

    def join(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join()


def report(settings: Settings):  # type: ignore[no-untyped-def]
    state = open_state(settings)
    try:
        with transaction(state.db_read) as s:
            return verify(s, state.keyring.public_key)
    finally:
        state.close()


def wait_linked(settings: Settings, timeout: float = 60):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        found = report(settings)
        if not found.unlinked or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def assert_all_acked_in_chain(settings: Settings, acked: list[str]) -> None:
    state = open_state(settings)
    try:
        with transaction(state.db_read) as s:
            rows = s.execute(AuditEvent.__table__.select().where(
                AuditEvent.action == "identity.create")).all()
        linked = {r.subject_ref for r in rows if r.chain_pos is not None}
        missing = [u for u in acked if subject_ref(state.secrets.subject_key, u) not in linked]
        assert missing == []
    finally:
        state.close()


def prepare(settings: Settings) -> str:
    state = open_state(settings)
    try:
        return make_key(state, ["enroll", "admin"])
    finally:
        state.close()


def test_sigkill_of_the_sequencer_mid_stream_then_restart(settings):
    key, port = prepare(settings), free_port()
    proc = serve(settings, port)
    try:
        stream = Stream([port], key)
        stream.wait_for(20)
        assert report(settings).linked > 0  # the sequencer is at work
        stream.wait_for(len(stream.acked) + 20)
        proc.send_signal(signal.SIGKILL)
        stream.join()
        proc.wait(timeout=10)
        between = report(settings)
        assert between.intact, between.problems  # a kill never leaves a broken chain
        proc = serve(settings, port)  # the restarted server is the sequencer again
        after = wait_linked(settings)
    finally:
        stop(proc)
    assert after.intact and after.unlinked == () and after.checkpoints_verified >= 1
    assert_all_acked_in_chain(settings, stream.acked)
    cli = subprocess.run([str(AUTHD), "audit", "verify"], env=env_of(settings),  # noqa: S603
                         capture_output=True, text=True, timeout=60)
    assert cli.returncode == 0 and "audit log intact" in cli.stdout, cli.stdout + cli.stderr


@pytest.mark.parametrize("database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)],
                         indirect=True)
def test_two_replicas_sigkill_of_the_sequencer_the_other_takes_over(settings):
    key = prepare(settings)
    ports = [free_port(), free_port()]
    first = serve(settings, ports[0])  # started first: it wins the election
    second = serve(settings, ports[1])
    try:
        stream = Stream(ports, key, threads=4)
        stream.wait_for(40)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        count = len(stream.acked)
        stream.wait_for(count + 20)  # the survivor keeps serving (its threads' calls)
        stream.join()
        after = wait_linked(settings)  # no restart: the survivor took the lock over
    finally:
        stop(first)
        stop(second)
    assert after.intact, after.problems
    assert after.unlinked == () and after.linked >= len(stream.acked)
    assert_all_acked_in_chain(settings, stream.acked)
