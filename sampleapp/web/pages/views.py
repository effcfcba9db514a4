"""The static pages, and the home page that becomes the feed once signed in.

``render_home`` is shared with the micropost form, which re-renders the home page when a post
is rejected. Its queries are fixed whatever the page, each one line of SQL (web/reads.py): the
user with their three counts and the feed's total, and one page of the feed with its authors.
"""

from __future__ import annotations

from typing import cast

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from sampleapp.web import reads
from sampleapp.web.microposts.forms import MicropostForm
from sampleapp.web.pagination import paginate


def render_home(request: HttpRequest, form: MicropostForm, *, feed: bool = True) -> HttpResponse:
    pk = cast(int, request.user.pk)  # signed in: home and the micropost form see to it
    found = reads.home(pk)
    if found is None:  # deleted or deactivated since the session was read
        raise Http404("No such user")
    user, feed_items = found
    context = {"user": user, "form": form, "feed_items": feed and paginate(request, feed_items)}
    return render(request, "pages/home.html", context)


def home(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return render(request, "pages/home.html")
    return render_home(request, MicropostForm())


def help(request: HttpRequest) -> HttpResponse:
    return render(request, "pages/help.html")


def about(request: HttpRequest) -> HttpResponse:
    return render(request, "pages/about.html")


def contact(request: HttpRequest) -> HttpResponse:
    return render(request, "pages/contact.html")
