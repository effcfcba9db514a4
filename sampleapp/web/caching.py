"""Mark the pages nginx may keep for a few seconds and give to every anonymous visitor.

The proxy caches only what carries ``X-Accel-Expires`` (deploy/nginx/nginx.conf.j2), which nginx
reads and never passes on. A page gets it only when it cannot be anyone's own: a GET or HEAD
answered 200 with HTML, to a request with no session or flash-message cookie, setting no cookie
(a form's CSRF cookie, a session), and not marked private or uncacheable by its view. nginx holds
the same rules on its side (a request with those cookies neither reads nor fills the cache, a
response setting a cookie is never stored), so one side's mistake is not enough to leak a page.
``PAGE_CACHE_SECONDS`` (a setting; 0 turns it off) bounds how old a page an anonymous visitor can
see: a new post shows within it.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.contrib.messages.storage.cookie import CookieStorage
from django.http import HttpRequest, HttpResponse
from django.utils.cache import get_max_age

UNCACHEABLE = ("private", "no-store", "no-cache")


class PageCacheMiddleware:
    """Adds ``X-Accel-Expires: PAGE_CACHE_SECONDS`` to the responses any visitor could get."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.seconds = settings.PAGE_CACHE_SECONDS
        self.personal_cookies = (settings.SESSION_COOKIE_NAME, CookieStorage.cookie_name)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if self.seconds > 0 and self.shared(request, response):
            response["X-Accel-Expires"] = str(self.seconds)
        return response

    def shared(self, request: HttpRequest, response: HttpResponse) -> bool:
        """Whether ``response`` is the page any anonymous visitor gets for this URL."""
        cache_control = response.get("Cache-Control", "").lower()
        return (
            request.method in ("GET", "HEAD")
            and response.status_code == 200
            and response.get("Content-Type", "").startswith("text/html")
            and not any(name in request.COOKIES for name in self.personal_cookies)
            and not response.cookies
            and not any(word in cache_control for word in UNCACHEABLE)
            and get_max_age(response) != 0  # max-age=0: the view says not to keep it
        )
