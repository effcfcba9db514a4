"""The cheapest page gunicorn can serve: a WSGI function answering every request with the bytes of
the signed-out home page (about 2 kB), no framework. ``make bench-app`` runs it under gunicorn as
``sampleapp serve`` runs the app, so that the table shows what the server costs before Django
does anything (``/readyz`` too: wait_ready asks it)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

BODY = b"<!DOCTYPE html>" + b"x" * 1956  # the signed-out home page's size, 1,971 bytes


def app(environ: dict[str, object], start_response: Callable[..., object]) -> Iterable[bytes]:
    start_response(
        "200 OK",
        [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(BODY)))],
    )
    return [BODY]
