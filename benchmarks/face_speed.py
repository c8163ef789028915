"""Face authentication speed, per model: POST /v1/authenticate over HTTP vs the raw pipeline.

    python benchmarks/face_speed.py                      # 40 people, 3 rounds, 20 s per load test
    python benchmarks/face_speed.py --people 10 --rounds 1 --seconds 5   # quick check
    python benchmarks/face_speed.py --faces DIR          # the corpus elsewhere

For each model (`--models`, default sface then dlib), a real `authd serve` with
AUTHD_FACE_MODEL=model on a free loopback port, AUTHD_DATA_DIR in a temporary directory. Each
of ``--people`` LFW people (seeded sample of those with two photos both models accept) is
enrolled with photo 1 (PUT /v1/identities/{uin}/face) and authenticated with photo 2.

1. Latency, one request at a time, 1 face worker: each probe is timed through HTTP (base64
   JSON, auth, decode, detect, quality gate, encode, compare, token, audit) and, interleaved
   with it so both see the same machine load, in this process with the raw pipeline
   (matching.FacePipeline.extract + distance to the enrolled template, OpenCV on one thread
   as in a worker). p50/p99 and the ratio HTTP / raw (goal <= 1.1). A GET /v1/identities/{uin}
   (API key check + one DB read, no face) is timed alongside: the floor of any request.
2. CPU per photo: process CPU time of FacePipeline.extract in this process, per photo, over
   the same probes (single-threaded); the ratio sface / dlib (goal <= 0.5).
3. Throughput: authentications (decisions: 200 match + 401 no-match) per second with
   ``--concurrency`` clients in a closed loop for ``--seconds``, with AUTHD_FACE_WORKERS=1
   and =2 (face worker processes, each running OpenCV single-threaded).

The relaxed per-ID rate limits (AUTHD_RATE_*) are set for the benchmark only: the same few
people authenticate thousands of times. Writes benchmarks/results/face_speed.json.
"""

from __future__ import annotations

import argparse
import base64
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

from benchmarks.lfw_data import (  # noqa: E402
    MODELS,
    RESULTS,
    add_faces_argument,
    all_images,
    encode,
    lfw_folder,
    person,
)

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


def choose_people(lfw: Path, n: int, seed: int, models: list[str]
                  ) -> list[tuple[str, bytes, bytes]]:
    """(name, photo 1, photo 2) of n people whose two photos every model's pipeline accepts."""
    names = sorted({person(p) for p in all_images(lfw) if p.endswith("_0002.jpg")})
    random.Random(seed).shuffle(names)  # noqa: S311 - a reproducible sample
    candidates = names[: 2 * n]
    paths = [f"images/{m}/{m}_{i:04d}.jpg" for m in candidates for i in (1, 2)]
    ok = {p: True for p in paths}
    for model in models:
        enc = encode(paths, model, lfw)
        for p, accepted in zip(enc.paths.tolist(), enc.acquired.tolist(), strict=True):
            ok[p] = ok[p] and accepted
    chosen = [m for m in candidates
              if ok[f"images/{m}/{m}_0001.jpg"] and ok[f"images/{m}/{m}_0002.jpg"]][:n]
    return [(m, (lfw / f"images/{m}/{m}_0001.jpg").read_bytes(),
             (lfw / f"images/{m}/{m}_0002.jpg").read_bytes()) for m in chosen]


# ------------------------------------------------------------------ the server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_env(data_dir: Path, model: str, face_workers: int = 1) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHD_")}
    return {**env, **BENCH_ENV, "AUTHD_DATA_DIR": str(data_dir), "AUTHD_FACE_MODEL": model,
            "AUTHD_FACE_WORKERS": str(face_workers)}


def init_data_dir(data_dir: Path, model: str) -> str:
    """`authd init`; the default relying party's key (all scopes, all factors)."""
    out = subprocess.run(  # noqa: S603 - our own CLI, fixed argv
        [str(AUTHD), "init"], env=server_env(data_dir, model), capture_output=True, text=True,
        timeout=300, check=True).stdout
    match = re.search(r"authd_\S+", out)
    if not match:
        raise RuntimeError("authd init printed no API key")
    return match.group(0)


@contextmanager
def running_server(data_dir: Path, model: str, face_workers: int):  # type: ignore[no-untyped-def]
    port = free_port()
    log_path = data_dir / f"serve-{model}-{face_workers}.log"
    log = open(log_path, "w")  # noqa: SIM115
    proc = subprocess.Popen(  # noqa: S603 - our own CLI, fixed argv
        [str(AUTHD), "serve", "--workers", "1", "--port", str(port), "--host", "127.0.0.1"],
        env=server_env(data_dir, model, face_workers), stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True)  # its own process group: stopped with its workers below
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(base, proc, log_path)
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


# ------------------------------------------------------------------ the raw pipeline


class Direct:
    """What the server's face path costs without HTTP, auth, database or token: the same
    FacePipeline in this process (OpenCV on one thread, as in a face worker)."""

    def __init__(self, model: str, photos: list[tuple[str, str, bytes]],
                 enroll_photos: dict[str, bytes]):
        from benchmarks.lfw_data import pipeline_of
        from matching.templates import distance

        if model == "sface":
            import cv2

            cv2.setNumThreads(1)
        self.pipeline, self.distance = pipeline_of(model), distance
        self.pipeline.encoder.load()
        self.enrolled = {uin: self.pipeline.extract(enroll_photos[uin]) for uin, _, _ in photos}
        self.threshold = {"sface": 1.1287, "dlib": 0.6}[model]  # customary, as in lfw_verify

    def verify(self, uin: str, data: bytes) -> bool:
        return self.distance(self.enrolled[uin], self.pipeline.extract(data)) < self.threshold

    def cpu_per_photo(self, photos: list[bytes], rounds: int) -> dict:
        """Process CPU seconds of extract per photo (this process is single-threaded here)."""
        cpu = []
        for _ in range(rounds):
            for data in photos:
                t = time.process_time()
                self.pipeline.extract(data)
                cpu.append((time.process_time() - t) * 1e3)
        return {"photos": len(cpu), **{k.replace("_ms", "_cpu_ms"): v
                                       for k, v in percentiles(cpu).items() if k != "n"}}


# ------------------------------------------------------------------ measurements


def percentiles(ms: list[float]) -> dict[str, float]:
    a = np.asarray(ms)
    return {"n": len(a), "p50_ms": float(np.percentile(a, 50)),
            "p99_ms": float(np.percentile(a, 99)), "mean_ms": float(a.mean())}


class LightClient:
    """The stdlib's http.client on one keep-alive connection: a client whose own cost per
    request (about 0.2 ms) does not hide the server's, where httpx costs a few ms (both are
    reported)."""

    def __init__(self, base: str, key: str) -> None:
        import http.client
        from urllib.parse import urlsplit

        url = urlsplit(base)
        self.conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=120)
        self.auth = f"Bearer {key}"

    def request(self, method: str, path: str, body: bytes | None = None) -> int:
        headers = {"authorization": self.auth}
        if body is not None:
            headers["content-type"] = "application/json"
        self.conn.request(method, path, body=body, headers=headers)
        response = self.conn.getresponse()
        response.read()
        return response.status

    def close(self) -> None:
        self.conn.close()


def latency(base: str, key: str, people: list[tuple[str, str, bytes]], direct: Direct,
            rounds: int) -> dict:
    import httpx

    ms: dict[str, list[float]] = {k: [] for k in ("http", "direct", "floor", "light",
                                                   "light_floor")}
    statuses, light_statuses, direct_ok = [], [], 0
    bodies = [(uin, photo, auth_body(uin, photo)) for uin, _, photo in people]

    def timed(name: str, call):  # type: ignore[no-untyped-def]
        t = time.perf_counter()
        result = call()
        ms[name].append((time.perf_counter() - t) * 1e3)
        return result

    light = LightClient(base, key)
    with httpx.Client(base_url=base, headers={"authorization": f"Bearer {key}"},
                      timeout=60) as client:
        for uin, photo, body in bodies[:3]:  # warm-up: thread pools, models, connections
            authenticate(client, body)
            light.request("POST", "/v1/authenticate", body)
            direct.verify(uin, photo)
        for _ in range(rounds):  # interleaved, so both clients and the raw path share noise
            for uin, photo, body in bodies:
                statuses.append(timed("http", lambda: authenticate(client, body)))  # noqa: B023
                direct_ok += timed("direct", lambda: direct.verify(uin, photo))  # noqa: B023
                timed("floor", lambda: client.get(f"/v1/identities/{uin}")  # noqa: B023
                      .raise_for_status())
                light_statuses.append(timed("light", lambda: light.request(  # noqa: B023
                    "POST", "/v1/authenticate", body)))  # noqa: B023
                timed("light_floor", lambda: light.request(  # noqa: B023
                    "GET", f"/v1/identities/{uin}"))  # noqa: B023
    light.close()
    http, dr, lt = percentiles(ms["http"]), percentiles(ms["direct"]), percentiles(ms["light"])
    return {"http": {**http, "accepted": statuses.count(200)},
            "direct_pipeline": {**dr, "accepted": direct_ok},
            "service_floor_get_identity": percentiles(ms["floor"]),
            "ratio_p50": http["p50_ms"] / dr["p50_ms"], "ratio_p99": http["p99_ms"] / dr["p99_ms"],
            "light_client": {"http": {**lt, "accepted": light_statuses.count(200)},
                             "service_floor_get_identity": percentiles(ms["light_floor"]),
                             "ratio_p50": lt["p50_ms"] / dr["p50_ms"],
                             "ratio_p99": lt["p99_ms"] / dr["p99_ms"]},
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
    models = [m for m in args.models.split(",") if m]
    photos = choose_people(lfw_folder(args.faces), args.people, args.seed, models)
    result: dict = {"benchmark": "face_speed", "people": len(photos), "rounds": args.rounds,
                    "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                "load_average_start": os.getloadavg()},
                    "models": {}}
    for model in models:
        result["models"][model] = run_model(model, photos, args)
    cpu = {m: r["cpu_per_photo"]["mean_cpu_ms"] for m, r in result["models"].items()}
    if "sface" in cpu and "dlib" in cpu:
        result["cpu_ratio_sface_to_dlib"] = cpu["sface"] / cpu["dlib"]
        result["goal_cpu_ratio"] = 0.5
    return result


def run_model(model: str, photos: list[tuple[str, bytes, bytes]],
              args: argparse.Namespace) -> dict:
    import httpx

    out: dict = {"model": model}
    with tempfile.TemporaryDirectory(prefix=f"authd-speed-{model}-") as tmp:
        data_dir = Path(tmp)
        key = init_data_dir(data_dir, model)
        with running_server(data_dir, model, 1) as base:
            with httpx.Client(base_url=base, headers={"authorization": f"Bearer {key}"},
                              timeout=120) as client:
                people = enroll(client, photos)
                check_face_factor(client, people[0][0], people[0][2])
            firsts = {uin: next(f for n, f, _ in photos if n == name) for uin, name, _ in people}
            direct = Direct(model, people, firsts)
            out["enrolled"] = len(people)
            out["latency_1_face_worker"] = latency(base, key, people, direct, args.rounds)
            out["cpu_per_photo"] = direct.cpu_per_photo([p for _, _, p in people], 1)
            out["throughput"] = {"1": throughput(base, key, people, args.concurrency,
                                                 args.seconds)}
        with running_server(data_dir, model, 2) as base:
            out["throughput"]["2"] = throughput(base, key, people, args.concurrency,
                                                args.seconds)
    return out


def print_report(r: dict) -> None:
    print(f"\n{r['people']} people (load average at start "
          f"{r['machine']['load_average_start'][0]:.1f})")
    for model, m in r["models"].items():
        lat = m["latency_1_face_worker"]
        print(f"\n== {model}: {m['enrolled']} enrolled, {lat['http']['n']} authentications "
              f"each way ==")
        print(f"{'':28} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8} {'accepted':>9}")
        for name, s in (("HTTP POST /v1/authenticate", lat["http"]),
                        ("raw pipeline in-process", lat["direct_pipeline"])):
            print(f"{name:28} {s['p50_ms']:>8.1f} {s['p99_ms']:>8.1f} {s['mean_ms']:>8.1f} "
                  f"{s['accepted']:>9}")
        f = lat["service_floor_get_identity"]
        print(f"{'GET /v1/identities/{uin}':28} {f['p50_ms']:>8.1f} {f['p99_ms']:>8.1f} "
              f"{f['mean_ms']:>8.1f}   (API key + DB read, no face: the HTTP floor)")
        print(f"ratio HTTP/raw: p50 {lat['ratio_p50']:.3f}, p99 {lat['ratio_p99']:.3f} "
              f"(goal <= {lat['goal_ratio']})")
        lc = lat["light_client"]
        print(f"{'light client (http.client)':28} {lc['http']['p50_ms']:>8.1f} "
              f"{lc['http']['p99_ms']:>8.1f} {lc['http']['mean_ms']:>8.1f} "
              f"{lc['http']['accepted']:>9}   floor p50 "
              f"{lc['service_floor_get_identity']['p50_ms']:.1f} ms")
        print(f"ratio light HTTP/raw: p50 {lc['ratio_p50']:.3f}, p99 {lc['ratio_p99']:.3f}")
        c = m["cpu_per_photo"]
        print(f"CPU per photo (extract, 1 thread): mean {c['mean_cpu_ms']:.1f} ms, "
              f"p50 {c['p50_cpu_ms']:.1f} ms over {c['photos']} photos")
        for workers, t in m["throughput"].items():
            print(f"face workers={workers}: {t['auth_per_s']:.2f} authentications/s "
                  f"({t['accepted_per_s']:.2f} accepted/s) with {t['concurrency']} clients over "
                  f"{t['seconds']:.0f}s, statuses {t['by_status']}")
    if "cpu_ratio_sface_to_dlib" in r:
        print(f"\nCPU per photo sface / dlib: {r['cpu_ratio_sface_to_dlib']:.3f} "
              f"(goal <= {r['goal_cpu_ratio']})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_faces_argument(ap)
    ap.add_argument("--models", default=",".join(MODELS), help="comma-separated, in order")
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
