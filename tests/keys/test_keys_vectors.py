"""Known-answer tests from RFC 8037 Appendix A (Ed25519 JWK, thumbprint, JWS)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from keys import InvalidToken, JwksKeys, public_jwk, thumbprint
from keys.encoding import b64url_decode
from keys.jws import check_header, parse_compact, sign_compact, verify_signature

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


def test_public_key_and_thumbprint() -> None:
    jwk = public_jwk(RFC_KEY.public_key(), thumbprint(RFC_KEY.public_key()))
    assert jwk["x"] == X
    assert jwk["kid"] == THUMBPRINT


def test_sign_matches_rfc_8037_a4_exactly() -> None:
    assert sign_compact({"alg": "EdDSA"}, b"Example of Ed25519 signing", RFC_KEY) == JWS


def test_verify_rfc_8037_a4_with_jwks_key() -> None:
    parsed = parse_compact(JWS)
    assert parsed.header == {"alg": "EdDSA"}
    assert parsed.payload == b"Example of Ed25519 signing"
    jwks = {"keys": [{"kty": "OKP", "crv": "Ed25519", "x": X, "kid": "rfc"}]}
    verify_signature(parsed, JwksKeys.from_json(jwks).get("rfc"))


def test_rfc_vector_has_no_kid_so_jwt_verification_refuses_it() -> None:
    with pytest.raises(InvalidToken) as err:
        check_header(parse_compact(JWS).header)
    assert err.value.reason == "unknown_kid"
