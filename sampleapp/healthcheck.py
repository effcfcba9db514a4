"""``sampleapp healthcheck``: the image's HEALTHCHECK, one command for every role.

One image runs every role, so the check reads the role from PID 1's command line (the container's
``sampleapp <role>``) and tests the real thing: an app server's ``/readyz``, nginx answering on the
proxy port, the DNS server answering a query, the database's record present in etcd. It exits
0 when healthy and 1 with one line saying why otherwise, which ``docker inspect`` shows.
"""

from __future__ import annotations

import os
from pathlib import Path

import httpx
from dnslib import QTYPE, DNSRecord

from sampleapp.discovery import config, keys
from sampleapp.discovery.etcd import EtcdClient

ROLES = ("web", "serve", "proxy", "renderer", "dns", "register-db", "migrate")


def role(cmdline: Path = Path("/proc/1/cmdline")) -> str:
    words = cmdline.read_bytes().decode(errors="replace").split("\0")
    return next((w for w in words if w in ROLES), "web")


def check(env: dict[str, str] | None = None) -> str:
    """Raise with the reason when unhealthy; return what was checked when healthy."""
    env = env or dict(os.environ)
    name = role()
    if name in ("web", "serve"):
        port = env.get("PORT", "9292")
        response = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=3)
        if response.status_code != 200:
            raise RuntimeError(f"/readyz answered {response.status_code}: {response.text[:200]}")
        return "web: /readyz 200"
    if name in ("proxy", "renderer"):
        listen = env.get("NGINX_LISTEN", "80")
        port = listen.rpartition(":")[2]
        response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=3)
        return f"proxy: nginx answered {response.status_code}"
    if name == "dns":
        settings = config.dns_settings(env)
        query = DNSRecord.question(settings.domain, "SOA")
        reply = DNSRecord.parse(query.send("127.0.0.1", settings.port, timeout=2))
        return f"dns: answered {QTYPE[query.q.qtype]} with rcode {reply.header.rcode}"
    if name == "register-db":
        db = config.db_settings(env)
        key = keys.dns_key(db.skydns_prefix, f"{db.name}.{db.domain}")
        if EtcdClient(db.etcd.endpoints, timeout=db.etcd.timeout).get(key) is None:
            raise RuntimeError(f"{key} is not in etcd yet")
        return f"register-db: {key} present"
    return f"{name}: no check"


def main() -> int:
    try:
        print(check())
        return 0
    except (TimeoutError, OSError, RuntimeError, httpx.HTTPError) as exc:
        print(f"unhealthy: {exc}")
        return 1
