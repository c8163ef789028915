"""The authd exception tree: each class carries the code and HTTP status a client sees.

Messages are written for the counter clerk or the integrator; they never carry secrets,
OTPs, images, templates or unmasked identifiers.
"""

from __future__ import annotations


class AuthdError(Exception):
    code = "internal_error"
    status_code = 500
    message = "Internal error."

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.message)
        self.message = message or self.message


class InvalidRequest(AuthdError):
    code, status_code, message = "invalid_request", 422, "The request is not valid."


class InvalidUin(AuthdError):
    code, status_code = "invalid_uin", 422
    message = "The UIN is malformed or its check digit is wrong."


class InvalidVid(AuthdError):
    code, status_code = "invalid_vid", 422
    message = "The VID is malformed or its check digit is wrong."


class NotFound(AuthdError):
    code, status_code, message = "not_found", 404, "No such resource."


class IdentityNotFound(NotFound):
    code, message = "identity_not_found", "No active identity has this ID."


class VidNotFound(NotFound):
    code, message = "vid_not_found", "No such VID."


class Conflict(AuthdError):
    code, status_code, message = "conflict", 409, "The resource already exists."


class UinTaken(Conflict):
    code, message = "uin_exists", "An identity with this UIN already exists."


class InvalidClient(AuthdError):
    code, status_code = "invalid_client", 401
    message = "Missing, unknown, expired or revoked API key."


class InsufficientScope(AuthdError):
    code, status_code = "insufficient_scope", 403
    message = "The API key lacks the scope this call needs."


class AuthenticationFailed(AuthdError):
    code, status_code, message = "authentication_failed", 401, "Authentication failed."


class Refused(AuthenticationFailed):
    """An authentication refused for `reason`: the reason goes to the audit log only.

    The client sees the one opaque `authentication_failed` body whatever the reason; the
    message never carries it.
    """

    def __init__(self, reason: str, factor: str | None = None) -> None:
        super().__init__()
        self.reason, self.factor = reason, factor

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.reason!r})"


class FactorNotSupported(AuthdError):
    code, status_code, message = "factor_not_supported", 422, "This factor is not supported yet."


class RateLimited(AuthdError):
    code, status_code, message = "rate_limited", 429, "Too many requests; retry later."

    def __init__(self, retry_after: int = 1) -> None:
        super().__init__()
        self.retry_after = max(1, int(retry_after))
        self.headers = {"Retry-After": str(self.retry_after)}

