"""Which responses the app lets the proxy keep for every anonymous visitor (web/caching.py).

Through the real nginx, the same rules are tested end to end in tests/discovery/test_page_cache.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory

from sampleapp.web.caching import PageCacheMiddleware
from sampleapp.web.conftest import sign_in
from sampleapp.web.users.models import User

EXPIRES = "X-Accel-Expires"


@pytest.mark.django_db
def test_an_anonymous_page_is_marked_for_the_page_cache(client: Client) -> None:
    response = client.get("/help")
    assert response.status_code == 200
    assert response[EXPIRES] == str(settings.PAGE_CACHE_SECONDS)


def test_a_signed_in_users_page_is_never_marked(
    client: Client, make_user: Callable[..., User]
) -> None:
    sign_in(client, make_user())
    response = client.get("/")
    assert response.status_code == 200 and settings.SESSION_COOKIE_NAME in client.cookies
    assert EXPIRES not in response


@pytest.mark.django_db
def test_a_page_setting_a_cookie_is_never_marked(client: Client) -> None:
    response = client.get("/signin")  # its form's CSRF cookie
    assert response.cookies and EXPIRES not in response


@pytest.mark.django_db
def test_a_request_with_a_flash_message_cookie_is_never_marked(client: Client) -> None:
    client.cookies["messages"] = "anything"
    assert EXPIRES not in client.get("/help")


@pytest.mark.django_db
def test_what_is_not_an_html_page_is_never_marked(client: Client) -> None:
    assert EXPIRES not in client.get("/healthz")  # JSON: a health check must reach a server
    assert EXPIRES not in client.get("/users/999999")  # 404
    assert EXPIRES not in client.head("/nowhere")


@pytest.mark.parametrize(
    "cache_control", ["private", "no-store", "max-age=0, no-cache, must-revalidate", "max-age=0"]
)
def test_a_response_its_view_keeps_private_or_uncacheable_is_never_marked(
    rf: RequestFactory, cache_control: str
) -> None:
    def view(request: HttpRequest) -> HttpResponse:
        return HttpResponse("<p>mine</p>", headers={"Cache-Control": cache_control})

    assert EXPIRES not in PageCacheMiddleware(view)(rf.get("/"))


def test_page_cache_seconds_zero_marks_nothing(rf: RequestFactory, settings: Any) -> None:
    settings.PAGE_CACHE_SECONDS = 0
    middleware = PageCacheMiddleware(lambda request: HttpResponse("<p>anyone's</p>"))
    assert EXPIRES not in middleware(rf.get("/"))
