"""Raw compact JWS for attack tests: any header, any payload bytes, signed with any key.

Written with nothing but base64 and cryptography's Ed25519 (RFC 7515 §5.1), so the tests
can build what no well-behaved signer (ours or pyjwt's) would make.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def sign_compact(header: dict[str, Any], payload: bytes, key: Ed25519PrivateKey) -> str:
    """``b64(header) . b64(payload) . b64(Ed25519(signing input))``."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(payload)}"
    return f"{signing_input}.{b64(key.sign(signing_input.encode('ascii')))}"
