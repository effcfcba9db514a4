"""Discovery settings from the environment: the only reader of ``os.environ`` in discovery.

Every component reads its settings here, once, into a frozen dataclass, so containers configure
registrar, renderer and DNS with variables alone and a typo fails at start with the variable's name
instead of deep inside a loop. Command-line flags are applied as overrides of the same names.
Variables and defaults: ETCD_ENDPOINTS (http://127.0.0.1:2379, comma-separated), ETCD_TIMEOUT (2 s),
SERVICES_PREFIX (/services/app/), INSTANCE_ID (host name), ADVERTISE_ADDR (host:port, default the
bound address), LEASE_TTL (10 s), DRAIN_SECONDS (2 s), NGINX_* (see ``renderer_settings``), DNS_*
and DB_* (see ``dns_settings`` and ``db_settings``), SKYDNS_PREFIX (/skydns).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from sampleapp.discovery import keys
from sampleapp.errors import ConfigError

# deploy/nginx of a source checkout; an installed package finds it under the working directory
# (the image's WORKDIR) or wherever NGINX_CONF_DIR says.
NGINX_DIR = Path(__file__).resolve().parents[2] / "deploy" / "nginx"
# In NGINX_RUNTIME_DIR: nginx answers the renderer's and the healthcheck's questions here, never on
# the network.
CONTROL_SOCKET = "control.sock"


@dataclass(frozen=True)
class EtcdSettings:
    endpoints: tuple[str, ...]
    timeout: float = 2.0


@dataclass(frozen=True)
class RegistrarSettings:
    etcd: EtcdSettings
    prefix: str
    instance_id: str
    advertise: str | None  # host:port; None: gunicorn's --host (towards etcd if 0.0.0.0) and port
    ttl: int
    drain: float


@dataclass(frozen=True)
class TlsSettings:
    """HTTPS on ``listen``; plain HTTP redirects to ``redirect`` and the path asked for."""

    listen: str
    cert: Path
    key: Path
    redirect: str


@dataclass(frozen=True)
class RendererSettings:
    etcd: EtcdSettings
    prefix: str
    listen: str
    reuseport: bool  # another nginx may listen on the same port (a proxy handing over)
    proxy_protocol: bool  # connections arrive through a relay that names the client first
    tls: TlsSettings | None  # None: plain HTTP only (make run's stack, the renderer's tests)
    template: Path
    unavailable_page: Path
    static_root: Path
    runtime_dir: Path
    nginx_bin: str
    access_log: str
    mime_types: Path
    user: str | None
    debounce: float
    hold_down: float
    probe_interval: float  # seconds between connects to each server of the pool; 0: none
    drain: float  # on SIGTERM, seconds nginx serves on while the routing forgets it


@dataclass(frozen=True)
class DnsSettings:
    etcd: EtcdSettings
    skydns_prefix: str
    domain: str
    host: str
    port: int
    ttl: int
    forward: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class DbSettings:
    etcd: EtcdSettings
    skydns_prefix: str
    domain: str
    name: str
    alias: str
    host: str | None  # None: the address this machine uses to reach etcd
    port: int
    ttl: int


def environ(overrides: Mapping[str, str | None] | None = None) -> dict[str, str]:
    """The process environment with the non-empty ``overrides`` (command-line flags) applied."""
    return {**os.environ, **{k: v for k, v in (overrides or {}).items() if v}}


def etcd_configured(env: Mapping[str, str]) -> bool:
    """Whether this process was told where etcd is (an app server registers only then)."""
    return bool(env.get("ETCD_ENDPOINTS", "").strip())


def etcd_settings(env: Mapping[str, str]) -> EtcdSettings:
    raw = env.get("ETCD_ENDPOINTS") or "http://127.0.0.1:2379"
    endpoints = tuple(e.strip().rstrip("/") for e in raw.split(",") if e.strip())
    for url in endpoints:
        if (parts := urlsplit(url)).scheme not in {"http", "https"} or not parts.hostname:
            raise ConfigError(
                f"ETCD_ENDPOINTS has {url!r}, expected URLs like http://etcd:2379 separated by "
                "commas: fix ETCD_ENDPOINTS"
            )
    return EtcdSettings(endpoints, _number(env, "ETCD_TIMEOUT", 2.0, minimum=0.1))


def registrar_settings(env: Mapping[str, str]) -> RegistrarSettings:
    if advertise := env.get("ADVERTISE_ADDR") or None:
        # The renderer takes only IP:port from etcd (keys.parse_address): refuse anything else
        # here, at start, rather than register an entry that nginx will never see.
        try:
            advertise = keys.parse_address(advertise)
        except ConfigError as exc:
            raise ConfigError(f"ADVERTISE_ADDR: {exc}: give this server's IP and port") from exc
    return RegistrarSettings(
        etcd=etcd_settings(env),
        prefix=_prefix(env, "SERVICES_PREFIX", keys.SERVICES_PREFIX),
        instance_id=_instance_id(env),
        advertise=advertise,
        ttl=int(_number(env, "LEASE_TTL", 10, minimum=2)),
        drain=_drain(env),
    )


def renderer_settings(env: Mapping[str, str]) -> RendererSettings:
    """NGINX_LISTEN (80), NGINX_CONF_DIR (deploy/nginx: nginx.conf.j2 and 503.html, or
    NGINX_TEMPLATE / NGINX_UNAVAILABLE_PAGE one by one), NGINX_STATIC_ROOT (/usr/src/app/public),
    NGINX_RUNTIME_DIR (/tmp/sampleapp-nginx), NGINX_BIN, NGINX_ACCESS_LOG (/dev/stdout),
    NGINX_MIME_TYPES, NGINX_USER (unset), RENDER_DEBOUNCE (0.25 s of quiet gives one reload),
    RENDER_HOLD_DOWN (10 s; 0: off; see renderer.py), NGINX_REUSEPORT (0; 1 lets a new proxy
    bind the port beside the old one while it takes over, as in the Compose stack),
    NGINX_PROXY_PROTOCOL (0; 1 behind a relay that sends a PROXY protocol header first, as the
    cluster's edge does), RENDER_PROBE_INTERVAL (5 s between connects to each pooled server; 0:
    off), DRAIN_SECONDS (2 s served after SIGTERM; see ``_drain``), and HTTPS (see
    ``tls_settings``)."""
    listen = env.get("NGINX_LISTEN", "80")
    split_hostport(listen if ":" in listen else f"*:{listen}", "NGINX_LISTEN")
    checkouts = (d for d in (NGINX_DIR, Path.cwd() / "deploy/nginx") if d.is_dir())
    conf_dir = Path(env.get("NGINX_CONF_DIR") or next(checkouts, NGINX_DIR))
    return RendererSettings(
        etcd=etcd_settings(env),
        prefix=_prefix(env, "SERVICES_PREFIX", keys.SERVICES_PREFIX),
        listen=listen,
        reuseport=_switch(env, "NGINX_REUSEPORT"),
        proxy_protocol=_switch(env, "NGINX_PROXY_PROTOCOL"),
        tls=tls_settings(env),
        template=Path(env.get("NGINX_TEMPLATE") or conf_dir / "nginx.conf.j2"),
        unavailable_page=Path(env.get("NGINX_UNAVAILABLE_PAGE") or conf_dir / "503.html"),
        static_root=Path(env.get("NGINX_STATIC_ROOT", "/usr/src/app/public")),
        runtime_dir=Path(env.get("NGINX_RUNTIME_DIR", "/tmp/sampleapp-nginx")),
        nginx_bin=env.get("NGINX_BIN") or shutil.which("nginx") or "/usr/sbin/nginx",
        access_log=env.get("NGINX_ACCESS_LOG", "/dev/stdout"),
        mime_types=Path(env.get("NGINX_MIME_TYPES", "/etc/nginx/mime.types")),
        user=env.get("NGINX_USER") or None,
        debounce=_number(env, "RENDER_DEBOUNCE", 0.25, minimum=0.0),
        hold_down=_number(env, "RENDER_HOLD_DOWN", 10.0, minimum=0.0),
        probe_interval=_number(env, "RENDER_PROBE_INTERVAL", 5.0, minimum=0.0),
        drain=_drain(env),
    )


def _drain(env: Mapping[str, str]) -> float:
    """DRAIN_SECONDS (2): after SIGTERM, how long an app server or a proxy keeps serving while
    what routes to it forgets it (the proxies' pools, Swarm's DNS and the cluster's edge)."""
    return _number(env, "DRAIN_SECONDS", 2.0, minimum=0.0)


# SITE_URL is written into nginx's config: only a scheme, a host and a port get there.
ORIGIN = re.compile(r"https://(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")


def tls_settings(env: Mapping[str, str]) -> TlsSettings | None:
    """NGINX_TLS_CERT and NGINX_TLS_KEY (PEM files; unset: no HTTPS), NGINX_TLS_LISTEN (443),
    SITE_URL (the https:// origin plain HTTP redirects to; unset: the host asked for, on the
    HTTPS port)."""
    cert, key = env.get("NGINX_TLS_CERT", ""), env.get("NGINX_TLS_KEY", "")
    if not cert and not key:
        return None
    if not cert or not key:
        missing = "NGINX_TLS_KEY" if cert else "NGINX_TLS_CERT"
        raise ConfigError(f"{missing} is not set: HTTPS needs both the certificate and its key")
    listen = env.get("NGINX_TLS_LISTEN", "443")
    _, port = split_hostport(listen if ":" in listen else f"*:{listen}", "NGINX_TLS_LISTEN")
    site = env.get("SITE_URL", "").rstrip("/")
    if site and not ORIGIN.fullmatch(site):
        raise ConfigError(
            f"SITE_URL is {site!r}: with HTTPS on, expected an https:// origin without a path, "
            "like https://blog.example.com or https://127.0.0.1:8443"
        )
    redirect = site or "https://$host" + ("" if port == 443 else f":{port}")
    return TlsSettings(listen, Path(cert), Path(key), redirect)


def dns_settings(env: Mapping[str, str]) -> DnsSettings:
    """DNS_LISTEN (0.0.0.0:53), DNS_DOMAIN (sampleapp.local.), DNS_TTL (30), DNS_FORWARD (unset:
    outside names are refused; else comma-separated ip[:port] resolvers), SKYDNS_PREFIX."""
    host, port = split_hostport(env.get("DNS_LISTEN", "0.0.0.0:53"), "DNS_LISTEN")
    forward = tuple(
        split_hostport(item.strip() if ":" in item else f"{item.strip()}:53", "DNS_FORWARD")
        for item in env.get("DNS_FORWARD", "").split(",")
        if item.strip()
    )
    return DnsSettings(
        etcd=etcd_settings(env),
        skydns_prefix=_prefix(env, "SKYDNS_PREFIX", keys.SKYDNS_PREFIX).rstrip("/"),
        domain=_domain(env),
        host=host,
        port=port,
        ttl=int(_number(env, "DNS_TTL", 30, minimum=0)),
        forward=forward,
    )


def db_settings(env: Mapping[str, str]) -> DbSettings:
    """DB_NAME (db), DB_ALIAS (some-postgres, a CNAME; empty for none), DB_ADVERTISE_HOST (IP or
    name; default this machine's address towards etcd), DB_PORT (5432), LEASE_TTL (10)."""
    return DbSettings(
        etcd=etcd_settings(env),
        skydns_prefix=_prefix(env, "SKYDNS_PREFIX", keys.SKYDNS_PREFIX).rstrip("/"),
        domain=_domain(env),
        name=env.get("DB_NAME", "db"),
        alias=env.get("DB_ALIAS", "some-postgres"),
        host=env.get("DB_ADVERTISE_HOST") or None,
        port=int(_number(env, "DB_PORT", 5432, minimum=1)),
        ttl=int(_number(env, "LEASE_TTL", 10, minimum=2)),
    )


def split_hostport(value: str, variable: str) -> tuple[str, int]:
    """``host:port`` or ``[v6]:port`` into its parts, or a ConfigError naming ``variable``."""
    host, sep, port = value.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{variable} is {value!r}, expected host:port (e.g. 10.0.0.5:9292)")
    return host, int(port)


def setpriv(why: str) -> str:
    """util-linux's setpriv, which gives a child a death signal: it never outlives us."""
    found = shutil.which("setpriv") or shutil.which("setpriv", path="/usr/bin:/bin")
    if found is None:
        raise ConfigError(f"setpriv was not found: install util-linux ({why})")
    return found


def _number(env: Mapping[str, str], name: str, default: float, *, minimum: float) -> float:
    raw = env.get(name, "")
    try:
        value = float(raw) if raw else default
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise ConfigError(f"{name} is {raw!r}, expected a number of at least {minimum}: fix {name}")
    return value


def _switch(env: Mapping[str, str], name: str) -> bool:
    """``name`` set to 1 or 0 (unset: 0)."""
    value = env.get(name, "0").strip()
    if value not in ("0", "1", ""):
        raise ConfigError(f"{name} must be 1 or 0, not {value!r}")
    return value == "1"


def _prefix(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name) or default
    if not value.startswith("/") or "//" in value:
        raise ConfigError(f"{name} is {value!r}, expected an absolute key path like {default}")
    return value


def _domain(env: Mapping[str, str]) -> str:
    domain = keys.fqdn((env.get("DNS_DOMAIN") or "sampleapp.local.").lower())
    if domain == "." or ".." in domain:
        raise ConfigError(f"DNS_DOMAIN is {domain!r}, expected a domain like sampleapp.local.")
    return domain


def _instance_id(env: Mapping[str, str]) -> str:
    instance = env.get("INSTANCE_ID") or socket.gethostname()
    if "/" in instance or not instance.isprintable() or not instance.strip():
        raise ConfigError(f"INSTANCE_ID is {instance!r}, expected a name without '/' (web-1)")
    return instance


def configure_logging(env: Mapping[str, str]) -> None:
    """Send discovery's log lines to stderr (the container log), at LOG_LEVEL (default INFO)."""
    logger = logging.getLogger("sampleapp.discovery")
    if logger.handlers:
        return
    level = env.get("LOG_LEVEL", "INFO").upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ConfigError(f"LOG_LEVEL is {level!r}, expected DEBUG, INFO, WARNING or ERROR")
    handler = logging.StreamHandler()
    handler.setFormatter(
        logging.Formatter("[%(asctime)s] [%(process)d] [%(levelname)s] %(message)s")
    )
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
