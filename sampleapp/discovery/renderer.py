"""The confd role: keep nginx's pool of app servers equal to etcd's registrations.

It watches ``/services/app/`` (no polling), and after a burst of changes has been quiet for
RENDER_DEBOUNCE seconds renders ``deploy/nginx/nginx.conf.j2``, writes it beside the live config,
checks it with ``nginx -t`` and only then renames it into place and sends SIGHUP to nginx, its
child. A rejected render (template error, nginx refusing it) is logged and dropped: the last good
config keeps serving (SIGHUP to the renderer re-renders after a template fix). Values from etcd
are validated as ``host:port`` before they reach the config.
Progress is counted in ``<runtime dir>/status.json`` (nginx PID, reloads, rejections, servers),
which tests, benchmarks and operators read.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import threading
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

import jinja2

from sampleapp.discovery import config, keys
from sampleapp.discovery.etcd import EtcdClient
from sampleapp.discovery.nginx import CONTROL_SOCKET, Nginx
from sampleapp.discovery.watch import PrefixMirror
from sampleapp.errors import ConfigError, DiscoveryError

log = logging.getLogger(__name__)

_ADDRESS = re.compile(r"^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]+):([0-9]{1,5})$")


@dataclass(frozen=True)
class Server:
    instance: str
    address: str


@dataclass
class Status:
    nginx_pid: int = 0
    generation: int = 0  # of the config nginx's workers answer with
    reloads: int = 0
    rejected: int = 0
    servers: list[str] = field(default_factory=list)
    last_error: str = ""


def servers_from(prefix: str, content: Mapping[str, str]) -> list[Server]:
    """The valid registrations under ``prefix``, in instance order (stable renders)."""
    servers = []
    for key, value in sorted(content.items()):
        try:
            instance = keys.instance_of(prefix, key)
        except ConfigError:
            log.warning("ignoring %s: not a registration key", key)
            continue
        match = _ADDRESS.match(value.strip())
        if match is None or not 0 < int(match.group(2)) < 65536:
            log.warning("ignoring %s = %r: expected host:port", key, value)
            continue
        servers.append(Server(instance, value.strip()))
    return servers


def render(settings: config.RendererSettings, servers: list[Server], generation: int = 1) -> str:
    """The nginx config for ``servers``, from the template file (re-read on every render)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(settings.template.parent),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    template = env.get_template(settings.template.name)
    return template.render(
        servers=[asdict(s) for s in servers],
        listen=settings.listen,
        static_root=settings.static_root,
        runtime_dir=settings.runtime_dir,
        access_log=settings.access_log,
        mime_types=settings.mime_types,
        user=settings.user,
        unavailable_page=settings.runtime_dir / "html" / "503.html",
        generation=generation,
        control_socket=settings.runtime_dir / CONTROL_SOCKET,
    )


class Renderer:
    """Watch -> debounce -> render -> ``nginx -t`` -> install -> SIGHUP, with nginx as a child."""

    def __init__(self, settings: config.RendererSettings) -> None:
        self.settings = settings
        self.nginx = Nginx(settings.nginx_bin, settings.runtime_dir)
        self.status = Status()
        self._installed = ""
        self._latest: dict[str, str] = {}
        self._changed = threading.Event()
        self._lock = threading.Lock()

    def on_change(self, content: dict[str, str]) -> None:
        with self._lock:
            self._latest = content
        self._changed.set()

    def rerender(self) -> None:
        """Render again without an etcd change (after editing the template: SIGHUP)."""
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
        (run / CONTROL_SOCKET).unlink(missing_ok=True)  # left by an nginx that was killed
        try:
            shutil.copyfile(self.settings.unavailable_page, run / "html" / "503.html")
        except OSError as exc:
            raise ConfigError(
                f"cannot copy the 503 page {self.settings.unavailable_page} ({exc.strerror}): "
                "set NGINX_UNAVAILABLE_PAGE to an HTML file"
            ) from exc

    def apply(self, content: Mapping[str, str]) -> bool:
        """Render ``content``; install and reload if it differs and nginx accepts it."""
        servers = servers_from(self.settings.prefix, content)
        generation = self.status.generation
        try:
            if render(self.settings, servers, generation) == self._installed:
                return False
            text = render(self.settings, servers, generation + 1)
        except (jinja2.TemplateError, OSError) as exc:
            return self._reject(f"template {self.settings.template} failed: {exc}")
        candidate = self.nginx.conf.with_name("nginx.conf.new")
        candidate.write_text(text)
        problem = self.nginx.check(candidate)
        if problem:
            candidate.unlink(missing_ok=True)
            return self._reject(f"nginx -t rejected the rendered config: {problem}")
        os.replace(candidate, self.nginx.conf)
        self._installed = text
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

    def run(self, stop: threading.Event) -> None:
        s = self.settings
        self.prepare()
        client = EtcdClient(s.etcd.endpoints, timeout=s.etcd.timeout)
        mirror = PrefixMirror(client, s.prefix, self.on_change)
        mirror.start(stop)
        if not mirror.synced.wait(5 * s.etcd.timeout):
            log.warning("etcd not answering yet: starting with no server (503) until it does")
        self._changed.clear()
        with self._lock:
            first = dict(self._latest)
        if not self.apply(first) and not self._installed:
            raise DiscoveryError(f"the first config was rejected: {self.status.last_error}")
        self.nginx.start(self.status.generation, s.listen)
        self.status.nginx_pid = self.nginx.pid
        self.write_status()
        try:
            self._loop(stop)
        finally:
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
            code = self.nginx.exit_code()
            if code is not None:
                raise DiscoveryError(
                    f"nginx exited unexpectedly with status {code}: see its log above"
                )
            if not self._changed.wait(0.5):
                continue
            # Debounce: wait for a quiet spell, but never longer than 4 spells in all.
            started = time.monotonic()
            self._changed.clear()
            while self._changed.wait(debounce) and time.monotonic() - started < 4 * debounce:
                self._changed.clear()
            with self._lock:
                latest = dict(self._latest)
            self.apply(latest)

    def _reject(self, reason: str) -> bool:
        self.status.rejected += 1
        self.status.last_error = reason
        log.error("%s; the last good config keeps serving", reason)
        self.write_status()
        return False


def main(overrides: Mapping[str, str | None] | None = None) -> None:
    """``sampleapp renderer``: run nginx, keep its server pool in step with etcd until SIGTERM."""
    env = config.environ(overrides)
    renderer = Renderer(config.renderer_settings(env))
    config.configure_logging(env)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    signal.signal(signal.SIGHUP, lambda *_: renderer.rerender())
    renderer.run(stop)
