"""Access rules as decorators, the Rails before_filters of the sample app.

``signed_in_user`` remembers a GET's path (friendly forwarding) and sends the visitor to the
sign-in page with "Please sign in."; a POST or DELETE is only redirected, since replaying it
after sign-in would surprise. ``correct_user`` and ``admin_user`` send anyone else home
without a word, as the original did. Lookups that are scoped to the signed-in user (their own
microposts, their own relationships) need no decorator: they are a 404 for anyone else.

Remembering the path saves a session for someone who is not signed in: that session lasts an
hour (``FORWARDING_AGE``), not the twenty years of a signed-in one, so anonymous visits do not
leave rows forever (the migrate job's ``clearsessions`` deletes the expired ones); ``sign_in``
gives the session its full age back.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth import login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from sampleapp.web.users.models import User

View = Callable[..., HttpResponse]
FORWARDING_AGE = 60 * 60  # seconds a session holding only a path to come back to lasts


class SignedInRequest(HttpRequest):
    """The request a ``signed_in_user`` view receives: its user is a real ``User``."""

    user: User


def signed_in_user(view: View) -> View:
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.user.is_authenticated:
            return view(request, *args, **kwargs)
        if request.method == "GET":
            request.session["return_to"] = request.get_full_path()
            request.session.set_expiry(FORWARDING_AGE)
        messages.info(request, "Please sign in.")
        return redirect("signin")

    return wrapper


def sign_in(request: HttpRequest, user: User) -> None:
    """Log ``user`` in for good: the session keeps its data (the forwarding path) but no longer
    the short expiry of an anonymous one, so it lasts ``SESSION_COOKIE_AGE``."""
    login(request, user)
    request.session.set_expiry(None)


def correct_user(view: View) -> View:
    """Only the user themselves: ``pk`` in the URL must be the signed-in user's."""

    @wraps(view)
    def wrapper(request: HttpRequest, pk: int, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.user.pk != pk:
            return redirect("root")
        return view(request, pk, *args, **kwargs)

    return signed_in_user(wrapper)


def admin_user(view: View) -> View:
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not getattr(request.user, "admin", False):
            return redirect("root")
        return view(request, *args, **kwargs)

    return signed_in_user(wrapper)


def is_xhr(request: HttpRequest) -> bool:
    """An Ajax request (jquery_ujs' header, or a fetch asking for JSON)."""
    return request.headers.get("X-Requested-With") == "XMLHttpRequest" or (
        "application/json" in request.headers.get("Accept", "")
    )
