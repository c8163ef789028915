"""The OTP factor: the code the resident received for this transaction."""

from __future__ import annotations

from authd.authentication.factors import FactorContext, FactorFailed, FactorResult
from authd.otp.transactions import OtpRefused
from authd.registry import subjects

FACTOR = "otp"


def check(ctx: FactorContext, code: str) -> FactorResult:
    """Consume the OTP, or raise FactorFailed: `auth_type_locked` (the resident locked OTP;
    resident-purpose OTPs stay usable so that they can unlock it) or an
    authd.otp.transactions reason."""
    store = ctx.state.otps
    if ctx.txn_id is None:
        raise FactorFailed("otp_unknown_txn", FACTOR)
    if ctx.purpose == "auth" and subjects.is_locked(ctx.identity, FACTOR):
        store.equalize(ctx.session, ctx.txn_id, code)
        raise FactorFailed("auth_type_locked", FACTOR)
    try:
        store.verify(ctx.session, ctx.txn_id, code, identity_id=ctx.identity.id,
                     rp_id=ctx.client.rp_id, purpose=ctx.purpose, now=ctx.now)
    except OtpRefused as refused:
        if refused.reason == "otp_wrong_code":
            ctx.record_failure()
        raise FactorFailed(refused.reason, FACTOR) from None
    return FactorResult(FACTOR, True)
