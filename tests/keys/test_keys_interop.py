"""Interop with an independent JOSE implementation (joserfc), and rotation in flight."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from joserfc import jwt
from joserfc.jwk import KeySet, OKPKey

from keys import InvalidToken, JwksKeys, KeyRing, sign_jwt, verify_jwt
from keys.encoding import b64url_encode

ClaimsFactory = Callable[..., dict[str, Any]]  # the `make_claims` fixture
ISS, AUD, LIFETIME = "https://authd.example", "rp-cash-transfer", 600

# joserfc flags "EdDSA" as superseded by "Ed25519" (RFC 9864); DESIGN.md pins "EdDSA".
pytestmark = pytest.mark.filterwarnings("ignore:EdDSA is deprecated")


def _verify(token: str, jwks: dict[str, Any], now: int) -> dict[str, Any]:
    keys = JwksKeys.from_json(jwks)
    return verify_jwt(token, keys=keys, audience=AUD, issuer=ISS, now=now)


def test_joserfc_verifies_our_token_from_jwks_only(
    ring: KeyRing, make_claims: ClaimsFactory, now: int
) -> None:
    ring.rotate(now)
    claims = make_claims(amr=["face", "otp"], acr="urn:authd:loa2")
    token = sign_jwt(claims, ring.active)
    key_set = KeySet.import_key_set(ring.jwks(now, LIFETIME))  # type: ignore[arg-type]
    decoded = jwt.decode(token, key_set, algorithms=["EdDSA"])
    assert decoded.claims == claims
    assert decoded.header["kid"] == ring.active.kid
    jwt.JWTClaimsRegistry(
        now=now, iss={"essential": True, "value": ISS}, aud={"essential": True, "value": AUD}
    ).validate(decoded.claims)


def test_we_verify_joserfc_tokens(ring: KeyRing, make_claims: ClaimsFactory, now: int) -> None:
    jwk = dict(ring.jwks(now, LIFETIME)["keys"][0])
    raw = ring.active.private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    private = OKPKey.import_key({**jwk, "d": b64url_encode(raw)})
    token = jwt.encode(
        {"alg": "EdDSA", "kid": ring.active.kid}, make_claims(), private, algorithms=["EdDSA"]
    )
    assert _verify(token, ring.jwks(now, LIFETIME), now) == make_claims()


def test_rotation_with_tokens_in_flight(
    ring: KeyRing, make_claims: ClaimsFactory, now: int
) -> None:
    in_flight = sign_jwt(make_claims(exp=now + LIFETIME), ring.active)
    ring.rotate(now + 60)
    fresh = sign_jwt(make_claims(iat=now + 60, exp=now + 60 + LIFETIME), ring.active)

    later = now + 300
    assert ring.prune(later, LIFETIME) == ()
    jwks = ring.jwks(later, LIFETIME)
    assert len(jwks["keys"]) == 2
    assert _verify(in_flight, jwks, later)["exp"] == now + LIFETIME
    assert _verify(fresh, jwks, later)["iat"] == now + 60
    joserfc_keys = KeySet.import_key_set(jwks)  # type: ignore[arg-type]
    assert jwt.decode(in_flight, joserfc_keys, algorithms=["EdDSA"]).claims["exp"]

    after = now + 60 + LIFETIME + 1
    assert len(ring.prune(after, LIFETIME)) == 1
    jwks = ring.jwks(after, LIFETIME)
    assert [k["kid"] for k in jwks["keys"]] == [ring.active.kid]
    with pytest.raises(InvalidToken) as err:
        _verify(in_flight, jwks, after)
    assert err.value.reason == "unknown_kid"
    assert _verify(fresh, jwks, now + 120)["iat"] == now + 60
