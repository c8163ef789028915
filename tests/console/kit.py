"""The console under real Chromium: a real `authd serve`, a webcam fed from a test photo.

One server and one headless browser per test module. The fake capture device plays a y4m
video the test makes from a real photo, so a face travels camera -> canvas -> API -> encoder.
Browser console errors and CSP violations fail the test that caused them.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy import select

from authd.audit import events as audit
from authd.http.state import AppState, open_state
from authd.settings import Settings
from authd.storage.db import transaction
from authd.storage.models import AuditEvent
from tests.helpers import AUTHD, free_port, server_env, wait_ready

CHROMIUM = os.environ.get("AUTHD_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("AUTHD_CHROMEDRIVER", "/usr/bin/chromedriver")
SIZE = (1366, 768)
# The network answers a console shows on purpose (a refusal it then explains on screen).
EXPECTED_HTTP = ("status of 401", "status of 403", "status of 409", "status of 422")

needs_chromium = pytest.mark.skipif(
    not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()),
    reason="Chromium and chromedriver are needed (apt-get install chromium chromium-driver)")


def photo_y4m(photo: Path, out: Path, size: tuple[int, int] = (640, 480), frames: int = 4) -> Path:
    """A short y4m video (4:2:0) of `photo`, fitted into `size` on a grey background."""
    w, h = size
    image = Image.open(photo).convert("RGB")
    image.thumbnail((w, h))
    canvas = Image.new("RGB", size, (128, 128, 128))
    canvas.paste(image, ((w - image.width) // 2, (h - image.height) // 2))
    rgb = np.asarray(canvas, dtype=np.float32)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    y = 16 + 0.257 * r + 0.504 * g + 0.098 * b
    u = 128 - 0.148 * r - 0.291 * g + 0.439 * b
    v = 128 + 0.439 * r - 0.368 * g - 0.071 * b
    sub = [c.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3)) for c in (u, v)]
    planes = b"".join(np.clip(p, 0, 255).round().astype(np.uint8).tobytes() for p in (y, *sub))
    with out.open("wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F30:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            f.write(b"FRAME\n" + planes)
    return out


@dataclass
class Server:
    base: str
    data_dir: Path
    state: AppState  # in-process view of the same data dir: keys, identities, checks

    def outbox(self) -> list[dict]:
        path = self.data_dir / "outbox.jsonl"
        return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def start_server(tmp: Path) -> Iterator[Server]:
    data_dir = tmp / "data"
    port = free_port()
    env = server_env(AUTHD_DATA_DIR=str(data_dir), AUTHD_PORT=str(port), AUTHD_WORKERS="1",
                     AUTHD_FACE_WORKERS="1", AUTHD_FACES_ENABLED="true")
    # The in-process state prepares the data dir (schema, keys) before the server starts.
    state = open_state(Settings(data_dir=data_dir, faces_enabled=False))
    log = (tmp / "server.log").open("w")
    proc = subprocess.Popen([str(AUTHD), "serve"], env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, proc, timeout=180)
        yield Server(base, data_dir, state)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        state.close()


def start_browser(video: Path, downloads: Path) -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                f"--window-size={SIZE[0]},{SIZE[1]}", "--use-fake-device-for-media-stream",
                "--use-fake-ui-for-media-stream", f"--use-file-for-fake-video-capture={video}",
                "--no-first-run", "--disable-background-networking", "--disable-sync",
                "--disable-component-update", "--disable-default-apps", "--lang=en-US"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads)})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_window_size(*SIZE)
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": SIZE[0], "height": SIZE[1], "deviceScaleFactor": 1, "mobile": False})
    # Record CSP violations before any page script runs (DevTools, not subject to the CSP).
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": (
        "window.__csp = [];"
        "document.addEventListener('securitypolicyviolation', e => window.__csp.push("
        "e.violatedDirective + ' ' + e.blockedURI));")})
    return driver


class Console:
    """The console page in the browser, with the few gestures the tests need."""

    def __init__(self, driver: webdriver.Chrome, base: str) -> None:
        self.driver, self.base = driver, base

    def wait(self, timeout: float = 30) -> WebDriverWait:
        return WebDriverWait(self.driver, timeout)

    def open(self, lang: str = "en") -> None:
        self.driver.get(f"{self.base}/console/")
        self.driver.execute_script("sessionStorage.clear()")
        self.driver.get(f"{self.base}/console/")
        self.wait().until(lambda d: d.find_element(By.CSS_SELECTOR, "body[data-ready]"))
        self.language(lang)

    def language(self, lang: str) -> None:
        self.driver.execute_script(
            "const s = document.getElementById('lang'); s.value = arguments[0];"
            "s.dispatchEvent(new Event('change'));", lang)
        self.wait().until(lambda d: d.execute_script("return document.documentElement.lang")
                          == lang)

    def sign_in(self, key: str) -> None:
        self.type("#signin-key", key)
        self.click("#signin-form button[type=submit]")
        self.wait().until(lambda d: d.find_element(By.ID, "nav").is_displayed())

    def sign_out(self) -> None:
        self.click("#signout")
        self.wait().until(lambda d: d.find_element(By.ID, "signin").is_displayed())

    def find(self, css: str):
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def visible(self, css: str, timeout: float = 60):
        return self.wait(timeout).until(ec.visibility_of_element_located((By.CSS_SELECTOR, css)))

    def type(self, css: str, text: str) -> None:
        field = self.find(css)
        field.clear()
        field.send_keys(text)

    def click(self, css: str) -> None:
        self.visible(css).click()

    def screen(self, name: str) -> None:
        self.click(f"#nav button[data-screen={name}]")
        self.visible(f"section#{name}")

    def take_photo(self, within: str) -> None:
        if self.find(f"{within} .cam-start").is_displayed():
            self.click(f"{within} .cam-start")
        self.wait().until(lambda d: d.execute_script(
            "return document.querySelector(arguments[0] + ' video').videoWidth", within) > 0)
        self.click(f"{within} .cam-take")
        self.visible(f"{within} .cam-retake")

    def text(self, css: str) -> str:
        return self.find(css).text

    def problems(self) -> list[str]:
        """Console errors and CSP violations since the last call."""
        logs = self.driver.get_log("browser")
        errors = [e["message"] for e in logs if e["level"] == "SEVERE"
                  and not any(x in e["message"] for x in EXPECTED_HTTP)]
        csp = self.driver.execute_script("return window.__csp || []")
        self.driver.execute_script("window.__csp = []")
        return errors + [f"CSP: {v}" for v in csp]

    def save(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.driver.save_screenshot(str(path))
        return path


def keep_artefact(path: Path) -> None:
    """Copy a screenshot where CI collects artefacts (AUTHD_ARTEFACTS_DIR), when set."""
    target = os.environ.get("AUTHD_ARTEFACTS_DIR")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(target) / path.name)


def api(server: Server, method: str, path: str, key: str, **kw) -> httpx.Response:
    return httpx.request(method, f"{server.base}{path}", timeout=60,
                         headers={"Authorization": f"Bearer {key}"}, **kw)


def events(server, uin: str | None = None, **where) -> list[AuditEvent]:
    stmt = select(AuditEvent).order_by(AuditEvent.seq)
    if uin:
        ref = audit.subject_ref(server.state.secrets.subject_key, uin)
        stmt = stmt.where(AuditEvent.subject_ref == ref)
    for name, value in where.items():
        stmt = stmt.where(getattr(AuditEvent, name) == value)
    with transaction(server.state.db) as session:
        rows = session.execute(stmt).scalars().all()
        session.expunge_all()
        return list(rows)
