"""Face authentication speed: POST /v1/authenticate over HTTP vs face_recognition in-process.

    python benchmarks/face_speed.py                      # 40 people, 3 rounds, 20 s per load test
    python benchmarks/face_speed.py --people 10 --rounds 1 --seconds 5   # quick check

A real `authd serve` on a free loopback port, AUTHD_DATA_DIR in a temporary directory. Each of
``--people`` LFW people (seeded sample of those with two photos the pipeline accepts) is
enrolled with photo 1 (PUT /v1/identities/{uin}/face) and authenticated with photo 2.

1. Latency, one request at a time, 1 worker: each probe is timed through HTTP (base64 JSON,
   auth, decode, detect, quality gate, encode, compare, token, audit) and, interleaved with it
   so both see the same machine load, in-process with face_recognition 1.3.0 (load_image_file
   + face_locations + face_encodings + face_distance against the enrolled encoding). p50/p99
   and the ratio HTTP / direct (goal <= 1.1).
   A GET /v1/identities/{uin} (API key check + one DB read, no face) is timed alongside:
   the floor of what any authenticated request costs.
2. Throughput: authentications (decisions: 200 match + 401 no-match) per second with
   ``--concurrency`` clients in a closed loop for ``--seconds``, against
   `authd serve --workers 1` and `--workers 2`.

The relaxed per-ID rate limits (AUTHD_RATE_*) are set for the benchmark only: the same few
people authenticate thousands of times. Writes benchmarks/results/face_speed.json.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import platform
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.lfw_data import LFW, RESULTS, all_images, encode, person  # noqa: E402

AUTHD = Path(sys.executable).with_name("authd")
BENCH_ENV = {
    "AUTHD_MODE": "development",
    "AUTHD_LOG_LEVEL": "WARNING",
    "AUTHD_RATE_ID_PER_MINUTE": "1000000",
    "AUTHD_RATE_ID_BURST": "1000000",
    "AUTHD_RATE_RP_PER_SECOND": "1000000",
    "AUTHD_RATE_RP_BURST": "1000000",
}


class FaceFactorMissing(RuntimeError):
    """The server refused the face factor: the lead has not wired it yet."""


# ------------------------------------------------------------------ photos


def choose_people(n: int, seed: int) -> list[tuple[str, bytes, bytes]]:
    """(name, photo 1, photo 2) of n people whose two photos FacePipeline accepts."""
    names = sorted({person(p) for p in all_images() if p.endswith("_0002.jpg")})
    random.Random(seed).shuffle(names)  # noqa: S311 - a reproducible sample
    candidates = names[: 2 * n]
    paths = [f"images/{m}/{m}_{i:04d}.jpg" for m in candidates for i in (1, 2)]
    enc = encode(paths)
    ok = dict(zip(enc.paths.tolist(), enc.acquired.tolist(), strict=True))
    chosen = [m for m in candidates
              if ok[f"images/{m}/{m}_0001.jpg"] and ok[f"images/{m}/{m}_0002.jpg"]][:n]
    return [(m, (LFW / f"images/{m}/{m}_0001.jpg").read_bytes(),
             (LFW / f"images/{m}/{m}_0002.jpg").read_bytes()) for m in chosen]


# ------------------------------------------------------------------ the server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHD_")}
    return {**env, **BENCH_ENV, "AUTHD_DATA_DIR": str(data_dir)}


def init_data_dir(data_dir: Path) -> str:
    """`authd init`; the default relying party's key (all scopes, all factors)."""
    out = subprocess.run(  # noqa: S603 - our own CLI, fixed argv
        [str(AUTHD), "init"], env=server_env(data_dir), capture_output=True, text=True,
        timeout=300, check=True).stdout
    match = re.search(r"authd_\S+", out)
    if not match:
        raise RuntimeError("authd init printed no API key")
    return match.group(0)


@contextmanager
def running_server(data_dir: Path, workers: int):  # type: ignore[no-untyped-def]
    port = free_port()
    log = open(data_dir / f"serve-{workers}.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(  # noqa: S603 - our own CLI, fixed argv
        [str(AUTHD), "serve", "--workers", str(workers), "--port", str(port),
         "--host", "127.0.0.1"], env=server_env(data_dir), stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True)  # its own process group: stopped with its workers below
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(base, proc, data_dir / f"serve-{workers}.log")
        yield base
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def wait_ready(base: str, proc: subprocess.Popen, log: Path, timeout: float = 180) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"authd serve exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError("authd serve did not become ready")


# ------------------------------------------------------------------ API calls


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def enroll(client, photos: list[tuple[str, bytes, bytes]]) -> list[tuple[str, str, bytes]]:  # type: ignore[no-untyped-def]
    """(uin, name, probe photo) of everyone enrolled; a 409 possible duplicate is skipped."""
    enrolled = []
    for name, first, second in photos:
        r = client.post("/v1/identities", json={"name": name.replace("_", " ")})
        r.raise_for_status()
        uin = r.json()["uin"]
        r = client.put(f"/v1/identities/{uin}/face", json={"image_b64": b64(first)})
        if r.status_code == 409:
            print(f"  {name}: possible duplicate at enrollment, skipped")
            continue
        r.raise_for_status()
        enrolled.append((uin, name, second))
    return enrolled


def auth_body(uin: str, photo: bytes) -> bytes:
    return json.dumps({"individual_id": uin, "id_type": "uin",
                       "factors": {"face": {"image_b64": b64(photo)}}}).encode()


def authenticate(client, body: bytes) -> int:  # type: ignore[no-untyped-def]
    r = client.post("/v1/authenticate", content=body,
                    headers={"content-type": "application/json"})
    return r.status_code


def check_face_factor(client, uin: str, photo: bytes) -> None:  # type: ignore[no-untyped-def]
    r = client.post("/v1/authenticate", content=auth_body(uin, photo),
                    headers={"content-type": "application/json"})
    if r.status_code != 200:
        raise FaceFactorMissing(
            f"POST /v1/authenticate with a face: {r.status_code} {r.text[:300]}")


# ------------------------------------------------------------------ direct face_recognition


class Direct:
    """What a project without authd would run: face_recognition on the same photos."""

    def __init__(self, photos: list[tuple[str, str, bytes]], enroll_photos: dict[str, bytes]):
        import face_recognition  # benchmark-only: the service goes through matching.encoder

        self.fr = face_recognition
        self.enrolled = {uin: self._encoding(enroll_photos[uin]) for uin, _, _ in photos}

    def _encoding(self, data: bytes) -> np.ndarray:
        image = self.fr.load_image_file(io.BytesIO(data))
        boxes = self.fr.face_locations(image)
        return self.fr.face_encodings(image, boxes[:1])[0]

    def verify(self, uin: str, data: bytes) -> bool:
        distance = self.fr.face_distance([self.enrolled[uin]], self._encoding(data))[0]
        return bool(distance < 0.6)


# ------------------------------------------------------------------ measurements


def percentiles(ms: list[float]) -> dict[str, float]:
    a = np.asarray(ms)
    return {"n": len(a), "p50_ms": float(np.percentile(a, 50)),
            "p99_ms": float(np.percentile(a, 99)), "mean_ms": float(a.mean())}


def latency(base: str, key: str, people: list[tuple[str, str, bytes]], direct: Direct,
            rounds: int) -> dict:
    import httpx

    http_ms, direct_ms, floor_ms, statuses, direct_ok = [], [], [], [], 0
    bodies = [(uin, photo, auth_body(uin, photo)) for uin, _, photo in people]
    with httpx.Client(base_url=base, headers={"authorization": f"Bearer {key}"},
                      timeout=60) as client:
        for uin, photo, body in bodies[:3]:  # warm-up: thread pools, models, connections
            authenticate(client, body)
            direct.verify(uin, photo)
        for _ in range(rounds):
            for uin, photo, body in bodies:
                t = time.perf_counter()
                statuses.append(authenticate(client, body))
                http_ms.append((time.perf_counter() - t) * 1e3)
                t = time.perf_counter()
                direct_ok += direct.verify(uin, photo)
                direct_ms.append((time.perf_counter() - t) * 1e3)
                t = time.perf_counter()
                client.get(f"/v1/identities/{uin}").raise_for_status()
                floor_ms.append((time.perf_counter() - t) * 1e3)
    http, dr = percentiles(http_ms), percentiles(direct_ms)
    return {"http": {**http, "accepted": statuses.count(200)},
            "direct_face_recognition": {**dr, "accepted": direct_ok},
            "service_floor_get_identity": percentiles(floor_ms),
            "ratio_p50": http["p50_ms"] / dr["p50_ms"], "ratio_p99": http["p99_ms"] / dr["p99_ms"],
            "goal_ratio": 1.1}


def throughput(base: str, key: str, people: list[tuple[str, str, bytes]], concurrency: int,
               seconds: float) -> dict:
    import httpx

    bodies = [auth_body(uin, photo) for uin, _, photo in people]
    counts: list[dict[int, int]] = [{} for _ in range(concurrency)]
    stop_at = time.perf_counter() + seconds

    def loop(i: int) -> None:
        with httpx.Client(base_url=base, headers={"authorization": f"Bearer {key}"},
                          timeout=120) as client:
            j = i
            while time.perf_counter() < stop_at:
                code = authenticate(client, bodies[j % len(bodies)])
                counts[i][code] = counts[i].get(code, 0) + 1
                j += concurrency

    t0 = time.perf_counter()
    threads = [threading.Thread(target=loop, args=(i,)) for i in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    by_status: dict[str, int] = {}
    for c in counts:
        for code, n in c.items():
            by_status[str(code)] = by_status.get(str(code), 0) + n
    return {"concurrency": concurrency, "seconds": elapsed, "by_status": by_status,
            # a decision is a 200 (match) or a 401 (no match): both ran the whole face path
            "auth_per_s": (by_status.get("200", 0) + by_status.get("401", 0)) / elapsed,
            "accepted_per_s": by_status.get("200", 0) / elapsed,
            "load_average_after": os.getloadavg()}


# ------------------------------------------------------------------ main


def run(args: argparse.Namespace) -> dict:
    import httpx

    photos = choose_people(args.people, args.seed)
    result: dict = {"benchmark": "face_speed", "people": len(photos), "rounds": args.rounds,
                    "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                "load_average_start": os.getloadavg()}}
    with tempfile.TemporaryDirectory(prefix="authd-speed-") as tmp:
        data_dir = Path(tmp)
        key = init_data_dir(data_dir)
        with running_server(data_dir, 1) as base:
            with httpx.Client(base_url=base, headers={"authorization": f"Bearer {key}"},
                              timeout=120) as client:
                people = enroll(client, photos)
                check_face_factor(client, people[0][0], people[0][2])
            firsts = {uin: next(f for n, f, _ in photos if n == name) for uin, name, _ in people}
            result["enrolled"] = len(people)
            result["latency_1_worker"] = latency(base, key, people, Direct(people, firsts),
                                                 args.rounds)
            result["throughput"] = {"1": throughput(base, key, people, args.concurrency,
                                                    args.seconds)}
        with running_server(data_dir, 2) as base:
            result["throughput"]["2"] = throughput(base, key, people, args.concurrency,
                                                   args.seconds)
    return result


def print_report(r: dict) -> None:
    lat = r["latency_1_worker"]
    print(f"\n{r['enrolled']} people enrolled, {lat['http']['n']} authentications each way "
          f"(load average at start {r['machine']['load_average_start'][0]:.1f})")
    print(f"{'':28} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8} {'accepted':>9}")
    for name, s in (("HTTP POST /v1/authenticate", lat["http"]),
                    ("face_recognition direct", lat["direct_face_recognition"])):
        print(f"{name:28} {s['p50_ms']:>8.1f} {s['p99_ms']:>8.1f} {s['mean_ms']:>8.1f} "
              f"{s['accepted']:>9}")
    f = lat["service_floor_get_identity"]
    print(f"{'GET /v1/identities/{uin}':28} {f['p50_ms']:>8.1f} {f['p99_ms']:>8.1f} "
          f"{f['mean_ms']:>8.1f}   (API key + DB read, no face: the HTTP floor)")
    print(f"ratio HTTP/direct: p50 {lat['ratio_p50']:.3f}, p99 {lat['ratio_p99']:.3f} "
          f"(goal <= {lat['goal_ratio']})")
    for workers, t in r["throughput"].items():
        print(f"workers={workers}: {t['auth_per_s']:.2f} authentications/s (decisions; "
              f"{t['accepted_per_s']:.2f} accepted/s) with {t['concurrency']} clients "
              f"over {t['seconds']:.0f}s, statuses {t['by_status']}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--people", type=int, default=40)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    try:
        result = run(args)
    except FaceFactorMissing as exc:
        print(f"face factor not available yet: {exc}")
        sys.exit(2)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "face_speed.json").write_text(json.dumps(result, indent=2) + "\n")
    print_report(result)
    print(f"\nwrote {RESULTS / 'face_speed.json'}")


if __name__ == "__main__":
    main()
