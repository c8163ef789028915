"""Where an OTP goes, and how the destination is shown to a counter without saying too much.

Every requested channel gets a masked destination of one fixed format, whether the ID is
known or not and whether the person has that contact: `********78` for SMS, `a***@***` for
e-mail. Where there is nothing real to show (unknown ID, no such contact on file) the mask is
a decoy derived from a keyed hash of the presented ID, so it is stable across requests and
looks like any other. Only the resident can tell, by receiving the code (or not).
"""

from __future__ import annotations

import string

from authd.otp.notify import Channel
from authd.storage.models import Identity
from keys import hash_secret


def contact(identity: Identity, channel: Channel) -> str | None:
    return identity.phone if channel == "sms" else identity.email


def masked(channel: Channel, value: str) -> str:
    if channel == "sms":
        digits = [ch for ch in value if ch.isdigit()]
        return "*" * 8 + "".join(digits[-2:])
    return value[:1].lower() + "***@***"


def decoy(secret: bytes, channel: Channel, presented: str) -> str:
    digest = int(hash_secret(secret, f"decoy:{channel}:{presented}")[:8], 16)
    if channel == "sms":
        return masked("sms", f"{digest % 100:02d}")
    return masked("email", string.ascii_lowercase[digest % 26])


def shown(
    identity: Identity | None, channels: tuple[Channel, ...], secret: bytes, presented: str
) -> dict[str, str]:
    """The masked destination per channel, real where there is one, a decoy elsewhere."""
    out: dict[str, str] = {}
    for channel in channels:
        value = contact(identity, channel) if identity is not None else None
        out[channel] = masked(channel, value) if value else decoy(secret, channel, presented)
    return out
