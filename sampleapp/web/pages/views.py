"""The static pages, and the home page that becomes the feed once signed in.

``render_home`` is shared with the micropost form, which re-renders the home page when a post
is rejected. Its queries are fixed whatever the page: the user with their three counts in one
query, the feed's count, and one page of the feed with its authors joined.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from sampleapp.web.microposts.forms import MicropostForm
from sampleapp.web.pagination import paginate
from sampleapp.web.users.models import User


def render_home(request: HttpRequest, form: MicropostForm, *, feed: bool = True) -> HttpResponse:
    user = User.objects.with_stats().get(pk=request.user.pk)
    items = user.feed().for_listing() if feed else user.feed().none()
    context = {"user": user, "form": form, "feed_items": paginate(request, items)}
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
