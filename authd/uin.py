"""UINs and VIDs: numeric identifiers ending in a Verhoeff check digit (as Aadhaar's).

A UIN has 12 digits and never starts with 0 or 1; a VID has 16 digits. The Verhoeff scheme
(dihedral group D5) catches every single-digit error and every adjacent transposition.
"""

from __future__ import annotations

import secrets

from authd.exceptions import InvalidUin, InvalidVid

_D = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 2, 3, 4, 0, 6, 7, 8, 9, 5),
    (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
    (3, 4, 0, 1, 2, 8, 9, 5, 6, 7),
    (4, 0, 1, 2, 3, 9, 5, 6, 7, 8),
    (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2),
    (7, 6, 5, 9, 8, 2, 1, 0, 4, 3),
    (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
    (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)
_P = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 5, 7, 6, 2, 8, 3, 0, 9, 4),
    (5, 8, 0, 3, 7, 9, 6, 1, 4, 2),
    (8, 9, 1, 6, 0, 4, 3, 5, 2, 7),
    (9, 4, 5, 3, 1, 2, 6, 8, 7, 0),
    (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
    (2, 7, 9, 3, 8, 0, 6, 4, 1, 5),
    (7, 0, 4, 6, 9, 1, 3, 2, 5, 8),
)
_INV = (0, 4, 3, 2, 1, 5, 6, 7, 8, 9)

UIN_LENGTH = 12
VID_LENGTH = 16


def verhoeff_check_digit(payload: str) -> str:
    """The digit to append to `payload` so that the whole passes `verhoeff_valid`."""
    c = 0
    for i, ch in enumerate(reversed(payload)):
        c = _D[c][_P[(i + 1) % 8][int(ch)]]
    return str(_INV[c])


def verhoeff_valid(number: str) -> bool:
    c = 0
    for i, ch in enumerate(reversed(number)):
        c = _D[c][_P[i % 8][int(ch)]]
    return c == 0


def _random_digits(n: int, first_min: int) -> str:
    first = str(first_min + secrets.randbelow(10 - first_min))
    return first + "".join(str(secrets.randbelow(10)) for _ in range(n - 1))


def new_uin() -> str:
    payload = _random_digits(UIN_LENGTH - 1, 2)
    return payload + verhoeff_check_digit(payload)


def new_vid() -> str:
    payload = _random_digits(VID_LENGTH - 1, 1)
    return payload + verhoeff_check_digit(payload)


def _well_formed(value: str, length: int) -> bool:
    return len(value) == length and value.isascii() and value.isdigit() and verhoeff_valid(value)


def validate_uin(value: str) -> str:
    if not _well_formed(value, UIN_LENGTH) or value[0] in "01":
        raise InvalidUin()
    return value


def validate_vid(value: str) -> str:
    if not _well_formed(value, VID_LENGTH):
        raise InvalidVid()
    return value


def mask_uin(value: str) -> str:
    """Show the last four digits only, as Aadhaar's masked UIN does."""
    return "X" * max(len(value) - 4, 0) + value[-4:]
