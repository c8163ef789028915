"""A photo the quality gate refuses: the clerk reads what to do in plain words, one retake away.

Its own browser: the fake webcam plays a darkened test photo.
"""

from __future__ import annotations

import base64
import json

import pytest
from PIL import Image, ImageEnhance
from selenium.webdriver.common.by import By

from authd.http.console import STATIC
from tests.console.kit import (
    Console,
    api,
    events,
    needs_chromium,
    photo_y4m,
    start_browser,
    start_server,
)
from tests.helpers import make_key

pytestmark = [pytest.mark.slow, needs_chromium]
QUALITY = {"face_not_found", "face_too_small", "image_too_dark", "image_blurry",
           "image_overexposed", "multiple_faces", "image_unreadable"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    yield from start_server(tmp_path_factory.mktemp("quality-server"))


@pytest.fixture(scope="module")
def browser(tmp_path_factory, faces_dir):
    tmp = tmp_path_factory.mktemp("quality-browser")
    dark = tmp / "dark.png"
    photo = Image.open(faces_dir / "samples/obama/obama.jpg").convert("RGB")
    ImageEnhance.Brightness(photo).enhance(0.08).save(dark)
    driver = start_browser(photo_y4m(dark, tmp / "dark.y4m"), tmp)
    yield driver
    driver.quit()


def test_quality_refusal_in_plain_words(browser, server, faces_dir):
    photo = base64.b64encode((faces_dir / "samples/obama/obama.jpg").read_bytes()).decode()
    enroller = make_key(server.state, ["enroll"], rp_id="station")
    r = api(server, "POST", "/v1/identities", enroller,
            json={"name": "Lit Person", "face": {"image_b64": photo}})
    assert r.status_code == 201, r.text
    uin = r.json()["uin"]
    console = Console(browser, server.base)
    console.open("fr")
    console.sign_in(make_key(server.state, ["auth"], rp_id="cash", factors=("face",)))
    labels = console.driver.find_elements(By.CSS_SELECTOR, "#counter-factors label")
    assert [x.is_displayed() for x in labels] == [False, True]  # the policy allows face only
    console.type("#counter-id", uin)
    console.take_photo("#counter-camera")
    console.click("#counter-form button[type=submit]")
    verdict = console.visible("#verdict.warn", 120)
    code = verdict.get_attribute("data-outcome")
    assert code in QUALITY
    words = json.loads((STATIC / "i18n/fr.json").read_text(encoding="utf-8"))["errors"][code]
    assert verdict.text == words and "reprenez" in words.lower()
    console.click("#counter-result button.primary")  # the one retake
    assert console.find("#counter-camera video").is_displayed()
    assert console.find("#counter-result").is_displayed() is False
    refused = events(server, uin, action="authenticate")
    assert [(e.outcome, e.reason, e.factor) for e in refused] == [("refused", code, "face")]
    assert console.problems() == []
