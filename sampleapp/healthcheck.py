"""``sampleapp healthcheck ROLE``: the HEALTHCHECK of every role of the one image.

Each service says which role it checks (``sampleapp healthcheck proxy``; the Dockerfile's default
is ``web``, its default command), and the check tests the real thing: an app server's
``/readyz``, the proxy's nginx answering on its control socket, the DNS server answering a query,
the database's record present in etcd. It exits 0 when healthy and 1 with one line saying why
otherwise, which ``docker inspect`` shows. It runs every few seconds in every container, so it
imports only what its role needs and uses the standard library's HTTP client.
"""

from __future__ import annotations

import http.client
import os
import socket
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

ROLES = ("web", "serve", "proxy", "renderer", "dns", "register-db")
# The port an app server listens on when neither --port nor PORT says (``sampleapp web|serve``).
DEFAULT_PORTS = {"web": 9292, "serve": 8080}


def readyz_url(role: str, env: Mapping[str, str], port: int | None = None) -> str:
    """Where the app server of ``sampleapp web|serve`` answers /readyz in this container."""
    chosen = port or int(env.get("PORT") or DEFAULT_PORTS[role])
    return f"http://127.0.0.1:{chosen}/readyz"


def http_status(url: str, timeout: float = 4.0) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def unix_http_status(path: Path, target: str, timeout: float = 4.0) -> int:
    """The status of ``GET target`` from an HTTP server on the unix socket ``path``."""
    connection = http.client.HTTPConnection("localhost", timeout=timeout)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(str(path))
        connection.sock = sock
        connection.request("GET", target)
        return connection.getresponse().status
    finally:
        connection.close()
        sock.close()


def check(name: str, env: Mapping[str, str], port: int | None = None) -> str:
    """Raise with the reason when ``name``'s role is unhealthy; return what was checked when
    healthy. ``port``: an app server's, when not its role's default."""
    if name in ("web", "serve"):
        url = readyz_url(name, env, port)
        status = http_status(url)
        if status != 200:
            raise RuntimeError(f"{url} answered {status}")
        return f"{name}: {url} 200"
    if name in ("proxy", "renderer"):
        # This container's own nginx, on its control socket: the public port may be shared with
        # the proxy this one replaces (NGINX_REUSEPORT), which would answer for it. nginx runs
        # only once it holds every listener, so an answer here means the port is bound too.
        from sampleapp.discovery import config
        from sampleapp.discovery.nginx import CONTROL_SOCKET

        control = config.renderer_settings(env).runtime_dir / CONTROL_SOCKET
        status = unix_http_status(control, "/generation")
        if status != 200:
            raise RuntimeError(f"nginx answered {status} on {control}")
        return f"proxy: nginx answered 200 on {control}"
    if name == "dns":
        from dnslib import DNSRecord

        from sampleapp.discovery import config

        settings = config.dns_settings(env)
        query = DNSRecord.question(settings.domain, "SOA")
        reply = DNSRecord.parse(query.send("127.0.0.1", settings.port, timeout=3))
        return f"dns: answered with rcode {reply.header.rcode}"
    if name == "register-db":
        from sampleapp.discovery import config, keys
        from sampleapp.discovery.etcd import EtcdClient

        db = config.db_settings(env)
        key = keys.dns_key(db.skydns_prefix, f"{db.name}.{db.domain}")
        with EtcdClient(db.etcd.endpoints, timeout=db.etcd.timeout) as client:
            if client.get(key) is None:
                raise RuntimeError(f"{key} is not in etcd yet")
        return f"register-db: {key} present"
    raise ValueError(f"no health check for the role {name!r}: expected one of {', '.join(ROLES)}")


def main(role: str, port: int | None = None) -> int:
    try:
        print(check(role, os.environ, port))
        return 0
    except Exception as exc:  # any failure is "unhealthy", reported in one line
        print(f"unhealthy: {type(exc).__name__}: {exc}")
        return 1
