"""Every token attack we know, end to end against introspection (online) and against
`authd token verify` with the published JWKS (offline, as a relying party does).

Each attack is a forged or misused token aimed at relying party `program-a`. Introspection
must answer exactly `{"active": false}`; the CLI must exit 1 naming the reason.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from typer.testing import CliRunner

from authd import keyring
from authd.cli import app as cli_app
from authd.tokens import TOKEN_TYP
from keys import KeyInfo, SigningKey, public_jwk, sign_jwt
from tests.api.token_kit import (
    FrozenClock,
    b64,
    enroll,
    introspect,
    mint,
    parts,
    revoke,
    rp_key,
    unb64,
)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


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
    uin = enroll(client, state)
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
    w.clock.offset += 300 + keyring.LEEWAY_SECONDS + 1  # past any verifier's leeway
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
    w.clock.offset += keyring.max_token_lifetime(w.state.settings) + 1
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
