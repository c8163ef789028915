"""Every error class of the three trees (authd's AuthdError, matching's MatchingError, keys'
KeysError) keeps the one contract (authd.errors.ErrorContract), and the one handler renders
each of them: its code, its message (or "Internal error." for a 500), its public details and
headers, never its audit details."""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
import re
from collections.abc import Callable, Iterator, Mapping

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import authd
import keys
import matching
from authd.errors import AuthdError, ErrorContract, Refused
from authd.http import handlers
from keys.errors import KeysError
from matching.errors import MatchingError

ROOTS = (AuthdError, MatchingError, KeysError)
# Modules never imported here: Alembic's scripts run migrations when imported.
SKIP = ("authd.storage.migrations",)
# A value for each constructor argument an error class takes. Audit-only values carry
# "sentinel" so that a leak into what a client sees is found.
SAMPLES: Mapping[str, object] = {
    "reason": "sentinel_reason", "detail": "sentinel detail /var/lib/authd/index.faiss",
    "retry_after": 7, "case_id": "c-1", "uin": "2345678901",
    "candidates": [{"uin": "3456789012", "distance": 0.31}],
}
CODE = re.compile(r"[a-z]+(_[a-z]+)*")
PLACEHOLDER = re.compile(r"[{}%]|\$\w")
LONG_TOKEN = re.compile(r"[A-Za-z0-9+/=_-]{24,}")  # a key, a token, a hash, base64
DIGITS = re.compile(r"\d{4,}")  # a UIN, an OTP, a phone number


def _import_all() -> None:
    """Import every module of the three packages, so every error class is defined."""
    for package in (authd, matching, keys):
        for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if not module.name.startswith(SKIP):
                importlib.import_module(module.name)


def _tree(root: type) -> Iterator[type]:
    yield root
    for sub in root.__subclasses__():
        yield from _tree(sub)


_import_all()
CLASSES = sorted({cls for root in ROOTS for cls in _tree(root)},
                 key=lambda cls: f"{cls.__module__}.{cls.__qualname__}")
IDS = [f"{cls.__module__}.{cls.__qualname__}" for cls in CLASSES]


def build(cls: type) -> Exception:
    """An instance made the way the code raises it: SAMPLES for every argument it takes."""
    kwargs = {}
    for name, param in inspect.signature(cls.__init__).parameters.items():
        if name == "self" or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        if name == "message":
            continue  # the class's own message; a raise site may give a more precise one
        assert name in SAMPLES or param.default is not param.empty, (
            f"{cls.__name__}({name}=...): add a sample value to SAMPLES")
        if name in SAMPLES:
            kwargs[name] = SAMPLES[name]
    return cls(**kwargs)


def test_the_trees_are_found_whole():
    found = {cls.__name__ for cls in CLASSES}
    assert {"AuthdError", "Refused", "RateLimited", "PossibleDuplicate", "FaceModelMismatch",
            "MatchingError", "ImageTooDark", "IndexCorrupt", "KeysError", "InvalidToken",
            "UnknownKey"} <= found
    # One refusal class: the factors, the decision and the OTP store raise Refused itself.
    assert [cls.__name__ for cls in CLASSES if issubclass(cls, Refused)] == ["Refused"]


@pytest.mark.parametrize("cls", CLASSES, ids=IDS)
def test_class_attributes(cls):
    assert isinstance(cls.code, str) and CODE.fullmatch(cls.code), cls.code
    assert isinstance(cls.status_code, int) and 400 <= cls.status_code <= 599
    message = cls.message
    assert isinstance(message, str) and message.strip() == message and message
    assert not PLACEHOLDER.search(message), f"placeholder in {message!r}"
    assert not LONG_TOKEN.search(message) and not DIGITS.search(message), message


@pytest.mark.parametrize("cls", CLASSES, ids=IDS)
def test_instances_keep_the_contract(cls):
    exc = build(cls)
    assert isinstance(exc, ErrorContract)
    assert (exc.code, exc.status_code, exc.message) == (cls.code, cls.status_code, cls.message)
    for details in (exc.public_details, exc.audit_details, exc.headers):
        assert isinstance(details, Mapping)
    json.dumps(dict(exc.public_details))  # the body carries them
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in exc.headers.items())
    # What only the audit log may see is in nothing a client sees.
    seen = json.dumps([exc.message, dict(exc.public_details), dict(exc.headers)])
    for value in exc.audit_details.values():
        assert str(value) not in seen, (cls.__name__, value)
    assert "sentinel" not in seen


def test_one_code_one_status():
    statuses: dict[str, set[int]] = {}
    for cls in CLASSES:
        statuses.setdefault(cls.code, set()).add(cls.status_code)
    assert {code: s for code, s in statuses.items() if len(s) > 1} == {}


def app_raising(factories: Mapping[str, Callable[[], Exception]]) -> TestClient:
    app = FastAPI()
    handlers.install(app)

    @app.get("/raise/{name}")
    def _raise(name: str) -> None:
        raise factories[name]()

    return TestClient(app, raise_server_exceptions=False)


def test_the_handler_renders_every_class():
    factories = {f"{i}": (lambda cls=cls: build(cls)) for i, cls in enumerate(CLASSES)}
    http = app_raising(factories)
    for i, cls in enumerate(CLASSES):
        exc = build(cls)
        r = http.get(f"/raise/{i}")
        assert r.status_code == cls.status_code, cls.__name__
        error = r.json()["error"]
        if cls.status_code == 500:  # a fault of ours: no detail leaves the server
            assert error == {"code": cls.code, "message": "Internal error.", "request_id": "-"}
            continue
        # 4xx and 503-style "unavailable, retry" answers carry their fixed message
        assert error == {**exc.public_details, "code": cls.code, "message": cls.message,
                         "request_id": "-"}, cls.__name__
        assert all(r.headers[name] == value for name, value in exc.headers.items())
        assert (r.headers.get("www-authenticate") == "Bearer") == (cls.status_code == 401)
        assert "sentinel" not in r.text


def test_every_refusal_is_the_same_opaque_401():
    refusals = {
        "unknown": lambda: Refused("unknown_id"),
        "mismatch": lambda: Refused("face_mismatch", distance=0.7312, threshold=0.6,
                                    model="sface"),
        "policy": lambda: Refused("acr_too_low"),
    }
    http = app_raising(refusals)
    answers = {http.get(f"/raise/{name}").content for name in refusals}
    assert answers == {b'{"error":{"code":"authentication_failed",'
                       b'"message":"Authentication failed.","request_id":"-"}}'}


def test_a_refusal_keeps_its_reason_and_facts_for_the_audit_log():
    refusal = Refused("face_mismatch", distance=0.7312, threshold=0.6)
    assert (refusal.reason, dict(refusal.facts)) == (
        "face_mismatch", {"distance": 0.7312, "threshold": 0.6})
    assert dict(refusal.audit_details) == {"reason": "face_mismatch", "distance": 0.7312,
                                           "threshold": 0.6}
    assert refusal.public_details == {} and refusal.headers == {}
