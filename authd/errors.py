"""The authd exception tree, and the contract every error of the three trees keeps.

`ErrorContract` is what the one HTTP handler (authd/http/handlers.py) renders, whichever tree
an error comes from: authd's `AuthdError`, matching's `MatchingError` or keys' `KeysError`
(keys and matching cannot import authd, so each tree writes the same attributes and the
contract is structural; tests/test_errors_contract.py checks every class of the three).

Messages are written for the counter clerk or the integrator; they never carry secrets,
OTPs, images, templates or unmasked identifiers.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Protocol, runtime_checkable

NOTHING: Mapping[str, Any] = MappingProxyType({})


@runtime_checkable
class ErrorContract(Protocol):
    """An error a client may be answered with.

    - `code`: a lowercase word, stable, the client's key (and the console's catalogue key);
    - `status_code`: the HTTP status, 4xx (the caller's to fix) or 5xx (ours);
    - `message`: fixed, safe text for the client (the class's own, or a more precise one given
      where it is raised); a 5xx is answered with "Internal error." whatever it says;
    - `public_details`: extra fields of the error body a client may see (a dedup case's
      candidates);
    - `headers`: extra response headers (a 429's Retry-After);
    - `audit_details`: what only the audit log records (a refusal's reason, a face distance),
      never rendered.
    """

    code: str
    status_code: int
    message: str
    public_details: Mapping[str, Any]
    headers: Mapping[str, str]
    audit_details: Mapping[str, Any]


class AuthdError(Exception):
    code: str = "internal_error"
    status_code: int = 500
    message: str = "Internal error."
    public_details: Mapping[str, Any] = NOTHING
    headers: Mapping[str, str] = NOTHING
    audit_details: Mapping[str, Any] = NOTHING

    def __init__(self, message: str | None = None) -> None:
        self.message = message or type(self).message
        super().__init__(self.message)


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


class Refused(AuthdError):
    """An authentication refused for `reason`: the one opaque `authentication_failed` 401
    whatever the reason (unknown ID, wrong OTP, face mismatch, policy). The reason, and the
    facts worth keeping (a face distance and threshold), go to the audit log only."""

    code, status_code, message = "authentication_failed", 401, "Authentication failed."

    def __init__(self, reason: str, **facts: Any) -> None:
        super().__init__()
        self.reason = reason
        self.facts: Mapping[str, Any] = MappingProxyType(facts)
        self.audit_details = MappingProxyType({"reason": reason, **facts})

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.reason!r})"


class FactorNotSupported(AuthdError):
    code, status_code, message = "factor_not_supported", 422, "This factor is not supported yet."


class RateLimited(AuthdError):
    code, status_code, message = "rate_limited", 429, "Too many requests; retry later."

    def __init__(self, retry_after: int = 1) -> None:
        super().__init__()
        self.retry_after = max(1, int(retry_after))
        self.headers = MappingProxyType({"Retry-After": str(self.retry_after)})

