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

# joserfc flags "EdDSA" as superseded by "Ed25519" (RFC 9864); we sign with "EdDSA" (see the
# README) and accept and publish both.
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
    old_kid = ring.active.kid
    ring.rotate(now + 60)
    fresh = sign_jwt(make_claims(iat=now + 60, exp=now + 60 + LIFETIME), ring.active)

    later = now + 300
    assert ring.prune(later, LIFETIME) == ()
    jwks = ring.jwks(later, LIFETIME)
    assert [k["kid"] for k in jwks["keys"]] == [ring.active.kid] * 2 + [old_kid] * 2
    assert _verify(in_flight, jwks, later)["exp"] == now + LIFETIME
    assert _verify(fresh, jwks, later)["iat"] == now + 60
    joserfc_keys = KeySet.import_key_set(jwks)  # type: ignore[arg-type]
    assert jwt.decode(in_flight, joserfc_keys, algorithms=["EdDSA"]).claims["exp"]

    after = now + 60 + LIFETIME + 1
    assert len(ring.prune(after, LIFETIME)) == 1
    jwks = ring.jwks(after, LIFETIME)
    assert [k["kid"] for k in jwks["keys"]] == [ring.active.kid] * 2
    with pytest.raises(InvalidToken) as err:
        _verify(in_flight, jwks, after)
    assert err.value.reason == "unknown_kid"
    assert _verify(fresh, jwks, now + 120)["iat"] == now + 60


def test_jwks_publishes_each_key_under_both_names(ring: KeyRing, now: int) -> None:
    """RFC 9864 §2.2: "Ed25519" is the fully specified name; "EdDSA" (RFC 8037) stays first,
    as it is what we sign with."""
    jwks = ring.jwks(now, LIFETIME)["keys"]
    assert [(k["kid"], k["alg"]) for k in jwks] == [(ring.active.kid, "EdDSA"),
                                                     (ring.active.kid, "Ed25519")]
    assert jwks[0]["x"] == jwks[1]["x"] and len(JwksKeys.from_json({"keys": jwks})) == 1


@pytest.mark.parametrize("alg", ["Ed25519", "EdDSA"])
def test_we_verify_tokens_whose_header_says_either_name(
    ring: KeyRing, make_claims: ClaimsFactory, now: int, alg: str
) -> None:
    """A joserfc token under each name, verified with our JWKS and then with our ring."""
    raw = ring.active.private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    jwk = {**ring.jwks(now, LIFETIME)["keys"][0], "alg": alg, "d": b64url_encode(raw)}
    token = jwt.encode({"alg": alg, "kid": ring.active.kid, "typ": "authd-id+jwt"},
                       make_claims(), OKPKey.import_key(jwk), algorithms=[alg])
    assert _verify(token, ring.jwks(now, LIFETIME), now) == make_claims()
    assert verify_jwt(token, keys=ring.public_key, audience=AUD, issuer=ISS, now=now,
                      typ="authd-id+jwt") == make_claims()


def test_joserfc_picks_the_ed25519_entry_of_our_jwks(
    ring: KeyRing, make_claims: ClaimsFactory, now: int
) -> None:
    """A relying party that pins the fully specified name finds our key under it."""
    entry = ring.jwks(now, LIFETIME)["keys"][1]
    key = OKPKey.import_key(entry)  # type: ignore[arg-type]
    assert entry["alg"] == "Ed25519" and key.kid == ring.active.kid
    raw = ring.active.private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    private = OKPKey.import_key({**entry, "d": b64url_encode(raw)})
    token = jwt.encode({"alg": "Ed25519", "kid": ring.active.kid}, make_claims(), private,
                       algorithms=["Ed25519"])
    assert jwt.decode(token, key, algorithms=["Ed25519"]).claims == make_claims()
