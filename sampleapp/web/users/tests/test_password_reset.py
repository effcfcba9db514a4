# mypy: disable-error-code="no-untyped-def"
"""Password reset (the later editions' chapter 12): ask, get a mail, follow its link, choose.

Mails go through a real SMTP server (the ``mailbox`` fixture); the tests follow the links found
in the messages received.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.test import Client

from sampleapp.web.conftest import click, sign_in
from sampleapp.web.users.models import User
from tests.support.html import Page
from tests.support.smtp import Mailbox

pytestmark = pytest.mark.django_db

ASKED = "If that email has an account, we sent it password reset instructions."
NEW = {"user[password]": "newpass1", "user[password_confirmation]": "newpass1"}


def ask_reset(client: Client, email: str) -> Page:
    page = Page(client.get("/password_resets/new"))
    return click(client, page, "Submit", **{"password_reset[email]": email})


def reset_path(client: Client, mailbox: Mailbox, user: User) -> str:
    ask_reset(client, user.email.upper())
    return urlsplit(mailbox.link(user.email, "password_resets")).path


def update_path(edit_path: str) -> str:
    return edit_path.removesuffix("/edit")


def signs_in(email: str, password: str) -> bool:
    data = {"session[email]": email, "session[password]": password}
    return Client().post("/sessions", data).status_code == 302


def test_the_sign_in_page_links_to_forgot_password(client: Client) -> None:
    page = Page(client.get("/signin"))
    assert page.has_link("Forgot password?", "/password_resets/new")
    assert Page(client.get("/password_resets/new")).has("h1", "Forgot password")


def test_asking_for_a_known_or_unknown_email_says_the_same_and_mails_only_the_known(
    client: Client, mailbox: Mailbox, user: User
) -> None:
    known = ask_reset(client, user.email)
    unknown = ask_reset(client, "nobody@example.com")
    for page in (known, unknown):
        assert [a.text for a in page.select("div.alert")] == [ASKED]
    assert [m["To"] for m in mailbox.messages] == [user.email]
    assert mailbox.messages[0]["Subject"] == "Password reset"


def test_a_reset_sets_the_password_signs_in_and_ends_the_other_sessions(
    client: Client, mailbox: Mailbox, user: User
) -> None:
    elsewhere = Client()
    sign_in(elsewhere, user)
    path = reset_path(client, mailbox, user)
    form = Page(client.get(path))
    assert form.has("h1", "Reset password")
    page = click(client, form, "Update password", **NEW)
    assert page.has("div.alert-success", "Password has been reset.")
    assert page.title.endswith(user.name)
    assert page.has_button("Sign out")
    assert elsewhere.get("/users").status_code == 302
    assert signs_in(user.email, "newpass1")
    assert not signs_in(user.email, "foobar")


def test_a_reset_link_works_once(client: Client, mailbox: Mailbox, user: User) -> None:
    path = reset_path(client, mailbox, user)
    client.post(update_path(path), {**NEW, "_method": "patch"})
    again = Client()
    page = Page(again.get(path, follow=True))
    assert page.has("div.alert-error", "This password reset link has already been used.")
    other = {"user[password]": "other12", "user[password_confirmation]": "other12"}
    again.post(update_path(path), {**other, "_method": "patch"})
    assert signs_in(user.email, "newpass1")
    assert not signs_in(user.email, "other12")


def test_an_expired_reset_link_says_so_and_changes_nothing(
    client: Client, mailbox: Mailbox, user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = reset_path(client, mailbox, user)
    now = time.time()
    monkeypatch.setattr("django.core.signing.time.time", lambda: now + 2 * 60 * 60 + 60)
    page = Page(client.get(path, follow=True))
    assert page.has("div.alert-error", "Password reset has expired.")
    assert page.has("h1", "Forgot password")
    client.post(update_path(path), {**NEW, "_method": "patch"})
    assert signs_in(user.email, "foobar")


def test_a_forged_reset_link_is_invalid_and_changes_nothing(
    client: Client, mailbox: Mailbox, user: User, make_user
) -> None:
    victim = make_user()
    path = reset_path(client, mailbox, user)
    forged = path.replace(path.split("/")[2], f"{victim.pk}:forged")
    page = Page(client.get(forged, follow=True))
    assert page.has("div.alert-error", "Invalid password reset link")
    client.post(update_path(forged), {**NEW, "_method": "patch"})
    assert signs_in(victim.email, "foobar")


def test_the_new_password_follows_the_sign_up_rules_and_the_link_stays_usable(
    client: Client, mailbox: Mailbox, user: User
) -> None:
    path = reset_path(client, mailbox, user)
    blank = click(client, Page(client.get(path)), "Update password")
    assert blank.select("#error_explanation li")[0].text == "* Password can't be blank"
    short = {"user[password]": "abc", "user[password_confirmation]": "abd"}
    page = click(client, Page(client.get(path)), "Update password", **short)
    assert [li.text for li in page.select("#error_explanation li")] == [
        "* Password is too short (minimum is 6 characters)",
        "* Password confirmation doesn't match Password",
    ]
    assert page.has("h1", "Reset password")
    assert signs_in(user.email, "foobar")
    assert click(client, Page(client.get(path)), "Update password", **NEW).has_button("Sign out")


def test_a_reset_of_an_inactive_account_activates_it(
    client: Client, mailbox: Mailbox, make_user
) -> None:
    user = make_user(activated=False)
    path = reset_path(client, mailbox, user)
    click(client, Page(client.get(path)), "Update password", **NEW)
    assert User.objects.get(pk=user.pk).activated is True


def test_reset_links_go_to_the_site_whatever_host_the_request_named(
    client: Client, mailbox: Mailbox, user: User, settings: Any
) -> None:
    """A forged Host header must not turn the mail into a link to another site carrying a
    valid token: production allows only SITE_URL's host and loopback, and links use SITE_URL."""
    settings.SITE_URL = "https://blog.example.com"
    settings.ALLOWED_HOSTS = ["blog.example.com", "localhost", "127.0.0.1", "[::1]"]
    form = {"password_reset[email]": user.email}
    forged = client.post("/password_resets", form, HTTP_HOST="evil.example")
    assert forged.status_code == 400
    assert mailbox.messages == []
    client.post("/password_resets", form, HTTP_HOST="localhost:8080")
    link = mailbox.link(user.email, "password_resets")
    assert link.startswith("https://blog.example.com/password_resets/")
