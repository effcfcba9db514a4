"""Follow and unfollow, with and without JavaScript (Rails RelationshipsController).

A plain form post redirects to the followed user's profile. An Ajax request (the page's
``follow.js`` sends ``X-Requested-With``) gets JSON instead: the new ``#follow_form`` HTML and
the followers count, which the script swaps in, as the original's ``create.js.erb`` did.
Unfollowing looks the relationship up among the signed-in user's own, so a stranger's id is a
404 (the original raised a 500), and following yourself is a 404 as well.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.loader import render_to_string

from sampleapp.web.relationships.forms import FollowForm
from sampleapp.web.relationships.models import Relationship
from sampleapp.web.users.access import SignedInRequest, is_xhr, signed_in_user
from sampleapp.web.users.models import User


def _respond(request: HttpRequest, user: User, relationship: Relationship | None) -> HttpResponse:
    if not is_xhr(request):
        return redirect("user", user.pk)
    context = {"user": user, "relationship": relationship}
    form = render_to_string("relationships/_follow_form.html", context, request=request)
    return JsonResponse({"follow_form": form, "followers": user.followers.count()})


@signed_in_user
def create(request: SignedInRequest) -> HttpResponse:
    others = User.objects.active().exclude(pk=request.user.pk)
    user = get_object_or_404(others, pk=FollowForm(request.POST).followed_pk())
    return _respond(request, user, request.user.follow(user))


@signed_in_user
def destroy(request: SignedInRequest, pk: int) -> HttpResponse:
    relationship = get_object_or_404(request.user.relationships.select_related("followed"), pk=pk)
    request.user.unfollow(relationship.followed)
    return _respond(request, relationship.followed, None)
