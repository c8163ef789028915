"""UINs and VIDs: Verhoeff check digits (known answers), generation, validation, masking."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from authd.errors import InvalidUin, InvalidVid
from authd.masking import mask_email, mask_phone
from authd.registry.uin import (
    mask_uin,
    new_uin,
    new_vid,
    validate_uin,
    validate_vid,
    verhoeff_check_digit,
    verhoeff_valid,
)


def test_verhoeff_known_answers():
    # The classic worked example: 236 -> check digit 3; 12345 -> 1.
    assert verhoeff_check_digit("236") == "3" and verhoeff_valid("2363")
    assert verhoeff_check_digit("12345") == "1" and verhoeff_valid("123451")
    assert not verhoeff_valid("2364")


@given(st.text("0123456789", min_size=11, max_size=11), st.integers(0, 9), st.integers(0, 10))
def test_every_single_digit_error_and_adjacent_swap_is_caught(payload, digit, pos):
    good = payload + verhoeff_check_digit(payload)
    pos %= len(good)
    if good[pos] != str(digit):
        assert not verhoeff_valid(good[:pos] + str(digit) + good[pos + 1:])
    if pos + 1 < len(good) and good[pos] != good[pos + 1]:
        swapped = good[:pos] + good[pos + 1] + good[pos] + good[pos + 2:]
        assert not verhoeff_valid(swapped)


def test_generated_ids_validate():
    for _ in range(200):
        assert validate_uin(new_uin()) and validate_vid(new_vid())


@pytest.mark.parametrize("bad", ["", "12345678901", "1234567890123", "12345678901a",
                                 "034567890124", "234567890123", "２３４５６７８９０１２４"])
def test_bad_uins(bad):
    with pytest.raises(InvalidUin):
        validate_uin(bad)


def test_bad_vid():
    with pytest.raises(InvalidVid):
        validate_vid("1234567890123456" if not verhoeff_valid("1234567890123456") else "1")


def test_masks():
    assert mask_uin("234567890124") == "XXXXXXXX0124"
    assert mask_phone("+212612345678") == "+212*******78"
    assert mask_phone("0612345678") == "********78"
    assert mask_email("amina@example.ma") == "a***@example.ma"
