"""OTP authentication throughput: authd under real uvicorn on loopback vs a bare endpoint.

For 1 and 2 workers (`authd serve --workers N`, SQLite in a temp data dir; uvicorn's default
loop/HTTP: uvloop + httptools):
- complete OTP flows per second (POST /v1/otp, read the code from the outbox file,
  POST /v1/authenticate), p50/p99 per flow, an async httpx client with bounded concurrency
  over a bounded duration;
- the same client doing two POSTs to a bare FastAPI endpoint (benchmarks/bare_app.py) under
  the same server: the ceiling, and the ratio;
- keep-alive latency of the bare endpoint with one sequential client (the Nagle/delayed-ACK
  40 ms stall would show here as p50 ~40 ms).
Then token verifications per second through keys.verify_jwt vs raw Ed25519 verification.

    python benchmarks/otp_auth.py [--seconds 8] [--concurrency 16] [--rounds 3 --compare TREE]
Writes benchmarks/results/otp_auth.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.cpu import process_cpu_seconds, process_tree  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
RESULTS = ROOT / "benchmarks" / "results" / "otp_auth.json"
CODE = re.compile(r"\b(\d{6})\b")
OPEN_LIMITS = {  # throughput, not throttling, is measured here (the limiter still runs)
    "AUTHD_RATE_ID_PER_MINUTE": "1000000", "AUTHD_RATE_ID_BURST": "1000000",
    "AUTHD_RATE_RP_PER_SECOND": "1000000", "AUTHD_RATE_RP_BURST": "1000000",
    "AUTHD_OTP_RESEND_COOLDOWN_SECONDS": "0", "AUTHD_LOG_LEVEL": "WARNING",
    "AUTHD_FACES_ENABLED": "false",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SCALE_OUT: dict[str, str] = {}  # set by --scale-out: PostgreSQL records, Redis rate limits


def enable_scale_out() -> None:
    SCALE_OUT.update(pg="postgresql+psycopg://postgres@127.0.0.1:5432/test",
                     redis="redis://127.0.0.1:6379/0")


SERVER_CODE: dict[Path, Path] = {}  # data dir -> the authd source tree its servers run


SQLITE_SYNC = {"value": "FULL"}  # set per run by --synchronous


def env_for(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHD_")}
    env.update(OPEN_LIMITS, AUTHD_DATA_DIR=str(data_dir),
               AUTHD_SQLITE_SYNCHRONOUS=SQLITE_SYNC["value"])
    if data_dir in SERVER_CODE:  # e.g. a checkout of the commit before a change (--compare)
        env["PYTHONPATH"] = str(SERVER_CODE[data_dir])
    if SCALE_OUT:
        schema = f"bench_{data_dir.parent.name.lower().replace('-', '_')}"
        env.update(AUTHD_REDIS_URL=SCALE_OUT["redis"], AUTHD_DATABASE_URL=fresh_schema(schema))
    return env


def fresh_schema(schema: str) -> str:
    """A PostgreSQL schema of its own for one server's data dir (made once, idempotent)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(SCALE_OUT["pg"], isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    engine.dispose()
    return f"{SCALE_OUT['pg']}?options=-csearch_path%3D{schema}"


# The `authd` command of whichever source tree PYTHONPATH names (--compare runs an older
# tree, whose entry point may be authd.cli:main rather than authd.cli.main:main).
# `python -c` puts the working directory (this tree) first on sys.path, before PYTHONPATH:
# dropped, or a --compare tree would run this tree's code.
_ENTRY = ("import sys\nsys.path[:] = [p for p in sys.path if p not in ('', '.')]\n"
          "try:\n    from authd.cli.main import main\nexcept ImportError:\n"
          "    from authd.cli import main\nmain()")


def authd_cmd(*args: str) -> list[str]:
    return [sys.executable, "-c", _ENTRY, *args]


def first_key(data_dir: Path) -> str:
    out = subprocess.run(authd_cmd("init"), env=env_for(data_dir),  # noqa: S603
                         check=True, capture_output=True, text=True).stdout
    match = re.search(r"authd_[A-Za-z0-9]{12}_[A-Za-z0-9_-]+", out)
    assert match, out
    return match.group(0)


def start(cmd: list[str], env: dict[str, str], port: int) -> subprocess.Popen:
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL,  # noqa: S603
                            stderr=subprocess.PIPE, cwd=ROOT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                time.sleep(0.5 if "--workers" in " ".join(cmd) else 0.1)  # let workers boot
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"server did not start: {proc.stderr.read().decode()[-2000:]}")


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()


class Outbox:
    """Tails data_dir/outbox.jsonl (the embedded SMS gateway) and maps txn_id -> code."""

    def __init__(self, path: Path) -> None:
        self.path, self.offset, self.codes, self.partial = path, 0, {}, b""

    def _read(self) -> None:
        if not self.path.exists():
            return
        with self.path.open("rb") as f:
            f.seek(self.offset)
            data = f.read()
        self.offset += len(data)
        lines = (self.partial + data).split(b"\n")
        self.partial = lines.pop()
        for line in lines:
            msg = json.loads(line)
            self.codes[msg["txn_id"]] = CODE.search(msg["text"]).group(1)

    async def code(self, txn_id: str, timeout: float = 10) -> str:
        deadline = time.monotonic() + timeout
        while txn_id not in self.codes:
            if time.monotonic() > deadline:
                raise TimeoutError(txn_id)
            self._read()
            if txn_id not in self.codes:
                await asyncio.sleep(0.0005)
        return self.codes.pop(txn_id)


def summary(latencies: list[float], seconds: float, errors: int) -> dict[str, float]:
    ordered = sorted(latencies)
    pick = (lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000) \
        if ordered else (lambda q: float("nan"))
    return {"per_second": round(len(latencies) / seconds, 1), "p50_ms": round(pick(0.5), 2),
            "p99_ms": round(pick(0.99), 2), "count": len(latencies), "errors": errors}


async def drive(flow, workers: int, seconds: float) -> dict[str, float]:  # type: ignore[no-untyped-def]
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def worker(i: int) -> None:
        nonlocal errors
        n = 0
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                await flow(i, n)
                latencies.append(time.perf_counter() - started)
            except Exception:
                errors += 1
            n += 1

    began = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(workers)))
    return summary(latencies, time.perf_counter() - began, errors)


async def enroll_pool(http: httpx.AsyncClient, headers: dict, n: int) -> list[str]:
    async def one(i: int) -> str:
        r = await http.post("/v1/identities", headers=headers,
                            json={"name": f"Bench {i}", "phone": f"+2126{i:08d}"})
        r.raise_for_status()
        return r.json()["uin"]

    return list(await asyncio.gather(*(one(i) for i in range(n))))


async def bench_authd(port: int | list[int], data_dir: Path, key: str, args,  # type: ignore[no-untyped-def]
                      pids: list[int] | None = None) -> dict[str, float]:
    """OTP flows; with several ports (replicas), client i talks to replica i % len(ports)."""
    ports = port if isinstance(port, list) else [port]
    headers = {"Authorization": f"Bearer {key}"}
    outbox = Outbox(data_dir / "outbox.jsonl")
    limits = httpx.Limits(max_connections=args.concurrency)
    clients = [httpx.AsyncClient(base_url=f"http://127.0.0.1:{p}", limits=limits, timeout=30)
               for p in ports]
    try:
        per_worker = 4  # one live OTP per person and program: workers never share a person
        pool = await enroll_pool(clients[0], headers, args.concurrency * per_worker)

        async def flow(i: int, n: int) -> None:
            http = clients[i % len(clients)]
            uin = pool[i * per_worker + n % per_worker]
            r = await http.post("/v1/otp", headers=headers, json={
                "individual_id": uin, "id_type": "uin", "channels": ["sms"]})
            r.raise_for_status()
            txn = r.json()["txn_id"]
            r = await http.post("/v1/authenticate", headers=headers, json={
                "individual_id": uin, "id_type": "uin", "txn_id": txn,
                "factors": {"otp": await outbox.code(txn)}})
            r.raise_for_status()

        await drive(flow, args.concurrency, 1.0)  # warm-up
        return await measured(flow, args.concurrency, args.seconds, pids, requests_per_flow=2)
    finally:
        for http in clients:
            await http.aclose()


async def measured(flow, workers: int, seconds: float, pids: list[int] | None,  # type: ignore[no-untyped-def]
                   requests_per_flow: int) -> dict[str, float]:
    """`drive`, plus the server's CPU per request over the same interval (from /proc)."""
    before = process_cpu_seconds(pids or [])
    result = await drive(flow, workers, seconds)
    cpu = process_cpu_seconds(pids or []) - before
    requests = result["count"] * requests_per_flow
    if pids and requests:
        result["server_cpu_ms_per_request"] = round(cpu * 1000 / requests, 3)
    return result


def server_pids(proc: subprocess.Popen) -> list[int]:
    """The server process and its workers (call after start(): the workers are up)."""
    return process_tree(proc.pid)


async def bench_bare(port: int, args, concurrency: int, seconds: float,  # type: ignore[no-untyped-def]
                     pids: list[int] | None = None) -> dict[str, float]:
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits,
                                 timeout=30) as http:
        async def flow(i: int, n: int) -> None:  # two requests, as an OTP flow makes
            for _ in range(2):
                (await http.post("/bare", json={"individual_id": "234567890124"})) \
                    .raise_for_status()

        await drive(flow, concurrency, 1.0)
        return await measured(flow, concurrency, seconds, pids, requests_per_flow=2)


async def keepalive_latency(port: int, path: str, seconds: float = 2.0) -> dict[str, float]:
    """One client, one kept-alive connection, sequential small POSTs."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
        latencies, deadline = [], time.perf_counter() + seconds
        await http.post(path, json={"a": 1})
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            await http.post(path, json={"a": 1})
            latencies.append(time.perf_counter() - started)
    return summary(latencies, seconds, 0)


def start_authd(data_dir: Path, workers: int, replicas: int) -> tuple[list[subprocess.Popen],
                                                                        list[int]]:
    """`replicas` servers (each `--workers N`) on one data dir and database; their ports."""
    ports = [free_port() for _ in range(replicas)]
    procs = []
    try:
        for port in ports:
            procs.append(start(authd_cmd("serve", "--port", str(port), "--workers",
                                         str(workers)), env_for(data_dir), port))
    except BaseException:
        for proc in procs:
            stop(proc)
        raise
    return procs, ports


def bench_code(workers: int, replicas: int, code: Path | None, args) -> dict[str, object]:  # type: ignore[no-untyped-def]
    with tempfile.TemporaryDirectory(prefix="authd-bench-") as tmp:
        data_dir = Path(tmp) / "data"
        if code is not None:
            SERVER_CODE[data_dir] = code
        key = first_key(data_dir)
        procs, ports = start_authd(data_dir, workers, replicas)
        try:
            pids = [pid for proc in procs for pid in server_pids(proc)]
            result = asyncio.run(bench_authd(ports, data_dir, key, args, pids))
        finally:
            for proc in procs:
                stop(proc)
        result["audit_verify"] = audit_verify(data_dir)
        return result


def audit_verify(data_dir: Path) -> str:
    """`authd audit verify` on what the servers wrote: its exit code and summary lines."""
    done = subprocess.run(authd_cmd("audit", "verify"), env=env_for(data_dir),  # noqa: S603
                          capture_output=True, text=True)
    lines = (done.stdout + done.stderr).strip().splitlines()
    return f"exit {done.returncode}: " + " | ".join(lines[-3:])


def run_servers(workers: int, args, replicas: int = 1) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """`args.rounds` runs of this tree (and of `--compare`, alternating which goes first);
    each figure is the median over the rounds (one 8 s run on this shared machine varied by
    up to 1.6x from the next)."""
    afters: list[dict] = []
    befores: list[dict] = []
    for i in range(args.rounds):
        pair: list[tuple[list[dict], Path | None]] = [(afters, None)]
        if args.compare:
            pair.append((befores, args.compare))
        for runs, code in (pair if i % 2 == 0 else pair[::-1]):
            runs.append(bench_code(workers, replicas, code, args))
    flows = median_run(afters)
    before = median_run(befores) if args.compare else None
    with tempfile.TemporaryDirectory(prefix="authd-bench-") as tmp:
        bare_port = free_port()
        bare = start([str(BIN / "uvicorn"), "benchmarks.bare_app:app", "--port",
                      str(bare_port), "--workers", str(workers * replicas), "--no-access-log",
                      "--log-level", "warning"], env_for(Path(tmp) / "data"), bare_port)
        try:
            ceiling = asyncio.run(bench_bare(bare_port, args, args.concurrency, args.seconds,
                                             server_pids(bare)))
            nagle = asyncio.run(keepalive_latency(bare_port, "/bare"))
        finally:
            stop(bare)
    ratio = flows["per_second"] / ceiling["per_second"] if ceiling["per_second"] else 0
    run = {"workers": workers, "replicas": replicas, "synchronous": SQLITE_SYNC["value"],
           "otp_flows": flows, "bare_flows": ceiling,
           "ratio": round(ratio, 3), "bare_keepalive_sequential": nagle}
    if before is not None:
        run["before"] = {"code": str(args.compare), "otp_flows": before,
                         "after_over_before": round(flows["per_second"] / before["per_second"],
                                                    3) if before["per_second"] else None}
    return run


def median_run(runs: list[dict]) -> dict:
    """Each numeric figure's median over the runs, the runs' flows/s kept, and every audit
    verification that did not pass (else the last one's line)."""
    out: dict = {}
    for key in runs[0]:
        values = [r[key] for r in runs if key in r]
        if key in ("count", "errors"):
            out[key] = sum(values)
        elif all(isinstance(v, (int, float)) for v in values):
            out[key] = round(statistics.median(values), 3)
        else:
            bad = [v for v in values if not str(v).startswith("exit 0")]
            out[key] = "; ".join(map(str, bad)) if bad else values[-1]
    out["rounds_per_second"] = [r["per_second"] for r in runs]
    return out


def token_verification(seconds: float = 2.0) -> dict[str, float]:
    from keys import KeyRing, sign_jwt, verify_jwt

    with tempfile.TemporaryDirectory() as tmp:
        ring = KeyRing.load_or_create(Path(tmp) / "ring", b"\x11" * 32, int(time.time()))
    key, now = ring.active, int(time.time())
    claims = {"iss": "https://authd.local", "aud": "program-a", "sub": "x" * 32, "iat": now,
              "nbf": now, "exp": now + 300, "jti": "j" * 24, "amr": ["otp"],
              "acr": "urn:authd:acr:1", "txn": "t" * 24}
    token = sign_jwt(claims, key, typ="authd-id+jwt")
    public = key.public_key
    lookup = {key.kid: public}.get
    signing_input, _, sig = token.rpartition(".")
    from keys.encoding import b64url_decode

    signature, message = b64url_decode(sig), signing_input.encode()

    def rate(fn) -> float:  # type: ignore[no-untyped-def]
        n, deadline = 0, time.perf_counter() + seconds
        began = time.perf_counter()
        while time.perf_counter() < deadline:
            for _ in range(100):
                fn()
            n += 100
        return n / (time.perf_counter() - began)

    ours = rate(lambda: verify_jwt(token, keys=lookup, audience="program-a",
                                   issuer="https://authd.local", now=now, typ="authd-id+jwt"))
    raw = rate(lambda: public.verify(signature, message))
    return {"authd_verify_jwt_per_second": round(ours), "raw_ed25519_per_second": round(raw),
            "ratio": round(ours / raw, 3)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--scale-out", action="store_true",
                        help="PostgreSQL (127.0.0.1:5432/test) and Redis (127.0.0.1:6379)")
    parser.add_argument("--replicas", type=int, nargs="+", default=[1],
                        help="separate servers sharing the database, one per port")
    parser.add_argument("--rounds", type=int, default=1, help="runs per setup (and per "
                        "--compare tree, alternating); figures are the medians")
    parser.add_argument("--compare", type=Path, default=None, help="an authd source tree "
                        "(e.g. `git archive` of an older commit) measured in the same run")
    parser.add_argument("--synchronous", nargs="+", default=["FULL"], choices=["FULL", "NORMAL"],
                        help="SQLite synchronous settings to run (FULL NORMAL: the price of "
                        "durability, as a ratio in the same run)")
    args = parser.parse_args()
    global RESULTS
    if args.scale_out:
        enable_scale_out()
        RESULTS = RESULTS.with_name("otp_auth_scaleout.json")
    database = "postgresql + redis" if args.scale_out else "sqlite"
    runs = []
    for sync in (["FULL"] if args.scale_out else args.synchronous):  # PostgreSQL: n/a
        SQLITE_SYNC["value"] = sync
        runs += [run_servers(w, args, r) for r in args.replicas for w in args.workers]
    tokens = token_verification()
    print(f"\nOTP flows (request + outbox + authenticate), {database}, concurrency "
          f"{args.concurrency}, {args.seconds:.0f} s; uvicorn (uvloop + httptools)")
    print(f"{'repl x wk':>9} {'sync':>6} | {'authd flows/s':>13} {'p50 ms':>7} {'p99 ms':>7} "
          f"{'err':>4} {'CPU ms/req':>10} | {'bare flows/s':>12} {'CPU ms/req':>10} | "
          f"{'ratio':>6} | "
          f"{'bare keep-alive p50/p99 ms':>26}")
    for run in runs:
        f, b, k = run["otp_flows"], run["bare_flows"], run["bare_keepalive_sequential"]
        print(f"{run['replicas']:>4} x {run['workers']:<2} {run['synchronous']:>6} | "
              f"{f['per_second']:>13} "
              f"{f['p50_ms']:>7} {f['p99_ms']:>7} {f['errors']:>4} "
              f"{f.get('server_cpu_ms_per_request', '-'):>10} | {b['per_second']:>12} "
              f"{b.get('server_cpu_ms_per_request', '-'):>10} | {run['ratio']:>6} | "
              f"{k['p50_ms']:>12} / {k['p99_ms']:<11}")
        if "before" in run:
            old = run["before"]["otp_flows"]
            print(f"{'  before':>9} | {old['per_second']:>13} {old['p50_ms']:>7} "
                  f"{old['p99_ms']:>7} {old['errors']:>4} "
                  f"{old.get('server_cpu_ms_per_request', '-'):>10} | after/before flows/s "
                  f"{run['before']['after_over_before']}")
    print(f"\nToken verification: keys.verify_jwt {tokens['authd_verify_jwt_per_second']}/s, "
          f"raw Ed25519 {tokens['raw_ed25519_per_second']}/s, ratio {tokens['ratio']}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "platform": platform.platform()},
        "concurrency": args.concurrency, "seconds": args.seconds, "rounds": args.rounds,
        "database": database,
        "server": "uvicorn, loop auto (uvloop), http auto (httptools)",
        "runs": runs, "token_verification": tokens}, indent=2) + "\n")
    print(f"\nwrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
