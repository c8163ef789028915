from __future__ import annotations

import pytest

from matching import errors

EXPECTED = {
    errors.ImageTooLarge: ("image_too_large", 413),
    errors.ImageUnreadable: ("image_unreadable", 422),
    errors.FaceNotFound: ("face_not_found", 422),
    errors.MultipleFaces: ("multiple_faces", 422),
    errors.FaceTooSmall: ("face_too_small", 422),
    errors.ImageTooDark: ("image_too_dark", 422),
    errors.ImageOverexposed: ("image_overexposed", 422),
    errors.ImageBlurry: ("image_blurry", 422),
}


@pytest.mark.parametrize(("cls", "expected"), EXPECTED.items())
def test_codes_statuses_and_default_messages(
    cls: type[errors.MatchingError], expected: tuple[str, int]
) -> None:
    exc = cls()
    assert issubclass(cls, errors.MatchingError)
    assert (exc.code, exc.status_code) == expected
    assert exc.message and str(exc) == exc.message
    assert not any(ch.isdigit() for ch in exc.message if cls is not errors.ImageTooLarge)


def test_messages_are_distinct_and_overridable() -> None:
    assert len({cls.message for cls in EXPECTED}) == len(EXPECTED)
    assert errors.FaceNotFound("custom").message == "custom"
