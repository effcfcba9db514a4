"""Benchmark the one-host stack: cold start, throughput through the proxy, and nginx's ceiling.

A stack of its own (project ``sampleapp-bench``, a free port and subnet, throwaway secrets) is
started from images already built: first cold (fresh volumes: initdb, migrate, populate), then
warm (``down`` keeping the volumes, ``up`` again). ``wrk`` then measures, on 127.0.0.1 through
the proxy, the home page signed out and the feed signed in, with 3 app servers and with 1.
Side by side at 16 connections (issue 12): the signed-out home page (nginx's page cache), a
static file, and the home page's bytes as a file, the ceiling any page can reach; that file also
at the proxy's container address (no published port) and from nginx on the host, with and
without TLS, which says what each layer costs. Then, under a steady load through the proxy (4
clients, a new connection per request, past the page cache), what a change costs: ``up`` run
again with nothing changed, ``up`` after an app-only change (the app servers roll), and
``kill -9`` of an app server (how long until its key is gone).
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.measure import page_rows, sign_in, timed, wrk
from bench.report import table, write_section
from sampleapp.discovery import config
from sampleapp.discovery.nginx import Nginx
from sampleapp.discovery.renderer import Renderer, render
from sampleapp.ops import bases, compose, driver, engine, images, stack
from sampleapp.ops.settings import load as load_settings
from sampleapp.progress import Progress
from tests.discovery.servers import Load
from tests.support import site
from tests.support.docker import copy_build_context, free_subnet, new_app_version
from tests.support.etcd import free_port

DURATION = 10
CONNECTIONS = (1, 8)
SIDE_BY_SIDE = 16  # connections
GOAL = 0.5  # the signed-out home page against its bytes as a file, through the same port


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


@contextmanager
def host_nginx(workdir: Path, page: str, tls: tuple[Path, Path] | None) -> Iterator[str]:
    """nginx on the host from the same template, with no access log and no app server, serving
    ``page`` as /ceiling.html; over HTTPS with ``tls`` (certificate, key). Yields its URL."""
    port, tls_port = free_port(), free_port()
    env = {
        "NGINX_LISTEN": f"127.0.0.1:{port}",
        "NGINX_RUNTIME_DIR": str(workdir / "nginx"),
        "NGINX_STATIC_ROOT": str(workdir / "public"),
        "NGINX_ACCESS_LOG": "off",
    }
    if tls:
        env |= {
            "NGINX_TLS_CERT": str(tls[0]),
            "NGINX_TLS_KEY": str(tls[1]),
            "NGINX_TLS_LISTEN": f"127.0.0.1:{tls_port}",
        }
    settings = config.renderer_settings(env)
    (workdir / "public").mkdir(mode=0o755, parents=True, exist_ok=True)
    (workdir / "public" / "ceiling.html").write_text(page)
    Renderer(settings).prepare()
    nginx = Nginx(settings.nginx_bin, settings.runtime_dir)
    nginx.conf.write_text(render(settings, []))
    nginx.start(generation=1, listen=settings.listen)
    try:
        yield f"https://127.0.0.1:{tls_port}" if tls else f"http://127.0.0.1:{port}"
    finally:
        nginx.stop()


def container_url() -> str | None:
    """The proxy's HTTPS port at its container address (edge's, whose network it shares), if
    this host reaches Docker's bridge networks; None otherwise."""
    edge = compose.containers(load_settings(), "edge")[0]
    form = "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}"
    address = engine.docker("inspect", "--format", form, edge.id).split()[0]
    try:
        httpx.get(f"https://{address}/ceiling.html", timeout=3, verify=False)
    except httpx.HTTPError:
        return None
    return f"https://{address}"


def side_by_side(base: str, home: str, secrets_dir: Path) -> str:
    """Issue 12, items 3 and 4: through the published port at SIDE_BY_SIDE connections, the
    signed-out home page, a static file and the home page's bytes as a file; then that file at
    the container's address and from nginx on the host. A table and what costs the difference."""
    proxy = compose.containers(load_settings(), "proxy")[0]
    engine.docker(
        "exec", "-i", "-u", "0", proxy.id, "sh", "-c", "cat > /app/public/ceiling.html", input=home
    )
    page = httpx.get(base + "/", timeout=10, verify=site.trust())
    if page.text != home or "X-Cache-Status" not in page.headers:
        raise SystemExit("the signed-out home page changed, or the proxy has no page cache")
    measured: dict[str, dict[str, float]] = {}

    def measure(name: str, url: str) -> None:
        wrk(url, 2, 2, None)  # warm up: the page cache, TLS sessions, nginx's workers
        print(f"▶ wrk {DURATION} s, {SIDE_BY_SIDE} conn.: {name}")
        measured[name] = wrk(url, SIDE_BY_SIDE, DURATION, None)

    measure("home", base + "/")
    measure("static", base + "/static/js/sampleapp.js")
    measure("file", base + "/ceiling.html")
    if direct := container_url():
        measure("container", direct + "/ceiling.html")
    host_dir = Path(tempfile.mkdtemp(prefix="sampleapp-bench-ceiling-"))
    host_dir.chmod(0o755)  # nginx's workers may run as nobody
    tls = (secrets_dir / "tls_cert.pem", secrets_dir / "tls_key.pem")
    try:
        with host_nginx(host_dir / "tls", home, tls) as url:
            measure("host tls", url + "/ceiling.html")
        with host_nginx(host_dir / "plain", home, None) as url:
            measure("native", url + "/ceiling.html")
    finally:
        shutil.rmtree(host_dir, ignore_errors=True)
    return ceiling_report(measured, len(home.encode()))


def ceiling_report(measured: dict[str, dict[str, float]], size: int) -> str:
    file = measured["file"]["rps"]
    labels = {
        "home": ("Home page, signed out (nginx's page cache)", "published port (HTTPS)"),
        "static": ("`/static/js/sampleapp.js` (nginx)", "published port (HTTPS)"),
        "file": (f"The home page's {size} bytes as a file (nginx)", "published port (HTTPS)"),
        "container": ("The same file", "proxy container's address (HTTPS)"),
        "host tls": ("The same file", "nginx on the host (HTTPS, no access log)"),
        "native": ("The same file", "nginx on the host (HTTP, no access log)"),
    }
    rows = [
        [
            *labels[key],
            f"{r['rps']:.0f}",
            f"{r['p50']:.2f} ms",
            f"{r['p99']:.2f} ms",
            f"{r['rps'] / file:.0%}",
        ]
        for key, r in measured.items()
    ]
    home = measured["home"]["rps"] / file
    verdict = "met" if home >= GOAL else "NOT met"
    costs = [
        (
            "the published port (docker-proxy copies every byte between two sockets)",
            "container",
            "file",
        ),
        (
            "the container (each access log line goes to stdout, through containerd-shim and "
            "dockerd into the json-file log; the bridge network)",
            "host tls",
            "container",
        ),
        ("TLS (encrypting every response)", "native", "host tls"),
    ]
    lines = [
        f"- {what}: {measured[faster]['rps'] / measured[slower]['rps']:.1f}x fewer requests/s"
        for what, faster, slower in costs
        if faster in measured and slower in measured
    ]
    if "container" not in measured:
        lines.insert(
            0,
            "- the container's address is not reachable from this host: the "
            "published port and the container are not told apart below",
        )
        lines.append(
            "- the published port and the container together: "
            f"{measured['host tls']['rps'] / file:.1f}x fewer requests/s"
        )
    return (
        f"`wrk -t1 -c{SIDE_BY_SIDE} -d{DURATION}s --latency`, one after the other in this run, "
        "after a warm-up; no Accept-Encoding (identity bytes). Goal: the signed-out home page at "
        f"{GOAL:.0%} or more of its bytes as a file through the same port: "
        f"{home:.0%}, {verdict}.\n\n"
        + table(["What", "Through", "Requests/s", "p50", "p99", "of the file"], rows)
        + "\n\nWhat costs the difference between nginx on the host and the published port, "
        "layer by layer (each the ratio of two rows above):\n\n"
        + "\n".join(lines)
        + "\n\nwrk's one thread shares the machine's cores with nginx, so the host figures "
        "are a floor of what nginx can do there, not its limit."
    )


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
        ceiling = side_by_side(base, home, secrets_dir)
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
    finally:
        stack.down(load_settings(), volumes=True, progress=progress)
    body = (
        f"Compose stack from images already built (`{images.APP_IMAGE}`: {size:.0f} MB; the "
        "thesis's app image: 867 MB), through the proxy on 127.0.0.1, `wrk -t1 "
        f"-d{DURATION}s --latency` after a warm-up; each app server is gunicorn with 2 workers. "
        "The signed-out home page comes from nginx's page cache (PAGE_CACHE_SECONDS).\n\n"
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
        + "\n\n### Pages against nginx's ceiling (issue 12)\n\n"
        + ceiling
        + "\n\nChanges under a steady load through the proxy (4 clients, a new connection per "
        "request, `/` past the page cache: each request reaches an app server):\n\n"
        + table(["change", "took", "failed requests", "containers replaced"], changes)
        + f"\n\nHome page: {len(home.encode())} bytes (the thesis measured 3983). Load average "
        f"(1 min) at the end: {os.getloadavg()[0]:.1f} on 2 cores; with every server on one "
        "host, more replicas share the same two cores, so no gain is expected from 3 over 1."
    )
    print(body)
    write_section("stack", "One-host stack (Compose)", body)


if __name__ == "__main__":
    main()
