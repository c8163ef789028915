"""Exception tree of the ``keys`` package.

Every class carries the attributes of authd's error contract (``authd.errors.ErrorContract``:
a word ``code``, an HTTP ``status_code``, a fixed ``message``, ``public_details``, ``headers``
and ``audit_details``), written here again because ``keys`` imports neither ``authd`` nor
``matching``; one handler in ``authd/http/handlers.py`` renders them. Messages never contain
key material, plaintext, tokens or file contents.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

NOTHING: Mapping[str, Any] = MappingProxyType({})


class KeysError(Exception):
    """Base class of every error raised by ``keys``."""

    code: str = "keys_error"
    status_code: int = 500
    message: str = "key operation failed"
    public_details: Mapping[str, Any] = NOTHING
    headers: Mapping[str, str] = NOTHING
    audit_details: Mapping[str, Any] = NOTHING

    def __init__(self, message: str | None = None) -> None:
        self.message = message or type(self).message
        super().__init__(self.message)


class InvalidToken(KeysError):
    """A JWS/JWT failed verification.

    ``reason`` is a short word for the audit log ("bad_signature", "expired", ...); the
    message stays opaque so a client learns one reason per trust boundary.
    """

    code = "invalid_token"
    status_code = 401
    message = "invalid token"

    def __init__(self, reason: str = "invalid_token") -> None:
        super().__init__()
        self.reason = reason
        self.audit_details = MappingProxyType({"reason": reason})


class SealError(KeysError):
    """A sealed blob could not be opened (wrong aad, tampered, unknown key id, malformed)."""

    code = "template_unreadable"
    status_code = 500
    message = "sealed data could not be opened"


class KeyFileError(KeysError):
    """A key file is missing, unreadable, tampered or encrypted under another master key."""

    code = "key_file_error"
    status_code = 500
    message = "key file could not be read"


class UnknownKey(KeysError):
    """A signing key id that is not in the ring."""

    code = "unknown_key"
    status_code = 404
    message = "no signing key with this id"
