"""``sampleapp healthcheck``: the image's HEALTHCHECK, one command for every role.

One image runs every role, so the check reads the role from PID 1's command line (the container's
``sampleapp <role>``; for ``web``, the supervisor whose gunicorn child binds the ``--host`` and
``--port`` given there) and tests the real thing: an app server's ``/readyz``, the proxy's
nginx answering on its control socket, the DNS server answering a query, the database's record
present in etcd. It exits 0 when healthy and 1 with one line saying why otherwise, which
``docker inspect`` shows. It runs every few seconds in every container, so it imports only what
its role needs and uses the standard library's HTTP client.
"""

from __future__ import annotations

import http.client
import os
import socket
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

ROLES = ("web", "serve", "proxy", "renderer", "dns", "register-db", "migrate")


def command(cmdline: Path = Path("/proc/1/cmdline")) -> list[str]:
    """PID 1's words from its role on (``web --port 9292``); ``["web"]`` when it names none."""
    words = cmdline.read_bytes().decode(errors="replace").split("\0")
    start = next((i for i, w in enumerate(words) if w in ROLES), None)
    return ["web"] if start is None else [w for w in words[start:] if w]


def option(words: list[str], name: str, default: str) -> str:
    """The value of ``--name VALUE`` or ``--name=VALUE`` among ``words``."""
    for i, word in enumerate(words):
        if word == name and i + 1 < len(words):
            return words[i + 1]
        if word.startswith(f"{name}="):
            return word.partition("=")[2]
    return default


def readyz_url(words: list[str], env: Mapping[str, str]) -> str:
    """Where the app server of ``sampleapp web|serve [--host H] [--port P]`` answers /readyz."""
    default_port = env.get("PORT") or ("9292" if words[0] == "web" else "8080")
    host = option(words, "--host", "0.0.0.0" if words[0] == "web" else "127.0.0.1")
    host = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "[::1]"}.get(host, host)
    host = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"http://{host}:{option(words, '--port', default_port)}/readyz"


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


def check(words: list[str], env: Mapping[str, str]) -> str:
    """Raise with the reason when unhealthy; return what was checked when healthy."""
    name = words[0]
    if name in ("web", "serve"):
        url = readyz_url(words, env)
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
    return f"{name}: no check"


def main() -> int:
    try:
        print(check(command(), os.environ))
        return 0
    except Exception as exc:  # any failure is "unhealthy", reported in one line
        print(f"unhealthy: {type(exc).__name__}: {exc}")
        return 1
