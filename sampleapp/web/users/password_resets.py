"""Password reset (the Rails ``PasswordResetsController``): ask for a link, follow it, choose.

Asking answers the same whether the email is known or not (only a known one gets a mail), so the
page tells no one who has an account. The link is good once, for two hours; the new password
follows the sign-up rules, and setting it signs the user in here and out of every other session
(their session hashes no longer match the password).
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from sampleapp.web.users import mail
from sampleapp.web.users.access import sign_in
from sampleapp.web.users.forms import PasswordResetForm, PasswordResetRequestForm
from sampleapp.web.users.models import User
from sampleapp.web.users.throttle import limit_password_resets
from sampleapp.web.users.tokens import PASSWORD_RESET, LinkError


def new(request: HttpRequest) -> HttpResponse:
    return render(request, "users/password_reset_new.html", {"form": PasswordResetRequestForm()})


@limit_password_resets
def create(request: HttpRequest) -> HttpResponse:
    user = PasswordResetRequestForm(request.POST).user()
    if user is not None:
        mail.password_reset(request, user)
    messages.info(request, "If that email has an account, we sent it password reset instructions.")
    return redirect("root")


def edit(request: HttpRequest, token: str) -> HttpResponse:
    user = _user_or_none(request, token)
    if user is None:
        return redirect("new_password_reset")
    context = {"form": PasswordResetForm(), "token": token}
    return render(request, "users/password_reset_edit.html", context)


def update(request: HttpRequest, token: str) -> HttpResponse:
    user = _user_or_none(request, token)
    if user is None:
        return redirect("new_password_reset")
    form = PasswordResetForm(request.POST)
    if not form.is_valid():
        context = {"form": form, "token": token}
        return render(request, "users/password_reset_edit.html", context)
    user.reset_password(form.cleaned_data["password"])
    sign_in(request, user)  # a new session; the others no longer match the password
    messages.success(request, "Password has been reset.")
    return redirect("user", user.pk)


def _user_or_none(request: HttpRequest, token: str) -> User | None:
    try:
        return PASSWORD_RESET.user(token)
    except LinkError as error:
        messages.error(request, str(error))
        return None
