"""Users and sessions: sign up, profiles, the index, edit, admin delete, follow lists, sign in/out.

Function views of a few lines each, as the Rails controllers: access rules are the decorators
of ``access.py``, data comes from the model's verbs and ``with_stats()``. Signing in is Django's
``login()`` on a database session whose cookie lasts twenty years (the Rails permanent
``remember_token``); signing out is ``logout()``, which deletes the session row, so a copied
cookie is dead everywhere. HTML forms reach PATCH and DELETE through ``_method``.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import logout, update_session_auth_hash
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from sampleapp.web import reads
from sampleapp.web.pagination import paginate
from sampleapp.web.users import mail
from sampleapp.web.users.access import admin_user, correct_user, sign_in, signed_in_user
from sampleapp.web.users.forms import ProfileForm, SessionForm, SignupForm
from sampleapp.web.users.models import User, UserQuerySet
from sampleapp.web.users.throttle import counted, limit_sign_ins, limit_sign_ups


def new(request: HttpRequest) -> HttpResponse:
    return render(request, "users/new.html", {"form": SignupForm()})


@limit_sign_ups
def create(request: HttpRequest) -> HttpResponse:
    form = SignupForm(request.POST)
    user = form.save() if form.is_valid() else None
    if user is None:
        return render(request, "users/new.html", {"form": form})
    mail.account_activation(request, user)
    messages.info(request, "Please check your email to activate your account.")
    return redirect("root")


@signed_in_user
def index(request: HttpRequest) -> HttpResponse:
    return render(request, "users/index.html", {"users": paginate(request, reads.active_users())})


def show(request: HttpRequest, pk: int) -> HttpResponse:
    user = reads.profile(pk)
    if user is None:
        raise Http404("No such user")
    microposts = paginate(request, reads.posts_of(user))
    is_own = user.pk == request.user.pk
    context = {"user": user, "microposts": microposts, "is_own": is_own}
    if request.user.is_authenticated and not is_own:  # the follow form's state
        context["relationship"] = request.user.relationship_with(user.pk)
    return render(request, "users/show.html", context)


@correct_user
def edit(request: HttpRequest, pk: int) -> HttpResponse:
    return render(request, "users/edit.html", {"form": ProfileForm(user=request.user)})


@correct_user
def update(request: HttpRequest, pk: int) -> HttpResponse:
    form = ProfileForm(request.POST, user=request.user)
    user = form.save() if form.is_valid() else None
    if user is None:
        return render(request, "users/edit.html", {"form": form})
    update_session_auth_hash(request, user)  # a new password signs out the other sessions
    messages.success(request, "Profile updated")
    return redirect("user", user.pk)


@admin_user
def destroy(request: HttpRequest, pk: int) -> HttpResponse:
    if pk == request.user.pk:  # the index shows no link for it; a forged request gets this
        messages.error(request, "You cannot delete your own account.")
        return redirect("users")
    get_object_or_404(User, pk=pk).delete()
    messages.success(request, "User destroyed.")
    return redirect("users")


def _show_follow(request: HttpRequest, pk: int, title: str, relation: str) -> HttpResponse:
    user = get_object_or_404(User.objects.active().with_stats(), pk=pk)
    users: UserQuerySet = getattr(user, relation)
    page = paginate(request, users.active().for_listing().order_by("id"))
    context = {"user": user, "users": page, "title": title}
    return render(request, "users/show_follow.html", context)


@signed_in_user
def following(request: HttpRequest, pk: int) -> HttpResponse:
    return _show_follow(request, pk, "Following", "followed_users")


@signed_in_user
def followers(request: HttpRequest, pk: int) -> HttpResponse:
    return _show_follow(request, pk, "Followers", "followers")


def signin(request: HttpRequest) -> HttpResponse:
    return render(request, "users/signin.html", {"form": SessionForm()})


@limit_sign_ins
def create_session(request: HttpRequest) -> HttpResponse:
    form = SessionForm(request.POST)
    user = form.find_user(request)
    unactivated = None if user else form.unactivated_user()
    if unactivated is not None:  # a new link, since the first may have expired
        mail.account_activation(request, unactivated)
        messages.warning(
            request, "Account not activated. Check your email for the activation link."
        )
        return counted(redirect("root"))  # each new link counts against the sign-in limits
    if user is None:
        error = "Invalid email/password combination"  # flash.now: this response only
        return render(request, "users/signin.html", {"form": form, "error": error})
    return_to = request.session.pop("return_to", None)
    sign_in(request, user)
    return redirect(return_to) if return_to else redirect("user", user.pk)


def signout(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    logout(request)
    return redirect("root")
