"""Exception tree of the ``keys`` package.

Every class carries a word ``code`` and an HTTP ``status_code`` so that one handler in
``authd/http/handlers.py`` can render them. Messages are fixed strings: they never contain key
material, plaintext, tokens or file contents.
"""

from __future__ import annotations


class KeysError(Exception):
    """Base class of every error raised by ``keys``."""

    code: str = "keys_error"
    status_code: int = 500
    default_message: str = "key operation failed"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.default_message)


class InvalidToken(KeysError):
    """A JWS/JWT failed verification.

    ``reason`` is a short word for the audit log ("bad_signature", "expired", ...); the
    message stays opaque so a client learns one reason per trust boundary.
    """

    code = "invalid_token"
    status_code = 401
    default_message = "invalid token"

    def __init__(self, reason: str = "invalid_token") -> None:
        super().__init__()
        self.reason = reason


class SealError(KeysError):
    """A sealed blob could not be opened (wrong aad, tampered, unknown key id, malformed)."""

    code = "template_unreadable"
    status_code = 500
    default_message = "sealed data could not be opened"


class KeyFileError(KeysError):
    """A key file is missing, unreadable, tampered or encrypted under another master key."""

    code = "key_file_error"
    status_code = 500
    default_message = "key file could not be read"


class UnknownKey(KeysError):
    """A signing key id that is not in the ring."""

    code = "unknown_key"
    status_code = 404
    default_message = "no signing key with this id"
