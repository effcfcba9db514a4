"""What the proxy in front says about a request, believed only when a trusted proxy says it.

nginx terminates TLS and connects to the app servers itself, so a request's own connection
tells neither the client's address nor whether it came over HTTPS: nginx adds both, as the last
``X-Forwarded-For`` entry and ``X-Forwarded-Proto``. Anyone reaching an app server directly
could send the same headers; they count only when the connection comes from one of
``TRUSTED_PROXIES`` (default loopback and the private networks the Compose and cluster networks
use).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse


def from_trusted_proxy(request: HttpRequest) -> bool:
    try:
        ip = ipaddress.ip_address(str(request.META.get("REMOTE_ADDR", "")))
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(net, strict=False) for net in settings.TRUSTED_PROXIES)


def client_address(request: HttpRequest) -> str:
    """The client's address: nginx's last X-Forwarded-For entry when nginx (a trusted proxy)
    made the connection, else the connection's own address."""
    remote = str(request.META.get("REMOTE_ADDR", ""))
    forwarded = str(request.META.get("HTTP_X_FORWARDED_FOR", ""))
    if forwarded and from_trusted_proxy(request):
        return forwarded.split(",")[-1].strip() or remote
    return remote


class ForwardedProtoMiddleware:
    """Drop ``X-Forwarded-Proto`` unless a trusted proxy sent it, before anything reads
    ``request.is_secure()`` (``SECURE_PROXY_SSL_HEADER`` believes the header from anyone)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if "HTTP_X_FORWARDED_PROTO" in request.META and not from_trusted_proxy(request):
            del request.META["HTTP_X_FORWARDED_PROTO"]
        return self.get_response(request)
