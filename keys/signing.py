"""HMAC-SHA256 signatures of outgoing bodies (webhook deliveries): RFC 2104, hex encoded."""

from __future__ import annotations

import hashlib
import hmac

MIN_SECRET_BYTES = 16


def hmac_sha256_hex(secret: bytes, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``body`` under ``secret``, as sent in ``X-Authd-Signature``."""
    if not isinstance(secret, bytes) or len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f"HMAC secret must be at least {MIN_SECRET_BYTES} bytes")
    return hmac.new(secret, body, hashlib.sha256).hexdigest()
