"""authd key management: key files, template and file sealing, Ed25519 key ring, JWTs (pyjwt).

This package imports nothing else of ours and is the only one that imports pyjwt and
cryptography's primitives.
"""

from keys.errors import InvalidToken, KeyFileError, KeysError, SealError, UnknownKey
from keys.jwk import ALGS, SIGNING_ALG, JwksKeys, public_jwk, published_jwks, thumbprint
from keys.keyfile import generate_master_key, parse_master_key, read_secret, write_secret
from keys.ring import KeyInfo, KeyRing, SigningKey
from keys.sealed_file import file_needs_reseal, open_file, seal_file
from keys.sealing import Sealer, SealingKeyStore
from keys.tokens import (
    constant_time_equals,
    hash_secret,
    pairwise_sub,
    sign_jws,
    sign_jwt,
    verify_jws,
    verify_jwt,
)

__all__ = [
    "ALGS",
    "SIGNING_ALG",
    "UnknownKey",
    "published_jwks",
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
    "file_needs_reseal",
    "generate_master_key",
    "hash_secret",
    "open_file",
    "pairwise_sub",
    "parse_master_key",
    "public_jwk",
    "seal_file",
    "read_secret",
    "sign_jws",
    "sign_jwt",
    "thumbprint",
    "verify_jws",
    "verify_jwt",
    "write_secret",
]
