"""Run the microblog under gunicorn, the production server (port 9292 in deployments).

The server is started in-process through gunicorn's application API so that one command,
``sampleapp serve``, works the same on a laptop and in a container; the WSGI callable is loaded in
the workers only. It attaches no hooks and starts no thread in gunicorn's master, which forks:
registration in etcd is the ``web`` role's supervisor, a separate process that runs this command
as its child (``sampleapp/discovery/supervisor.py``). It also makes each response one write
(``WholeResponse``), so that a killed server never leaves a half-sent one.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gunicorn import util
from gunicorn.app.base import BaseApplication
from gunicorn.http import wsgi

from sampleapp import demo

SETTINGS_MODULE = "sampleapp.web.settings"


def use_django_settings() -> None:
    """Point Django at the project's settings unless the caller chose others."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", SETTINGS_MODULE)


@dataclass
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 2
    threads: int = 4


class WholeResponse(wsgi.Response):  # type: ignore[misc]
    """An HTTP/1 response whose status line and headers leave with the first body bytes.

    gunicorn sends the headers in one send() and the body in the next. An app server killed
    between the two leaves nginx a response it has begun to pass on and so cannot retry on another
    server: the client gets a truncated reply. Holding the headers until the body makes every
    non-streamed response (a Django page is one chunk) a single send(): a crash then leaves nginx
    nothing (a GET is retried elsewhere) or everything. Streamed and chunked bodies and bodiless
    responses still work, with the headers sent first as before.
    """

    _held = b""
    headers_sent: bool

    def send_headers(self) -> None:
        if self.headers_sent:
            return
        lines = [*self.default_headers(), *(f"{k}: {v}\r\n" for k, v in self.headers)]
        self._held = util.to_bytestring("{}\r\n".format("".join(lines)), "latin-1")
        self.headers_sent = True

    def _emit_body(self, data: bytes) -> None:
        if self._held and not self.chunked:
            held, self._held = self._held, b""
            util.write(self.sock, held + data)
            return
        self._flush_headers()
        super()._emit_body(data)

    def close(self) -> None:
        self.send_headers()
        self._flush_headers()
        super().close()

    def _flush_headers(self) -> None:
        if self._held:
            held, self._held = self._held, b""
            util.write(self.sock, held)


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, options: ServeOptions) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        o = self.options
        settings = {
            "bind": f"{o.host}:{o.port}",
            "workers": o.workers,
            "threads": o.threads,
            "worker_class": "gthread",
            "accesslog": None,  # the app logs one line per request itself
            "errorlog": "-",
            "graceful_timeout": 20,
            "proc_name": "sampleapp-web",
            # gunicorn's control socket defaults to one path per user: several servers on one
            # host would fight over it, and nothing here uses it.
            "control_socket_disable": True,
            # Files go through WholeResponse.write like every other body (nginx serves the
            # static files in deployments; this only concerns `make run`).
            "sendfile": False,
        }
        for key, value in settings.items():
            self.cfg.set(key, value)

    def load(self) -> Callable[..., Any]:
        from sampleapp.web.wsgi import application

        return application


def run(options: ServeOptions) -> None:
    """Serve until SIGTERM (graceful: requests in progress finish)."""
    use_django_settings()
    wsgi.Response = WholeResponse  # the class gunicorn's workers build HTTP/1 responses with
    _Gunicorn(options).run()


def _django() -> None:
    use_django_settings()
    import django

    django.setup()


def run_embedded(options: ServeOptions) -> None:
    """``make run``: migrate, collect static files and populate the SQLite app, then serve it.
    The port first: a second ``make run`` beside the first stops here, before any work, instead
    of in gunicorn's "Address already in use" after it."""
    from sampleapp.ops import preflight

    if options.host in {"127.0.0.1", "localhost"}:
        preflight.port_free(options.port, f"PORT (`PORT={options.port + 1} make run`)")
    _django()
    from sampleapp.web import embedded

    embedded.prepare()
    email, password = demo.LOGIN
    print(
        f"▶ Serving http://localhost:{options.port}  "
        f"(sign in as {email} / {password}; Ctrl-C stops)"
    )
    run(options)


def migrate_job(timeout: float) -> None:
    """The ``migrate`` container role: wait for the database, migrate and populate, once."""
    _django()
    from sampleapp.web import deployment

    deployment.run(timeout=timeout)
