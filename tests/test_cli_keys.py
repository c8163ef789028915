"""`authd keys …` and `authd token verify`: in-process against a data dir and a JWKS file,
then as real processes against a real `authd serve` on loopback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from typer.testing import CliRunner

from authd.audit.verify import verify
from authd.cli.main import app
from authd.http.state import open_state
from authd.registry import clients, identities
from authd.registry.identities import NewIdentity
from authd.settings import Settings
from authd.storage.db import transaction
from authd.tokens.issuance import issue_token
from tests.helpers import AUTHD, free_port, make_key, wait_ready

# joserfc warns that RFC 9864 deprecates the polymorphic "EdDSA" name (for "Ed25519").
pytestmark = pytest.mark.filterwarnings("ignore:EdDSA is deprecated")


@pytest.fixture
def data_dir(tmp_path, monkeypatch) -> Path:
    for name in [n for n in os.environ if n.startswith("AUTHD_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AUTHD_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def run(*args: str, stdin: str | None = None):
    return CliRunner().invoke(app, list(args), input=stdin)


def open_data(data_dir: Path):
    return open_state(Settings(data_dir=data_dir, master_key=None, database_url=None))


def mint(data_dir: Path, rp_id: str = "program-a") -> str:
    """A token signed by the ring in ``data_dir`` (the OTP flow is not needed for this)."""
    state = open_data(data_dir)
    try:
        now = state.clock.now()
        api_key = make_key(state, ["auth"], rp_id=rp_id, factors=("otp",), ttl_days=1)
        with transaction(state.db) as session:
            rp = clients.authenticate(session, api_key, now)
            person = identities.create_identity(session, NewIdentity(name="Amina"), now)
            return issue_token(state.tokens, session, rp, person, amr=["otp"], acr=1, txn="t",
                               now=now).token
    finally:
        state.close()


def test_keys_rotate_and_list(data_dir):
    assert run("init").exit_code == 0
    listed = run("keys", "list")
    assert listed.exit_code == 0 and listed.output.count("signing ") == 1
    first = listed.output.splitlines()[1].split()[1]
    rotated = run("keys", "rotate")
    assert rotated.exit_code == 0, rotated.output
    new = rotated.output.strip()
    rows = [r.split() for r in run("keys", "list").output.splitlines()[1:]]
    assert [r[1:3] for r in rows if r[0] == "signing"] == [[new, "active"], [first, "retired"]]
    ring = json.loads((data_dir / "signing-keys" / "ring.json").read_text())
    assert [k["kid"] for k in ring["keys"]] == [new, first]
    assert run("audit", "link").exit_code == 0  # links init's and rotate's events
    state = open_data(data_dir)
    try:
        with transaction(state.db) as session:
            report = verify(session, state.keyring.public_key)
        assert report.intact and report.linked >= 2 and report.checkpoints_verified == 1
    finally:
        state.close()


def test_keys_revoke_the_active_key(data_dir):
    assert run("init").exit_code == 0
    compromised = run("keys", "list").output.splitlines()[1].split()[1]
    revoked = run("keys", "revoke", "--", compromised)
    assert revoked.exit_code == 0, revoked.output
    new = revoked.output.strip()
    rows = [r.split() for r in run("keys", "list").output.splitlines()[1:]]
    assert [r[1:3] for r in rows if r[0] == "signing"] == [[new, "active"]]
    assert new != compromised
    assert not (data_dir / "signing-keys" / f"signing-{compromised}.key").exists()
    again = run("keys", "revoke", "--", compromised)
    assert again.exit_code == 1 and f"no signing key {compromised}" in again.output
    assert run("audit", "link").exit_code == 0
    state = open_data(data_dir)
    try:
        assert compromised not in json.dumps(state.keyring.jwks(state.clock.now(), 3630))
        with transaction(state.db) as session:
            assert verify(session, state.keyring.public_key).intact
    finally:
        state.close()


def test_keys_rotate_sealing(data_dir):
    run("init")
    before = json.loads((data_dir / "sealing-keys" / "sealing-index.json").read_text())["order"]
    rotated = run("keys", "rotate", "--sealing")
    assert rotated.exit_code == 0, rotated.output
    after = json.loads((data_dir / "sealing-keys" / "sealing-index.json").read_text())["order"]
    assert after == [rotated.output.strip(), *before]
    rows = [r.split() for r in run("keys", "list").output.splitlines()[1:]]
    assert [r[1:3] for r in rows if r[0] == "sealing"] == [[after[0], "active"],
                                                           [before[0], "retired"]]
    signing = json.loads((data_dir / "signing-keys" / "ring.json").read_text())["keys"]
    assert len(signing) == 1  # the signing ring is untouched


def test_token_verify_with_a_jwks_file(data_dir, tmp_path):
    token = mint(data_dir)
    state = open_data(data_dir)
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(state.keyring.jwks(state.clock.now(), 3630)))
    state.close()
    ok = run("token", "verify", token, "--jwks", str(jwks), "--aud", "program-a")
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["aud"] == "program-a"
    piped = run("token", "verify", "-", "--jwks", str(jwks), "--aud", "program-a", stdin=token)
    assert piped.exit_code == 0 and json.loads(piped.stdout) == json.loads(ok.stdout)
    wrong = run("token", "verify", token, "--jwks", str(jwks), "--aud", "program-b")
    assert wrong.exit_code == 1 and "wrong_audience" in wrong.output
    issuer = run("token", "verify", token, "--jwks", str(jwks), "--aud", "program-a",
                 "--iss", "https://other.example")
    assert issuer.exit_code == 1 and "wrong_issuer" in issuer.output
    missing = run("token", "verify", token, "--jwks", str(tmp_path / "nope.json"),
                  "--aud", "program-a")
    assert missing.exit_code == 1 and "cannot read JWKS" in missing.output
    jwks.write_text("{}")
    empty = run("token", "verify", token, "--jwks", str(jwks), "--aud", "program-a")
    assert empty.exit_code == 1 and "cannot read JWKS" in empty.output


@pytest.mark.slow
def test_token_verify_against_a_real_server_across_a_rotation(tmp_path):
    data_dir, port = tmp_path / "data", free_port()
    base = f"http://127.0.0.1:{port}"
    url = f"{base}/.well-known/jwks.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHD_")}
    # Tokens need no face model: keep the server's start short.
    server = subprocess.Popen(  # noqa: S603
        [str(AUTHD), "serve"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**env, "AUTHD_DATA_DIR": str(data_dir), "AUTHD_PORT": str(port),
             "AUTHD_FACES_ENABLED": "false"})
    try:
        wait_ready(base, server)
        before = mint(data_dir)
        verified = cli(env, "token", "verify", before, "--jwks", url, "--aud", "program-a")
        assert verified.returncode == 0, verified.stderr
        assert json.loads(verified.stdout)["aud"] == "program-a"

        # Another process rotates the ring; the running server publishes the new key at once.
        rotated = cli(env, "keys", "rotate", "--data-dir", str(data_dir))
        assert rotated.returncode == 0, rotated.stderr
        new_kid = rotated.stdout.strip()
        jwks = httpx.get(url, timeout=5)
        assert [k["kid"] for k in jwks.json()["keys"]][0] == new_kid
        assert jwks.headers["cache-control"].startswith("public, max-age=")

        after = mint(data_dir)
        key_set = KeySet.import_key_set(jwks.json())
        for token in (before, after):  # in flight across the rotation, and the new one
            assert cli(env, "token", "verify", token, "--jwks", url,
                       "--aud", "program-a").returncode == 0
            assert jwt.decode(token, key_set, algorithms=["EdDSA"]).claims["aud"] == "program-a"
        assert jwt.decode(after, key_set, algorithms=["EdDSA"]).header["kid"] == new_kid
        refused = cli(env, "token", "verify", after, "--jwks", url, "--aud", "program-b")
        assert refused.returncode == 1 and "wrong_audience" in refused.stderr
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=30)


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(AUTHD), *args], env=env, capture_output=True, text=True,  # noqa: S603
                          timeout=60, check=False)
