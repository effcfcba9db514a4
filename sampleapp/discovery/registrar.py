"""Announce a server in etcd under a lease while it is ready; withdraw it before it stops.

The thesis wrote ``/services/app/<ip>`` in ``ExecStartPost`` and deleted it in ``ExecStop``, so a
crashed server stayed in nginx's pool forever. Here a ``Registration`` puts its keys under a
lease it keeps alive, only after the server proved ready (``/readyz`` 200 for an app server, an open
TCP port for the database), and withdraws when readiness fails twice. A ``kill -9`` stops the
keepalives: the key dies with the lease. It also watches its own keys: when etcd drops them (a lost
lease, e.g. every lease expiring at once after etcd was frozen, or a hand deletion) it registers
again at once rather than at the next keepalive, so the renderer's hold-down bridges the gap.
Two registrars of the same record (``register-db`` during a start-first update: the new task
starts before the old one stops) do not fight over it: the last to register holds it, the other
leaves it alone while it holds the same value, so the old task's withdrawal deletes nothing, and
it takes the record back when it disappears (the holder died).
``Registration.run`` is the one loop of both registering roles (``supervisor.py``), run outside
any process that forks.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Mapping, Sequence
from urllib.parse import urlsplit

import httpx

from sampleapp.discovery.etcd import EtcdClient
from sampleapp.discovery.watch import PrefixMirror
from sampleapp.errors import ConfigError, DiscoveryError

log = logging.getLogger(__name__)

Check = Callable[[], bool]
_RETRY = 0.5  # seconds between attempts while etcd does not answer


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
        self.lease: int | None = None  # while registered
        self._lock = threading.Lock()  # held for every lease change and every etcd write
        self._closed = threading.Event()
        self._wake = threading.Event()  # something happened to our keys: look now
        self._ceded: set[str] = set()  # our keys that another registrar holds with our value

    def run(self) -> None:
        """Register when ready, withdraw when not, start over whenever the lease is lost.

        Returns once ``withdraw()`` was called. Two helper threads run beside it: the keepalive,
        on its own schedule whatever readiness checks take, and the watch on the own keys."""
        threading.Thread(target=self._keep_alive, name="registrar-keepalive", daemon=True).start()
        prefix = os.path.commonpath(sorted(self.entries))  # keys are /-separated paths
        PrefixMirror(self.client, prefix, self._check, idle=self.lease_ttl).start(self._closed)
        failures = 0
        while not self._closed.is_set():
            if self.lease is None:
                if not (self.ready() and self._register()):
                    self._pause(0.25)
                failures = 0
                continue
            if self._pause(max(self.ttl / 3, 0.5)):
                self._refresh()  # woken by the watch: is the lease still there?
                continue
            if self._closed.is_set():
                break
            failures = 0 if self.ready() else failures + 1
            if failures >= 2:  # one slow answer under load is not a reason to leave
                log.warning("%s is not ready any more: withdrawing it", ", ".join(self.entries))
                with self._lock:
                    self._revoke()

    def update(self, entries: Mapping[str, str]) -> None:
        """New values for the keys (the database's new address), written at once when
        registered; else at the next registration."""
        with self._lock:
            self.entries = dict(entries)
            self._ceded.clear()
            if self.lease is None or self._closed.is_set():
                return
            try:
                self.client.put_all(self.entries, lease=self.lease)
            except DiscoveryError as exc:  # the next refresh writes them
                log.warning("could not write the new values yet: %s", exc)

    def withdraw(self) -> bool:
        """Revoke the lease now and end ``run``; True when a registration was withdrawn."""
        self._closed.set()
        self._wake.set()
        with self._lock:
            return self._revoke()

    def _pause(self, seconds: float) -> bool:
        """Wait ``seconds`` or until woken; True when woken by news about our keys."""
        woken = self._wake.wait(seconds)
        self._wake.clear()
        return woken and not self._closed.is_set()

    def _keep_alive(self) -> None:
        """Refresh the lease three times per lease TTL, whatever readiness checks are doing."""
        while not self._closed.wait(self.lease_ttl / 3):
            self._refresh()

    def _revoke(self) -> bool:
        lease, self.lease = self.lease, None
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
            if self._closed.is_set():
                return False
            try:
                lease = self.client.grant(self.lease_ttl)
                self.client.put_all(self.entries, lease=lease)  # the db name and its alias at once
            except DiscoveryError as exc:
                log.warning("registration failed, retrying: %s", exc)
                self._closed.wait(_RETRY)
                return False
            self.lease = lease
            self._ceded.clear()
        pairs = ", ".join(f"{k} = {v}" for k, v in self.entries.items())
        log.info("registered %s (lease %x, TTL %d s)", pairs, lease, self.lease_ttl)
        return True

    def _refresh(self) -> None:
        with self._lock:
            if self._closed.is_set() or self.lease is None:
                return
            try:
                if self.client.keepalive(self.lease) == 0:
                    log.warning(
                        "lease %x was lost (etcd expired it, restarted or was emptied): "
                        "registering again",
                        self.lease,
                    )
                    self.lease = None
                    self._wake.set()  # the loop registers again without waiting its turn
                    return
                for key, value in self.entries.items():
                    current = self.client.get(key)
                    # The lease our value is held under (0: none); None when missing or changed.
                    held = current.lease if current is not None and current.value == value else None
                    if held == self.lease:
                        self._ceded.discard(key)
                        continue
                    if held:  # our value under another lease: another registrar of it holds it
                        if key not in self._ceded:
                            self._ceded.add(key)
                            log.info(
                                "%s is registered under lease %x too (another registrar of "
                                "it, e.g. the new task of a rolling update): leaving it to it",
                                key,
                                held,
                            )
                        continue
                    if key in self._ceded and current is None:
                        log.info("%s was left by the registrar that held it: taking it back", key)
                    else:
                        log.warning("%s was changed behind our back: writing it again", key)
                    self.client.put(key, value, lease=self.lease)
                    self._ceded.discard(key)
            except DiscoveryError as exc:
                log.warning(
                    "keepalive failed (%s); the lease lives %d s without one", exc, self.lease_ttl
                )

    def _check(self, content: Mapping[str, str]) -> None:
        """Wake the loop as soon as etcd deletes or changes one of our keys (the watch)."""
        changed = [key for key, value in self.entries.items() if content.get(key) != value]
        if changed and self.lease is not None:
            log.warning("%s changed in etcd: checking the lease now", ", ".join(changed))
            self._wake.set()


def http_ready(url: str, timeout: float) -> Check:
    """A check that is true when ``url`` answers 200 (the app server's ``/readyz``); with
    ``Connection: close``, so that no idle connection stays in the server."""
    client = httpx.Client(timeout=timeout, trust_env=False, headers={"Connection": "close"})

    def check() -> bool:
        try:
            return client.get(url).status_code == 200
        except httpx.HTTPError:
            return False

    return check


def connect_error(host: str, port: int, timeout: float) -> str:
    """Why ``host:port`` refuses a TCP connection, or "" when it accepts one."""
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        return str(exc) or type(exc).__name__
    return ""


def address_towards(endpoints: Sequence[str]) -> str:
    """The local IP this machine uses to reach the first of ``endpoints`` that resolves (what its
    peers can reach us at): in a Swarm, a member that is down is not in the engine's DNS."""
    failures = []
    for endpoint in endpoints:
        host = urlsplit(endpoint).hostname or "127.0.0.1"
        try:
            family, _, _, _, addr = socket.getaddrinfo(host, 2379, proto=socket.IPPROTO_UDP)[0]
            with socket.socket(family, socket.SOCK_DGRAM) as probe:
                probe.connect(addr)  # UDP connect sends nothing: it only picks the route
                return str(probe.getsockname()[0])
        except OSError as exc:
            failures.append(f"{host}: {exc}")
    raise ConfigError(
        f"cannot work out this machine's address towards etcd ({'; '.join(failures)}): "
        "set ADVERTISE_ADDR (host:port) or DB_ADVERTISE_HOST"
    )
