"""Benchmark the one-host stack: cold start, throughput through the proxy, and nginx's ceiling.

A stack of its own (project ``sampleapp-bench``, a free port and subnet, throwaway secrets) is
started from images already built: first cold (fresh volumes: initdb, migrate, populate), then
warm (``down`` keeping the volumes, ``up`` again). ``wrk`` then measures, on 127.0.0.1 through
the proxy, the home page signed out and the feed signed in, with 3 app servers and with 1; and
the same home page's bytes served by nginx as a static file, the ceiling any app page can reach.
"""

from __future__ import annotations

import os
import secrets
import sys
import tempfile
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.measure import free_port, page_rows, sign_in, timed, wrk
from bench.report import table, write_section
from sampleapp.ops import compose, engine, images, stack
from sampleapp.progress import Progress
from tests.support.docker import free_subnet

DURATION = 10
CONNECTIONS = (1, 8)


def main() -> None:
    engine.ensure_engine()
    secrets_dir = Path(tempfile.mkdtemp(prefix="sampleapp-bench-secrets-"))
    for name in ("postgres_password", "secret_key"):
        (secrets_dir / f"{name}.txt").write_text(secrets.token_urlsafe(32))
        (secrets_dir / f"{name}.txt").chmod(0o644)
    port = free_port()
    subnet, dns_ip = free_subnet()
    os.environ.update(
        {
            "SAMPLEAPP_PROJECT": "sampleapp-bench",
            "SAMPLEAPP_PORT": str(port),
            "SAMPLEAPP_FRONT_SUBNET": subnet,
            "SAMPLEAPP_DNS_IP": dns_ip,
            "SAMPLEAPP_SECRETS_DIR": str(secrets_dir),
            "POSTGRES_USER": "sampleapp",
        }
    )
    base = f"http://127.0.0.1:{port}"
    progress = Progress(secrets_dir / "bench.log")
    if not engine.image_exists(images.APP_IMAGE):
        images.build_app_image(progress)
    size = images.image_size_mb(images.APP_IMAGE)
    stack.down(volumes=True, progress=progress)
    rows = []
    try:
        options = stack.Options(replicas=3, build=False)
        cold = timed("cold up", lambda: stack.up(options, progress))
        stack.down(progress=progress)
        warm = timed("warm up", lambda: stack.up(options, progress))
        cookie = sign_in(base)
        home = httpx.get(base + "/", timeout=10).text
        for replicas in (3, 1):
            stack.scale("web", replicas, progress)
            rows += page_rows(base, cookie, replicas, CONNECTIONS, DURATION)
        proxy = compose.containers("proxy")[0]
        engine.docker(
            "exec",
            "-i",
            "-u",
            "0",
            proxy.id,
            "sh",
            "-c",
            "cat > /app/public/ceiling.html",
            input=home,
        )
        for connections in CONNECTIONS:
            r = wrk(base + "/ceiling.html", connections, DURATION, None)
            rows.append(
                [
                    "Same bytes as a static file (nginx)",
                    "-",
                    connections,
                    f"{r['rps']:.0f}",
                    f"{r['p50']:.2f} ms",
                    f"{r['p99']:.2f} ms",
                ]
            )
    finally:
        stack.down(volumes=True, progress=progress)
    body = (
        f"Compose stack from images already built (`{images.APP_IMAGE}`: {size:.0f} MB; the "
        "thesis's app image: 867 MB), through the proxy on 127.0.0.1, `wrk -t1 "
        f"-d{DURATION}s --latency` after a warm-up; each app server is gunicorn with 2 workers.\n\n"
        + table(
            ["measure", "value", "target"],
            [
                [
                    "cold `up` (fresh volumes: initdb, migrate, populate, 3 servers registered, "
                    "proxy 200)",
                    f"{cold:.1f} s",
                    "< 60 s",
                ],
                ["warm `up` (after `down`, volumes kept)", f"{warm:.1f} s", "-"],
                ["image size (`docker images`)", f"{size:.0f} MB", "< 200 MB"],
            ],
        )
        + "\n\n"
        + table(["Page", "App servers", "Connections", "Requests/s", "p50", "p99"], rows)
        + f"\n\nHome page: {len(home.encode())} bytes (the thesis measured 3983). Load average "
        f"(1 min) at the end: {os.getloadavg()[0]:.1f} on 2 cores; with every server on one "
        "host, more replicas share the same two cores, so no gain is expected from 3 over 1."
    )
    print(body)
    write_section("stack", "One-host stack (Compose)", body)


if __name__ == "__main__":
    main()
