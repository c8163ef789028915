"""Enrollment throughput (photos per second) against the raw encoding rate, per model.

    python benchmarks/enroll_throughput.py              # 120 LFW people, sface then dlib
    python benchmarks/enroll_throughput.py --people 30  # quick check
    python benchmarks/enroll_throughput.py --faces DIR  # the corpus elsewhere

Four ways of turning the same N photos of N different people into enrolled templates, for
each model (AUTHD_FACE_MODEL):

1. raw encoding, 1 process: matching.worker in a 1-process pool (the ceiling of one core);
2. raw encoding, 2 processes: matching.worker in a 2-process pool (the ceiling of the machine;
   each worker runs OpenCV on one thread);
3. `authd enroll-batch --processes 1` and `--processes 2` (encode + 1:N dedup + seal + store
   + audit, in a fresh data directory each);
4. HTTP: POST /v1/identities then PUT /v1/identities/{uin}/face from 4 concurrent clients,
   against `authd serve` with AUTHD_FACE_WORKERS=1 and =2.

Prints a table of photos/s and the ratio to the matching raw rate; writes
benchmarks/results/enroll_throughput.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import multiprocessing
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.face_speed import (  # noqa: E402
    AUTHD,
    b64,
    choose_people,
    init_data_dir,
    running_server,
    server_env,
)
from benchmarks.lfw_data import MODELS, RESULTS, add_faces_argument, lfw_folder  # noqa: E402
from matching import worker  # noqa: E402
from matching.pipeline import PipelineSettings  # noqa: E402


def raw_rate(photos: list[bytes], processes: int, model: str) -> float:
    context = multiprocessing.get_context("spawn")
    settings = PipelineSettings(model=model)
    with context.Pool(processes, initializer=worker.init, initargs=(settings,)) as pool:
        for ready in [pool.apply_async(worker.ping) for _ in range(processes)]:
            ready.get()  # models loaded before the clock starts
        started = time.perf_counter()
        for _ in pool.imap(_extract_or_code, photos, chunksize=4):
            pass
        return len(photos) / (time.perf_counter() - started)


def _extract_or_code(data: bytes) -> str:
    try:
        worker.extract(data)
        return "ok"
    except Exception as exc:  # a refused photo still cost its encoding time
        return type(exc).__name__


def batch_rate(people: list[tuple[str, bytes, bytes]], processes: int, model: str) -> dict:
    from authd.registry.uin import new_uin

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        rows = []
        for i, (_, photo, _) in enumerate(people):
            path = root / f"p{i}.jpg"
            path.write_bytes(photo)
            rows.append((new_uin(), path.name))
        manifest = root / "m.csv"
        with manifest.open("w", newline="") as handle:
            csv.writer(handle).writerows([("uin", "image"), *rows])
        data_dir = root / "data"
        init_data_dir(data_dir, model)
        started = time.perf_counter()
        subprocess.run(  # noqa: S603 - our own CLI, fixed argv
            [str(AUTHD), "enroll-batch", str(manifest), "--processes", str(processes)],
            env=server_env(data_dir, model), check=True, capture_output=True, timeout=3600)
        seconds = time.perf_counter() - started
        report = json.loads((root / "m-report.json").read_text())["summary"]
    return {"photos_per_s": len(people) / seconds, "seconds": seconds, "summary": report,
            "note": "wall time of the whole command, including start-up and model loading"}


def http_rate(people: list[tuple[str, bytes, bytes]], face_workers: int, model: str,
              clients: int = 4) -> dict:
    import httpx

    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        data_dir.mkdir()
        key = init_data_dir(data_dir, model)
        with running_server(data_dir, model, face_workers) as base:
            queue = list(enumerate(people))
            lock, statuses = threading.Lock(), []

            def run() -> None:
                with httpx.Client(base_url=base, timeout=120,
                                  headers={"Authorization": f"Bearer {key}"}) as http:
                    while True:
                        with lock:
                            if not queue:
                                return
                            _, (_, photo, _) = queue.pop()
                        uin = http.post("/v1/identities", json={}).json()["uin"]
                        r = http.put(f"/v1/identities/{uin}/face", json={"image_b64": b64(photo)})
                        with lock:
                            statuses.append(r.status_code)

            threads = [threading.Thread(target=run) for _ in range(clients)]
            started = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            seconds = time.perf_counter() - started
    counts = {str(s): statuses.count(s) for s in sorted(set(statuses))}
    return {"photos_per_s": len(people) / seconds, "seconds": seconds, "statuses": counts}


def run_model(model: str, people: list[tuple[str, bytes, bytes]]) -> dict:
    photos = [p[1] for p in people]
    raw = {1: raw_rate(photos, 1, model), 2: raw_rate(photos, 2, model)}
    rows = [("raw encoding, processes", 1, raw[1]), ("raw encoding, processes", 2, raw[2])]
    result: dict = {"raw_photos_per_s": raw, "batch": {}, "http": {}}
    for n in (1, 2):
        result["batch"][n] = batch_rate(people, n, model)
        rows.append(("enroll-batch --processes", n, result["batch"][n]["photos_per_s"]))
    for n in (1, 2):
        result["http"][n] = http_rate(people, n, model)
        rows.append(("HTTP, face workers", n, result["http"][n]["photos_per_s"]))
    # The machine's ceiling for every path is raw encoding on 2 processes.
    print(f"\n== {model} ==\n{'path':<28}{'n':>3}{'photos/s':>10}{'vs raw, 2 processes':>22}")
    for name, n, rate in rows:
        print(f"{name:<28}{n:>3}{rate:>10.2f}{rate / raw[2]:>22.2f}")
    result["ratios_vs_raw_2_processes"] = {f"{name} {n}": rate / raw[2] for name, n, rate in rows}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_faces_argument(parser)
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated, in order")
    parser.add_argument("--people", type=int, default=120)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    models = [m for m in args.models.split(",") if m]
    people = choose_people(lfw_folder(args.faces), args.people, args.seed, models)
    result: dict = {"people": len(people), "models": {m: run_model(m, people) for m in models},
                    "machine": {"cpus": multiprocessing.cpu_count(),
                                "python": platform.python_version()}}
    out = RESULTS / "enroll_throughput.json"
    out.write_text(json.dumps(result, indent=2, default=str))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
