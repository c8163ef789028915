"""Where one OTP flow's server CPU goes: py-spy samples a real `authd serve` under load.

Starts `authd serve --workers 1` (SQLite in a temp data dir, or PostgreSQL + Redis with
--scale-out), attaches `py-spy record` (every thread, CPU samples only) while the client of
benchmarks/otp_auth.py drives complete OTP flows (POST /v1/otp + POST /v1/authenticate),
then folds the stacks into a table: inclusive and self share of the samples per function,
and per library, with the server CPU per flow read from /proc/<pid>/stat.

    python benchmarks/profile_otp.py [--seconds 15] [--out benchmarks/results/profile.txt]
    python benchmarks/profile_otp.py --code /tmp/authd-start --out .../profile_before.txt

Needs py-spy (`pip install py-spy`); says so and exits 2 when it is missing.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks import otp_auth  # noqa: E402
from benchmarks.cpu import process_cpu_seconds  # noqa: E402

RATE = 250  # samples per second
# Leaves py-spy counts as running though the thread waits (a lock, a queue, the event loop's
# poll in C): dropped, so the shares are of work done.
# SQLite's writer lock (a thread lock, then an flock) is a wait on every line of acquire.
WAITS = ("Condition.wait ", "Runner.run ", "WriterLock.acquire ",
         "Queue.get ", "Event.wait ", "select ", "_worker ")
LIBRARIES = (  # path fragment -> label, first match wins
    ("/authd/", "authd"), ("/keys/", "keys"), ("sqlalchemy", "sqlalchemy"),
    ("sqlite3", "sqlite3"), ("psycopg", "psycopg"), ("redis", "redis"), ("pydantic", "pydantic"),
    ("fastapi", "fastapi"), ("starlette", "starlette"), ("uvicorn", "uvicorn"),
    ("anyio", "anyio"), ("asyncio", "asyncio"), ("logging", "logging"), ("json", "json"),
    ("cryptography", "cryptography"), ("threading", "threading"),
)


def fold(raw: Path) -> tuple[int, collections.Counter, collections.Counter, collections.Counter]:
    """Total samples, inclusive and self samples per frame, self samples per library."""
    total, inclusive, own, libs = 0, collections.Counter(), collections.Counter(), \
        collections.Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():  # a frame name py-spy split over two lines
            continue
        frames = [f for f in stack.split(";") if f and not f.startswith(("process ", "thread "))]
        if not frames or frames[-1].startswith(WAITS):
            continue
        n = int(count)
        total += n
        for frame in set(frames):
            inclusive[frame] += n
        own[frames[-1]] += n
        libs[library(frames[-1])] += n
    return total, inclusive, own, libs


def library(frame: str) -> str:
    return next((label for part, label in LIBRARIES if part in frame), "other")


def report(raw: Path, flows: int, cpu_seconds: float, seconds: float, label: str) -> str:
    total, inclusive, own, libs = fold(raw)
    per_flow_ms = cpu_seconds * 1000 / flows if flows else float("nan")
    lines = [f"authd serve --workers 1, {label}: {flows} OTP flows in {seconds:.0f} s "
             f"({flows / seconds:.1f}/s) under py-spy ({RATE} Hz, all threads, CPU only)",
             f"server CPU (utime+stime, /proc): {cpu_seconds:.2f} s = {per_flow_ms:.2f} ms "
             f"per flow = {per_flow_ms / 2:.2f} ms per request; {total} samples of work "
             "(waits on locks, queues and the event loop's poll dropped; SQLite's commit "
             "includes the WAL's fsync, a system call py-spy counts as running)", "",
             "share of samples by library (self time):"]
    lines += [f"  {n / total:6.1%}  {lib}" for lib, n in libs.most_common()]
    lines += ["", "top 40 functions by inclusive share (a frame counted once per stack):"]
    lines += [f"  {n / total:6.1%}  {frame}" for frame, n in inclusive.most_common(40)]
    lines += ["", "top 30 functions by self share:"]
    lines += [f"  {n / total:6.1%}  {frame}" for frame, n in own.most_common(30)]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--scale-out", action="store_true")
    parser.add_argument("--code", type=Path, default=None,
                        help="an authd source tree to profile instead of this one (e.g. a "
                        "`git archive` of an older commit)")
    parser.add_argument("--out", type=Path,
                        default=otp_auth.ROOT / "benchmarks/results/profile_otp.txt")
    args = parser.parse_args()
    pyspy = shutil.which("py-spy", path=str(otp_auth.BIN)) or shutil.which("py-spy")
    if pyspy is None:
        sys.exit("py-spy is not installed (pip install py-spy): nothing profiled")
    if args.scale_out:
        otp_auth.enable_scale_out()
    label = "postgresql + redis" if args.scale_out else "sqlite"
    with tempfile.TemporaryDirectory(prefix="authd-prof-") as tmp:
        data_dir, raw = Path(tmp) / "data", Path(tmp) / "raw.txt"
        if args.code is not None:
            otp_auth.SERVER_CODE[data_dir] = args.code.resolve()
        key, port = otp_auth.first_key(data_dir), otp_auth.free_port()
        server = otp_auth.start(otp_auth.authd_cmd("serve", "--port", str(port), "--workers",
                                                   "1"), otp_auth.env_for(data_dir), port)
        try:
            pids = otp_auth.server_pids(server)
            spy = subprocess.Popen([pyspy, "record", "--pid", str(server.pid), "-r", str(RATE),  # noqa: S603
                                    "-f", "raw", "-o", str(raw), "--nonblocking"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            before = process_cpu_seconds(pids)
            flows = asyncio.run(otp_auth.bench_authd(port, data_dir, key, args))
            cpu = process_cpu_seconds(pids) - before
            spy.send_signal(2)
            spy.wait(30)
        finally:
            otp_auth.stop(server)
        text = report(raw, flows["count"], cpu, args.seconds, label)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
