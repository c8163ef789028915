"""One regression test per known JWT attack: each must raise InvalidToken with its reason."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from keys import InvalidToken, JwksKeys, KeyRing, public_jwk, sign_jwt, thumbprint, verify_jwt
from keys.encoding import b64url_encode
from tests.keys.jose_kit import sign_compact

ClaimsFactory = Callable[..., dict[str, Any]]  # the `make_claims` fixture
ISS, AUD = "https://authd.example", "rp-cash-transfer"


def _reason(token: str, ring: KeyRing, now: int, **kw: Any) -> str:
    with pytest.raises(InvalidToken) as err:
        verify_jwt(token, keys=ring.public_key, audience=AUD, issuer=ISS, now=now, **kw)
    return err.value.reason


def _b64json(value: Any) -> str:
    return b64url_encode(json.dumps(value).encode())


def _hs256(header: dict[str, Any], claims: dict[str, Any], secret: bytes) -> str:
    signing_input = f"{_b64json(header)}.{_b64json(claims)}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url_encode(mac)}"


@pytest.mark.parametrize("alg", ["none", "None", "NONE", ""])
def test_alg_none(ring: KeyRing, make_claims: ClaimsFactory, now: int, alg: str) -> None:
    header = {"alg": alg, "typ": "JWT", "kid": ring.active.kid}
    token = f"{_b64json(header)}.{_b64json(make_claims())}."
    assert _reason(token, ring, now) == "bad_alg"


def test_hs256_with_public_key_as_secret(
    ring: KeyRing, make_claims: ClaimsFactory, now: int
) -> None:
    public = ring.active.public_key
    header = {"alg": "HS256", "typ": "JWT", "kid": ring.active.kid}
    for secret in (
        public.public_bytes(Encoding.Raw, PublicFormat.Raw),
        public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo),
        json.dumps(public_jwk(public, ring.active.kid)).encode(),
    ):
        assert _reason(_hs256(header, make_claims(), secret), ring, now) == "bad_alg"


def test_unknown_kid(ring: KeyRing, make_claims: ClaimsFactory, now: int) -> None:
    attacker = Ed25519PrivateKey.generate()
    header = {"alg": "EdDSA", "kid": thumbprint(attacker.public_key())}
    token = sign_compact(header, json.dumps(make_claims()).encode(), attacker)
    assert _reason(token, ring, now) == "unknown_kid"


def test_missing_kid(ring: KeyRing, make_claims: ClaimsFactory, now: int) -> None:
    token = sign_compact(
        {"alg": "EdDSA"}, json.dumps(make_claims()).encode(), ring.active.private_key
    )
    assert _reason(token, ring, now) == "unknown_kid"


def test_embedded_jwk_header_is_not_trusted(
    ring: KeyRing, make_claims: ClaimsFactory, now: int
) -> None:
    """RFC 8725 §3.10 spirit: keys come from our key source, never from the token."""
    attacker = Ed25519PrivateKey.generate()
    header = {
        "alg": "EdDSA",
        "kid": ring.active.kid,
        "jwk": public_jwk(attacker.public_key(), ring.active.kid),
    }
    token = sign_compact(header, json.dumps(make_claims()).encode(), attacker)
    assert _reason(token, ring, now) == "bad_signature"


def test_expired(ring: KeyRing, make_claims: ClaimsFactory, now: int) -> None:
    assert _reason(sign_jwt(make_claims(exp=now - 1), ring.active), ring, now) == "expired"
    assert _reason(sign_jwt(make_claims(exp=now), ring.active), ring, now) == "expired"
    token = sign_jwt(make_claims(exp=now - 11), ring.active)
    assert _reason(token, ring, now, leeway=10) == "expired"


def test_missing_or_bad_exp(ring: KeyRing, make_claims: ClaimsFactory, now: int) -> None:
    no_exp = make_claims(exp=None)
    token = sign_compact(
        {"alg": "EdDSA", "kid": ring.active.kid},
        json.dumps(no_exp).encode(),
        ring.active.private_key,
    )
    assert _reason(token, ring, now) == "malformed"
    for exp in ("9999999999", True, None):
        claims = {**no_exp, "exp": exp}
        token = sign_compact(
            {"alg": "EdDSA", "kid": ring.active.kid},
            json.dumps(claims).encode(),
            ring.active.private_key,
        )
        assert _reason(token, ring, now) == "malformed"


def test_not_yet_valid(ring: KeyRing, make_claims: ClaimsFactory, now: int) -> None:
    assert _reason(sign_jwt(make_claims(nbf=now + 1), ring.active), ring, now) == "not_yet_valid"
    token = sign_jwt(make_claims(nbf=now + 11), ring.active)
    assert _reason(token, ring, now, leeway=10) == "not_yet_valid"


def test_issued_in_the_future(ring: KeyRing, make_claims: ClaimsFactory, now: int) -> None:
    token = sign_jwt(make_claims(iat=now + 60, nbf=None), ring.active)
    assert _reason(token, ring, now) == "not_yet_valid"


@pytest.mark.parametrize(
    "aud",
    [
        "rp-other",
        ["rp-other", "rp-third"],
        [],
        None,
        7,
        "rp-cash-transfer-x",
        [["rp-cash-transfer"]],
    ],
)
def test_wrong_audience(ring: KeyRing, make_claims: ClaimsFactory, now: int, aud: Any) -> None:
    claims = make_claims(aud=aud)
    assert _reason(sign_jwt(claims, ring.active), ring, now) == "wrong_audience"


@pytest.mark.parametrize("iss", ["https://evil.example", "https://authd.example/", None, 1])
def test_wrong_issuer(ring: KeyRing, make_claims: ClaimsFactory, now: int, iss: Any) -> None:
    # Signed raw: pyjwt's signer refuses a non-string iss, an attacker's signer does not.
    header = {"alg": "EdDSA", "kid": ring.active.kid}
    token = sign_compact(header, json.dumps(make_claims(iss=iss)).encode(),
                         ring.active.private_key)
    assert _reason(token, ring, now) == "wrong_issuer"


def test_tampered_payload(ring: KeyRing, make_claims: ClaimsFactory, now: int) -> None:
    header, _, signature = sign_jwt(make_claims(), ring.active).split(".")
    forged = _b64json(make_claims(sub="someone-else", amr=["face", "otp"]))
    assert _reason(f"{header}.{forged}.{signature}", ring, now) == "bad_signature"


def test_tampered_header_and_signature(ring: KeyRing, make_claims: ClaimsFactory, now: int) -> None:
    header, payload, signature = sign_jwt(make_claims(), ring.active).split(".")
    typ_swapped = _b64json({"alg": "EdDSA", "typ": "at+jwt", "kid": ring.active.kid})
    assert _reason(f"{typ_swapped}.{payload}.{signature}", ring, now) == "bad_signature"
    flipped = ("B" if signature[0] == "A" else "A") + signature[1:]
    assert _reason(f"{header}.{payload}.{flipped}", ring, now) == "bad_signature"
    assert _reason(f"{header}.{payload}.{signature[:-4]}", ring, now) in {
        "bad_signature",
        "malformed",
    }


def test_kid_of_another_ring_key(ring: KeyRing, make_claims: ClaimsFactory, now: int) -> None:
    old = ring.active
    ring.rotate(now)
    token = sign_jwt(make_claims(), old)
    header, payload, signature = token.split(".")
    relabelled = _b64json({"alg": "EdDSA", "typ": "JWT", "kid": ring.active.kid})
    assert _reason(f"{relabelled}.{payload}.{signature}", ring, now) == "bad_signature"


@pytest.mark.parametrize(
    "token",
    [
        "",
        "a.b",
        "a.b.c.d",
        "eyJhbGciOiJFZERTQSJ9.e30=.AA",
        "!!.e30.AA",
        "e30.e30.AA",
        "W10.e30.AA",
        "x" * 20_000,
    ],
)
def test_malformed(ring: KeyRing, now: int, token: str) -> None:
    assert _reason(token, ring, now) in {"malformed", "bad_alg"}


def test_crit_header_and_duplicate_members(
    ring: KeyRing, make_claims: ClaimsFactory, now: int
) -> None:
    key, kid = ring.active.private_key, ring.active.kid
    payload = json.dumps(make_claims()).encode()
    crit = sign_compact({"alg": "EdDSA", "kid": kid, "crit": ["b64"], "b64": False}, payload, key)
    assert _reason(crit, ring, now) == "malformed"
    dup_header = b64url_encode(f'{{"alg":"EdDSA","kid":"{kid}","alg":"none"}}'.encode())
    signing_input = f"{dup_header}.{b64url_encode(payload)}"
    token = f"{signing_input}.{b64url_encode(key.sign(signing_input.encode()))}"
    assert _reason(token, ring, now) == "malformed"
    not_json = sign_compact({"alg": "EdDSA", "kid": kid}, b"not json", key)
    assert _reason(not_json, ring, now) == "malformed"


def test_retired_and_pruned_key_fails(
    ring: KeyRing, ring_dir: Path, master_key: bytes, make_claims: ClaimsFactory, now: int
) -> None:
    # A token whose exp outlives the configured lifetime (a bug elsewhere) must still stop
    # verifying once its key is pruned and gone from JWKS.
    token = sign_jwt(make_claims(exp=now + 10_000), ring.active)
    ring.rotate(now + 60)
    ring.prune(now + 60 + 601, max_token_lifetime=600)
    jwks = KeyRing.load_or_create(ring_dir, master_key, now=now + 700).jwks(now + 700, 600)
    with pytest.raises(InvalidToken) as err:
        verify_jwt(token, keys=JwksKeys.from_json(jwks), audience=AUD, issuer=ISS, now=now + 700)
    assert err.value.reason == "unknown_kid"
    assert _reason(token, ring, now + 700) == "unknown_kid"


def test_padded_base64url_is_malformed(ring: KeyRing, make_claims: ClaimsFactory, now: int) -> None:
    """RFC 7515 §2: base64url without padding. pyjwt accepts `=`-padded segments (and the
    signature still verifies), so our own check before pyjwt is what refuses them."""
    token = sign_jwt(make_claims(), ring.active)
    header, payload, signature = token.split(".")
    assert len(signature) % 4 == 2  # 64 bytes: 86 characters, two short of a quantum
    assert verify_jwt(token, keys=ring.public_key, audience=AUD, issuer=ISS, now=now)
    assert _reason(f"{header}.{payload}.{signature}==", ring, now) == "malformed"
    padded_payload = payload + "=" * (-len(payload) % 4 or 4)
    assert _reason(f"{header}.{padded_payload}.{signature}", ring, now) == "malformed"


def test_non_canonical_base64url_is_malformed(
    ring: KeyRing, make_claims: ClaimsFactory, now: int
) -> None:
    """Stray low bits in a segment's last character: another text for the same bytes."""
    header, payload, signature = sign_jwt(make_claims(), ring.active).split(".")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(signature[-1])  # 86 chars: the last one carries 2 bits + 4 zero
    stray = signature[:-1] + alphabet[last | 1]
    assert stray != signature
    assert _reason(f"{header}.{payload}.{stray}", ring, now) == "malformed"
    header_bytes = json.dumps({"alg": "EdDSA", "kid": ring.active.kid}).encode()
    text = b64url_encode(header_bytes)
    if len(text) % 4:
        last = alphabet.index(text[-1])
        text = text[:-1] + alphabet[last | 1]
        signing_input = f"{text}.{payload}"
        token = f"{signing_input}.{b64url_encode(ring.active.private_key.sign(signing_input.encode()))}"
        assert _reason(token, ring, now) == "malformed"


@pytest.mark.parametrize("alg", ["Ed448", "ed25519", "ED25519", "EdDSA ", ["EdDSA"], "ES256"])
def test_only_the_two_ed25519_names_are_algorithms(
    ring: KeyRing, make_claims: ClaimsFactory, now: int, alg: Any
) -> None:
    header = {"alg": alg, "kid": ring.active.kid}
    token = sign_compact(header, json.dumps(make_claims()).encode(), ring.active.private_key)
    assert _reason(token, ring, now) == "bad_alg"


def test_the_ed25519_name_verifies_like_eddsa(
    ring: KeyRing, make_claims: ClaimsFactory, now: int
) -> None:
    """RFC 9864 §2.2: the fully specified name of the same signature."""
    header = {"alg": "Ed25519", "kid": ring.active.kid}
    token = sign_compact(header, json.dumps(make_claims()).encode(), ring.active.private_key)
    assert verify_jwt(token, keys=ring.public_key, audience=AUD, issuer=ISS, now=now)
    header, payload, _ = token.split(".")
    forged = sign_compact({"alg": "Ed25519", "kid": ring.active.kid},
                          json.dumps(make_claims(sub="x")).encode(),
                          Ed25519PrivateKey.generate()).split(".")[2]
    assert _reason(f"{header}.{payload}.{forged}", ring, now) == "bad_signature"
