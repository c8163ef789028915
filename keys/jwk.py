"""Ed25519 public keys as JWKs (RFC 8037 §2) and their RFC 7638 thumbprints.

The JWK members come from pyjwt's OKP algorithm; this module adds what pyjwt leaves to us:
the kid (RFC 7638 thumbprint), the algorithm names a key is published under, and a strict
reading of a JWKS (canonical base64url ``x``, ``use``/``alg`` honoured, duplicate kids
dropped).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from jwt.algorithms import OKPAlgorithm
from jwt.exceptions import InvalidKeyError

from keys.encoding import b64url_decode, b64url_encode

# RFC 8037 §3.1 "EdDSA" (polymorphic) and RFC 9864 §2.2 "Ed25519" (fully specified) name the
# same signature over this curve. We sign with EdDSA (every JOSE library a relying party may
# run knows it; Ed25519 is new in 2025) and accept and publish both.
SIGNING_ALG = "EdDSA"
ALGS = ("EdDSA", "Ed25519")


def thumbprint(public_key: Ed25519PublicKey) -> str:
    """RFC 7638 §3 thumbprint: SHA-256 over the required members in lexicographic order.

    For OKP keys the required members are crv, kty, x (RFC 8037 §2, Appendix A.3).
    """
    jwk = OKPAlgorithm.to_jwk(public_key, as_dict=True)
    required = {name: jwk[name] for name in ("crv", "kty", "x")}
    canonical = json.dumps(required, separators=(",", ":"), sort_keys=True)
    return b64url_encode(hashlib.sha256(canonical.encode()).digest())


def public_jwk(public_key: Ed25519PublicKey, kid: str, alg: str = SIGNING_ALG) -> dict[str, str]:
    """A public-only JWK for JWKS publication (RFC 7517 §4, RFC 8037 §2)."""
    if alg not in ALGS:
        raise ValueError("alg must be EdDSA or Ed25519")
    members = OKPAlgorithm.to_jwk(public_key, as_dict=True)
    return {"kty": members["kty"], "crv": members["crv"], "x": members["x"], "kid": kid,
            "use": "sig", "alg": alg}


def published_jwks(public_key: Ed25519PublicKey, kid: str) -> list[dict[str, str]]:
    """The key once per algorithm name, signing name first (RFC 7517 §4.5 allows one kid for
    equivalent alternatives): a verifier that matches JWKs on (kid, alg) finds either."""
    return [public_jwk(public_key, kid, alg) for alg in ALGS]


def _ed25519_from_jwk(jwk: Any) -> tuple[str, Ed25519PublicKey] | None:
    """(kid, key) for a usable Ed25519 signing JWK, else None (other kinds are ignored)."""
    if not isinstance(jwk, Mapping) or jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
        return None
    kid, x = jwk.get("kid"), jwk.get("x")
    if not isinstance(kid, str) or not kid or not isinstance(x, str) or "d" in jwk:
        return None
    if jwk.get("use", "sig") != "sig" or jwk.get("alg", SIGNING_ALG) not in ALGS:
        return None  # RFC 7517 §4.2/§4.4: a key published for another use or alg is not ours
    try:
        b64url_decode(x)  # pyjwt's reader is lenient about padding; the JWK must be exact
        key = OKPAlgorithm.from_jwk({"kty": "OKP", "crv": "Ed25519", "x": x})
    except (ValueError, InvalidKeyError):
        return None
    return (kid, key) if isinstance(key, Ed25519PublicKey) else None


class JwksKeys:
    """Ed25519 public keys looked up by kid, built from a JWKS document (RFC 7517 §5).

    Non-OKP and malformed entries are skipped. A kid listed more than once names one key
    (one entry per algorithm name); when the entries disagree on the key, the kid is dropped
    altogether rather than guessing which one is meant.
    """

    def __init__(self, keys: Mapping[str, Ed25519PublicKey]) -> None:
        self._keys = dict(keys)

    @classmethod
    def from_json(cls, jwks: Mapping[str, Any]) -> JwksKeys:
        entries = jwks.get("keys") if isinstance(jwks, Mapping) else None
        if not isinstance(entries, list):
            raise ValueError("JWKS must be an object with a 'keys' array")
        found: dict[str, Ed25519PublicKey] = {}
        conflicting: set[str] = set()
        for kid, key in filter(None, map(_ed25519_from_jwk, entries)):
            if kid in found and _raw(found[kid]) != _raw(key):
                conflicting.add(kid)
            found.setdefault(kid, key)
        return cls({kid: key for kid, key in found.items() if kid not in conflicting})

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


def _raw(public_key: Ed25519PublicKey) -> bytes:
    return OKPAlgorithm.to_jwk(public_key, as_dict=True)["x"].encode()
