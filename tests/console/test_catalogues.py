"""The console's catalogues: every error code the API can answer has words in every language,
and every language has every text the English one has (a new language is one complete file)."""

from __future__ import annotations

import json
import re

import pytest

import authd.http.app  # noqa: F401  (imports every route module, so every exception class exists)
from authd.errors import AuthdError
from authd.http.console import STATIC, languages
from authd.http.handlers import HTTP_CODES
from keys.errors import KeysError
from matching.errors import MatchingError

# Codes written directly by the error handlers and middleware (authd/http/handlers.py, middleware.py).
HANDLER_CODES = {"malformed_json", "invalid_request", "body_too_large", "internal_error",
                 "http_error"}


def subclasses(root: type) -> list[type]:
    found = [root]
    for sub in root.__subclasses__():
        found += subclasses(sub)
    return found


def api_codes() -> set[str]:
    codes = {cls.code for root in (AuthdError, MatchingError, KeysError)
             for cls in subclasses(root)}
    return codes | set(HTTP_CODES.values()) | HANDLER_CODES


def catalogue(code: str) -> dict:
    return json.loads((STATIC / "i18n" / f"{code}.json").read_text(encoding="utf-8"))


def keys(tree: dict, prefix: str = "") -> set[str]:
    out = set()
    for name, value in tree.items():
        out |= keys(value, f"{prefix}{name}.") if isinstance(value, dict) else {prefix + name}
    return out


def test_three_languages_arabic_right_to_left():
    assert languages() == ["ar", "en", "fr"]
    assert [catalogue(c)["_dir"] for c in ("ar", "en", "fr")] == ["rtl", "ltr", "ltr"]


def test_the_code_list_is_real():
    codes = api_codes()
    assert {"invalid_uin", "image_too_dark", "four_eyes_required", "possible_duplicate",
            "invalid_client", "rate_limited", "faces_unavailable", "invalid_token"} <= codes
    # Every code the handlers write by hand is still written somewhere in authd.
    source = "".join(p.read_text() for p in STATIC.parents[0].glob("*.py"))
    assert all(f'"{c}"' in source for c in HANDLER_CODES)


@pytest.mark.parametrize("lang", languages())
def test_every_api_error_code_is_translated(lang):
    errors = catalogue(lang)["errors"]
    missing = sorted(c for c in api_codes() if not str(errors.get(c, "")).strip())
    assert missing == [], f"{lang}.json lacks words for {missing}"


@pytest.mark.parametrize("lang", languages())
def test_every_text_is_in_every_language(lang):
    english, other = catalogue("en"), catalogue(lang)
    assert keys(other) == keys(english)
    placeholders = re.compile(r"\{(\w+)\}")
    for key in keys(english):
        path = key.split(".")
        en_text, text = english, other
        for part in path:
            en_text, text = en_text[part], text[part]
        assert set(placeholders.findall(text)) == set(placeholders.findall(en_text)), key


def test_every_text_the_page_names_exists():
    used = set()
    for asset in (*STATIC.glob("*.html"), *STATIC.glob("js/*.js")):
        text = asset.read_text(encoding="utf-8")
        used |= set(re.findall(r'data-i18n="([a-z_.A-Z]+)"', text))
        used |= set(re.findall(r'(?:\bt|i18n: )\(?"([a-z]+\.[a-z_.A-Z]+)"', text))
    assert used and used - keys(catalogue("en")) == set()
