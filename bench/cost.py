"""Measure the bytes a request costs on the wire, for ``sampleapp cost plan`` (make bench-cost).

A fresh SQLite database with the sample data, ``sampleapp serve`` as deployed (production
settings, 2 workers) behind the deployments' nginx (deploy/nginx/nginx.conf.j2 rendered for that
one server): the same pieces as bench/app.py (bench/server.py). Through the proxy, the home page
signed out, the profile of user 1 and the home page signed in with its feed are each fetched
with and without ``Accept-Encoding: gzip`` (sampleapp/cost/pages.py counts every byte), and the
figures go to deploy/cost/page-sizes.yaml with the machine and the date.
"""

from __future__ import annotations

import platform
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.measure import sign_in
from bench.server import app_env, behind_nginx, prepare, start_server, stop_server, wait_ready
from sampleapp.cost import pages

PAGES = (("home", "/", False), ("profile", "/users/1", False), ("feed", "/", True))
HOW = (
    "sampleapp serve (production, 2 workers, SQLite with the sample data) behind the "
    "deployments' nginx; GET over a socket with Connection: close, every byte counted "
    "(status line, headers, body). identity_bytes: no Accept-Encoding; served_bytes: with "
    "Accept-Encoding: gzip (served_encoding says whether the proxy compressed); gzip_body_bytes: "
    "the body gzip-compressed here; gzip_estimate_bytes: head + Content-Encoding + gzip body."
)


@contextmanager
def proxied_app() -> Iterator[str]:
    """The app as deployed behind its nginx, on loopback; yields the proxy's URL."""
    data = Path(tempfile.mkdtemp(prefix="sampleapp-cost-"))
    data.chmod(0o755)  # nginx's workers may run as nobody
    env = app_env(data, "bench-cost")
    try:
        prepare(env)
        app, server = start_server(env, data / "server.log")
        try:
            wait_ready(app, server)
            with behind_nginx(app, data) as base:
                yield base
        finally:
            stop_server(server)
    finally:
        shutil.rmtree(data, ignore_errors=True)


def measure_pages(base: str) -> list[pages.PageSize]:
    cookie = sign_in(base)
    return [
        pages.measure(base, name, path, cookie if signed_in else None)
        for name, path, signed_in in PAGES
    ]


def machine() -> str:
    nginx = subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip()
    return f"{platform.node()} ({platform.platform()}, Python {platform.python_version()}, {nginx})"


def main(out: Path = pages.PAGE_SIZES_FILE) -> None:
    with proxied_app() as base:
        measured = measure_pages(base)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    pages.save(out, stamp, machine(), measured, HOW)
    for p in measured:
        print(
            f"{p.name:8} {p.path:9} served {p.served_bytes:6} B "
            f"({p.served_encoding or 'identity'}), identity {p.identity_bytes:6} B, "
            f"gzip estimate {p.gzip_estimate_bytes:6} B"
        )
    print(f"✔ wrote {out}")


if __name__ == "__main__":
    main()
