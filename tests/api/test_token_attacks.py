"""Every token attack we know, end to end against introspection (online) and against
`authd token verify` with the published JWKS (offline, as a relying party does).

Each attack is a forged or misused token aimed at relying party `program-a`. Introspection
must answer exactly `{"active": false}`; the CLI must exit 1 naming the reason.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import select
from typer.testing import CliRunner

from authd.audit.verify import verify
from authd.cli.main import app as cli_app
from authd.http.state import open_state
from authd.storage.db import transaction
from authd.storage.models import AuditEvent
from authd.tokens import rotation
from authd.tokens.issuance import TOKEN_TYP
from keys import KeyInfo, SigningKey, public_jwk, sign_jwt
from tests.helpers import (
    FrozenClock,
    b64,
    enroll_named,
    introspect,
    mint,
    parts,
    revoke,
    rp_key,
    unb64,
)


@dataclass
class World:
    client: object
    state: object
    clock: FrozenClock
    uin: str
    key_a: str
    key_b: str

    def valid(self) -> str:
        return mint(self.state, self.key_a, self.uin).token

    @property
    def kid(self) -> str:
        return self.state.keyring.active.kid


@pytest.fixture
def world(client, state, clock) -> World:
    uin = enroll_named(client, state)
    return World(client, state, clock, uin, rp_key(state, "program-a"),
                 rp_key(state, "program-b"))


def _resign(token: str, header: dict, payload: dict | None, sign: Callable[[bytes], bytes]) -> str:
    h = b64(json.dumps(header).encode())
    p = token.split(".")[1] if payload is None else b64(json.dumps(payload).encode())
    return f"{h}.{p}.{b64(sign(f'{h}.{p}'.encode()))}"


def _hs256(secret: Callable[[World], bytes]) -> Callable[[World], str]:
    def attack(w: World) -> str:
        token = w.valid()
        key = secret(w)
        return _resign(token, {"alg": "HS256", "typ": TOKEN_TYP, "kid": w.kid}, None,
                       lambda data: hmac.new(key, data, hashlib.sha256).digest())
    return attack


def _public(w: World):
    return w.state.keyring.active.public_key


def alg_none(w: World) -> str:
    h = b64(json.dumps({"alg": "none", "typ": TOKEN_TYP, "kid": w.kid}).encode())
    return f"{h}.{w.valid().split('.')[1]}."


def _attacker(kid: str) -> SigningKey:
    return SigningKey(KeyInfo(kid, 0), Ed25519PrivateKey.generate())


def unknown_kid(w: World) -> str:
    return sign_jwt(parts(w.valid())[1], _attacker("attacker-key"), typ=TOKEN_TYP)


def forged_with_our_kid(w: World) -> str:
    return sign_jwt(parts(w.valid())[1], _attacker(w.kid), typ=TOKEN_TYP)


def embedded_jwk(w: World) -> str:
    """RFC 7515 `jwk` header naming the attacker's own key: must never be trusted."""
    key = _attacker("attacker-key")
    header = {"alg": "EdDSA", "typ": TOKEN_TYP, "kid": key.kid,
              "jwk": public_jwk(key.public_key, key.kid)}
    return _resign(w.valid(), header, None, key.private_key.sign)


def expired(w: World) -> str:
    token = w.valid()
    w.clock.offset += 300 + rotation.LEEWAY_SECONDS + 1  # past any verifier's leeway
    return token


def not_yet_valid(w: World) -> str:
    return mint(w.state, w.key_a, w.uin, now=w.clock.now() + 3600).token


def wrong_audience(w: World) -> str:
    return mint(w.state, w.key_b, w.uin).token  # program-b's token shown to program-a


def tampered_payload(w: World) -> str:
    header, payload, signature = w.valid().split(".")
    claims = json.loads(unb64(payload))
    claims["acr"], claims["amr"] = "urn:authd:acr:3", ["face", "otp"]
    return f"{header}.{b64(json.dumps(claims).encode())}.{signature}"


def our_key_other_typ(w: World) -> str:
    """Signed by our own key, but not as an identity token (RFC 8725 §3.11)."""
    return sign_jwt(parts(w.valid())[1], w.state.keyring.active, typ="JWT")


def our_key_other_issuer(w: World) -> str:
    claims = {**parts(w.valid())[1], "iss": "https://evil.example"}
    return sign_jwt(claims, w.state.keyring.active, typ=TOKEN_TYP)


def retired_key_left_jwks(w: World) -> str:
    token = w.valid()
    w.state.keyring.rotate(w.clock.now())
    w.clock.offset += rotation.max_token_lifetime(w.state.settings) + 1
    assert parts(token)[0]["kid"] not in json.dumps(w.client.get("/.well-known/jwks.json").json())
    return token


def revoked(w: World) -> str:
    token = w.valid()
    assert revoke(w.client, w.key_a, token) == 200
    return token


ATTACKS = [
    (alg_none, "bad_alg"),
    (_hs256(lambda w: _public(w).public_bytes(Encoding.Raw, PublicFormat.Raw)), "bad_alg"),
    (_hs256(lambda w: public_jwk(_public(w), w.kid)["x"].encode()), "bad_alg"),
    (_hs256(lambda w: _public(w).public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)),
     "bad_alg"),
    (unknown_kid, "unknown_kid"),
    (forged_with_our_kid, "bad_signature"),
    (embedded_jwk, "unknown_kid"),
    (expired, "expired"),
    (not_yet_valid, "not_yet_valid"),
    (wrong_audience, "wrong_audience"),
    (tampered_payload, "bad_signature"),
    (our_key_other_typ, "bad_typ"),
    (our_key_other_issuer, "wrong_issuer"),
    (retired_key_left_jwks, "unknown_kid"),
]
IDS = ["alg_none", "hs256_raw_public_key", "hs256_jwk_x", "hs256_pem", *(
    a.__name__ for a, _ in ATTACKS[4:])]


@pytest.mark.parametrize("attack, reason", ATTACKS, ids=IDS)
def test_attack_fails_online_and_offline(world, attack, reason, tmp_path):
    token = attack(world)
    assert introspect(world.client, world.key_a, token) == {"active": False}
    jwks = tmp_path / "jwks.json"
    jwks.write_text(world.client.get("/.well-known/jwks.json").text)
    result = verify_cli(token, jwks, world.clock.now())
    assert result.exit_code == 1, result.output
    assert f"invalid token: {reason}" in result.output


def test_revoked_token_is_inactive_at_introspection(world):
    token = revoked(world)
    assert introspect(world.client, world.key_a, token) == {"active": False}


def test_expiry_is_strict_at_introspection(world):
    """Leeway absorbs replicas' clock skew for nbf/iat, never extends a token's life."""
    token = world.valid()
    world.clock.offset += 299
    assert introspect(world.client, world.key_a, token)["active"] is True
    world.clock.offset += 1
    assert introspect(world.client, world.key_a, token) == {"active": False}


def test_the_untouched_token_passes_both(world, tmp_path):
    """The control: the same paths accept a genuine token."""
    token = world.valid()
    assert introspect(world.client, world.key_a, token)["active"] is True
    jwks = tmp_path / "jwks.json"
    jwks.write_text(world.client.get("/.well-known/jwks.json").text)
    result = verify_cli(token, jwks, world.clock.now())
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["aud"] == "program-a"


def verify_cli(token: str, jwks: Path, now: int):
    return CliRunner().invoke(cli_app, ["token", "verify", token, "--jwks", str(jwks),
                                        "--aud", "program-a", "--now", str(now)])


# Issue 9 item 8: key removal and emergency revocation. Each test failed before the fix:
# introspection only re-read the ring for an unknown kid, so a key removed by another
# process kept verifying until the next upkeep; and it trusted the token's own `exp`.

AUTHD = Path(sys.executable).with_name("authd")


def _jwks_kids(w: World) -> set[str]:
    return {k["kid"] for k in w.client.get("/.well-known/jwks.json").json()["keys"]}


@pytest.mark.slow
def test_keys_revoke_in_another_process_stops_the_running_app_at_once(world, tmp_path):
    token = world.valid()
    compromised = world.kid
    assert introspect(world.client, world.key_a, token)["active"] is True
    settings = world.state.settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHD_")}
    env.update(AUTHD_DATA_DIR=str(settings.data_dir), AUTHD_DATABASE_URL=settings.database_url,
               AUTHD_MASTER_KEY=settings.master_key.get_secret_value(),
               AUTHD_FACES_ENABLED="false")
    done = subprocess.run([str(AUTHD), "keys", "revoke", "--", compromised], env=env,  # noqa: S603
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    new_kid = done.stdout.strip()
    assert new_kid and new_kid != compromised

    assert introspect(world.client, world.key_a, token) == {"active": False}
    assert compromised not in _jwks_kids(world) and new_kid in _jwks_kids(world)
    jwks = tmp_path / "jwks.json"
    jwks.write_text(world.client.get("/.well-known/jwks.json").text)
    offline = verify_cli(token, jwks, world.clock.now())
    assert offline.exit_code == 1 and "invalid token: unknown_kid" in offline.output
    fresh = world.valid()  # the running app signs with the new key
    assert parts(fresh)[0]["kid"] == new_kid
    assert introspect(world.client, world.key_a, fresh)["active"] is True
    with transaction(world.state.db) as session:
        events = session.execute(select(AuditEvent).where(
            AuditEvent.action == "keys.revoke")).scalars().all()
        assert [(e.outcome, e.detail["kid"], e.detail["was_active"]) for e in events] == [
            ("success", compromised, True)]
    with transaction(world.state.db_read) as session:  # verify takes its snapshot first
        assert verify(session, world.state.keyring.public_key).intact


def test_a_key_removed_by_a_second_app_instance_is_refused_at_once(world):
    """A retired key (tokens still in flight) revoked on another instance sharing the data
    dir and database: the first instance drops it at its next verification."""
    token = world.valid()
    retired = world.kid
    other = open_state(world.state.settings, world.clock)
    try:
        other.keyring.rotate(world.clock.now())
        assert introspect(world.client, world.key_a, token)["active"] is True  # rotation alone
        other.keyring.revoke(retired, world.clock.now())
        assert retired in [k.kid for k in world.state.keyring.keys]  # not re-read yet
        assert introspect(world.client, world.key_a, token) == {"active": False}
        assert retired not in [k.kid for k in world.state.keyring.keys]
    finally:
        other.close()


def test_introspection_trusts_the_expiry_stored_at_issue(world):
    """A token re-signed with a stolen key to live longer is not the token we issued: it is
    inactive now, and the original stops being active at the expiry recorded at issue."""
    original = world.valid()
    header, claims = parts(original)
    longer = sign_jwt({**claims, "exp": claims["exp"] + 86_400}, world.state.keyring.active,
                      typ=TOKEN_TYP)
    assert introspect(world.client, world.key_a, original)["active"] is True
    assert introspect(world.client, world.key_a, longer) == {"active": False}
    world.clock.offset += claims["exp"] - world.clock.now()
    assert introspect(world.client, world.key_a, original) == {"active": False}
    assert introspect(world.client, world.key_a, longer) == {"active": False}


def test_revoking_an_unknown_key_is_refused(world):
    settings = world.state.settings
    result = CliRunner().invoke(cli_app, ["keys", "revoke", "no-such-kid", "--data-dir",
                                          str(settings.data_dir)],
                                env={"AUTHD_DATABASE_URL": settings.database_url,
                                     "AUTHD_MASTER_KEY": settings.master_key.get_secret_value(),
                                     "AUTHD_FACES_ENABLED": "false"})
    assert result.exit_code == 1 and "no signing key no-such-kid" in result.output
    assert world.kid in _jwks_kids(world)
