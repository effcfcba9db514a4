"""Check everything before changing anything.

``up``, ``cluster create`` and ``release`` call these first: the engine answers (started if it is
installed but stopped) and is recent enough, a Compose flavour exists, the credentials are there,
and the host port is free. Only when all pass do they create a network, volume or container, so
a missing secret costs nothing to fix (getsentry/self-hosted's "Pre-flight. No impact yet.").
"""

from __future__ import annotations

import socket

from sampleapp.errors import PreflightError
from sampleapp.ops import compose, engine, secrets, tls
from sampleapp.ops.settings import Settings


def credentials(settings: Settings) -> None:
    """POSTGRES_USER and EMAIL_URL set (environment or deploy/.env), every secret file present,
    the TLS certificate given or makeable."""
    if not settings.env.get("POSTGRES_USER", "").strip():
        raise PreflightError(
            "POSTGRES_USER is not set: export POSTGRES_USER=sampleapp, or put it in deploy/.env "
            "(see deploy/env.example)"
        )
    for secret in secrets.missing(settings):
        raise PreflightError(
            f"{secret.variable} is not set: create {secret.path(settings)} "
            "(`sampleapp secrets init` makes random ones; see deploy/env.example)"
        )
    for secret in secrets.unreadable(settings):
        path = secret.path(settings)
        raise PreflightError(
            f"{path} is not readable by the containers' users: `chmod 644 {path}` "
            "(keep its directory private instead: `chmod 700` on it)"
        )
    tls.check(settings)
    if not settings.env.get("EMAIL_URL", "").strip():
        raise PreflightError(
            "EMAIL_URL is not set: the app mails activation and password reset links. Export "
            "EMAIL_URL=smtp+tls://user:password@smtp.example.com:587 (or console:// to print "
            "the mails to the log), or put it in deploy/.env (see deploy/env.example)"
        )


def port_free(port: int, variable: str, owner_running: bool = False) -> None:
    """A host port of the proxy is free on 127.0.0.1, unless our own proxy already holds it."""
    if owner_running:
        return
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            raise PreflightError(
                f"Port {port} on 127.0.0.1 is taken ({exc.strerror}): stop what uses it "
                f"(`ss -ltnp 'sport = :{port}'`) or set {variable}"
            ) from exc


def stack(settings: Settings) -> None:
    """Everything `sampleapp up` needs, before it touches anything."""
    engine.ensure_engine()
    compose.flavour()
    credentials(settings)
    running = any(c.state == "running" for c in compose.containers(settings, "proxy"))
    port_free(settings.port, "SAMPLEAPP_PORT", owner_running=running)
    port_free(settings.tls_port, "SAMPLEAPP_TLS_PORT", owner_running=running)
