# mypy: disable-error-code="no-untyped-def"
"""spec/requests/authentication_pages_spec.rb and features/signing_in.feature."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlsplit

import pytest
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

from sampleapp.web.conftest import click, sign_in
from sampleapp.web.microposts.models import Micropost
from sampleapp.web.users.models import User
from tests.support.html import Page
from tests.support.smtp import Mailbox

pytestmark = pytest.mark.django_db


def test_signin_page_has_heading_and_title(client: Client) -> None:
    page = Page(client.get("/signin"))
    assert page.has("h1", "Sign in")
    assert page.title == "Ruby on Rails Tutorial Sample App | Sign in"


def test_signin_with_invalid_information_shows_an_error(client: Client) -> None:
    page = Page(client.post("/sessions", {"session[email]": "", "session[password]": ""}))
    assert "Sign in" in page.title
    assert page.has("div.alert.alert-error", "Invalid")


def test_signin_error_is_gone_after_visiting_another_page(client: Client) -> None:
    client.post("/sessions", {"session[email]": "", "session[password]": ""})
    assert not Page(client.get("/")).has("div.alert.alert-error")


def test_wrong_password_gives_no_hint_which_part_was_wrong(client: Client, user: User) -> None:
    wrong_password = Page(
        client.post("/sessions", {"session[email]": user.email, "session[password]": "wrong!"})
    )
    wrong_email = Page(
        client.post(
            "/sessions", {"session[email]": "nobody@example.com", "session[password]": "foobar"}
        )
    )
    for page in (wrong_password, wrong_email):
        assert [a.text for a in page.select("div.alert")] == ["Invalid email/password combination"]
    assert page.select("#session_email")[0].get("value") == "nobody@example.com"
    assert not page.select("#session_password")[0].get("value")


def test_signin_with_valid_information_shows_profile_and_account_links(
    client: Client, user: User
) -> None:
    page = sign_in(client, user, email=user.email.upper())
    assert page.title == f"Ruby on Rails Tutorial Sample App | {user.name}"
    assert page.has_link("Users", "/users")
    assert page.has_link("Profile", f"/users/{user.pk}")
    assert page.has_link("Settings", f"/users/{user.pk}/edit")
    assert page.has_button("Sign out", action="/signout")
    assert not page.has_link("Sign in", "/signin")


def test_signing_out_shows_the_sign_in_link_again(client: Client, user: User) -> None:
    page = click(client, sign_in(client, user), "Sign out")
    assert page.has_link("Sign in", "/signin")
    assert not page.has_button("Sign out")


def test_sign_out_invalidates_the_session_on_the_server(client: Client, user: User) -> None:
    sign_in(client, user)
    stolen = Client()
    stolen.cookies["sessionid"] = client.cookies["sessionid"].value
    assert stolen.get("/users").status_code == 200
    click(client, Page(client.get("/")), "Sign out")
    assert stolen.get("/users").status_code == 302


def test_signin_lasts_across_browser_restarts(client: Client, user: User) -> None:
    sign_in(client, user)
    cookie = client.cookies["sessionid"]
    assert cookie["max-age"] >= 60 * 60 * 24 * 365
    assert cookie["httponly"]


def test_get_signout_is_not_routed(client: Client) -> None:
    assert client.get("/signout").status_code == 405


class TestForNonSignedInUsers:
    def test_protected_page_is_shown_after_signing_in(self, client: Client, user: User) -> None:
        page = Page(client.get(f"/users/{user.pk}/edit", follow=True))
        assert page.title.endswith("Sign in")
        assert page.has("div.alert.alert-notice", "Please sign in.")
        page = sign_in(client, user)
        assert page.title.endswith("Edit user")

    def test_forwarding_is_used_once(self, client: Client, user: User) -> None:
        client.get(f"/users/{user.pk}/edit")
        sign_in(client, user)
        click(client, Page(client.get("/")), "Sign out")
        assert sign_in(client, user).title.endswith(user.name)

    @pytest.mark.parametrize(
        "path", ["/users/{pk}/edit", "/users", "/users/{pk}/following", "/users/{pk}/followers"]
    )
    def test_protected_pages_redirect_to_sign_in(
        self, client: Client, user: User, path: str
    ) -> None:
        page = Page(client.get(path.format(pk=user.pk), follow=True))
        assert page.title.endswith("| Sign in")

    def test_submitting_to_the_update_action_redirects_to_sign_in(
        self, client: Client, user: User
    ) -> None:
        response = client.post(f"/users/{user.pk}", {"_method": "patch"})
        assert response.status_code == 302
        assert response["Location"] == "/signin"

    def test_micropost_create_and_destroy_redirect_to_sign_in(
        self, client: Client, user: User
    ) -> None:
        post = Micropost.objects.create(user=user, content="Lorem ipsum")
        assert client.post("/microposts", {"micropost[content]": "Hi"})["Location"] == "/signin"
        response = client.post(f"/microposts/{post.pk}", {"_method": "delete"})
        assert response["Location"] == "/signin"
        assert Micropost.objects.count() == 1

    def test_relationship_create_and_destroy_redirect_to_sign_in(self, client: Client) -> None:
        assert client.post("/relationships")["Location"] == "/signin"
        assert client.delete("/relationships/1")["Location"] == "/signin"

    def test_a_post_is_not_remembered_for_forwarding(self, client: Client, user: User) -> None:
        client.post(f"/users/{user.pk}", {"_method": "patch"})
        assert sign_in(client, user).title.endswith(user.name)

    def test_a_visit_to_a_protected_page_leaves_a_session_that_expires_within_a_day(
        self, client: Client, user: User
    ) -> None:
        client.get(f"/users/{user.pk}/edit")
        session = Session.objects.get()  # it holds the page to come back to
        assert session.expire_date <= timezone.now() + dt.timedelta(days=1)

    @pytest.mark.parametrize("how", ["sign in", "activation link"])
    def test_signing_in_after_that_visit_keeps_the_session_for_years(
        self, client: Client, user: User, how: str, mailbox: Mailbox
    ) -> None:
        client.get(f"/users/{user.pk}/edit")
        if how == "sign in":
            sign_in(client, user)
        else:
            client.post(
                "/users",
                {
                    "user[name]": "New User",
                    "user[email]": "new@example.com",
                    "user[password]": "foobar",
                    "user[password_confirmation]": "foobar",
                },
            )
            link = mailbox.link("new@example.com", "account_activations")
            client.get(urlsplit(link).path)
        cookie = client.cookies["sessionid"]
        session = Session.objects.get(session_key=cookie.value)
        assert session.expire_date >= timezone.now() + dt.timedelta(days=365 * 19)
        assert cookie["max-age"] >= 60 * 60 * 24 * 365 * 19


class TestAsWrongUser:
    @pytest.fixture
    def wrong_user(self, make_user):
        return make_user(email="wrong@example.com")

    def test_editing_someone_else_redirects_home(
        self, client: Client, user: User, wrong_user: User
    ) -> None:
        client.force_login(user)
        response = client.get(f"/users/{wrong_user.pk}/edit")
        assert "Edit user" not in response.content.decode()
        assert response["Location"] == "/"

    def test_updating_someone_else_redirects_home_and_changes_nothing(
        self, client: Client, user: User, wrong_user: User
    ) -> None:
        client.force_login(user)
        response = client.post(
            f"/users/{wrong_user.pk}",
            {
                "_method": "patch",
                "user[name]": "Hacked",
                "user[email]": "wrong@example.com",
                "user[password]": "foobar",
                "user[password_confirmation]": "foobar",
            },
        )
        assert response["Location"] == "/"
        wrong_user.refresh_from_db()
        assert wrong_user.name != "Hacked"


def test_non_admin_cannot_delete_a_user(client: Client, make_user) -> None:
    user, non_admin = make_user(), make_user()
    client.force_login(non_admin)
    response = client.delete(f"/users/{user.pk}")
    assert response["Location"] == "/"
    assert User.objects.filter(pk=user.pk).exists()


@pytest.mark.parametrize("how", ["DELETE", "POST _method=delete"])
def test_an_admin_cannot_delete_their_own_account(client: Client, make_user, how: str) -> None:
    admin = make_user(admin=True)
    client.force_login(admin)
    if how == "DELETE":
        response = client.delete(f"/users/{admin.pk}")
    else:
        response = client.post(f"/users/{admin.pk}", {"_method": "delete"})
    assert response.status_code == 302
    assert User.objects.filter(pk=admin.pk).exists()


def test_forged_delete_without_csrf_token_is_refused(make_user) -> None:
    admin, victim = make_user(admin=True), make_user()
    forger = Client(enforce_csrf_checks=True)
    forger.force_login(admin)
    response = forger.post(f"/users/{victim.pk}", {"_method": "delete"})
    assert response.status_code == 403
    assert User.objects.filter(pk=victim.pk).exists()


def test_signin_form_without_csrf_token_is_refused(user: User) -> None:
    browser = Client(enforce_csrf_checks=True)
    response = browser.post(
        "/sessions", {"session[email]": user.email, "session[password]": "foobar"}
    )
    assert response.status_code == 403


def test_unsuccessful_signin_scenario(client: Client) -> None:
    """Scenario: Unsuccessful signin (features/signing_in.feature)."""
    page = Page(client.get("/signin"))
    page = click(client, page, "Sign in")
    assert page.has("div.alert.alert-error")


def test_successful_signin_scenario(client: Client) -> None:
    """Scenario: Successful signin, through the real form with its CSRF token."""
    browser = Client(enforce_csrf_checks=True)
    user = User.objects.create_user(
        name="Example User", email="user@example.com", password="foobar", activated=True
    )
    page = click(
        browser,
        Page(browser.get("/signin")),
        "Sign in",
        **{"session[email]": "user@example.com", "session[password]": "foobar"},
    )
    assert page.title.endswith(user.name)
    assert page.has_button("Sign out", action="/signout")


@pytest.mark.parametrize("field", ["email", "password"])
def test_a_nul_byte_in_the_sign_in_email_or_password_shows_the_invalid_combination_page(
    client: Client, user: User, field: str
) -> None:
    data = {"session[email]": user.email, "session[password]": "foobar"}
    data[f"session[{field}]"] += "\x00"
    page = Page(client.post("/sessions", data))
    assert page.title.endswith("| Sign in")
    assert [a.text for a in page.select("div.alert")] == ["Invalid email/password combination"]
