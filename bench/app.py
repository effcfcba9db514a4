"""Benchmark the application server: one gunicorn worker, SQLite, the populated sample data.

A fresh data directory is migrated, collected and populated, then ``sampleapp serve --workers 1``
runs in production mode (cached templates, DEBUG off, a real SECRET_KEY) on a free loopback
port. After signing in as the example user through the real form, ``wrk`` measures four pages
for 10 s each, first with one connection (the latency a single user sees, the thesis's
per-page figure) and then with eight (the worker's throughput). Every response must be 2xx/3xx,
and the signed-in pages are checked to be the signed-in versions before they are measured.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.measure import free_port, sign_in, wrk
from bench.report import table, write_section

ROOT = Path(__file__).resolve().parents[1]
SAMPLEAPP = str(Path(sys.executable).parent / "sampleapp")
DURATION = 10
CONNECTIONS = (1, 8)


def prepare(env: dict[str, str]) -> None:
    for args in (["migrate", "-v0"], ["collectstatic", "--noinput", "-v0"], ["populate"]):
        subprocess.run([SAMPLEAPP, "manage", *args], env=env, check=True, cwd=ROOT)


def wait_ready(base: str, server: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the app server exited with {server.returncode}")
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{base}/readyz did not answer 200 within {timeout:.0f} s")


def main() -> None:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: install Debian's `wrk` package (make system-deps)")
    data = Path(tempfile.mkdtemp(prefix="sampleapp-bench-"))
    env = {
        **os.environ,
        "SAMPLEAPP_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "SAMPLEAPP_DATA_DIR": str(data),
        "DATABASE_URL": f"sqlite:///{data / 'db.sqlite3'}",
        "EMAIL_URL": "console://",
        "STATIC_ROOT": str(data / "static"),
        "INSTANCE_ID": "bench",
        "DJANGO_SETTINGS_MODULE": "sampleapp.web.settings",
    }
    load_before = os.getloadavg()[0]
    print("▶ Preparing a fresh SQLite database with the sample data")
    prepare(env)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = (data / "server.log").open("w")
    server = subprocess.Popen(
        [SAMPLEAPP, "serve", "--workers", "1", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_ready(base, server)
        cookie = sign_in(base)
        pages = [
            ("Home, signed out", "/", None),
            ("Home with feed (signed in, example user)", "/", cookie),
            ("Users index (signed in)", "/users", cookie),
            ("Profile of user 3 (signed in, 50 posts)", "/users/3", cookie),
        ]
        for _, path, page_cookie in pages:
            wrk(base + path, 2, 2, page_cookie)  # warm up: templates, connections
        rows = []
        for name, path, page_cookie in pages:
            for connections in CONNECTIONS:
                print(f"▶ wrk {DURATION} s, {connections} connection(s): {name}")
                r = wrk(base + path, connections, DURATION, page_cookie)
                rows.append(
                    [
                        name,
                        connections,
                        f"{r['rps']:.0f}",
                        f"{r['p50']:.2f} ms",
                        f"{r['p99']:.2f} ms",
                    ]
                )
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
        log.close()
        shutil.rmtree(data, ignore_errors=True)
    body = (
        f"`sampleapp serve --workers 1` (gunicorn gthread, 4 threads), `SAMPLEAPP_ENV=production`, "
        f"SQLite with the populated sample data, loopback. `wrk -t1 -d{DURATION}s --latency`, "
        "after a warm-up. The thesis's Rails app took 18-19 ms per page; the target for the "
        "signed-in feed is a p50 under 10 ms at one connection. Load average (1 min) before and "
        f"after the run: {load_before:.1f} / {os.getloadavg()[0]:.1f} (other jobs on the machine "
        "share its 2 cores).\n\n" + table(["Page", "Connections", "Requests/s", "p50", "p99"], rows)
    )
    print(body)
    write_section("app", "Application (gunicorn, 1 worker)", body)


if __name__ == "__main__":
    main()
