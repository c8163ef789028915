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

from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from authd.authentication.limiter import Limit, Limiter, hit_all, id_key, id_limit, rp_limit
from authd.otp.transactions import Purpose
from authd.settings import Settings


@dataclass(frozen=True)
class Throttle:
    """The limiter, the server's limits and the key that hashes presented IDs."""

    limiter: Limiter
    rp_limit: Limit
    id_limit: Limit
    resend_seconds: int
    key: bytes = field(repr=False)

    @classmethod
    def of(cls, limiter: Limiter, settings: Settings, key: bytes) -> Throttle:
        return cls(limiter, rp_limit(settings), id_limit(settings),
                   settings.otp_resend_cooldown_seconds, key)

    def limit_call(self, rp_id: str, id_type: str, individual_id: str, now: int,
                   purpose: Purpose = "auth", session: Session | None = None) -> None:
        """Raise RateLimited unless the relying party and the presented ID (at this relying
        party, for this purpose) have a token. `session`: the call's own transaction, which
        the embedded limiter joins (authd.authentication.limiter.DatabaseLimiter)."""
        key = id_key(self.key, id_type, individual_id)
        hit_all(self.limiter, self._call_buckets(rp_id, purpose, key), now, session)

    def limit_otp_request(self, rp_id: str, id_type: str, individual_id: str, now: int,
                          purpose: Purpose = "auth", session: Session | None = None) -> None:
        """`limit_call`, then the resend cool-down (one OTP request per presented ID, relying
        party and purpose), in one transaction or round trip."""
        key = id_key(self.key, id_type, individual_id)
        buckets = self._call_buckets(rp_id, purpose, key)
        if self.resend_seconds > 0:
            buckets.append((f"resend:{rp_id}:{purpose}:{key}",
                            Limit.once_every(self.resend_seconds)))
        hit_all(self.limiter, buckets, now, session)

    def _call_buckets(self, rp_id: str, purpose: Purpose,
                      key: str) -> list[tuple[str, Limit]]:
        return [(f"rp:{rp_id}", self.rp_limit), (f"id:{rp_id}:{purpose}:{key}", self.id_limit)]
