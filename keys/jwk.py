"""Ed25519 public keys as JWKs (RFC 8037 §2) and their RFC 7638 thumbprints."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from keys.encoding import b64url_decode, b64url_encode

ALG = "EdDSA"  # RFC 8037 §3.1


def raw_public_bytes(public_key: Ed25519PublicKey) -> bytes:
    """The 32-byte encoded public key (RFC 8032 §5.1.5)."""
    return public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def thumbprint(public_key: Ed25519PublicKey) -> str:
    """RFC 7638 §3 thumbprint: SHA-256 over the required members in lexicographic order.

    For OKP keys the required members are crv, kty, x (RFC 8037 §2, Appendix A.3).
    """
    x = b64url_encode(raw_public_bytes(public_key))
    canonical = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": x}, separators=(",", ":"))
    return b64url_encode(hashlib.sha256(canonical.encode()).digest())


def public_jwk(public_key: Ed25519PublicKey, kid: str) -> dict[str, str]:
    """A public-only JWK for JWKS publication (RFC 7517 §4, RFC 8037 §2)."""
    return {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": b64url_encode(raw_public_bytes(public_key)),
        "kid": kid,
        "use": "sig",
        "alg": ALG,
    }


def _ed25519_from_jwk(jwk: Any) -> tuple[str, Ed25519PublicKey] | None:
    """(kid, key) for a usable Ed25519 signing JWK, else None (other kinds are ignored)."""
    if not isinstance(jwk, Mapping) or jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
        return None
    kid, x = jwk.get("kid"), jwk.get("x")
    if not isinstance(kid, str) or not kid or not isinstance(x, str):
        return None
    if jwk.get("use", "sig") != "sig" or jwk.get("alg", ALG) != ALG:
        return None  # RFC 7517 §4.2/§4.4: a key published for another use or alg is not ours
    try:
        return kid, Ed25519PublicKey.from_public_bytes(b64url_decode(x))
    except ValueError:
        return None


class JwksKeys:
    """Ed25519 public keys looked up by kid, built from a JWKS document (RFC 7517 §5).

    Non-OKP and malformed entries are skipped; when two entries share a kid, the kid is
    dropped altogether rather than guessing which one is meant.
    """

    def __init__(self, keys: Mapping[str, Ed25519PublicKey]) -> None:
        self._keys = dict(keys)

    @classmethod
    def from_json(cls, jwks: Mapping[str, Any]) -> JwksKeys:
        entries = jwks.get("keys") if isinstance(jwks, Mapping) else None
        if not isinstance(entries, list):
            raise ValueError("JWKS must be an object with a 'keys' array")
        found: dict[str, Ed25519PublicKey] = {}
        duplicated: set[str] = set()
        for parsed in filter(None, map(_ed25519_from_jwk, entries)):
            kid, key = parsed
            if kid in found:
                duplicated.add(kid)
            found[kid] = key
        return cls({kid: key for kid, key in found.items() if kid not in duplicated})

    def get(self, kid: str) -> Ed25519PublicKey | None:
        return self._keys.get(kid)

    __call__ = get

    def __contains__(self, kid: object) -> bool:
        return kid in self._keys

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return f"JwksKeys(kids={list(self._keys)!r})"
