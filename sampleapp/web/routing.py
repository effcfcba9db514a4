"""Rails-style routing: one path, one view per HTTP method.

Django maps a path to one view; the Rails app maps a path and a verb (``GET /users/1`` shows,
``PATCH /users/1`` updates, ``DELETE /users/1`` destroys). ``verbs()`` keeps that table readable
in each app's urls.py and answers 405 for a verb the path does not have. Forms reach PATCH and
DELETE through ``_method`` (see ``middleware.MethodOverrideMiddleware``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed

View = Callable[..., HttpResponse]


def verbs(**views: View) -> View:
    """A view that hands the request to ``views[request.method]``, e.g. ``verbs(GET=show)``."""
    if "GET" in views:
        views.setdefault("HEAD", views["GET"])
    allowed = sorted(views)

    def dispatch(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        view = views.get(request.method or "")
        if view is None:
            return HttpResponseNotAllowed(allowed)
        return view(request, *args, **kwargs)

    return dispatch
