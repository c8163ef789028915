"""Signed JWTs (RFC 7519) as compact JWS with EdDSA/Ed25519 (RFC 8037, RFC 9864), plus
keyed hashes.

Signing and verification go through pyjwt; this module makes its safe choices mandatory:

- the algorithm is pinned to the Ed25519 signature (header ``EdDSA`` or ``Ed25519``): pyjwt
  is given a JWS object that knows no other algorithm, ``algorithms=`` names the header's
  own (already allowed) value, and the key must be an Ed25519 key, so ``alg: none`` and
  HS256-with-the-public-key (RFC 8725 §2.1, §3.1) cannot be selected by a token;
- the key is chosen by kid from the caller's key source only (never from ``jwk``/``jku``
  headers);
- audience, issuer and ``exp`` are required; time is the caller's ``now`` (pyjwt would read
  the wall clock), so ``exp``/``nbf``/``iat`` are checked here;
- the compact form is strict before pyjwt sees it: unpadded, canonical base64url only
  (pyjwt accepts ``=`` padding), a header without duplicate members or ``crit``; the
  payload refuses duplicate members and non-numeric dates;
- every failure raises :class:`InvalidToken` with a reason word for the audit log.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import re
from collections.abc import Callable
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from jwt.algorithms import OKPAlgorithm

from keys.encoding import b64url_decode, b64url_encode, decode_checked, is_canonical
from keys.errors import InvalidToken
from keys.jwk import ALGS, SIGNING_ALG, JwksKeys
from keys.ring import SigningKey

KeySource = Callable[[str], Ed25519PublicKey | None] | JwksKeys
MIN_SECRET_BYTES = 16
MAX_TOKEN_CHARS = 16 * 1024
# RFC 7515 §2 base64url without padding; the signature may be empty so that `alg: none`
# reaches the algorithm check and is reported as such.
_COMPACT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_NUMERIC_DATES = ("exp", "nbf", "iat")

__all__ = [
    "JwksKeys",
    "KeySource",
    "constant_time_equals",
    "hash_secret",
    "pairwise_sub",
    "sign_jws",
    "sign_jwt",
    "verify_jws",
    "verify_jwt",
]


class _StrictJson(json.JSONEncoder):
    """NaN and Infinity are not JSON (RFC 8259 §6): refuse to sign them."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**{**kwargs, "allow_nan": False})


class _Jws(jwt.PyJWS):
    """pyjwt's JWS reader with our strict base64url, for speed only.

    pyjwt tests each character of every segment in a Python loop (then tolerates ``=``
    padding); here the token already passed ``_COMPACT``, so only the canonical last
    character is left to check. The profile put that loop at about half of pyjwt's own time
    per verification. Safety does not rest on this override of a private pyjwt method: if a
    pyjwt release stops calling it, ``_COMPACT`` still refuses padding before pyjwt runs.
    """

    @staticmethod
    def _decode_base64url_segment(segment: bytes, name: str) -> bytes:
        try:
            return decode_checked(segment)  # the alphabet was checked by _COMPACT
        except ValueError:
            raise jwt.DecodeError(f"invalid {name} segment") from None


class _Jwt(jwt.PyJWT):
    """pyjwt with only the Ed25519 signature registered and a strict payload reader."""

    def __init__(self) -> None:
        super().__init__(options={"verify_exp": False, "verify_nbf": False,
                                  "verify_iat": False, "require": ["exp", "iss", "aud"]})
        self._jws = _Jws(algorithms=[SIGNING_ALG])
        for alg in ALGS:
            if alg not in self._jws.get_algorithms():
                self._jws.register_algorithm(alg, OKPAlgorithm())  # RFC 9864 §2.2

    def _decode_payload(self, decoded: dict[str, Any]) -> dict[str, Any]:
        """The claims object, after pyjwt verified the signature (its documented hook)."""
        try:
            claims = json_object(decoded["payload"])
        except ValueError:
            raise jwt.DecodeError("claims are not a JSON object") from None
        for name in _NUMERIC_DATES:
            _numeric_date(claims, name)
        return claims


_JWT = _Jwt()
_REASONS: tuple[tuple[type[Exception], str], ...] = (
    (jwt.InvalidSignatureError, "bad_signature"),
    (jwt.InvalidAlgorithmError, "bad_alg"),
    (jwt.InvalidAudienceError, "wrong_audience"),
    (jwt.InvalidIssuerError, "wrong_issuer"),
)
_MISSING = {"aud": "wrong_audience", "iss": "wrong_issuer"}


def sign_jwt(claims: dict[str, Any], key: SigningKey, typ: str = "JWT") -> str:
    """Sign ``claims`` with header {"alg":"EdDSA","kid":kid,"typ":typ} (RFC 7519 §5.1).

    ``exp`` is required here too, so a token that no verifier would accept is never made.
    """
    if _numeric_date(claims, "exp") is None:
        raise ValueError("claims must include a numeric 'exp'")
    return _JWT.encode(claims, key.private_key, algorithm=SIGNING_ALG,
                       headers={"kid": key.kid, "typ": typ}, json_encoder=_StrictJson)


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
    header = _checked_header(token)
    public_key = keys(header["kid"])
    if public_key is None:
        raise InvalidToken("unknown_kid")
    if not isinstance(public_key, Ed25519PublicKey):
        raise InvalidToken("bad_alg")  # the key, not the token, decides the algorithm
    try:
        decoded = _JWT.decode_complete(token, public_key, algorithms=[header["alg"]],
                                       audience=audience, issuer=issuer)
    except jwt.PyJWTError as exc:
        raise InvalidToken(_reason(exc)) from None
    if typ is not None and decoded["header"].get("typ") != typ:
        raise InvalidToken("bad_typ")
    claims: dict[str, Any] = decoded["payload"]
    _check_times(claims, now, leeway)
    return claims


def sign_jws(payload: dict[str, Any], key: SigningKey, typ: str) -> str:
    """A compact JWS over a JSON object that is not a JWT (no exp, aud): e.g. a signed audit
    checkpoint. Same algorithm, header and strictness as :func:`sign_jwt`."""
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True, allow_nan=False)
    return _JWT._jws.encode(body.encode(), key.private_key, algorithm=SIGNING_ALG,
                            headers={"kid": key.kid, "typ": typ})


def verify_jws(token: str, *, keys: KeySource, typ: str) -> tuple[str, dict[str, Any]]:
    """Verify a compact JWS made by :func:`sign_jws`; return (kid, payload object).

    Raises InvalidToken (malformed, bad_alg, unknown_kid, bad_signature, bad_typ)."""
    header = _checked_header(token)
    public_key = keys(header["kid"])
    if public_key is None:
        raise InvalidToken("unknown_kid")
    if not isinstance(public_key, Ed25519PublicKey):
        raise InvalidToken("bad_alg")
    if header.get("typ") != typ:
        raise InvalidToken("bad_typ")
    try:
        payload = _JWT._jws.decode(token, public_key, algorithms=[header["alg"]])
        return header["kid"], json_object(payload)
    except jwt.PyJWTError as exc:
        raise InvalidToken(_reason(exc)) from None
    except ValueError:
        raise InvalidToken("malformed") from None


def _checked_header(token: str) -> dict[str, Any]:
    """The JOSE header of a strictly formed compact JWS, with alg allowed and a kid."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS or not _COMPACT.fullmatch(
        token
    ):
        raise InvalidToken("malformed")
    segment, payload, signature = token.split(".")
    if not (is_canonical(payload) and is_canonical(signature)):
        raise InvalidToken("malformed")  # whatever pyjwt's version would let through
    header = _header(segment)
    if not isinstance(header.get("alg"), str) or header["alg"] not in ALGS:
        raise InvalidToken("bad_alg")
    if "crit" in header:
        raise InvalidToken("malformed")  # RFC 7515 §4.1.11: we understand no extensions
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise InvalidToken("unknown_kid")
    return header


@functools.lru_cache(maxsize=256)
def _header(segment: str) -> dict[str, Any]:
    """Parsed once per distinct header: a signer's tokens share theirs (alg, kid, typ).
    Callers must not change the dict (only successes are cached; the cache is bounded)."""
    try:
        return json_object(b64url_decode(segment))
    except ValueError:
        raise InvalidToken("malformed") from None


def _reason(exc: Exception) -> str:
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return _MISSING.get(exc.claim, "malformed")
    return next((word for kind, word in _REASONS if isinstance(exc, kind)), "malformed")


def _check_times(claims: dict[str, Any], now: int, leeway: int) -> None:
    """RFC 7519 §4.1.4 exp (required here), §4.1.5 nbf, §4.1.6 iat not in the future.

    The types were checked by ``_Jwt._decode_payload``: numbers or absent.
    """
    exp = claims.get("exp")
    if exp is None:
        raise InvalidToken("malformed")
    if exp <= now - leeway:
        raise InvalidToken("expired")
    for name in ("nbf", "iat"):
        value = claims.get(name)
        if value is not None and value > now + leeway:
            raise InvalidToken("not_yet_valid")


def _numeric_date(claims: dict[str, Any], name: str) -> float | None:
    """A NumericDate (RFC 7519 §2) or None when absent; other types are malformed."""
    if name not in claims:
        return None
    value = claims[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)):  # noqa: UP038
        raise InvalidToken("malformed")
    return value


def json_object(data: bytes) -> dict[str, Any]:
    """Parse a JSON object, rejecting duplicate member names (RFC 7515 §5.2 step 4, RFC 7519
    §4) and the non-JSON constants NaN/Infinity."""
    try:
        value = _DECODER.decode(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ValueError("not a JSON object") from None
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate member name")
    return result


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_DECODER = json.JSONDecoder(object_pairs_hook=_no_duplicates, parse_constant=_no_constant)


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
