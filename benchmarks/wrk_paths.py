"""Single-request paths under `wrk` (a C load generator: not the bottleneck the Python client
is), with the server's CPU per request read from /proc, against the bare endpoint measured
with the same tool in the same run.

For each worker count (`authd serve --workers N`, SQLite in a temp data dir, or PostgreSQL +
Redis with --scale-out; limits opened as in otp_auth.py):
- authenticate: POST /v1/authenticate with a wrong OTP over many identities, each with a
  live OTP transaction (benchmarks/wrk/authenticate.lua; every call is a full refusal);
- introspect: POST /v1/tokens/introspect of a valid token (wrk/introspect.lua);
- jwks: GET /.well-known/jwks.json (wrk/jwks.lua);
- bare: POST /bare on benchmarks/bare_app.py under the same uvicorn settings (wrk/bare.lua);
then one connection, kept alive, sequential requests (wrk -t1 -c1) on jwks and bare: a
Nagle/delayed-ACK stall would show as a p50 near 40 ms.

    python benchmarks/wrk_paths.py [--seconds 8] [--connections 16] [--workers 1 2]
Needs wrk (Debian: apt-get install wrk); says so and exits 2 when it is missing.
Writes benchmarks/results/wrk_paths.json (or wrk_paths_scaleout.json).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks import otp_auth  # noqa: E402
from benchmarks.cpu import process_cpu_seconds, process_tree  # noqa: E402

WRK_DIR = otp_auth.ROOT / "benchmarks" / "wrk"
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}
EXTRA_ENV = {"AUTHD_OTP_MAX_ATTEMPTS": "10", "AUTHD_MAX_CONSECUTIVE_FAILURES": "100"}


def parse_wrk(out: str) -> dict[str, float]:
    def latency(pct: str) -> float:
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        return round(float(m.group(1)) * UNITS[m.group(2)], 3) if m else float("nan")

    total = re.search(r"(\d+) requests in ([\d.]+)(\w+),", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                       out)
    return {"requests": int(total.group(1)) if total else 0,
            "per_second": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "p50_ms": latency("50"), "p99_ms": latency("99"),
            "non_2xx": int(non2xx.group(1)) if non2xx else 0,
            "socket_errors": sum(map(int, errors.groups())) if errors else 0}


def wrk(url: str, script: str, args: list[str], pids: list[int], *, seconds: float,
        threads: int, connections: int) -> dict[str, float]:
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{round(seconds)}s", "--latency",
           "-s", str(WRK_DIR / script), url]
    if args:
        cmd += ["--", *args]
    before = process_cpu_seconds(pids)
    done = subprocess.run(cmd, capture_output=True, text=True)  # noqa: S603
    if done.returncode:
        raise RuntimeError(f"{' '.join(cmd[:8])} failed: {done.stderr or done.stdout}")
    out = done.stdout
    cpu = process_cpu_seconds(pids) - before
    result = parse_wrk(out)
    if result["requests"]:
        result["server_cpu_ms_per_request"] = round(cpu * 1000 / result["requests"], 3)
    return result


async def fixtures(port: int, data_dir: Path, key: str, identities: int) -> tuple[list[str], str]:
    """(UIN, txn_id) lines, one live OTP each, and one valid token."""
    headers = {"Authorization": f"Bearer {key}"}
    outbox = otp_auth.Outbox(data_dir / "outbox.jsonl")
    limits = httpx.Limits(max_connections=16)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits,
                                 timeout=60) as http:
        uins = await otp_auth.enroll_pool(http, headers, identities + 1)
        gate = asyncio.Semaphore(16)

        async def otp(uin: str) -> str:
            async with gate:
                r = await http.post("/v1/otp", headers=headers, json={
                    "individual_id": uin, "id_type": "uin", "channels": ["sms"]})
                r.raise_for_status()
                return r.json()["txn_id"]

        txns = await asyncio.gather(*(otp(u) for u in uins))
        token_uin, token_txn = uins[-1], txns[-1]
        r = await http.post("/v1/authenticate", headers=headers, json={
            "individual_id": token_uin, "id_type": "uin", "txn_id": token_txn,
            "factors": {"otp": await outbox.code(token_txn, timeout=60)}})
        r.raise_for_status()
        return [f"{u} {t}" for u, t in zip(uins[:-1], txns[:-1], strict=True)], r.json()["token"]


def run_servers(workers: int, args, tmp: Path) -> dict[str, object]:  # type: ignore[no-untyped-def]
    data_dir = tmp / f"w{workers}" / "data"
    key = otp_auth.first_key(data_dir)
    env = {**otp_auth.env_for(data_dir), **EXTRA_ENV}
    port, bare_port = otp_auth.free_port(), otp_auth.free_port()
    authd = otp_auth.start([str(otp_auth.BIN / "authd"), "serve", "--port", str(port),
                            "--workers", str(workers)], env, port)
    bare = otp_auth.start([str(otp_auth.BIN / "uvicorn"), "benchmarks.bare_app:app", "--port",
                           str(bare_port), "--workers", str(workers), "--no-access-log",
                           "--log-level", "warning"], env, bare_port)
    try:
        lines, token = asyncio.run(fixtures(port, data_dir, key, args.identities))
        pairs = tmp / f"pairs-{workers}.txt"
        pairs.write_text("\n".join(lines) + "\n")
        authd_pids, bare_pids = process_tree(authd.pid), process_tree(bare.pid)
        url, bare_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{bare_port}"
        load = {"seconds": args.seconds, "threads": args.threads,
                "connections": args.connections}
        paths = {
            "authenticate_wrong_otp": wrk(url, "authenticate.lua", [str(pairs), key],
                                          authd_pids, **load),
            "introspect": wrk(url, "introspect.lua", [token, key], authd_pids, **load),
            "jwks": wrk(url, "jwks.lua", [], authd_pids, **load),
            "bare": wrk(bare_url, "bare.lua", [], bare_pids, **load),
        }
        one = {"seconds": 3, "threads": 1, "connections": 1}
        keepalive = {"jwks": wrk(url, "jwks.lua", [], authd_pids, **one),
                     "bare": wrk(bare_url, "bare.lua", [], bare_pids, **one)}
    finally:
        otp_auth.stop(authd)
        otp_auth.stop(bare)
    return {"workers": workers, "paths": paths, "keepalive_one_connection": keepalive}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--identities", type=int, default=2000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--scale-out", action="store_true")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (Debian: apt-get install wrk): nothing measured")
    results = otp_auth.RESULTS.with_name("wrk_paths.json")
    if args.scale_out:
        otp_auth.enable_scale_out()
        results = results.with_name("wrk_paths_scaleout.json")
    database = "postgresql + redis" if args.scale_out else "sqlite"
    with tempfile.TemporaryDirectory(prefix="authd-wrk-") as tmp:
        runs = [run_servers(w, args, Path(tmp)) for w in args.workers]
    print(f"\nwrk -t{args.threads} -c{args.connections} -d{args.seconds:.0f}s, {database}; "
          "server CPU from /proc (utime+stime of the server's processes / requests)")
    print(f"{'workers':>7} {'path':<24} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'CPU ms/req':>10} {'vs bare req/s':>13} {'non-2xx':>8}")
    for run in runs:
        bare = run["paths"]["bare"]
        for name, r in run["paths"].items():
            ratio = r["per_second"] / bare["per_second"] if bare["per_second"] else 0
            print(f"{run['workers']:>7} {name:<24} {r['per_second']:>9.1f} {r['p50_ms']:>8} "
                  f"{r['p99_ms']:>8} {r.get('server_cpu_ms_per_request', 0):>10} "
                  f"{ratio:>13.3f} {r['non_2xx']:>8}")
        for name, r in run["keepalive_one_connection"].items():
            print(f"{run['workers']:>7} {'keep-alive 1 conn ' + name:<24} {r['per_second']:>9.1f} "
                  f"{r['p50_ms']:>8} {r['p99_ms']:>8} {r.get('server_cpu_ms_per_request', 0):>10}")
    results.write_text(json.dumps({"database": database, "threads": args.threads,
                                   "connections": args.connections, "seconds": args.seconds,
                                   "runs": runs}, indent=2) + "\n")
    print(f"\nwrote {results.relative_to(otp_auth.ROOT)}")


if __name__ == "__main__":
    main()
