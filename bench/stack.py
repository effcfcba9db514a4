"""Benchmark the one-host stack: cold start, throughput through the proxy, and nginx's ceiling.

A stack of its own (project ``sampleapp-bench``, a free port and subnet, throwaway secrets) is
started from images already built: first cold (fresh volumes: initdb, migrate, populate), then
warm (``down`` keeping the volumes, ``up`` again). ``wrk`` then measures, on 127.0.0.1 through
the proxy, the home page signed out and the feed signed in, with 3 app servers and with 1; and
the same home page's bytes served by nginx as a static file, the ceiling any app page can reach.
Then, under a steady load through the proxy (4 clients, a new connection per request), what a
change costs: ``up`` run again with nothing changed, ``up`` after an app-only change (the app
servers roll), and ``kill -9`` of an app server (how long until its key is gone).
"""

from __future__ import annotations

import os
import secrets
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.measure import free_port, page_rows, sign_in, timed, wrk
from bench.report import table, write_section
from sampleapp.ops import bases, compose, driver, engine, images, stack
from sampleapp.ops.settings import load as load_settings
from sampleapp.progress import Progress
from tests.discovery.servers import Load
from tests.support import site
from tests.support.docker import copy_build_context, free_subnet, new_app_version

DURATION = 10
CONNECTIONS = (1, 8)


def ids() -> set[str]:
    return {c.id for c in compose.containers(load_settings()) if c.state == "running"}


def under_load(base: str, what: str, action: Callable[[], object]) -> list[object]:
    """One row: what, seconds the action took, failed of total requests, containers replaced."""
    before = ids()
    with Load(base + "/", threads=4, headers=site.PAST_THE_PAGE_CACHE) as load:
        load.wait_for(40)
        seconds = timed(what, action)
        load.wait_for(40)
    gone = len(before - ids())
    return [what, f"{seconds:.1f} s", f"{len(load.failures)} of {load.total}", gone]


def app_change_row(base: str, progress: Progress, workdir: Path) -> list[object]:
    """``up`` after an app-only change (built from a changed copy); the image is put back."""
    tree = copy_build_context(workdir / "tree")
    footer = tree / "sampleapp/web/templates/_footer.html"
    footer.write_text(footer.read_text() + "<!-- bench release -->\n")
    previous = "sampleapp-bench/previous:kept"
    engine.docker("tag", images.APP_IMAGE, previous)
    try:
        images.build_app_image(progress, context=tree)
        return under_load(
            base,
            "`up` after an app-only change (3 app servers rolled)",
            lambda: stack.up(load_settings(), stack.Options(replicas=3, build=False), progress),
        )
    finally:
        engine.docker("tag", previous, images.APP_IMAGE)
        engine.docker("rmi", previous)
        stack.up(load_settings(), stack.Options(replicas=3, build=False), progress)


def proxy_rows(base: str, progress: Progress) -> list[list[object]]:
    """A new proxy two ways: Compose's own recreate (stop-first), then ``up`` with a new infra
    image (the new proxy binds the port beside the old one in edge's namespace)."""
    run = load_settings(
        {
            **bases.present(),
            "SAMPLEAPP_IMAGE": images.APP_IMAGE,
            "SAMPLEAPP_INFRA_IMAGE": images.ensure_infra_image(),
        }
    )
    rows = [
        under_load(
            base,
            "Compose alone recreating the proxy (`up --force-recreate proxy`: stop-first)",
            lambda: compose.compose(
                run, "up", "-d", "--no-build", "--no-deps", "--force-recreate", "proxy"
            ),
        )
    ]
    stack.up(load_settings(), stack.Options(replicas=3, build=False), progress)
    infra = new_app_version("sampleapp-bench/infra:new")
    os.environ["SAMPLEAPP_INFRA_IMAGE"] = infra
    try:
        rows.append(
            under_load(
                base,
                "`up` with a new infra image (proxy handed over; dns, db-dns recreated)",
                lambda: stack.up(load_settings(), stack.Options(replicas=3, build=False), progress),
            )
        )
    finally:
        del os.environ["SAMPLEAPP_INFRA_IMAGE"]
        stack.up(load_settings(), stack.Options(replicas=3, build=False), progress)
        engine.docker("rmi", infra, check=False)
    return rows


def kill_row(base: str, progress: Progress) -> list[object]:
    """``kill -9`` of an app server: seconds until its key is gone (the lease TTL is 10 s)."""
    victim = compose.containers(load_settings(), "web")[0]
    with Load(base + "/", threads=4, headers=site.PAST_THE_PAGE_CACHE) as load:
        load.wait_for(40)
        started = time.monotonic()
        engine.docker("kill", victim.id)
        while victim.id in driver.registered(stack.ComposeStack(load_settings(), reading=True)):
            if time.monotonic() - started > 120:
                raise SystemExit(f"{victim.name}'s key was still registered after 120 s")
            time.sleep(0.1)
        gone = time.monotonic() - started
        load.wait_for(40)
    stack.scale(load_settings(), "web", 3, progress)
    return [
        "`kill -9` of an app server (key gone after; lease TTL 10 s)",
        f"{gone:.1f} s",
        f"{len(load.failures)} of {load.total}",
        1,
    ]


def main() -> None:
    engine.ensure_engine()
    secrets_dir = Path(tempfile.mkdtemp(prefix="sampleapp-bench-secrets-"))
    for name in ("postgres_password", "secret_key"):
        (secrets_dir / f"{name}.txt").write_text(secrets.token_urlsafe(32))
        (secrets_dir / f"{name}.txt").chmod(0o644)
    port, tls_port = free_port(), free_port()
    subnet, dns_ip = free_subnet()
    os.environ.update(
        {
            "SAMPLEAPP_PROJECT": "sampleapp-bench",
            "SAMPLEAPP_PORT": str(port),
            "SAMPLEAPP_TLS_PORT": str(tls_port),
            "EMAIL_URL": "console://",
            "SAMPLEAPP_FRONT_SUBNET": subnet,
            "SAMPLEAPP_DNS_IP": dns_ip,
            "SAMPLEAPP_SECRETS_DIR": str(secrets_dir),
            "POSTGRES_USER": "sampleapp",
        }
    )
    base = f"https://127.0.0.1:{tls_port}"
    site.CERTIFICATES.append(secrets_dir / "tls_cert.pem")  # made by the first up/deploy
    progress = Progress(secrets_dir / "bench.log")
    if not engine.image_exists(images.APP_IMAGE):
        images.build_app_image(progress)
    size = images.image_size_mb(images.APP_IMAGE)
    stack.down(load_settings(), volumes=True, progress=progress)
    rows = []
    try:
        options = stack.Options(replicas=3, build=False)
        cold = timed("cold up", lambda: stack.up(load_settings(), options, progress))
        stack.down(load_settings(), progress=progress)
        warm = timed("warm up", lambda: stack.up(load_settings(), options, progress))
        cookie = sign_in(base)
        home = httpx.get(base + "/", timeout=10, verify=site.trust()).text
        for replicas in (3, 1):
            stack.scale(load_settings(), "web", replicas, progress)
            rows += page_rows(base, cookie, replicas, CONNECTIONS, DURATION)
        stack.up(
            load_settings(), stack.Options(replicas=3), progress
        )  # builds what the tree needs, if anything
        changes = [
            under_load(
                base,
                "`up` again, nothing changed (with the build)",
                lambda: stack.up(load_settings(), stack.Options(replicas=3), progress),
            ),
            app_change_row(base, progress, secrets_dir),
            *proxy_rows(base, progress),
            kill_row(base, progress),
        ]
        proxy = compose.containers(load_settings(), "proxy")[0]
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
        stack.down(load_settings(), volumes=True, progress=progress)
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
        + "\n\nChanges under a steady load through the proxy (4 clients, a new connection per "
        "request, `/`):\n\n"
        + table(["change", "took", "failed requests", "containers replaced"], changes)
        + f"\n\nHome page: {len(home.encode())} bytes (the thesis measured 3983). Load average "
        f"(1 min) at the end: {os.getloadavg()[0]:.1f} on 2 cores; with every server on one "
        "host, more replicas share the same two cores, so no gain is expected from 3 over 1."
    )
    print(body)
    write_section("stack", "One-host stack (Compose)", body)


if __name__ == "__main__":
    main()
