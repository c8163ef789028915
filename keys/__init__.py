"""authd key management: key files, template sealing, Ed25519 key ring, JWS/JWT.

This package imports nothing else of ours and is the only one that touches cryptography's
primitives.
"""

from keys.errors import InvalidToken, KeyFileError, KeysError, SealError
from keys.jwk import JwksKeys, public_jwk, thumbprint
from keys.keyfile import generate_master_key, parse_master_key, read_secret, write_secret
from keys.ring import KeyInfo, KeyRing, SigningKey
from keys.sealing import Sealer, SealingKeyStore
from keys.tokens import constant_time_equals, hash_secret, pairwise_sub, sign_jwt, verify_jwt

__all__ = [
    "InvalidToken",
    "JwksKeys",
    "KeyFileError",
    "KeyInfo",
    "KeyRing",
    "KeysError",
    "SealError",
    "Sealer",
    "SealingKeyStore",
    "SigningKey",
    "constant_time_equals",
    "generate_master_key",
    "hash_secret",
    "pairwise_sub",
    "parse_master_key",
    "public_jwk",
    "read_secret",
    "sign_jwt",
    "thumbprint",
    "verify_jwt",
    "write_secret",
]
