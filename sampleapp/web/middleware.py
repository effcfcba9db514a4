"""Per-request plumbing: the ``X-Served-By`` header, one log line per request, the
``Content-Security-Policy`` header, UTF-8 forms, ``_method``.

``X-Served-By`` carries the instance id (``INSTANCE_ID``, default the host name) so that the
spread of a load balancer can be read from the responses. The log line goes to stdout, where the
container runtime collects it; it is written after the response, with its status and duration.
HTML forms can only GET and POST, so a POST carrying ``_method=delete`` (or patch) is routed as
that method, the Rails convention that keeps the original URL map (``DELETE /signout``).
Every response says where its page may load from (``CONTENT_SECURITY_POLICY``, one setting): the
one script, the stylesheets and images of this site, avatars from Gravatar, nothing inline, so an
injected ``<script>`` or ``onclick`` would not run even if an escape were missed.
Forms are read as UTF-8 only, what every page here declares: a form body announcing another
charset is a 400 before anything reads it (Django decodes a form with the charset it is told,
and a codec that is not a text encoding, ``charset=base64``, would raise inside it: a 500).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, QueryDict

log = logging.getLogger("sampleapp.requests")
FORM_TYPE = "application/x-www-form-urlencoded"
FORM_TYPES = frozenset({FORM_TYPE, "multipart/form-data"})


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


class ContentSecurityPolicyMiddleware:
    """The ``Content-Security-Policy`` header on every response, pages and their error pages.

    Django 5.2 has none built in. The policy is a setting, the same for every page: no page has an
    inline script or style to allow. Django's debug pages (``DEBUG`` on, an error status) inline
    their styles and scripts; they go without it, so a traceback in development stays readable.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.policy = settings.CONTENT_SECURITY_POLICY

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not (settings.DEBUG and response.status_code >= 400):
            response["Content-Security-Policy"] = self.policy
        return response


class Utf8FormsMiddleware:
    """A form body in any charset but UTF-8 is a 400, as Django already answers a POST of
    ``application/x-www-form-urlencoded`` in another charset; here also multipart forms and
    the form bodies of PATCH, PUT and DELETE."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        charset = (request.content_params or {}).get("charset", "utf-8")
        if request.content_type in FORM_TYPES and charset.lower() != "utf-8":
            return HttpResponseBadRequest("Forms are accepted in UTF-8 only.")
        return self.get_response(request)


class MethodOverrideMiddleware:
    """Let an HTML form say PATCH or DELETE, as Rails' hidden ``_method`` field does.

    It runs as a view hook placed after ``CsrfViewMiddleware``, so the CSRF token of the POST
    body has been checked before the method changes. Only POST can be overridden, and only to
    PATCH, PUT or DELETE. A genuine PATCH/PUT/DELETE with a form body (from ``fetch``) gets that
    body parsed into ``request.POST`` too, so views read their fields one way.
    """

    OVERRIDABLE = frozenset({"PATCH", "PUT", "DELETE"})

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, *args: object) -> None:
        if request.method == "POST":
            wanted = request.POST.get("_method", "").upper()
            if wanted in self.OVERRIDABLE:
                request.method = wanted
        elif request.method in self.OVERRIDABLE and request.content_type == FORM_TYPE:
            request.POST = QueryDict(request.body, encoding=request.encoding)
