"""Strict base64url (RFC 7515 §2, "Base64url Encoding": no padding, URL-safe alphabet)."""

from __future__ import annotations

import base64
import binascii
import re

_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_B64URL_BYTES = re.compile(rb"[A-Za-z0-9_-]*")
_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
# The last character of a 2- (3-) character tail carries 4 (2) unused bits, which must be 0.
_CANONICAL_LAST = {2: frozenset(_ALPHABET[::16]), 3: frozenset(_ALPHABET[::4])}
_CANONICAL_LAST_TEXT = {tail: frozenset(map(chr, last)) for tail, last in _CANONICAL_LAST.items()}
_TO_STANDARD = bytes.maketrans(b"-_", b"+/")


def b64url_encode(data: bytes) -> str:
    """Encode without ``=`` padding (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str | bytes) -> bytes:
    """Decode unpadded base64url; raise ValueError on any other alphabet or padding.

    Non-canonical encodings (stray low bits in the last character) are rejected so that a
    value has exactly one textual form.
    """
    if isinstance(text, str):
        if not _B64URL.fullmatch(text):
            raise ValueError("not base64url")
        text = text.encode("ascii")
    elif not isinstance(text, bytes) or not _B64URL_BYTES.fullmatch(text):
        raise ValueError("not base64url")
    return decode_checked(text)


def decode_checked(data: bytes) -> bytes:
    """:func:`b64url_decode` of bytes already known to be in the base64url alphabet."""
    tail = len(data) % 4
    if tail == 1 or (tail and data[-1] not in _CANONICAL_LAST[tail]):
        raise ValueError("not canonical base64url")
    return binascii.a2b_base64(data.translate(_TO_STANDARD) + b"=" * (-tail % 4))


def is_canonical(text: str) -> bool:
    """Whether base64url ``text`` (alphabet already checked) has one of the lengths and the
    last character that an encoder makes: no stray low bits, no impossible length."""
    tail = len(text) % 4
    return tail != 1 and (not tail or text[-1] in _CANONICAL_LAST_TEXT[tail])
