# mypy: disable-error-code="no-untyped-def"
"""Account activation (the later editions' chapter 11): sign up, get a mail, follow its link.

Mails go through a real SMTP server (the ``mailbox`` fixture); the tests follow the links found
in the messages received.
"""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import pytest
from django.test import Client

from sampleapp.web.conftest import SIGNUP, sign_in
from sampleapp.web.users.models import User
from tests.support.html import Page
from tests.support.smtp import Mailbox

pytestmark = pytest.mark.django_db

A_DAY = 24 * 60 * 60


def sign_up(client: Client) -> Page:
    return Page(client.post("/users", SIGNUP, follow=True))


def activation_path(mailbox: Mailbox, client: Client) -> str:
    sign_up(client)
    return urlsplit(mailbox.link("user@example.com", "account_activations")).path


def test_signing_up_makes_an_inactive_account_and_asks_to_check_email(
    client: Client, mailbox: Mailbox
) -> None:
    page = sign_up(client)
    assert page.has("div.alert-notice", "Please check your email to activate your account.")
    assert page.has_link("Sign in", "/signin")  # not signed in
    assert User.objects.get(email="user@example.com").activated is False
    (message,) = mailbox.to("user@example.com")
    assert message["Subject"] == "Account activation"
    assert message["From"] == "noreply@example.com"


def test_following_the_activation_link_activates_and_signs_in(
    client: Client, mailbox: Mailbox
) -> None:
    page = Page(client.get(activation_path(mailbox, client), follow=True))
    user = User.objects.get(email="user@example.com")
    assert user.activated is True and user.activated_at is not None
    assert page.has("div.alert-success", "Account activated!")
    assert page.title.endswith("Example User")
    assert page.has_button("Sign out")


def test_an_activation_link_works_once(client: Client, mailbox: Mailbox) -> None:
    path = activation_path(mailbox, client)
    client.get(path)
    again = Client()
    page = Page(again.get(path, follow=True))
    assert page.has("div.alert-error", "This activation link has already been used")
    assert page.has_link("Sign in", "/signin")


def test_an_expired_activation_link_says_so_and_activates_nothing(
    client: Client, mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = activation_path(mailbox, client)
    now = time.time()
    monkeypatch.setattr("django.core.signing.time.time", lambda: now + A_DAY + 60)
    page = Page(client.get(path, follow=True))
    assert page.has("div.alert-error", "This activation link has expired")
    assert User.objects.get(email="user@example.com").activated is False
    assert page.has_link("Sign in", "/signin")


def test_a_forged_activation_link_is_invalid(client: Client, mailbox: Mailbox) -> None:
    path = activation_path(mailbox, client)
    token = path.split("/")[2]
    forged = path.replace(token, token[:-3] + ("AAA" if token[-3:] != "AAA" else "BBB"))
    page = Page(client.get(forged, follow=True))
    assert page.has("div.alert-error", "Invalid activation link")
    assert User.objects.get(email="user@example.com").activated is False


def test_an_inactive_user_cannot_sign_in_and_gets_a_new_link(
    client: Client, mailbox: Mailbox
) -> None:
    sign_up(client)
    data = {"session[email]": "user@example.com", "session[password]": "foobar"}
    page = Page(client.post("/sessions", data, follow=True))
    assert page.has(
        "div.alert-warning", "Account not activated. Check your email for the activation link."
    )
    assert page.has_link("Sign in", "/signin")
    assert len(mailbox.to("user@example.com")) == 2
    wrong = Page(client.post("/sessions", {**data, "session[password]": "wrong!"}))
    assert wrong.has("div.alert-error", "Invalid email/password combination")


def test_inactive_users_are_not_listed_and_their_pages_are_not_found(
    client: Client, make_user
) -> None:
    me = make_user()
    inactive = make_user(name="Not Yet Active", activated=False)
    inactive.follow(me)
    client.force_login(me)
    index = Page(client.get("/users"))
    assert index.has_link(me.name) and not index.has_link("Not Yet Active")
    assert not Page(client.get(f"/users/{me.pk}/followers")).has_link("Not Yet Active")
    for path in ("", "/following", "/followers"):
        assert client.get(f"/users/{inactive.pk}{path}").status_code == 404
    response = client.post("/relationships", {"relationship[followed_id]": inactive.pk})
    assert response.status_code == 404
    assert not me.is_following(inactive)


def test_a_session_of_a_user_made_inactive_signs_in_no_longer(client: Client, user: User) -> None:
    sign_in(client, user)
    User.objects.filter(pk=user.pk).update(activated=False)
    assert Page(client.get("/")).has_link("Sign in", "/signin")


def test_new_activation_links_by_sign_in_are_limited_like_failed_sign_ins(
    client: Client, mailbox: Mailbox
) -> None:
    """Whoever signed up with someone else's address knows the password: each sign-in would
    mail that address a new link. They count as attempts: 5 per account, then a 429."""
    sign_up(client)
    data = {"session[email]": "user@example.com", "session[password]": "foobar"}
    statuses = [client.post("/sessions", data).status_code for _ in range(6)]
    assert statuses == [302] * 5 + [429]
    assert len(mailbox.to("user@example.com")) == 1 + 5  # the sign-up's, then 5 new links
