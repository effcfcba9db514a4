"""The account mails (the Rails ``UserMailer``): activation and password reset, as plain text.

Each mail carries a one-time link (``tokens.py``) that starts with ``SITE_URL``, never with the
request's Host header: a forged Host would otherwise send a victim a reset link to another site,
carrying a valid token (outside production, with no SITE_URL, the link follows the request, so
``make run`` on any port works). Delivery is whatever ``EMAIL_*`` settings say: the console under
``make run``, SMTP in production.
"""

from __future__ import annotations

from django.conf import settings
from django.core.mail import send_mail
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse

from sampleapp.web.users.models import User
from sampleapp.web.users.tokens import ACTIVATION, PASSWORD_RESET


def _link(request: HttpRequest, path: str) -> str:
    return settings.SITE_URL + path if settings.SITE_URL else request.build_absolute_uri(path)


def _send(user: User, subject: str, template: str, url: str) -> None:
    body = render_to_string(template, {"user": user, "url": url})
    send_mail(subject, body, None, [user.email])


def account_activation(request: HttpRequest, user: User) -> None:
    path = reverse("edit_account_activation", args=[ACTIVATION.make(user)])
    url = _link(request, path)
    _send(user, "Account activation", "users/mail/account_activation.txt", url)


def password_reset(request: HttpRequest, user: User) -> None:
    path = reverse("edit_password_reset", args=[PASSWORD_RESET.make(user)])
    url = _link(request, path)
    _send(user, "Password reset", "users/mail/password_reset.txt", url)
