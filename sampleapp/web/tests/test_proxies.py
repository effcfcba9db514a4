"""X-Forwarded-Proto counts only when the proxy sent it (the client address: test_throttle)."""

from __future__ import annotations

from typing import Any

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory

from sampleapp.web.proxies import ForwardedProtoMiddleware


def seen_as_secure(remote: str, **headers: str) -> bool:
    seen: list[bool] = []

    def view(request: HttpRequest) -> HttpResponse:
        seen.append(request.is_secure())
        return HttpResponse()

    request = RequestFactory().get("/", REMOTE_ADDR=remote, **headers)  # type: ignore[arg-type]
    ForwardedProtoMiddleware(view)(request)
    return seen[0]


@pytest.mark.parametrize(
    ("remote", "secure"), [("10.213.7.9", True), ("127.0.0.1", True), ("203.0.113.5", False)]
)
def test_https_is_believed_from_the_proxy_only(remote: str, secure: bool) -> None:
    assert seen_as_secure(remote, HTTP_X_FORWARDED_PROTO="https") is secure
    assert seen_as_secure(remote) is False


def test_the_trusted_networks_are_a_setting(settings: Any) -> None:
    settings.TRUSTED_PROXIES = ["192.0.2.10"]
    assert seen_as_secure("192.0.2.10", HTTP_X_FORWARDED_PROTO="https")
    assert not seen_as_secure("10.213.7.9", HTTP_X_FORWARDED_PROTO="https")
