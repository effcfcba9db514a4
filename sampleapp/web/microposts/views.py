"""Posting and deleting microposts (Rails MicropostsController).

A rejected post re-renders the home page at ``/microposts`` with the error partial, the typed
text still in the box and an empty feed, as the original did. Deleting is a lookup scoped to the
signed-in user's own posts, so anyone else's post is a 404 and nothing is deleted.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect

from sampleapp.web.microposts.forms import MicropostForm
from sampleapp.web.pages.views import render_home
from sampleapp.web.users.access import SignedInRequest, signed_in_user


@signed_in_user
def create(request: SignedInRequest) -> HttpResponse:
    form = MicropostForm(request.POST)
    if not form.is_valid():
        return render_home(request, form, feed=False)
    form.save(request.user)
    messages.success(request, "Micropost created!")
    return redirect("root")


@signed_in_user
def destroy(request: SignedInRequest, pk: int) -> HttpResponse:
    get_object_or_404(request.user.microposts, pk=pk).delete()
    return redirect("root")
