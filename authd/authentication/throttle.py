"""The rate limits an authentication call passes before anything is looked up.

Buckets are keyed on the relying party and on the *presented* ID (a keyed hash of it), never
on the resolved identity: an unknown ID is throttled exactly like a known one, and the
limiter cannot be used to learn which UIN a VID belongs to. Guessing across a person's
aliases is still bounded by the per-OTP attempts and the per-verifier failure cap.

The per-ID bucket belongs to one relying party and one purpose (`auth` for counters,
`resident` for the resident's own controls), like the failure cap (authd.registry.subjects): an
attacker holding one program's key exhausts that program's bucket only, never the person's
access through another program or to their own controls.
"""

from __future__ import annotations

from authd.authentication.limiter import Limit, Limiter, hit, hit_all, id_key, id_limit, rp_limit
from authd.http.state import AppState
from authd.otp.transactions import Purpose


def limiter(state: AppState) -> Limiter:
    return state.extras["ratelimiter"]


def admit_call(
    state: AppState, rp_id: str, id_type: str, individual_id: str, now: int,
    purpose: Purpose = "auth",
) -> None:
    """Raise RateLimited unless the relying party and the presented ID (at this relying
    party, for this purpose) have a token."""
    key = id_key(state.secrets.otp_key, id_type, individual_id)
    hit_all(limiter(state), [(f"rp:{rp_id}", rp_limit(state.settings)),
                             (f"id:{rp_id}:{purpose}:{key}", id_limit(state.settings))], now)


def admit_resend(
    state: AppState, rp_id: str, id_type: str, individual_id: str, now: int,
    purpose: Purpose = "auth",
) -> None:
    """The resend cool-down: one OTP request per presented ID, relying party and purpose."""
    seconds = state.settings.otp_resend_cooldown_seconds
    if seconds <= 0:
        return
    key = id_key(state.secrets.otp_key, id_type, individual_id)
    hit(limiter(state), f"resend:{rp_id}:{purpose}:{key}", Limit.once_every(seconds), now)
