"""Per-request plumbing: the ``X-Served-By`` header and one log line per request.

``X-Served-By`` carries the instance id (``INSTANCE_ID``, default the host name) so that the
spread of a load balancer can be read from the responses. The log line goes to stdout, where the
container runtime collects it; it is written after the response, with its status and duration.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

log = logging.getLogger("sampleapp.requests")


class ServedByMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.instance = settings.INSTANCE_ID

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        response["X-Served-By"] = self.instance
        elapsed_ms = (time.perf_counter() - started) * 1000
        log.info(
            "%s %s %s %d %.1fms",
            self.instance,
            request.method,
            request.get_full_path(),
            response.status_code,
            elapsed_ms,
        )
        return response
