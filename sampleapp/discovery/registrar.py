"""Announce a server in etcd under a lease while it is ready; withdraw it before it stops.

The thesis wrote ``/services/app/<ip>`` in ``ExecStartPost`` and deleted it in ``ExecStop``, so a
crashed server stayed in nginx's pool forever. Here a ``Registration`` puts its keys under a
lease it keeps alive, only after the server proved ready (``/readyz`` 200 for an app server, an open
TCP port for the database), re-registers by itself after a lost lease or an etcd outage, and
withdraws when readiness fails twice. A ``kill -9`` stops the keepalives: the key dies with the
lease. The app server's registrar runs as a thread in gunicorn's master (see ``gunicorn_hooks``),
and on SIGTERM it revokes the lease and waits ``DRAIN_SECONDS`` before gunicorn closes its sockets.
"""

from __future__ import annotations

import logging
import signal
import socket
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

from sampleapp.discovery import config, keys
from sampleapp.discovery.etcd import EtcdClient
from sampleapp.errors import ConfigError, DiscoveryError

log = logging.getLogger(__name__)

Check = Callable[[], bool]


class Registration:
    """Keeps ``entries`` ({key: value}) in etcd under one lease while ``ready()`` holds."""

    def __init__(
        self, client: EtcdClient, entries: Mapping[str, str], ttl: int, ready: Check
    ) -> None:
        self.client = client
        self.entries = dict(entries)
        self.ttl = ttl
        # The TTL is the promise: a dead server's keys are gone within it. etcd expires leases
        # in a sweep every 500 ms, so the lease itself is granted a second shorter.
        self.lease_ttl = max(2, ttl - 1)
        self.ready = ready
        self.lease: int | None = None
        self.registered = threading.Event()
        self._lock = threading.Lock()
        self._closed = False

    def start(self, stop: threading.Event) -> threading.Thread:
        keepalive = threading.Thread(
            target=self.keep_alive, args=(stop,), name="registrar-keepalive", daemon=True
        )
        keepalive.start()
        thread = threading.Thread(target=self.run, args=(stop,), name="registrar", daemon=True)
        thread.start()
        return thread

    def keep_alive(self, stop: threading.Event) -> None:
        """Refresh the lease three times per lease TTL, whatever readiness checks are doing."""
        while not stop.wait(self.lease_ttl / 3) and not self._closed:
            self._refresh()

    def run(self, stop: threading.Event) -> None:
        """Register when ready, withdraw when not, start over whenever the lease is lost."""
        failures = 0
        while not stop.is_set() and not self._closed:
            if self.lease is None:
                if self.ready() and self._register():
                    failures = 0
                    continue
                stop.wait(0.25)
                continue
            stop.wait(max(self.ttl / 3, 0.5))
            if stop.is_set():
                break
            failures = 0 if self.ready() else failures + 1
            if failures >= 2:  # one slow answer under load is not a reason to leave
                log.warning("%s is not ready any more: withdrawing it", ", ".join(self.entries))
                with self._lock:
                    self._revoke()

    def withdraw(self) -> bool:
        """Revoke the lease now (its keys vanish at once); no re-registration follows."""
        with self._lock:
            self._closed = True
            return self._revoke()

    def _revoke(self) -> bool:
        lease, self.lease = self.lease, None
        self.registered.clear()
        if lease is None:
            return False
        try:
            self.client.revoke(lease)
        except DiscoveryError as exc:
            log.warning(
                "could not revoke lease %x (%s); it expires in %d s", lease, exc, self.lease_ttl
            )
            return False
        log.info("withdrew %s (lease %x revoked)", ", ".join(self.entries), lease)
        return True

    def _register(self) -> bool:
        with self._lock:
            if self._closed:
                return False
            try:
                lease = self.client.grant(self.lease_ttl)
                for key, value in self.entries.items():
                    self.client.put(key, value, lease=lease)
            except DiscoveryError as exc:
                log.warning("registration failed, retrying: %s", exc)
                time.sleep(0.5)  # the lock is held: nothing else can progress meanwhile anyway
                return False
            self.lease = lease
            self.registered.set()
        pairs = ", ".join(f"{k} = {v}" for k, v in self.entries.items())
        log.info("registered %s (lease %x, TTL %d s)", pairs, lease, self.lease_ttl)
        return True

    def _refresh(self) -> None:
        with self._lock:
            if self._closed or self.lease is None:
                return
            try:
                if self.client.keepalive(self.lease) == 0:
                    log.warning(
                        "lease %x was lost (etcd restarted or TTL passed): re-registering",
                        self.lease,
                    )
                    self.lease = None
                    self.registered.clear()
                    return
                for key, value in self.entries.items():
                    current = self.client.get(key)
                    if current is None or current.value != value or current.lease != self.lease:
                        log.warning("%s was changed behind our back: writing it again", key)
                        self.client.put(key, value, lease=self.lease)
            except DiscoveryError as exc:
                log.warning(
                    "keepalive failed (%s); the lease lives %d s without one", exc, self.lease_ttl
                )


def http_ready(url: str, timeout: float = 2.0) -> Check:
    """A check that is true when ``url`` answers 200 (the app server's ``/readyz``).

    The client is made once, here, in the caller's thread: making one builds an OpenSSL context,
    and gunicorn forks workers while the registrar thread runs; a fork while that thread held
    OpenSSL's lock left the worker deadlocked in its first password hash (PKCS5_PBKDF2_HMAC)."""
    client = httpx.Client(timeout=timeout, trust_env=False, headers={"Connection": "close"})

    def check() -> bool:
        try:
            return client.get(url).status_code == 200
        except httpx.HTTPError:
            return False

    return check


def tcp_ready(host: str, port: int, timeout: float = 1.0) -> Check:
    """A check that is true when ``host:port`` accepts a TCP connection (the database)."""

    def check() -> bool:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                return True
        except OSError:
            return False

    return check


def address_towards(endpoint: str) -> str:
    """The local IP this machine uses to reach ``endpoint`` (what its peers can reach us at)."""
    host = urlsplit(endpoint).hostname or "127.0.0.1"
    try:
        family, _, _, _, addr = socket.getaddrinfo(host, 2379, proto=socket.IPPROTO_UDP)[0]
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect(addr)  # UDP connect sends nothing: it only picks the route
            return str(probe.getsockname()[0])
    except OSError as exc:
        raise ConfigError(
            f"cannot work out this machine's address towards {endpoint} ({exc}): "
            "set ADVERTISE_ADDR (host:port) or DB_ADVERTISE_HOST"
        ) from exc


class AppRegistrar:
    """Gunicorn server hooks that register the app server and withdraw it on shutdown."""

    def __init__(self, settings: config.RegistrarSettings) -> None:
        self.settings = settings
        self.stop = threading.Event()
        self.registration: Registration | None = None

    def hooks(self) -> dict[str, Callable[..., Any]]:
        return {"when_ready": self.when_ready, "on_exit": self.on_exit}

    def when_ready(self, arbiter: Any) -> None:
        config.configure_logging(config.environ())
        host, port = arbiter.LISTENERS[0].sock.getsockname()[:2]
        wildcard = host in {"0.0.0.0", "::", ""}
        local = "127.0.0.1" if host in {"0.0.0.0", ""} else "::1" if host == "::" else host
        advertise = self.settings.advertise or (
            f"{address_towards(self.settings.etcd.endpoints[0]) if wildcard else host}:{port}"
        )
        client = EtcdClient(self.settings.etcd.endpoints, timeout=self.settings.etcd.timeout)
        key = keys.service_key(self.settings.prefix, self.settings.instance_id)
        ready_host = f"[{local}]" if ":" in local else local
        ready = http_ready(f"http://{ready_host}:{port}/readyz", max(2.0, self.settings.ttl / 3))
        self.registration = Registration(client, {key: advertise}, self.settings.ttl, ready)
        self.registration.start(self.stop)
        log.info("registrar: %s will be %s once /readyz answers 200", key, advertise)
        self._intercept(arbiter)

    def on_exit(self, arbiter: Any) -> None:
        self.stop.set()
        if self.registration is not None:
            self.registration.withdraw()

    def _intercept(self, arbiter: Any) -> None:
        # gunicorn's stop() closes the listening sockets first thing; withdrawing must come before,
        # so the arbiter's own handlers run only after the lease is revoked (and, on SIGTERM, after
        # nginx had DRAIN_SECONDS to reload without this server).
        for name, drain in (("term", self.settings.drain), ("int", 0.0), ("quit", 0.0)):
            original = getattr(arbiter, f"handle_{name}")
            setattr(arbiter, f"handle_{name}", self._withdrawing(original, drain, name))

    def _withdrawing(
        self, original: Callable[[], None], drain: float, name: str
    ) -> Callable[[], None]:
        def handler() -> None:
            self.stop.set()
            if self.registration is not None and self.registration.withdraw() and drain:
                log.info("SIG%s: draining %.1f s before closing the listeners", name.upper(), drain)
                time.sleep(drain)  # the drain is the point: requests keep being served meanwhile
            original()

        return handler


def gunicorn_hooks(
    overrides: Mapping[str, str | None] | None = None,
) -> dict[str, Callable[..., Any]]:
    """The server hooks for ``serve.py``: none unless ETCD_ENDPOINTS is set."""
    env = config.environ(overrides)
    if not config.etcd_configured(env):
        return {}
    return AppRegistrar(config.registrar_settings(env)).hooks()


def register_db(overrides: Mapping[str, str | None] | None = None) -> None:
    """``sampleapp register-db``: publish the database's DNS records while its port answers."""
    env = config.environ(overrides)
    settings = config.db_settings(env)
    config.configure_logging(env)
    host = settings.host or address_towards(settings.etcd.endpoints[0])
    try:
        ip = str(socket.getaddrinfo(host, settings.port, proto=socket.IPPROTO_TCP)[0][4][0])
    except OSError as exc:
        raise ConfigError(
            f"DB_ADVERTISE_HOST {host!r} does not resolve ({exc}): give an IP"
        ) from exc
    name = keys.normalize_name(f"{settings.name}.{settings.domain}")
    entries = {keys.dns_key(settings.skydns_prefix, name): keys.dns_record_value(ip, settings.port)}
    if settings.alias:
        alias = keys.normalize_name(f"{settings.alias}.{settings.domain}")
        entries[keys.dns_key(settings.skydns_prefix, alias)] = keys.dns_record_value(name)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    with EtcdClient(settings.etcd.endpoints, timeout=settings.etcd.timeout) as client:
        registration = Registration(client, entries, settings.ttl, tcp_ready(ip, settings.port))
        log.info("register-db: %s -> %s:%d once the port answers", name, ip, settings.port)
        # run() no longer refreshes the lease itself: the keepalive thread does (as in start()).
        threading.Thread(
            target=registration.keep_alive, args=(stop,), name="registrar-keepalive", daemon=True
        ).start()
        registration.run(stop)
        registration.withdraw()
