"""What the benchmarks share to run the app: its production environment on SQLite, a fresh
database with the sample data, ``sampleapp serve`` on a free loopback port, and the deployments'
nginx in front of it (deploy/nginx/nginx.conf.j2 rendered for that one server)."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from sampleapp.discovery import config
from sampleapp.discovery.keys import Server
from sampleapp.discovery.nginx import Nginx
from sampleapp.discovery.renderer import Renderer, render
from tests.support.etcd import free_port

ROOT = Path(__file__).resolve().parents[1]
SAMPLEAPP = str(Path(sys.executable).parent / "sampleapp")


def prepare(env: dict[str, str], *populate: str) -> None:
    for args in (
        ["migrate", "-v0"],
        ["collectstatic", "--noinput", "-v0"],
        ["populate", *populate],
    ):
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


def start_server(env: dict[str, str], log: Path, *args: str) -> tuple[str, subprocess.Popen[bytes]]:
    port = free_port()
    with log.open("a") as out:
        server = subprocess.Popen(
            [SAMPLEAPP, "serve", "--port", str(port), *args],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return f"http://127.0.0.1:{port}", server


def stop_server(server: subprocess.Popen[bytes]) -> None:
    os.killpg(server.pid, signal.SIGTERM)
    server.wait(30)


@contextmanager
def behind_nginx(app: str, workdir: Path) -> Iterator[str]:
    """The deployments' proxy in front of ``app``: nginx from deploy/nginx/nginx.conf.j2 (its
    limit on the password forms included), rendered for that one server; yields its URL."""
    port = free_port()
    settings = config.renderer_settings(
        {
            "NGINX_LISTEN": f"127.0.0.1:{port}",
            "NGINX_RUNTIME_DIR": str(workdir / "nginx"),
            "NGINX_STATIC_ROOT": str(workdir / "public"),
            "NGINX_ACCESS_LOG": "off",
        }
    )
    (workdir / "public").mkdir(mode=0o755, exist_ok=True)
    Renderer(settings).prepare()
    nginx = Nginx(settings.nginx_bin, settings.runtime_dir)
    nginx.conf.write_text(render(settings, [Server("bench", app.removeprefix("http://"))]))
    nginx.start(generation=1, listen=settings.listen)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        nginx.stop()


def app_env(data: Path, instance: str) -> dict[str, str]:
    """The production settings of one app server on SQLite under ``data`` (the benches')."""
    return {
        **os.environ,
        "SAMPLEAPP_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "SAMPLEAPP_DATA_DIR": str(data),
        "DATABASE_URL": f"sqlite:///{data / 'db.sqlite3'}",
        "EMAIL_URL": "console://",
        "SITE_URL": "http://127.0.0.1",
        "STATIC_ROOT": str(data / "static"),
        "INSTANCE_ID": instance,
        "DJANGO_SETTINGS_MODULE": "sampleapp.web.settings",
    }
