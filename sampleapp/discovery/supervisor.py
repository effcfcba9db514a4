"""The registering roles as processes: ``web`` (gunicorn as a child) and ``register-db``.

gunicorn's master forks its workers, and a registrar living in the master (as it first did) leaked
what its threads held at fork time into the workers: an OpenSSL lock (a PBKDF2 deadlock), then the
readiness probe's open connection (a worker whose graceful close waited 2 s for itself). So the
``web`` role is two processes. This supervisor starts ``sampleapp serve`` first, before it has any
thread or socket, under ``setpriv --pdeathsig TERM`` (a ``kill -9`` of the supervisor takes
gunicorn with it), and only then runs the registration loop against the child's ``/readyz`` from
outside. SIGTERM revokes the lease, drains DRAIN_SECONDS (a second signal ends the drain), stops
gunicorn and exits with its status; a gunicorn that dies by itself is withdrawn at once and the
supervisor exits non-zero so the container restarts. Signals are blocked and taken with
``sigwaitinfo`` in the main thread: no handler runs in the middle of an etcd call. As a
container's PID 1 it also reaps the orphans it inherits.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sampleapp.discovery import config, keys
from sampleapp.discovery.etcd import EtcdClient
from sampleapp.discovery.registrar import (
    Registration,
    address_towards,
    connect_error,
    http_ready,
)
from sampleapp.errors import ConfigError
from sampleapp.poll import Pending, poll

log = logging.getLogger(__name__)

STOP = {signal.SIGTERM, signal.SIGINT}
WATCHED = {*STOP, signal.SIGCHLD}


@dataclass(frozen=True)
class WebOptions:
    host: str = "0.0.0.0"
    port: int = 9292
    workers: int = 2


def web(options: WebOptions) -> int:
    """``sampleapp web``: gunicorn registered while ready; without ETCD_ENDPOINTS, gunicorn only."""
    env = config.environ()
    if not config.etcd_configured(env):
        from sampleapp import serve

        serve.run(serve.ServeOptions(options.host, options.port, options.workers))
        return 0
    settings = config.registrar_settings(env)
    config.configure_logging(env)
    advertise = settings.advertise
    if not advertise:  # the address towards etcd when bound to every one
        wildcard = options.host in {"0.0.0.0", "::", ""}
        endpoints = settings.etcd.endpoints
        host = eventually("etcd", lambda: address_towards(endpoints)) if wildcard else options.host
        advertise = f"{_bracketed(host)}:{options.port}"
    local = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(options.host, options.host)
    readyz = f"http://{_bracketed(local)}:{options.port}/readyz"
    key = keys.service_key(settings.prefix, settings.instance_id)
    child = subprocess.Popen(serve_command(options))  # first: no thread or socket exists yet
    signal.pthread_sigmask(signal.SIG_BLOCK, WATCHED)  # inherited by every thread started next
    try:
        with EtcdClient(settings.etcd.endpoints, timeout=settings.etcd.timeout) as client:
            ready = http_ready(readyz, max(2.0, settings.ttl / 3))
            registration = Registration(client, {key: advertise}, settings.ttl, ready)
            log.info("web: %s will be %s once %s answers 200", key, advertise, readyz)
            return hold(registration, child, settings.drain)
    finally:
        if child.poll() is None:  # only after an unexpected error: never leave gunicorn behind
            child.kill()
            child.wait()


def register_db(overrides: Mapping[str, str | None] | None = None) -> int:
    """``sampleapp register-db``: publish the database's DNS records while its port answers.

    The host is resolved again at every readiness check: in a Swarm, ``db`` names a task, whose
    address changes when it is started anew, and which the engine's DNS may not know yet when
    this starts (a rolling update on a busy machine). So a name that does not resolve is waited
    for, not a reason to exit, and a new address is published under the same lease."""
    env = config.environ(overrides)
    settings = config.db_settings(env)
    config.configure_logging(env)
    host = settings.host or eventually("etcd", lambda: address_towards(settings.etcd.endpoints))
    name = keys.normalize_name(f"{settings.name}.{settings.domain}")
    alias = keys.normalize_name(f"{settings.alias}.{settings.domain}") if settings.alias else ""

    def entries(ip: str) -> dict[str, str]:
        found = {
            keys.dns_key(settings.skydns_prefix, name): keys.dns_record_value(ip, settings.port)
        }
        if alias:
            found[keys.dns_key(settings.skydns_prefix, alias)] = keys.dns_record_value(name)
        return found

    # Before signals are blocked (eventually's docstring).
    ip = eventually(f"DB_ADVERTISE_HOST {host!r}", lambda: resolve(host, settings.port))
    signal.pthread_sigmask(signal.SIG_BLOCK, WATCHED)

    def ready() -> bool:  # the registration's check, run by its loop
        nonlocal ip
        try:
            now = resolve(host, settings.port)
        except OSError as exc:
            log.warning("%s does not resolve now (%s): the database is not ready", host, exc)
            return False
        if now != ip:
            log.info("register-db: %s is at %s now (was %s)", host, now, ip)
            ip = now
            registration.update(entries(ip))
        return not connect_error(ip, settings.port, timeout=1.0)

    with EtcdClient(settings.etcd.endpoints, timeout=settings.etcd.timeout) as client:
        registration = Registration(client, entries(ip), settings.ttl, ready)
        log.info("register-db: %s -> %s:%d once the port answers", name, ip, settings.port)
        return hold(registration)


def resolve(host: str, port: int) -> str:
    """``host``'s first address; OSError when it does not resolve."""
    return str(socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)[0][4][0])


def eventually(name: str, find: Callable[[], str]) -> str:
    """``find()``'s answer once it has one (``name``: what must resolve).

    In a Swarm the engine's DNS may not know a name yet (a task just started, on a busy machine)
    or any more (an etcd member that is down): a name that does not resolve is waited for,
    saying so every few seconds, not a reason to exit, which a rolling update counts as a
    failed task and rolls back. Run before any signal is blocked: SIGTERM ends the wait as it
    ends any process. A typo in a setting shows in the warnings, and in the health check, which
    stays unhealthy."""
    said = -math.inf

    def check() -> str | Pending:
        nonlocal said
        try:
            return find()
        except (OSError, ConfigError) as exc:
            if time.monotonic() - said >= 5.0:
                log.warning("%s does not resolve yet (%s): waiting for it", name, exc)
                said = time.monotonic()
            return Pending(str(exc))

    return poll(f"Waiting for {name} to resolve", check, math.inf, interval=0.5)


def serve_command(options: WebOptions) -> list[str]:
    """``sampleapp serve`` under ``setpriv --pdeathsig TERM`` (util-linux): it dies with us."""
    setpriv = config.setpriv("gunicorn runs under it so that it never outlives the web role")
    serve = ["serve", "--host", options.host, "--port", str(options.port)]
    return [
        *(setpriv, "--pdeathsig", "TERM", "--", sys.executable, "-m", "sampleapp.cli"),
        *(*serve, "--workers", str(options.workers)),
    ]


def hold(
    registration: Registration, child: subprocess.Popen[bytes] | None = None, drain: float = 0.0
) -> int:
    """Run ``registration`` until SIGTERM or SIGINT (or the child's death), then withdraw it; with
    a child, drain (on SIGTERM, after a withdrawal) and stop it as the module docstring says. The
    caller has blocked ``WATCHED`` before starting any thread."""
    threading.Thread(target=registration.run, name="registrar", daemon=True).start()
    signum = _wait(child)
    withdrew = registration.withdraw()  # from here on the loop touches etcd no more
    if child is None:
        return 0
    if signum is None:
        code = _status(child.returncode)
        log.error(
            "gunicorn exited by itself with status %d; %s: exiting so that it is restarted",
            code,
            "its registration was withdrawn" if withdrew else "it was not registered",
        )
        return code or 1
    if withdrew and drain and signum == signal.SIGTERM:
        log.info("SIGTERM: draining %.1f s before stopping gunicorn (a second one ends it)", drain)
        signal.sigtimedwait(STOP, drain)
    child.send_signal(signum)
    while (signum := _wait(child)) is not None:
        child.send_signal(signum)  # a second Ctrl-C reaches gunicorn too
    return _status(child.returncode)


def _wait(child: subprocess.Popen[bytes] | None) -> int | None:
    """The next SIGTERM or SIGINT (its number), or None once ``child`` has exited."""
    while True:
        _reap_orphans(child)
        if child is not None and child.poll() is not None:
            return None
        if (signum := signal.sigwaitinfo(WATCHED).si_signo) in STOP:
            return signum


def _reap_orphans(child: subprocess.Popen[bytes] | None) -> None:
    """Reap exited processes that were reparented to us (as PID 1); the child is Popen's."""
    while True:
        try:
            info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return
        if info is None or (child is not None and info.si_pid == child.pid):
            return
        os.waitpid(info.si_pid, 0)


def _status(returncode: int | None) -> int:
    """An exit status for ours: a child killed by signal N gives 128 + N, as a shell does."""
    code = returncode or 0
    return 128 - code if code < 0 else code


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host
