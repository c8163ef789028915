"""Known-answer tests from RFC 8037 Appendix A (Ed25519 JWK, thumbprint, JWS)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from keys import (
    InvalidToken,
    JwksKeys,
    KeyInfo,
    SigningKey,
    public_jwk,
    sign_jwt,
    thumbprint,
    verify_jwt,
)
from keys.encoding import b64url_decode
from tests.keys.jose_kit import sign_compact

# RFC 8037 Appendix A.1 (private key) and A.2 (public key)
D = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
X = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
# RFC 8037 Appendix A.3 (RFC 7638 thumbprint)
THUMBPRINT = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
# RFC 8037 Appendix A.4: JWS of "Example of Ed25519 signing" with header {"alg":"EdDSA"}
JWS = (
    "eyJhbGciOiJFZERTQSJ9"
    ".RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc"
    ".hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
)
RFC_KEY = Ed25519PrivateKey.from_private_bytes(b64url_decode(D))
JWKS = {"keys": [{"kty": "OKP", "crv": "Ed25519", "x": X, "kid": "rfc"}]}
ISS, AUD, NOW = "https://authd.example", "rp", 1_700_000_000


def test_public_key_and_thumbprint() -> None:
    jwk = public_jwk(RFC_KEY.public_key(), thumbprint(RFC_KEY.public_key()))
    assert jwk["x"] == X
    assert jwk["kid"] == THUMBPRINT
    assert public_jwk(RFC_KEY.public_key(), "k", "Ed25519")["alg"] == "Ed25519"
    with pytest.raises(ValueError):
        public_jwk(RFC_KEY.public_key(), "k", "HS256")


def test_rfc_8037_a4_signature_verifies_with_the_jwks_key() -> None:
    signing_input, _, signature = JWS.rpartition(".")
    key = JwksKeys.from_json(JWKS).get("rfc")
    assert key is not None
    key.verify(b64url_decode(signature), signing_input.encode())


def test_our_signer_with_the_rfc_key_makes_the_rfc_signature_over_our_header() -> None:
    """Ed25519 is deterministic (RFC 8032 §5.1.6): our token's signature is the one the RFC
    key makes over our header and claims, and that header is exactly alg, kid, typ."""
    claims = {"iss": ISS, "aud": AUD, "exp": NOW + 60}
    token = sign_jwt(claims, SigningKey(KeyInfo(THUMBPRINT, NOW), RFC_KEY), typ="JWT")
    header, payload, signature = token.split(".")
    assert b64url_decode(header) == (
        b'{"alg":"EdDSA","kid":"' + THUMBPRINT.encode() + b'","typ":"JWT"}')
    assert b64url_decode(signature) == RFC_KEY.sign(f"{header}.{payload}".encode())
    keys = JwksKeys.from_json({"keys": [{**JWKS["keys"][0], "kid": THUMBPRINT}]})
    assert verify_jwt(token, keys=keys, audience=AUD, issuer=ISS, now=NOW) == claims


def test_rfc_vector_has_no_kid_so_jwt_verification_refuses_it() -> None:
    with pytest.raises(InvalidToken) as err:
        verify_jwt(JWS, keys=JwksKeys.from_json(JWKS), audience=AUD, issuer=ISS, now=NOW)
    assert err.value.reason == "unknown_kid"


def test_rfc_payload_is_not_a_claim_set() -> None:
    token = sign_compact({"alg": "EdDSA", "kid": "rfc"}, b"Example of Ed25519 signing", RFC_KEY)
    with pytest.raises(InvalidToken) as err:
        verify_jwt(token, keys=JwksKeys.from_json(JWKS), audience=AUD, issuer=ISS, now=NOW)
    assert err.value.reason == "malformed"
