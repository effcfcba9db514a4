"""One-time links for account activation and password reset: Django's signed, timestamped tokens.

A token signs the user's id and a fingerprint of the state the link is meant to change (not yet
activated; the current password hash). Nothing is stored: once the link has done its work the
fingerprint no longer matches, so the same link then says it was used. The signature (salted per
purpose with ``SECRET_KEY``) makes a forged or edited link invalid, and its timestamp makes it
expire: 24 hours for activation, 2 hours for a password reset, as in the Rails Tutorial.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.core import signing
from django.utils.crypto import salted_hmac

from sampleapp.web.users.models import User


class LinkError(Exception):
    """The link cannot be used; the message says why, for the flash."""


@dataclass(frozen=True)
class OneTimeLink:
    purpose: str
    max_age: int  # seconds
    state: Callable[[User], str]
    invalid: str
    expired: str
    used: str

    def make(self, user: User) -> str:
        return signing.dumps([user.pk, self._fingerprint(user)], salt=self.purpose, compress=True)

    def user(self, token: str) -> User:
        """The user the link was made for, or LinkError saying why it cannot be used."""
        try:
            pk, fingerprint = signing.loads(token, salt=self.purpose, max_age=self.max_age)
        except signing.SignatureExpired as exc:
            raise LinkError(self.expired) from exc
        except (signing.BadSignature, ValueError, TypeError) as exc:
            raise LinkError(self.invalid) from exc
        user: User | None = User.objects.filter(pk=pk).first() if isinstance(pk, int) else None
        if user is None:
            raise LinkError(self.invalid)
        if fingerprint != self._fingerprint(user):
            raise LinkError(self.used)
        return user

    def _fingerprint(self, user: User) -> str:
        return salted_hmac(self.purpose, self.state(user), algorithm="sha256").hexdigest()[:16]


ACTIVATION = OneTimeLink(
    purpose="sampleapp.users.activation",
    max_age=24 * 60 * 60,
    state=lambda user: f"{user.pk}:{user.activated}",
    invalid="Invalid activation link",
    expired="This activation link has expired: sign in to get a new one.",
    used="This activation link has already been used: the account is active, sign in.",
)

PASSWORD_RESET = OneTimeLink(
    purpose="sampleapp.users.password_reset",
    max_age=2 * 60 * 60,
    state=lambda user: f"{user.pk}:{user.password}",
    invalid="Invalid password reset link",
    expired="Password reset has expired.",
    used="This password reset link has already been used.",
)
