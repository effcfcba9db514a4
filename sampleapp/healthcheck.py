"""``python -m sampleapp.healthcheck ROLE``: the HEALTHCHECK of every role of the one image.

Each service says which role it checks (``python -m sampleapp.healthcheck proxy``; the
Dockerfile's default is ``web``, its default command), and the check tests the real thing: an app
server's ``/readyz``, the proxy's nginx answering on its control socket, the DNS server answering
a query, the database's record present in etcd. It exits 0 when healthy and 1 with one line
saying why otherwise, which ``docker inspect`` shows.

It runs every 5 s in every container, so its cost is paid all the time. It is a module run by
itself, not a subcommand of ``sampleapp`` (whose parser costs more than the check); it imports
only what its role needs; and it speaks HTTP and DNS over a bare socket (one request line, one
status line; one question, one reply header). As ``sampleapp healthcheck`` with ``urllib`` and
``dnslib``, a check took 0.12-0.25 s of CPU, paid about 20 times every 5 s by a stack and a
cluster side by side.
"""

from __future__ import annotations

import os
import socket
import struct
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

ROLES = ("web", "serve", "proxy", "renderer", "dns", "register-db")
# The port an app server listens on when PORT does not say (``sampleapp web|serve``).
DEFAULT_PORTS = {"web": 9292, "serve": 8080}
TIMEOUT = 4.0  # below the services' healthcheck timeout (5 s)


def readyz_url(role: str, env: Mapping[str, str]) -> str:
    """Where the app server of ``sampleapp web|serve`` answers /readyz in this container."""
    return f"http://127.0.0.1:{int(env.get('PORT') or DEFAULT_PORTS[role])}/readyz"


def http_get(sock: socket.socket, target: str) -> tuple[int, bytes]:
    """``GET target`` over HTTP/1.0 on a connected socket (the server closes after its answer):
    the status and the body. The renderer asks its nginx's control socket this way too."""
    sock.sendall(f"GET {target} HTTP/1.0\r\nHost: localhost\r\n\r\n".encode("ascii"))
    data = b""
    while len(data) < 65536:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    version, _, rest = head.partition(b" ")
    code = rest[:3]
    if not version.startswith(b"HTTP/") or not code.isdigit():
        raise RuntimeError(f"no HTTP status line in {head[:80]!r}")
    return int(code), body


def app_server_status(url: str) -> int:
    host, _, rest = url.removeprefix("http://").partition(":")
    port, _, path = rest.partition("/")
    with socket.create_connection((host, int(port)), timeout=TIMEOUT) as sock:
        return http_get(sock, "/" + path)[0]


def unix_http_get(path: Path, target: str, timeout: float = TIMEOUT) -> tuple[int, bytes]:
    """``GET target`` from an HTTP server on the unix socket ``path``: the status and the body.
    The socket is closed whatever happens (httpx's unix transport leaves it open when the
    connect fails, which a test run turns into an error)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(path))
        return http_get(sock, target)


def dns_rcode(host: str, port: int, name: str) -> int:
    """The response code of a DNS server at ``host:port`` asked for ``name``'s SOA over UDP."""
    ident = int.from_bytes(os.urandom(2), "big")
    labels = b"".join(
        bytes([len(label)]) + label.encode("ascii") for label in name.strip(".").split(".")
    )
    query = struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0) + labels + b"\0" + b"\0\x06\0\x01"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(TIMEOUT)
        sock.connect((host, port))
        sock.send(query)
        while True:  # a late reply to an earlier check is skipped
            reply = sock.recv(4096)
            if len(reply) >= 12:
                answered = int.from_bytes(reply[0:2], "big")
                flags = int.from_bytes(reply[2:4], "big")
                if answered == ident and flags & 0x8000:
                    return flags & 0x000F


def check(name: str, env: Mapping[str, str]) -> str:
    """Raise with the reason when ``name``'s role is unhealthy; return what was checked when
    healthy."""
    if name in ("web", "serve"):
        url = readyz_url(name, env)
        status = app_server_status(url)
        if status != 200:
            raise RuntimeError(f"{url} answered {status}")
        return f"{name}: {url} 200"
    if name in ("proxy", "renderer"):
        # This container's own nginx, on its control socket: the public port may be shared with
        # the proxy this one replaces (NGINX_REUSEPORT), which would answer for it. nginx runs
        # only once it holds every listener, so an answer here means the port is bound too.
        from sampleapp.discovery import config

        control = config.renderer_settings(env).runtime_dir / config.CONTROL_SOCKET
        status, _ = unix_http_get(control, "/generation")
        if status != 200:
            raise RuntimeError(f"nginx answered {status} on {control}")
        return f"proxy: nginx answered 200 on {control}"
    if name == "dns":
        from sampleapp.discovery import config

        settings = config.dns_settings(env)
        rcode = dns_rcode("127.0.0.1", settings.port, settings.domain)
        return f"dns: answered with rcode {rcode}"
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


def main(argv: Sequence[str]) -> int:
    if len(argv) != 1 or argv[0] not in ROLES:
        print(f"usage: python -m sampleapp.healthcheck ROLE (one of {', '.join(ROLES)})")
        return 2
    try:
        print(check(argv[0], os.environ))
        return 0
    except Exception as exc:  # any failure is "unhealthy", reported in one line
        print(f"unhealthy: {type(exc).__name__}: {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
