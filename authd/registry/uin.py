"""UINs and VIDs: numeric identifiers ending in a Verhoeff check digit (as Aadhaar's).

A UIN has 12 digits and never starts with 0 or 1; a VID has 16 digits. The Verhoeff scheme
(dihedral group D5, computed by python-stdnum) catches every single-digit error and every
adjacent transposition.
"""

from __future__ import annotations

import secrets

from stdnum import verhoeff

from authd.errors import InvalidUin, InvalidVid

UIN_LENGTH = 12
VID_LENGTH = 16


def verhoeff_check_digit(payload: str) -> str:
    """The digit to append to `payload` so that the whole passes `verhoeff_valid`."""
    return verhoeff.calc_check_digit(payload)


def verhoeff_valid(number: str) -> bool:
    """True when `number` (digits only) ends in its Verhoeff check digit."""
    return verhoeff.is_valid(number)


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
