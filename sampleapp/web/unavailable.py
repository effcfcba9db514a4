"""A request the database outage stops is a 503 "try again" page, not a 500 "we have a bug".

Django turns an exception into a response at the layer where it happened (every middleware is
wrapped in ``convert_exception_to_response``), so no middleware sees them all: a session or user
loaded in a middleware fails past any ``process_exception``. Every uncaught exception does reach
``handler500``, called while it is being handled, whichever layer raised it. This handler answers
503 with ``Retry-After`` and the proxy's "unavailable" page (deploy/nginx/503.html, standalone,
since the layout would load the signed-in user) when that exception says the database cannot be
reached: ``OperationalError`` (refused, reset, shut down, too many connections) or
``InterfaceError`` (a connection already closed). Anything else stays Django's 500, so a real bug
still shows as one. Nothing is kept between requests: when the database answers again, the next
request is served. With ``DEBUG`` on, Django shows its traceback page instead, as for any error.
"""

from __future__ import annotations

import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.views import defaults

RETRY_AFTER_SECONDS = 5  # what the proxy's 503 page says too (deploy/nginx/nginx.conf.j2)


def database_unreachable(exc: BaseException | None) -> bool:
    return isinstance(exc, OperationalError | InterfaceError)


def server_error(request: HttpRequest) -> HttpResponse:
    """``handler500``: 503 when the database is unreachable, Django's 500 page otherwise."""
    if not database_unreachable(sys.exc_info()[1]):
        return defaults.server_error(request)
    response = HttpResponse(render_to_string("pages/unavailable.html"), status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response
