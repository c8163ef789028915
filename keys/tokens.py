"""Signed JWTs (RFC 7519) as compact JWS with EdDSA/Ed25519 (RFC 8037), plus keyed hashes.

``verify_jwt`` makes the safe choices mandatory: the algorithm is pinned to EdDSA, the key
is chosen by kid from the caller's key source only (never from ``jwk``/``jku`` headers),
audience, issuer and ``exp`` are required, and every failure raises :class:`InvalidToken`.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from keys.encoding import b64url_encode
from keys.errors import InvalidToken
from keys.jwk import JwksKeys
from keys.jws import (
    ALG,
    check_header,
    json_object,
    parse_compact,
    sign_compact,
    to_json,
    verify_signature,
)
from keys.ring import SigningKey

KeySource = Callable[[str], Ed25519PublicKey | None] | JwksKeys
MIN_SECRET_BYTES = 16

__all__ = [
    "JwksKeys",
    "KeySource",
    "constant_time_equals",
    "hash_secret",
    "pairwise_sub",
    "sign_jwt",
    "verify_jwt",
]


def sign_jwt(claims: dict[str, Any], key: SigningKey, typ: str = "JWT") -> str:
    """Sign ``claims`` with header {"alg":"EdDSA","typ":typ,"kid":kid} (RFC 7519 §5.1).

    ``exp`` is required here too, so a token that no verifier would accept is never made.
    """
    if _numeric_date(claims, "exp") is None:
        raise ValueError("claims must include a numeric 'exp'")
    header = {"alg": ALG, "typ": typ, "kid": key.kid}
    return sign_compact(header, to_json(claims), key.private_key)


def verify_jwt(
    token: str,
    *,
    keys: KeySource,
    audience: str,
    issuer: str,
    now: int,
    leeway: int = 0,
    typ: str | None = None,
) -> dict[str, Any]:
    """Verify signature and claims (RFC 7519 §7.2) and return the claims.

    Raises InvalidToken with ``.reason`` in: malformed, bad_alg, unknown_kid, bad_signature,
    expired, not_yet_valid, wrong_issuer, wrong_audience, bad_typ. When ``typ`` is given
    the header ``typ`` must equal it (RFC 8725 §3.11 explicit typing).
    """
    if not audience or not issuer or leeway < 0:
        raise ValueError("audience and issuer are required; leeway must be >= 0")
    parsed = parse_compact(token)
    kid = check_header(parsed.header)
    public_key = keys(kid)
    if public_key is None:
        raise InvalidToken("unknown_kid")
    verify_signature(parsed, public_key)
    if typ is not None and parsed.header.get("typ") != typ:
        raise InvalidToken("bad_typ")
    try:
        claims = json_object(parsed.payload)
    except ValueError:
        raise InvalidToken("malformed") from None
    _check_times(claims, now, leeway)
    _check_issuer_audience(claims, issuer, audience)
    return claims


def _check_times(claims: dict[str, Any], now: int, leeway: int) -> None:
    """RFC 7519 §4.1.4 exp (required here), §4.1.5 nbf, §4.1.6 iat not in the future."""
    exp = _numeric_date(claims, "exp")
    if exp is None:
        raise InvalidToken("malformed")
    if exp <= now - leeway:
        raise InvalidToken("expired")
    for name in ("nbf", "iat"):
        value = _numeric_date(claims, name)
        if value is not None and value > now + leeway:
            raise InvalidToken("not_yet_valid")


def _check_issuer_audience(claims: dict[str, Any], issuer: str, audience: str) -> None:
    """RFC 7519 §4.1.1 iss must match exactly; §4.1.3 aud is a string or array of strings."""
    if claims.get("iss") != issuer:
        raise InvalidToken("wrong_issuer")
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud
    if not isinstance(audiences, list) or audience not in audiences:
        raise InvalidToken("wrong_audience")


def _numeric_date(claims: dict[str, Any], name: str) -> float | None:
    """A NumericDate (RFC 7519 §2) or None when absent; other types are malformed."""
    if name not in claims:
        return None
    value = claims[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidToken("malformed")
    return value


def pairwise_sub(secret: bytes, rp_id: str, uin: str) -> str:
    """Pairwise pseudonymous subject (OpenID Connect Core §8.1): one stable, unlinkable
    ``sub`` per person per relying party; HMAC-SHA256(secret, rp_id NUL uin), base64url[:32].
    """
    _check_secret(secret)
    if "\x00" in rp_id:
        raise ValueError("rp_id must not contain NUL")
    digest = hmac.new(secret, f"{rp_id}\x00{uin}".encode(), hashlib.sha256).digest()
    return b64url_encode(digest)[:32]


def hash_secret(secret: bytes, value: str) -> str:
    """Keyed hash (HMAC-SHA256, hex) for storing OTPs and API keys without the value."""
    _check_secret(secret)
    return hmac.new(secret, value.encode(), hashlib.sha256).hexdigest()


def constant_time_equals(a: str, b: str) -> bool:
    """Compare two strings in time independent of where they differ."""
    return hmac.compare_digest(a.encode(), b.encode())


def _check_secret(secret: bytes) -> None:
    if not isinstance(secret, bytes) or len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f"HMAC secret must be at least {MIN_SECRET_BYTES} bytes")
