"""Account activation (the Rails ``AccountActivationsController``): the link from the sign-up mail.

A valid link activates the account and signs its owner in; a used, expired or forged one says
so and changes nothing (signing in with the right password to an inactive account mails a new
link, see ``views.create_session``).
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from sampleapp.web.users.access import sign_in
from sampleapp.web.users.tokens import ACTIVATION, LinkError


def edit(request: HttpRequest, token: str) -> HttpResponse:
    try:
        user = ACTIVATION.user(token)
    except LinkError as error:
        messages.error(request, str(error))
        return redirect("root")
    user.activate()
    sign_in(request, user)
    messages.success(request, "Account activated!")
    return redirect("user", user.pk)
