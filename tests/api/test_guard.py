"""The server's guard (issue 9, items 3 and 4): what an attacker can make it spend.

- The API key is checked before the body is read: every /v1 route answers 401
  `invalid_client` to a missing or bad key, whatever the body (malformed JSON, 12 MiB, a
  stream that never ends).
- A face call resolves the person (and charges the rate limits) before the photo is decoded:
  random IDs with a big photo never reach a face worker.
- Each format has a pixel budget: the 6,300 x 6,300 RGBA PNG of ~150 KB that cost a worker
  6-10 s is a 413 `image_too_large` before it is decoded.
- A relying party has at most `face_queue_per_rp` photos in flight: one more is a 503 `busy`
  with Retry-After, and another relying party's counter is served in between.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
import uvicorn
from PIL import Image

from authd.faces.runtime import face_queue
from authd.http.app import create_app
from authd.registry.uin import new_uin
from authd.settings import Settings
from matching.errors import ImageTooLarge
from matching.image import ImageLimits, budget_for, decode_image
from tests.helpers import bearer, counter, enroll, events, make_key, photo_b64

S = "samples"
BIG = 12 * 1024 * 1024 + 1
ANONYMOUS = [None, "Bearer authd_AAAAAAAAAAAA_not-a-secret", "Basic dXNlcjpwYXNz", "Bearer"]


def png(width: int, height: int, mode: str = "RGBA") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, (width, height), (200, 180, 160, 255)[:len(mode)]).save(
        buf, "PNG", optimize=True)
    return buf.getvalue()


def b64(data: bytes) -> dict[str, str]:
    return {"image_b64": base64.b64encode(data).decode()}


# ---- item 4: the key before the body ------------------------------------------------------

def v1_operations(client) -> list[tuple[str, str]]:
    spec = client.get("/openapi.json").json()
    found = [(method.upper(), path.replace("{", "").replace("}", ""))
             for path, item in spec["paths"].items() if path.startswith("/v1/")
             for method in item if method in {"get", "post", "put", "delete", "patch"}]
    assert len(found) >= 15, found  # every /v1 route of the document, not a handful
    return found


def assert_invalid_client(r: httpx.Response, where: str) -> None:
    assert r.status_code == 401, f"{where}: {r.status_code} {r.text[:200]}"
    assert r.json()["error"]["code"] == "invalid_client", where
    assert r.headers["www-authenticate"] == "Bearer", where


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_every_v1_route_refuses_a_bad_key_before_the_body(client, state):
    for method, path in v1_operations(client):
        for authorization in ANONYMOUS:
            headers = {"Authorization": authorization} if authorization else {}
            malformed = client.request(method, path, content=b'{"token": ',
                                       headers={**headers, "Content-Type": "application/json"})
            assert_invalid_client(malformed, f"{method} {path} malformed, {authorization}")
            wrong_type = client.request(method, path, content=b"token=x",
                                        headers={**headers, "Content-Type": "text/plain"})
            assert_invalid_client(wrong_type, f"{method} {path} text/plain, {authorization}")
        huge = client.request(method, path, content=b"{" * BIG,
                              headers={"Content-Type": "application/json"})
        assert_invalid_client(huge, f"{method} {path} 12 MiB")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_good_key_still_reaches_the_body_checks(client, state):
    headers = bearer(make_key(state, ["introspect"]))
    r = client.post("/v1/tokens/introspect", content=b'{"token": ',
                    headers={**headers, "Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "malformed_json"
    r = client.post("/v1/tokens/introspect", content=b"{" * BIG, headers=headers)
    assert r.status_code == 413 and r.json()["error"]["code"] == "body_too_large"
    r = client.post("/v1/tokens/introspect", json={"token": "x.y.z"}, headers=headers)
    assert r.status_code == 200 and r.json() == {"active": False}


@contextmanager
def serving(settings: Settings) -> Iterator[int]:
    """The real app under a real uvicorn on a loopback port of its own, in a thread."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(settings), log_level="warning",
                                           lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        for _ in range(600):
            if server.started:
                break
            threading.Event().wait(0.05)
        assert server.started, "uvicorn did not start"
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


def unfinished_request(port: int, head: str) -> bytes:
    """Send the head and the first bytes of a body that never ends; the server's answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as conn:
        conn.sendall(head.encode() + b'{"token": "')
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = conn.recv(65536)  # a server waiting for the body times out here: failure
            if not chunk:
                break
            answer += chunk
        return answer


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("framing", [f"Content-Length: {BIG}", "Transfer-Encoding: chunked"])
def test_a_never_ending_body_gets_the_401_through_a_real_server(settings, framing):
    with serving(settings) as port:
        for path in ("/v1/tokens/introspect", "/v1/identities", "/v1/authenticate"):
            head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    f"Content-Type: application/json\r\n{framing}\r\n\r\n")
            if "chunked" in framing:
                head += "100000\r\n"  # a 1 MiB chunk, of which a few bytes follow
            answer = unfinished_request(port, head)
            status, _, body = answer.partition(b"\r\n\r\n")
            assert status.startswith(b"HTTP/1.1 401"), (path, answer[:200])
            assert json.loads(body)["error"]["code"] == "invalid_client"


# ---- item 3 (a): the person before the photo ----------------------------------------------

def test_random_ids_with_a_photo_never_reach_a_face_worker(face_client, face_state, faces_dir):
    queue = face_queue(face_state)
    headers = counter(face_state, factors=("face",))
    photo = photo_b64(faces_dir / S / "obama/obama1.jpg")
    for _ in range(5):  # well-formed UINs (check digit right), not enrolled
        body = {"individual_id": new_uin(), "id_type": "uin", "factors": {"face": photo}}
        r = face_client.post("/v1/authenticate", json=body, headers=headers)
        assert r.status_code == 401 and r.json()["error"]["code"] == "authentication_failed"
    assert queue.started == 0  # not one photo given to a worker
    assert [e.reason for e in events(face_state, "authenticate")] == ["unknown_id"] * 5
    # the same call for a known person does reach the worker: the counter sees decodes
    station = bearer(make_key(face_state, ["enroll"], rp_id="station-1"))
    uin = enroll(face_client, face_state)
    r = face_client.put(f"/v1/identities/{uin}/face",
                        json=photo_b64(faces_dir / S / "obama/obama.jpg"), headers=station)
    assert r.status_code == 200, r.text
    before = queue.started
    body = {"individual_id": uin, "id_type": "uin", "factors": {"face": photo}}
    r = face_client.post("/v1/authenticate", json=body, headers=headers)
    assert r.status_code == 200, r.text
    assert queue.started == before + 1


def test_a_deactivated_identity_or_unknown_enrollee_costs_no_decode(face_client, face_state,
                                                                    faces_dir):
    queue = face_queue(face_state)
    station = bearer(make_key(face_state, ["enroll"], rp_id="station-1"))
    admin = bearer(make_key(face_state, ["admin", "enroll"], rp_id="registry-admin"))
    uin = enroll(face_client, face_state)
    r = face_client.post(f"/v1/identities/{uin}/deactivate", json={"reason": "deceased"},
                         headers=admin)
    assert r.status_code == 200, r.text
    photo = photo_b64(faces_dir / S / "obama/obama.jpg")
    r = face_client.put(f"/v1/identities/{uin}/face", json=photo, headers=station)
    assert r.status_code == 404
    body = {"individual_id": uin, "id_type": "uin", "factors": {"face": photo}}
    r = face_client.post("/v1/authenticate", json=body,
                         headers=counter(face_state, factors=("face",)))
    assert r.status_code == 401
    assert events(face_state, "authenticate")[-1].reason == "identity_deactivated"
    assert queue.started == 0


# ---- item 3 (b): pixel budgets per format -------------------------------------------------

def test_the_small_png_bomb_is_refused_before_it_is_decoded():
    bomb = png(6300, 6300)
    assert len(bomb) < 200_000  # a few hundred KB for 39.7 megapixels
    allocated = Image.core.get_stats()["new_count"]
    with pytest.raises(ImageTooLarge):
        decode_image(bomb, ImageLimits())
    assert Image.core.get_stats()["new_count"] == allocated  # not one image buffer made


def test_each_full_size_format_has_a_budget_and_jpeg_keeps_its_reduced_decode():
    limits = ImageLimits()
    for fmt in ("PNG", "WEBP", "GIF"):
        assert budget_for(limits, fmt) < limits.max_pixels / 4
    assert budget_for(limits, "JPEG") == budget_for(limits, "MPO") == limits.max_pixels
    side = int(budget_for(limits, "PNG") ** 0.5)
    assert decode_image(png(side, side), limits).shape == (2000, 2000, 3)
    with pytest.raises(ImageTooLarge):
        decode_image(png(side + 1, side + 1), limits)
    buf = io.BytesIO()  # the bomb's size as a JPEG: decoded at 1/4 scale, allowed
    Image.new("RGB", (6300, 6300), (200, 180, 160)).save(buf, "JPEG", quality=50)
    assert max(decode_image(buf.getvalue(), limits).shape) <= 2000


def test_the_png_bomb_is_a_413_at_the_api(face_client, face_state):
    station = bearer(make_key(face_state, ["enroll"], rp_id="station-1"))
    r = face_client.post("/v1/dedup/search", json=b64(png(6300, 6300)), headers=station)
    assert r.status_code == 413 and r.json()["error"]["code"] == "image_too_large"


def test_the_budgets_are_settings(settings):
    from authd.faces.service import pipeline_settings

    tuned = settings.model_copy(update={"face_png_max_pixels": 123_456,
                                        "face_webp_max_pixels": 234_567,
                                        "face_gif_max_pixels": 345_678})
    limits = pipeline_settings(tuned).limits
    assert (budget_for(limits, "PNG"), budget_for(limits, "WEBP"),
            budget_for(limits, "GIF")) == (123_456, 234_567, 345_678)


# ---- item 3 (c): a bounded, fair face queue per relying party -----------------------------

async def _queue_scenario(app, faces_dir) -> None:
    state = app.state.authd
    queue = face_queue(state)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://authd",
                                 timeout=300) as http:
        station = bearer(make_key(state, ["enroll"], rp_id="station-1"))
        r = await http.post("/v1/identities", json={"name": "Amina", "phone": "+212612345678"},
                            headers=station)
        uin = r.json()["uin"]
        r = await http.put(f"/v1/identities/{uin}/face",
                           json=photo_b64(faces_dir / S / "obama/obama.jpg"), headers=station)
        assert r.status_code == 200, r.text

        side = int(budget_for(ImageLimits(), "PNG") ** 0.5)  # heavy, but allowed
        heavy = b64(png(side, side, "RGB"))
        one = bearer(make_key(state, ["enroll"], rp_id="program-one"))
        two = bearer(make_key(state, ["auth"], rp_id="program-two", factors=("face",)))
        burst = [asyncio.create_task(http.post("/v1/dedup/search", json=heavy, headers=one))
                 for _ in range(6)]
        for _ in range(20_000):  # until all six are admitted (waiting or encoding)
            if queue.admitted["program-one"] == 6:
                break
            await asyncio.sleep(0.001)
        assert queue.admitted["program-one"] == 6 and not any(t.done() for t in burst)

        seventh = await http.post("/v1/dedup/search", json=heavy, headers=one)
        assert seventh.status_code == 503 and seventh.json()["error"]["code"] == "busy"
        assert int(seventh.headers["retry-after"]) >= 1
        assert queue.refused == 1

        body = {"individual_id": uin, "id_type": "uin",
                "factors": {"face": photo_b64(faces_dir / S / "obama/obama1.jpg")}}
        r = await http.post("/v1/authenticate", json=body, headers=two)
        assert r.status_code == 200, r.text
        # program two was answered while program one's burst was still in flight
        still = queue.admitted["program-one"]
        assert still >= 1 and sum(not t.done() for t in burst) >= 1, still
        answers = await asyncio.gather(*burst)
        assert {a.status_code for a in answers} <= {200, 422}, [a.text for a in answers]
        assert not queue.admitted and not queue.encoding and not queue.waiting


def test_one_relying_party_cannot_queue_out_another(settings, clock, face_service, faces_dir):
    tuned = settings.model_copy(update={"faces_enabled": True, "face_queue_per_rp": 6,
                                        "face_workers": 2})
    app = create_app(tuned, clock=clock, faces=face_service)

    async def run() -> None:
        async with app.router.lifespan_context(app):
            await _queue_scenario(app, faces_dir)

    asyncio.run(run())


def test_a_caller_that_goes_away_gives_its_place_back():
    """Cancelled while waiting, or just after its turn came: the queue forgets it and the
    worker passes on; nothing leaks."""
    from authd.faces.service import FaceQueue

    async def scenario() -> None:
        queue = FaceQueue(workers=1, per_rp=3)
        release = asyncio.Event()
        done: list[str] = []

        async def photo(rp: str, name: str) -> None:
            async with queue.turn(rp):
                done.append(name)
                await release.wait()

        first = asyncio.create_task(photo("a", "a1"))
        await asyncio.sleep(0)
        waiting = asyncio.create_task(photo("a", "a2"))
        other = asyncio.create_task(photo("b", "b1"))
        await asyncio.sleep(0)
        assert done == ["a1"] and queue.admitted == {"a": 2, "b": 1}
        waiting.cancel()  # gives up while waiting
        await asyncio.gather(waiting, return_exceptions=True)
        assert queue.admitted == {"a": 1, "b": 1} and list(queue.waiting) == ["b"]
        release.set()
        await asyncio.gather(first, other)
        assert done == ["a1", "b1"]
        assert not queue.admitted and not queue.encoding and not queue.waiting
        assert queue.started == 2

    asyncio.run(scenario())
