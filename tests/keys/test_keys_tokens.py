"""keys.tokens: EdDSA JWT round trip, claim checks, keyed hashes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keys import (
    InvalidToken,
    JwksKeys,
    KeyRing,
    constant_time_equals,
    hash_secret,
    pairwise_sub,
    sign_jwt,
    verify_jwt,
)
from keys.encoding import b64url_decode
from keys.tokens import json_object

ClaimsFactory = Callable[..., dict[str, Any]]  # the `make_claims` fixture

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _verify(token: str, ring: KeyRing, now: int, **kw: Any) -> dict[str, Any]:
    params: dict[str, Any] = {"audience": "rp-cash-transfer", "issuer": "https://authd.example"}
    params.update(kw)
    return verify_jwt(token, keys=ring.public_key, now=now, **params)


@settings(max_examples=60)
@given(extra=st.dictionaries(st.text(min_size=1, max_size=12), JSON, max_size=6))
def test_round_trip(
    shared_ring: KeyRing, make_claims: ClaimsFactory, now: int, extra: dict[str, Any]
) -> None:
    claims = {**extra, **make_claims()}
    token = sign_jwt(claims, shared_ring.active)
    assert _verify(token, shared_ring, now) == claims


def test_header_is_alg_typ_kid(ring: KeyRing, make_claims: ClaimsFactory) -> None:
    token = sign_jwt(make_claims(), ring.active, typ="at+jwt")
    header = json_object(b64url_decode(token.split(".")[0]))
    assert header == {"alg": "EdDSA", "typ": "at+jwt", "kid": ring.active.kid}


def test_verifies_with_jwks_keys(ring: KeyRing, make_claims: ClaimsFactory, now: int) -> None:
    token = sign_jwt(make_claims(aud=["other", "rp-cash-transfer"]), ring.active)
    keys = JwksKeys.from_json(ring.jwks(now, 600))
    claims = verify_jwt(
        token, keys=keys, audience="rp-cash-transfer", issuer="https://authd.example", now=now
    )
    assert claims["aud"] == ["other", "rp-cash-transfer"]


def test_leeway_applies_to_exp_and_nbf(ring: KeyRing, make_claims: ClaimsFactory, now: int) -> None:
    late = sign_jwt(make_claims(exp=now - 5), ring.active)
    early = sign_jwt(make_claims(nbf=now + 5, iat=now + 5), ring.active)
    assert _verify(late, ring, now, leeway=10)["exp"] == now - 5
    assert _verify(early, ring, now, leeway=10)["nbf"] == now + 5


def test_explicit_typ_is_enforced_when_asked(
    ring: KeyRing, make_claims: ClaimsFactory, now: int
) -> None:
    token = sign_jwt(make_claims(), ring.active)
    assert _verify(token, ring, now, typ="JWT")
    with pytest.raises(InvalidToken) as err:
        _verify(token, ring, now, typ="at+jwt")
    assert err.value.reason == "bad_typ"


def test_audience_and_issuer_are_required(
    ring: KeyRing, make_claims: ClaimsFactory, now: int
) -> None:
    token = sign_jwt(make_claims(), ring.active)
    with pytest.raises(TypeError):
        verify_jwt(token, keys=ring.public_key, now=now)  # type: ignore[call-arg]
    with pytest.raises(ValueError):
        verify_jwt(token, keys=ring.public_key, audience="", issuer="x", now=now)


def test_sign_refuses_claims_without_exp(ring: KeyRing, make_claims: ClaimsFactory) -> None:
    with pytest.raises(ValueError):
        sign_jwt(make_claims(exp=None), ring.active)


def test_invalid_token_error_is_opaque(ring: KeyRing, make_claims: ClaimsFactory, now: int) -> None:
    token = sign_jwt(make_claims(exp=now - 1), ring.active)
    with pytest.raises(InvalidToken) as err:
        _verify(token, ring, now)
    assert (err.value.code, err.value.status_code, err.value.reason) == (
        "invalid_token",
        401,
        "expired",
    )
    assert token not in str(err.value) and "expired" not in str(err.value)


def test_jwks_keys_ignores_other_key_types() -> None:
    jwks = {
        "keys": [
            {"kty": "RSA", "kid": "r", "n": "AQAB", "e": "AQAB"},
            {"kty": "OKP", "crv": "X25519", "kid": "x", "x": "A" * 43},
            {
                "kty": "OKP",
                "crv": "Ed25519",
                "kid": "enc",
                "use": "enc",
                "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
            },
            {"kty": "OKP", "crv": "Ed25519", "kid": "bad", "x": "not-a-key"},
            {
                "kty": "OKP",
                "crv": "Ed25519",
                "kid": "ok",
                "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
            },
        ]
    }
    keys = JwksKeys.from_json(jwks)
    assert list(keys) == ["ok"] and keys("r") is None and keys("ok") is not None


def test_jwks_keys_keeps_a_kid_listed_per_alg_and_drops_a_conflicting_kid(ring: KeyRing) -> None:
    entry = {
        "kty": "OKP",
        "crv": "Ed25519",
        "kid": "k",
        "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
    }
    both = [{**entry, "alg": "EdDSA"}, {**entry, "alg": "Ed25519"}]
    assert list(JwksKeys.from_json({"keys": both})) == ["k"]
    other_key = {**ring.jwks(1, 1)["keys"][0], "kid": "k"}
    assert len(JwksKeys.from_json({"keys": [entry, other_key]})) == 0
    padded = {**entry, "x": entry["x"] + "="}
    assert len(JwksKeys.from_json({"keys": [padded, {**entry, "alg": "HS256"}]})) == 0
    with pytest.raises(ValueError):
        JwksKeys.from_json({"nokeys": []})


SECRET = b"s" * 32


def test_pairwise_sub_is_stable_per_rp_and_unlinkable() -> None:
    a1 = pairwise_sub(SECRET, "rp-a", "1234567890")
    assert a1 == pairwise_sub(SECRET, "rp-a", "1234567890") and len(a1) == 32
    assert a1 != pairwise_sub(SECRET, "rp-b", "1234567890")
    assert a1 != pairwise_sub(SECRET, "rp-a", "1234567891")
    assert a1 != pairwise_sub(b"t" * 32, "rp-a", "1234567890")
    assert "1234567890" not in a1
    # The NUL separator keeps (rp "ab", uin "c") and (rp "a", uin "bc") apart
    assert pairwise_sub(SECRET, "ab", "c") != pairwise_sub(SECRET, "a", "bc")


def test_hash_secret_and_constant_time_equals() -> None:
    digest = hash_secret(SECRET, "123456")
    assert len(digest) == 64 and digest == hash_secret(SECRET, "123456")
    assert digest != hash_secret(SECRET, "123457")
    assert constant_time_equals(digest, hash_secret(SECRET, "123456"))
    assert not constant_time_equals(digest, hash_secret(SECRET, "123457"))
    assert not constant_time_equals("é", "e")


def test_short_hmac_secret_is_refused() -> None:
    with pytest.raises(ValueError):
        hash_secret(b"short", "x")
    with pytest.raises(ValueError):
        pairwise_sub(b"", "rp", "uin")
