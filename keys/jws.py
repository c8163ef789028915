"""JWS Compact Serialization (RFC 7515 §3.1, §7.1) with EdDSA/Ed25519 only (RFC 8037 §3.1).

Only this algorithm exists here: there is no algorithm table to confuse, so ``alg: none``
and HS256-with-the-public-key (RFC 8725 §2.1, §3.1) cannot be selected by a token.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from keys.encoding import b64url_decode, b64url_encode
from keys.errors import InvalidToken

ALG = "EdDSA"
MAX_TOKEN_CHARS = 16 * 1024
SIGNATURE_BYTES = 64  # RFC 8032 §5.1.6


@dataclass(frozen=True)
class ParsedJws:
    header: dict[str, Any]
    payload: bytes
    signing_input: bytes
    signature: bytes


def to_json(value: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON; NaN/Infinity are refused (not JSON, RFC 8259 §6)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def sign_compact(header: dict[str, Any], payload: bytes, private_key: Ed25519PrivateKey) -> str:
    """``b64url(header) . b64url(payload) . b64url(Ed25519(signing input))`` (RFC 7515 §5.1)."""
    if header.get("alg") != ALG:
        raise ValueError("only alg EdDSA is supported")
    signing_input = f"{b64url_encode(to_json(header))}.{b64url_encode(payload)}".encode("ascii")
    return f"{signing_input.decode('ascii')}.{b64url_encode(private_key.sign(signing_input))}"


def parse_compact(token: str) -> ParsedJws:
    """Split and decode a compact JWS; raise InvalidToken("malformed") on any defect."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS:
        raise InvalidToken("malformed")
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidToken("malformed")
    try:
        header = json_object(b64url_decode(parts[0]))
        payload, signature = b64url_decode(parts[1]), b64url_decode(parts[2])
    except ValueError:
        raise InvalidToken("malformed") from None
    signing_input = f"{parts[0]}.{parts[1]}".encode("ascii")
    return ParsedJws(header, payload, signing_input, signature)


def check_header(header: dict[str, Any]) -> str:
    """Pin alg to EdDSA and return the kid (RFC 7515 §4.1.1, §4.1.4, §4.1.11)."""
    if header.get("alg") != ALG:
        raise InvalidToken("bad_alg")
    if "crit" in header:
        raise InvalidToken("malformed")  # §4.1.11: we understand no extensions, so reject
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise InvalidToken("unknown_kid")
    return kid


def verify_signature(parsed: ParsedJws, public_key: Any) -> None:
    """Ed25519 verification (RFC 8032 §5.1.7); raises InvalidToken, never returns False."""
    if not isinstance(public_key, Ed25519PublicKey):
        raise InvalidToken("bad_alg")  # the key, not the token, decides the algorithm
    if len(parsed.signature) != SIGNATURE_BYTES:
        raise InvalidToken("bad_signature")
    try:
        public_key.verify(parsed.signature, parsed.signing_input)
    except InvalidSignature:
        raise InvalidToken("bad_signature") from None


def json_object(data: bytes) -> dict[str, Any]:
    """Parse a JSON object, rejecting duplicate member names (RFC 7515 §5.2 step 4)."""
    try:
        value = json.loads(
            data.decode("utf-8"),
            object_pairs_hook=_no_duplicates,
            parse_constant=_no_constant,
        )
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
