"""The console in real Chromium against a real `authd serve`: each screen's task end to end,
checked on screen and in the database; the Arabic screen right to left; no CSP violation."""

from __future__ import annotations

import base64
import os
import random
import re
import shutil
from pathlib import Path

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select
from sqlalchemy import select

from authd.registry.uin import verhoeff_check_digit, verhoeff_valid
from authd.storage.db import transaction
from authd.storage.models import DedupCase, Identity
from tests.console.kit import (
    Console,
    api,
    events,
    keep_artefact,
    needs_chromium,
    photo_y4m,
    start_browser,
    start_server,
)
from tests.helpers import make_key

pytestmark = [pytest.mark.slow, needs_chromium]
CODE = re.compile(r"\b(\d{6})\b")
SHOTS = os.environ.get("AUTHD_CONSOLE_SCREENSHOTS")  # e.g. docs/screenshots: refresh them


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    yield from start_server(tmp_path_factory.mktemp("console-server"))


@pytest.fixture(scope="module")
def browser(tmp_path_factory, faces_dir):
    tmp = tmp_path_factory.mktemp("console-browser")
    video = photo_y4m(faces_dir / "samples/obama/obama.jpg", tmp / "face.y4m")
    driver = start_browser(video, tmp)
    yield driver
    driver.quit()


@pytest.fixture
def console(browser, server):
    page = Console(browser, server.base)
    page.open()
    page.problems()  # start clean
    yield page
    assert page.problems() == [], "browser console errors or CSP violations"


def shot(console: Console, tmp_path: Path, name: str) -> None:
    path = console.save(tmp_path / f"{name}.png")
    keep_artefact(path)
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(SHOTS) / f"{name}.png")


def person(server, **fields) -> str:
    key = make_key(server.state, ["enroll"], rp_id="station-seed")
    r = api(server, "POST", "/v1/identities", key,
            json={"name": "Amina Alaoui", "phone": "+212612345678", **fields})
    assert r.status_code == 201, r.text
    return r.json()["uin"]


def test_security_headers_and_no_third_party(server):
    for path in ("/console/", "/console/js/app.js", "/console/i18n/ar.json",
                 "/console/i18n/languages.json"):
        r = httpx.get(server.base + path)
        assert r.status_code == 200, path
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp and "http" not in csp
        assert r.headers["x-frame-options"] == "DENY"
    assert httpx.get(server.base + "/console").headers["location"] == "/console/"
    assert httpx.get(server.base + "/console/i18n/languages.json").json() == ["ar", "en", "fr"]
    from authd.http.console import STATIC
    for asset in STATIC.rglob("*.*"):
        text = asset.read_text(encoding="utf-8")
        assert not re.search(r"https?://", text), f"{asset.name} names another origin"
        if asset.suffix == ".html":
            assert not re.search(r"<script(?![^>]*\bsrc=)", text), "inline script"
            assert not re.search(r"\sstyle=|<style|\son[a-z]+\s*=", text), "inline style/handler"


def test_csp_violation_is_caught(console):
    console.driver.execute_script(
        "const s = document.createElement('script'); s.textContent = 'window.x = 1';"
        "document.body.append(s);")
    problems = console.problems()
    assert any("script-src" in p for p in problems), problems
    assert console.driver.execute_script("return window.x") is None


def test_verhoeff_in_js_agrees_with_python(console):
    rng = random.Random(13)
    payloads = ["23456789012", "99999999999", "20000000000", "123456789012345",
                *(str(rng.randrange(2 * 10**10, 10**11)) for _ in range(150)),
                *(str(rng.randrange(10**14, 10**15)) for _ in range(50))]
    numbers = [p + verhoeff_check_digit(p) for p in payloads]
    numbers += [n[:-1] + str((int(n[-1]) + 1) % 10) for n in numbers]  # each check digit wrong
    numbers += [n[1] + n[0] + n[2:] for n in numbers[:5] if n[0] != n[1]]  # a transposition
    js = console.driver.execute_async_script(
        "const [numbers, done] = arguments;"
        "import('./js/verhoeff.js').then(m => done(numbers.map(n => ["
        "  m.verhoeffValid(n), m.checkDigit(n.slice(0, -1))])));", numbers)
    assert js == [[verhoeff_valid(n), verhoeff_check_digit(n[:-1])] for n in numbers]
    assert any(not ok for ok, _ in js) and any(ok for ok, _ in js)


def test_wrong_key_is_explained(console):
    console.type("#signin-key", "authd_AAAAAAAAAAAA_" + "x" * 27)
    console.click("#signin-form button[type=submit]")
    assert "Sign in again" in console.visible("#flash").text
    assert not console.find("#nav").is_displayed()
    assert console.driver.execute_script("return sessionStorage.getItem('authd.key')") is None
    assert console.driver.execute_script("return localStorage.length") == 0


@pytest.mark.parametrize("lang, verdict", [("en", "Authenticated"), ("fr", "Authentifié"),
                                           ("ar", "تم التحقق")])
def test_counter_by_otp(console, server, tmp_path, lang, verdict):
    uin = person(server)
    key = make_key(server.state, ["auth"], rp_id="cash-transfer")
    console.language(lang)
    console.sign_in(key)
    assert "?" not in console.driver.current_url and key not in console.driver.current_url
    console.type("#counter-id", uin[:-1] + str((int(uin[-1]) + 1) % 10))
    assert console.find("#counter-id-state").get_attribute("data-state") == "bad"
    console.type("#counter-id", uin)
    assert console.find("#counter-id-state").get_attribute("data-state") == "ok"
    assert console.find("#counter-factors input[value=otp]").is_selected()
    assert not console.find("#counter-factors input[value=face]").is_selected()
    before = len(server.outbox())
    console.click("#counter-send")
    console.wait().until(lambda d: d.find_element(By.ID, "counter-sent").text)
    assert "*" in console.text("#counter-sent")  # the masked destination
    console.wait().until(lambda d: len(server.outbox()) > before)
    code = CODE.search(server.outbox()[-1]["text"]).group(1)
    console.type("#counter-code", code)
    console.click("#counter-form button[type=submit]")
    assert console.visible("#verdict[data-outcome=authenticated]").text == verdict
    if lang == "ar":
        assert console.driver.execute_script("return document.documentElement.dir") == "rtl"
        assert console.driver.execute_script(
            "return getComputedStyle(document.body).direction") == "rtl"
        shot(console, tmp_path, "counter-ar")
    ok = events(server, uin, action="authenticate", rp_id="cash-transfer")
    assert [(e.outcome, e.factor) for e in ok] == [("success", "otp")]
    console.sign_out()


def test_counter_by_face(console, server, faces_dir, tmp_path):
    uin = person(server, face={"image_b64": base64.b64encode(
        (faces_dir / "samples/obama/obama.jpg").read_bytes()).decode()}, name="Face Person")
    key = make_key(server.state, ["auth"], rp_id="cash-transfer")
    console.sign_in(key)
    console.type("#counter-id", uin)
    otp_box = console.find("#counter-factors input[value=otp]")
    if otp_box.is_selected():
        otp_box.click()
    console.find("#counter-factors input[value=face]").click()
    console.take_photo("#counter-camera")
    assert console.find("#counter-camera .oval").is_displayed()
    console.click("#counter-form button[type=submit]")
    assert console.visible("#verdict[data-outcome=authenticated]", 120).text == "Authenticated"
    assert "valid until" in console.text("#counter-result")
    shot(console, tmp_path, "counter")
    ok = events(server, uin, action="authenticate", rp_id="cash-transfer")
    assert [(e.outcome, e.factor) for e in ok] == [("success", "face")]
    # Someone else's UIN with this face: not authenticated, in large type.
    other = person(server, name="Someone Else")
    console.click("#counter-camera .cam-retake")
    console.type("#counter-id", other)
    console.take_photo("#counter-camera")
    console.click("#counter-form button[type=submit]")
    assert console.visible("#verdict[data-outcome=not_authenticated]", 120).text == \
        "Not authenticated"
    refused = events(server, other, action="authenticate")
    assert [e.outcome for e in refused] == ["failure"] and refused[0].reason
    console.sign_out()


def test_enrollment_sees_a_possible_duplicate(console, server, tmp_path):
    station = make_key(server.state, ["enroll"], rp_id="station-2")
    console.sign_in(station)
    assert [b.text for b in console.driver.find_elements(By.CSS_SELECTOR, "#nav button")
            if b.is_displayed()] == ["Enrollment"]
    console.type("#enroll-name", "Nadia Tazi")
    console.find("#enroll-dob").send_keys("03141990")
    console.type("#enroll-phone", "+212600000001")
    console.click("#enroll-form button[type=submit]")
    uin = console.visible("#enroll-uin").text
    with transaction(server.state.db) as session:
        row = session.execute(select(Identity).where(Identity.uin == uin)).scalar_one()
        assert (row.name, row.status, str(row.date_of_birth)) == ("Nadia Tazi", "active",
                                                                  "1990-03-14")
    # The face already enrolled (test_counter_by_face): a dedup case, candidates masked.
    console.type("#enroll-name", "Barack Twice")
    console.take_photo("#enroll-camera")
    console.click("#enroll-form button[type=submit]")
    console.visible("#enroll-verdict[data-outcome=possible_duplicate]", 120)
    case_id = console.text("#enroll-case")
    candidates = [td.text for td in console.driver.find_elements(
        By.CSS_SELECTOR, "#enroll-candidates tbody td.mono")]
    assert candidates and all(re.fullmatch(r"X{8}\d{4}", c) for c in candidates)
    shot(console, tmp_path, "enrollment")
    with transaction(server.state.db) as session:
        case = session.get(DedupCase, case_id)
        assert case is not None and case.status == "open"
        identity = session.get(Identity, case.identity_id)
        assert (identity.name, identity.status) == ("Barack Twice", "pending")
    console.sign_out()


def test_adjudication_four_eyes(console, server, faces_dir, tmp_path):
    first = make_key(server.state, ["enroll", "admin"], rp_id="registry")
    second = make_key(server.state, ["admin"], rp_id="registry")
    photo = base64.b64encode((faces_dir / "samples/obama/obama1.jpg").read_bytes()).decode()
    r = api(server, "POST", "/v1/identities", first,
            json={"name": "Opened By First", "face": {"image_b64": photo}})
    assert r.status_code == 409, r.text
    case_id = r.json()["error"]["case_id"]
    console.sign_in(first)
    console.screen("adjudicate")
    card = f"article[data-case='{case_id}']"
    console.visible(card)
    assert "other than the one" in console.text("#adjudicate")
    # the threshold the case opened at, as a score and with its calibrated false-match rate
    with transaction(server.state.db) as session:
        stored = session.get(DedupCase, case_id).threshold
    shown = console.text(f"{card} .threshold")
    assert f"score {max(0.0, 1 - stored / 2):.3f} or more" in shown, shown
    assert "false-match rate" in shown or "set by hand" in shown
    console.type(f"{card} input.reason", "same person, second visit")
    console.click(f"{card} button.duplicate")
    note = console.visible(f"{card} .note.warn").text
    assert "cannot resolve it yourself" in note and "second administrator" in note
    with transaction(server.state.db) as session:
        assert session.get(DedupCase, case_id).status == "open"
    console.sign_out()
    console.sign_in(second)
    console.screen("adjudicate")
    console.visible(card)
    shot(console, tmp_path, "adjudication")
    console.type(f"{card} input.reason", "same person, second visit")
    console.click(f"{card} button.duplicate")
    console.wait().until(lambda d: not d.find_elements(By.CSS_SELECTOR, card))
    assert "duplicate" in console.visible("#flash").text
    with transaction(server.state.db) as session:
        case = session.get(DedupCase, case_id)
        assert (case.status, case.decision) == ("resolved", "duplicate")
        assert case.resolved_by == second.split("_")[1]
    console.sign_out()


def test_audit_search_finds_the_events(console, server, tmp_path):
    uin = person(server, name="Audit Person")
    counter = make_key(server.state, ["auth"], rp_id="cash-transfer")
    body = {"individual_id": uin, "id_type": "uin", "channels": ["sms"]}
    txn = api(server, "POST", "/v1/otp", counter, json=body).json()["txn_id"]
    r = api(server, "POST", "/v1/authenticate", counter, json={
        "individual_id": uin, "id_type": "uin", "txn_id": txn, "factors": {"otp": "000000"}})
    assert r.status_code == 401
    admin = make_key(server.state, ["admin"], rp_id="registry")
    console.sign_in(admin)
    console.screen("audit")
    console.type("#audit-id", uin)
    console.click("#audit-form button[type=submit]")
    console.visible("#audit-table")
    rows = console.driver.find_elements(By.CSS_SELECTOR, "#audit-table tbody tr")
    stored = events(server, uin)
    assert sorted(int(r.get_attribute("data-seq")) for r in rows) == [e.seq for e in stored]
    assert {r.find_elements(By.TAG_NAME, "td")[6].text for r in rows} == {uin}
    reason = next(e.reason for e in stored if e.outcome == "failure")
    console.type("#audit-id", "")
    console.type("#audit-reason", reason)
    Select(console.find("#audit-outcome")).select_by_value("failure")
    console.click("#audit-form button[type=submit]")
    console.wait().until(lambda d: d.find_element(By.ID, "audit-count").text.endswith(
        f": {len(events(server, reason=reason, outcome='failure'))}."))
    shown = console.driver.find_elements(By.CSS_SELECTOR, "#audit-table tbody tr")
    assert shown and all(reason in r.text for r in shown)
    shot(console, tmp_path, "audit")
    console.sign_out()
