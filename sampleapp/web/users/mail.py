"""The account mails (the Rails ``UserMailer``): activation and password reset, as plain text.

Each mail carries a one-time link (``tokens.py``) made absolute from the request, so it points at
the host the visitor used. Delivery is whatever ``EMAIL_*`` settings say: the console under
``make run``, SMTP in production.
"""

from __future__ import annotations

from django.core.mail import send_mail
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse

from sampleapp.web.users.models import User
from sampleapp.web.users.tokens import ACTIVATION, PASSWORD_RESET


def _send(user: User, subject: str, template: str, url: str) -> None:
    body = render_to_string(template, {"user": user, "url": url})
    send_mail(subject, body, None, [user.email])


def account_activation(request: HttpRequest, user: User) -> None:
    path = reverse("edit_account_activation", args=[ACTIVATION.make(user)])
    url = request.build_absolute_uri(path)
    _send(user, "Account activation", "users/mail/account_activation.txt", url)


def password_reset(request: HttpRequest, user: User) -> None:
    path = reverse("edit_password_reset", args=[PASSWORD_RESET.make(user)])
    url = request.build_absolute_uri(path)
    _send(user, "Password reset", "users/mail/password_reset.txt", url)
