"""Hypothesis round trips of keys/: sealing (seal/open, any tamper, any AD swap) and tokens
(sign/verify, any change to any character, a foreign key under the same kid).

The example-based cases (layout, every byte of one blob, named attacks) live in
test_keys_sealing.py and test_keys_attacks.py; these say the same for any input.
"""

from __future__ import annotations

import string
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from keys import InvalidToken, KeyRing, Sealer, SealError, sign_jwt, verify_jwt

ClaimsFactory = Callable[..., dict[str, Any]]  # the `make_claims` fixture
K1, K2 = b"\x11" * 32, b"\x22" * 32
SEALER = Sealer([("k1", K1)])
BLOBS = st.tuples(st.binary(max_size=512), st.binary(max_size=48))  # (plaintext, aad)
B64URL = string.ascii_letters + string.digits + "-_"


@given(BLOBS)
def test_seal_then_open_returns_the_plaintext_and_each_seal_is_fresh(blob: tuple) -> None:
    plaintext, aad = blob
    first, second = SEALER.seal(plaintext, aad), SEALER.seal(plaintext, aad)
    assert first != second  # a fresh nonce each time
    assert SEALER.open(first, aad) == SEALER.open(second, aad) == plaintext
    if len(plaintext) >= 16:  # (a byte or two of ciphertext can equal them by chance)
        assert plaintext not in first


@given(BLOBS, st.data())
def test_any_tampered_byte_is_refused(blob: tuple, data: st.DataObject) -> None:
    plaintext, aad = blob
    sealed = bytearray(SEALER.seal(plaintext, aad))
    index = data.draw(st.integers(min_value=0, max_value=len(sealed) - 1), label="index")
    sealed[index] ^= data.draw(st.integers(min_value=1, max_value=255), label="xor")
    with pytest.raises(SealError):
        SEALER.open(bytes(sealed), aad)


@given(BLOBS, st.data())
def test_a_truncated_or_extended_blob_is_refused(blob: tuple, data: st.DataObject) -> None:
    plaintext, aad = blob
    sealed = SEALER.seal(plaintext, aad)
    cut = data.draw(st.integers(min_value=0, max_value=len(sealed) - 1), label="cut")
    with pytest.raises(SealError):
        SEALER.open(sealed[:cut], aad)
    with pytest.raises(SealError):
        SEALER.open(sealed + data.draw(st.binary(min_size=1, max_size=16), label="tail"), aad)


@given(BLOBS, st.binary(max_size=48))
def test_another_associated_data_is_refused(blob: tuple, other: bytes) -> None:
    plaintext, aad = blob
    assume(other != aad)
    with pytest.raises(SealError):
        SEALER.open(SEALER.seal(plaintext, aad), other)


@given(BLOBS)
def test_another_key_under_the_same_id_is_refused(blob: tuple) -> None:
    plaintext, aad = blob
    with pytest.raises(SealError):
        Sealer([("k1", K2)]).open(SEALER.seal(plaintext, aad), aad)


CLAIMS = st.fixed_dictionaries(
    {},
    optional={"sub": st.text(max_size=40), "jti": st.text(min_size=1, max_size=40),
              "amr": st.lists(st.sampled_from(["otp", "face", "pin"]), max_size=3),
              "acr": st.sampled_from(["1", "2"]), "uin": st.text(string.digits, max_size=12),
              "note": st.text(max_size=30)})


def _verify(token: str, ring: KeyRing, now: int, **kw: Any) -> dict[str, Any]:
    return verify_jwt(token, keys=ring.public_key, audience="rp-cash-transfer",
                      issuer="https://authd.example", now=now, **kw)


@settings(max_examples=60)
@given(extra=CLAIMS, typ=st.sampled_from(["JWT", "at+jwt"]))
def test_sign_then_verify_returns_the_claims(shared_ring: KeyRing, make_claims: ClaimsFactory,
                                             now: int, extra: dict[str, Any], typ: str) -> None:
    claims = {**extra, **make_claims()}
    token = sign_jwt(claims, shared_ring.active, typ=typ)
    assert _verify(token, shared_ring, now, typ=typ) == claims
    if typ != "JWT":
        with pytest.raises(InvalidToken):
            _verify(token, shared_ring, now, typ="JWT")


@settings(max_examples=150)
@given(extra=CLAIMS, data=st.data())
def test_any_changed_character_is_refused(shared_ring: KeyRing, make_claims: ClaimsFactory,
                                          now: int, extra: dict[str, Any],
                                          data: st.DataObject) -> None:
    token = sign_jwt({**extra, **make_claims()}, shared_ring.active)
    positions = [i for i, c in enumerate(token) if c != "."]
    index = data.draw(st.sampled_from(positions), label="index")
    char = data.draw(st.sampled_from(B64URL.replace(token[index], "")), label="char")
    forged = token[:index] + char + token[index + 1:]
    with pytest.raises(InvalidToken) as err:
        _verify(forged, shared_ring, now)
    assert err.value.reason in {"malformed", "bad_signature", "unknown_kid", "bad_alg",
                                "bad_typ"}


@settings(max_examples=30)
@given(extra=CLAIMS)
def test_a_foreign_key_under_the_same_kid_is_refused(shared_ring: KeyRing,
                                                     make_claims: ClaimsFactory, now: int,
                                                     extra: dict[str, Any]) -> None:
    token = sign_jwt({**extra, **make_claims()}, shared_ring.active)
    foreign = Ed25519PrivateKey.generate().public_key()
    with pytest.raises(InvalidToken) as err:
        verify_jwt(token, keys=lambda kid: foreign, audience="rp-cash-transfer",
                   issuer="https://authd.example", now=now)
    assert err.value.reason == "bad_signature"
