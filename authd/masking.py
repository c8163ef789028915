"""Masking of contact channels and identifiers wherever they are shown."""

from __future__ import annotations


def mask_phone(phone: str | None) -> str | None:
    if not phone:
        return None
    digits = [i for i, ch in enumerate(phone) if ch.isdigit()]
    keep = set(digits[-2:]) | set(digits[:3] if phone.startswith("+") else digits[:0])
    return "".join(ch if (i in keep or not ch.isdigit()) else "*" for i, ch in enumerate(phone))


def mask_email(email: str | None) -> str | None:
    if not email:
        return None
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"
