"""Run the microblog under gunicorn, the production server (port 9292 in deployments).

The server is started in-process through gunicorn's application API so that one command,
``sampleapp serve``, works the same on a laptop and in a container; the WSGI callable is loaded in
the workers only. This module is glue between the web app and the discovery code: it names
the Django settings module for gunicorn and attaches the registrar's server hooks when etcd
endpoints are configured, so that no app server runs without announcing itself.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gunicorn.app.base import BaseApplication

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
    hooks: dict[str, Callable[..., Any]] = field(default_factory=dict)


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
            **o.hooks,
        }
        for key, value in settings.items():
            self.cfg.set(key, value)

    def load(self) -> Callable[..., Any]:
        from sampleapp.web.wsgi import application

        return application


def run(options: ServeOptions) -> None:
    use_django_settings()
    _Gunicorn(options).run()
