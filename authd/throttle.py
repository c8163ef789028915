"""The rate limits an authentication call passes before anything is looked up.

Buckets are keyed on the relying party and on the *presented* ID (a keyed hash of it), never
on the resolved identity: an unknown ID is throttled exactly like a known one, and the
limiter cannot be used to learn which UIN a VID belongs to. Guessing across a person's
aliases is still bounded by the per-OTP attempts and the per-identity failure cap.
"""

from __future__ import annotations

from authd.ratelimit import Limit, Limiter, hit, hit_all, id_key, id_limit, rp_limit
from authd.state import AppState


def limiter(state: AppState) -> Limiter:
    return state.extras["ratelimiter"]


def admit_call(
    state: AppState, rp_id: str, id_type: str, individual_id: str, now: int
) -> None:
    """Raise RateLimited unless the relying party and the presented ID have a token."""
    key = id_key(state.secrets.otp_key, id_type, individual_id)
    hit_all(limiter(state), [(f"rp:{rp_id}", rp_limit(state.settings)),
                             (f"id:{key}", id_limit(state.settings))], now)


def admit_resend(
    state: AppState, rp_id: str, id_type: str, individual_id: str, now: int
) -> None:
    """The resend cool-down: one OTP request per presented ID per relying party."""
    seconds = state.settings.otp_resend_cooldown_seconds
    if seconds <= 0:
        return
    key = id_key(state.secrets.otp_key, id_type, individual_id)
    hit(limiter(state), f"resend:{rp_id}:{key}", Limit.once_every(seconds), now)
