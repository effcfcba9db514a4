"""The confd role: keep nginx's pool of app servers equal to etcd's registrations.

It watches ``/services/app/`` (no polling), and after a burst of changes has been quiet for
RENDER_DEBOUNCE seconds renders ``deploy/nginx/nginx.conf.j2``, writes it beside the live config,
checks it with ``nginx -t`` and only then renames it into place and sends SIGHUP to nginx, its
child. A rejected render (template error, nginx refusing it) is logged and dropped: the last good
config keeps serving (SIGHUP to the renderer re-renders after a template fix).

Nothing from etcd reaches the config unless ``keys.parse_registration`` accepted it: a refused
entry is dropped, logged once, listed in the status, and the other servers go on. When etcd
suddenly lists no server at all while nginx has some (etcd frozen past the lease TTL expires every
lease at once on its return), the last pool is kept for RENDER_HOLD_DOWN seconds while the servers
register again: any non-empty set applies at once, an empty one only once it has lasted the
hold-down. ``<runtime dir>/status.json`` (``Status``) is what tests, benchmarks and operators read.
On SIGTERM (a proxy being replaced) nginx serves DRAIN_SECONDS more before it stops, while what
routes to this proxy forgets it; a second signal ends the drain.

Every RENDER_PROBE_INTERVAL seconds the renderer also opens a TCP connection to each server of
the pool, from nginx's own network namespace, and lists in the status the ones it cannot reach
(``unreachable``, with the error and since when). nginx passes a request on to the next server
when a connect fails, so no request is lost; but a registered server that the proxy cannot reach
is capacity lost without a word. That happens on Swarm: Docker's overlay network can fail to
learn a restarted machine's containers (moby#47728, moby#53141), and ``sampleapp status`` names
it from this list. The server stays in the pool: a connect that fails costs nginx little.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field

import jinja2

from sampleapp.discovery import config, keys
from sampleapp.discovery.etcd import EtcdClient
from sampleapp.discovery.keys import Server
from sampleapp.discovery.nginx import Nginx
from sampleapp.discovery.registrar import connect_error
from sampleapp.discovery.watch import PrefixMirror
from sampleapp.errors import ConfigError, DiscoveryError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Refusal:
    """A registration that did not pass ``keys.parse_registration``, and why."""

    key: str
    value: str
    reason: str


@dataclass
class Status:
    nginx_pid: int = 0
    generation: int = 0  # of the config nginx's workers answer with
    reloads: int = 0
    rejected: int = 0  # renders that nginx -t or the template refused
    servers: list[str] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)  # registrations dropped, now
    holding: bool = False  # etcd lists no server; nginx keeps the last pool (RENDER_HOLD_DOWN)
    last_error: str = ""
    unreachable: list[Unreachable] = field(default_factory=list)  # in the pool, not connecting


@dataclass(frozen=True)
class Unreachable:
    """A server of the pool that the proxy could not connect to, at its last probe."""

    server: str  # instance=address
    error: str
    since: float  # time.time() of the first failed probe in a row


def servers_from(prefix: str, content: Mapping[str, str]) -> tuple[list[Server], list[Refusal]]:
    """The registrations under ``prefix`` that may be rendered, in instance order, and the rest."""
    servers, refused = [], []
    for key, value in sorted(content.items()):
        try:
            servers.append(keys.parse_registration(prefix, key, value))
        except DiscoveryError as exc:
            refused.append(Refusal(key, value, str(exc)))
    return servers, refused


def render(settings: config.RendererSettings, servers: list[Server], generation: int = 1) -> str:
    """The nginx config for ``servers``, from the template file (re-read on every render)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(settings.template.parent),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    return env.get_template(settings.template.name).render(
        vars(settings),  # listen, static_root, runtime_dir, user ...
        servers=[asdict(s) for s in servers],
        unavailable_page=settings.runtime_dir / "html" / "503.html",
        generation=generation,
        control_socket=settings.runtime_dir / config.CONTROL_SOCKET,
    )


class Renderer:
    """Watch -> debounce -> validate -> render -> ``nginx -t`` -> install -> SIGHUP."""

    def __init__(self, settings: config.RendererSettings) -> None:
        self.settings = settings
        self.nginx = Nginx(settings.nginx_bin, settings.runtime_dir)
        self.status = Status()
        self._installed = ""
        self._applied: list[Server] = []  # the pool in the installed config
        self._hold_until: float | None = None  # monotonic end of the hold-down, while holding
        self._latest: Mapping[str, str] = {}  # the mirror's latest content, replaced whole
        self._changed = threading.Event()
        self._next_probe = 0.0  # monotonic

    def on_change(self, content: dict[str, str]) -> None:
        self._latest = content
        self._changed.set()

    def prepare(self) -> None:
        """Create the runtime directory nginx works in (config, pid, temp files, 503 page)."""
        run = self.settings.runtime_dir
        if not self.settings.template.is_file():
            raise ConfigError(
                f"the nginx template {self.settings.template} does not exist: set NGINX_CONF_DIR "
                "to a copy of the repository's deploy/nginx (or NGINX_TEMPLATE to the file)"
            )
        for path in (run, run / "tmp", run / "html"):
            path.mkdir(parents=True, exist_ok=True)
            path.chmod(0o755)  # nginx workers may run as another user
        self.nginx.stop_leftover()  # an earlier renderer's nginx would keep the port
        (run / config.CONTROL_SOCKET).unlink(missing_ok=True)  # left by an nginx that was killed
        try:
            shutil.copyfile(self.settings.unavailable_page, run / "html" / "503.html")
        except OSError as exc:
            raise ConfigError(
                f"cannot copy the 503 page {self.settings.unavailable_page} ({exc.strerror}): "
                "set NGINX_UNAVAILABLE_PAGE to an HTML file"
            ) from exc

    def apply(self, content: Mapping[str, str]) -> bool:
        """Render ``content``; install and reload if it differs and nginx accepts it."""
        servers, refused = servers_from(self.settings.prefix, content)
        self._note_refusals(refused)
        generation = self.status.generation
        try:
            if self._hold(servers) or render(self.settings, servers, generation) == self._installed:
                self.write_status()
                return False
            text = render(self.settings, servers, generation + 1)
        except (jinja2.TemplateError, OSError) as exc:
            return self._reject(f"template {self.settings.template} failed: {exc}")
        candidate = self.nginx.conf.with_name("nginx.conf.new")
        candidate.write_text(text)
        if problem := self.nginx.check(candidate):
            candidate.unlink(missing_ok=True)
            return self._reject(f"nginx -t rejected the rendered config: {problem}")
        os.replace(candidate, self.nginx.conf)
        self._installed, self._applied = text, servers
        self.status.generation = generation + 1
        self.status.servers = [f"{s.instance}={s.address}" for s in servers]
        self.status.last_error = ""
        if self.nginx.process is not None:
            started = time.monotonic()
            self.nginx.reload()
            self.status.reloads += 1
            applied = self.nginx.wait_generation(self.status.generation)
            log.info(
                "reload #%d of nginx %d %s in %.0f ms: %d server(s) %s",
                self.status.reloads,
                self.nginx.pid,
                "applied" if applied else "NOT CONFIRMED",
                (time.monotonic() - started) * 1000,
                len(servers),
                " ".join(self.status.servers) or "(none: 503 page)",
            )
        self.write_status()
        return True

    def run(self, stop: threading.Event, drain: Callable[[], object] | None = None) -> None:
        """Serve until ``stop``, then ``drain()`` with nginx still serving, then stop nginx; call
        it from the main thread (nginx dies with its spawner)."""
        s = self.settings
        self.prepare()
        client = EtcdClient(s.etcd.endpoints, timeout=s.etcd.timeout)
        mirror = PrefixMirror(client, s.prefix, self.on_change)
        mirror.start(stop)
        if not mirror.synced.wait(5 * s.etcd.timeout):
            log.warning("etcd not answering yet: starting with no server (503) until it does")
        self._changed.clear()
        if not self.apply(self._latest) and not self._installed:
            raise DiscoveryError(f"the first config was rejected: {self.status.last_error}")
        self.nginx.start(self.status.generation, s.listen)
        self.status.nginx_pid = self.nginx.pid
        self.write_status()
        try:
            self._loop(stop)
        finally:
            if drain is not None:
                drain()
            self.nginx.stop()
            client.close()

    def write_status(self) -> None:
        path = self.settings.runtime_dir / "status.json"
        tmp = path.with_name("status.json.new")
        tmp.write_text(json.dumps(asdict(self.status), indent=2))
        os.replace(tmp, path)

    def _loop(self, stop: threading.Event) -> None:
        debounce = self.settings.debounce
        while not stop.is_set():
            if (code := self.nginx.exit_code()) is not None:
                raise DiscoveryError(
                    f"nginx exited unexpectedly with status {code}: see its log above"
                )
            if not self._changed.wait(self._idle_wait()):
                if self._hold_until is not None and time.monotonic() >= self._hold_until:
                    self.apply(self._latest)  # the hold-down is over
                elif self.settings.probe_interval and time.monotonic() >= self._next_probe:
                    self.probe()
                continue
            # Debounce: wait for a quiet spell, but never longer than 4 spells in all.
            started = time.monotonic()
            self._changed.clear()
            while self._changed.wait(debounce) and time.monotonic() - started < 4 * debounce:
                self._changed.clear()
            self.apply(self._latest)

    def probe(self) -> None:
        """Connect to each server of the pool once (1 s each at most) and list the failures."""
        self._next_probe = time.monotonic() + self.settings.probe_interval
        before = {u.server: u for u in self.status.unreachable}
        now = []
        for server in self._applied:
            name = f"{server.instance}={server.address}"
            host, _, port = server.address.rpartition(":")
            if error := connect_error(host.strip("[]"), int(port), timeout=1.0):
                since = before[name].since if name in before else time.time()
                if name not in before:
                    log.warning("cannot connect to %s: %s", name, error)
                now.append(Unreachable(name, error, since))
        for name in before.keys() - {u.server for u in now}:
            log.info("%s answers again", name)
        if now or before:
            self.status.unreachable = now
            self.write_status()

    def _idle_wait(self) -> float:
        """How long the loop may sleep: until the next check of nginx, or the hold-down's end."""
        until = self._hold_until
        return 0.5 if until is None else min(0.5, max(0.0, until - time.monotonic()))

    def _hold(self, servers: list[Server]) -> bool:
        """Whether to keep the installed pool instead of applying ``servers`` (module docstring)."""
        now, hold_down = time.monotonic(), self.settings.hold_down
        if not servers and self._applied and hold_down > 0:
            if self._hold_until is None:
                self._hold_until, self.status.holding = now + hold_down, True
                log.warning(
                    "etcd lists no app server: nginx keeps the last %d for up to %.1f s "
                    "(RENDER_HOLD_DOWN) while they register again",
                    len(self._applied),
                    hold_down,
                )
            if now < self._hold_until:
                return True
            log.warning(
                "no app server registered for %.1f s (RENDER_HOLD_DOWN): applying the empty pool",
                hold_down,
            )
        elif self._hold_until is not None:
            log.info("app servers registered again: the hold-down ends")
        self._hold_until, self.status.holding = None, False
        return False

    def _note_refusals(self, refused: list[Refusal]) -> None:
        """Log each refused key/value once (not on every render); list them in the status."""
        for refusal in refused:
            if refusal not in self.status.refused:
                log.warning("%s", refusal.reason)
        self.status.refused = refused

    def _reject(self, reason: str) -> bool:
        self.status.rejected += 1
        self.status.last_error = reason
        log.error("%s; the last good config keeps serving", reason)
        self.write_status()
        return False


def main(overrides: Mapping[str, str | None] | None = None) -> None:
    """``sampleapp renderer``: run nginx, keep its server pool in step with etcd until SIGTERM."""
    env = config.environ(overrides)
    settings = config.renderer_settings(env)
    renderer = Renderer(settings)
    config.configure_logging(env)
    stop, terminated, hurry = threading.Event(), threading.Event(), threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        if stop.is_set():
            hurry.set()  # a second signal ends the drain
        if signum == signal.SIGTERM:
            terminated.set()
        stop.set()

    def drain() -> None:
        """After SIGTERM (a proxy being replaced), serve DRAIN_SECONDS more before nginx closes
        its ports: Swarm takes a leaving proxy off its DNS name 2 s before stopping it and the
        cluster's edge asks again every second, but on a starved machine a connection could
        still reach this proxy just as nginx stopped accepting, and fail."""
        if terminated.is_set() and settings.drain and not hurry.is_set():
            log.info(
                "SIGTERM: serving %.1f s more before nginx stops (a second signal ends it)",
                settings.drain,
            )
            hurry.wait(settings.drain)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_signal)
    signal.signal(signal.SIGHUP, lambda *_: renderer._changed.set())  # a template fix
    renderer.run(stop, drain)
