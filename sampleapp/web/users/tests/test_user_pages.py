# mypy: disable-error-code="no-untyped-def"
"""spec/requests/user_pages_spec.rb: index, profile, follow buttons, signup, edit, follow lists."""

from __future__ import annotations

import pytest
from django.test import Client

from sampleapp.web.conftest import SIGNUP, click, error_list, sign_in
from sampleapp.web.users.models import User
from tests.support.html import Page

pytestmark = pytest.mark.django_db


class TestIndex:
    def test_index_has_title_and_heading(self, client: Client, user: User) -> None:
        page = sign_in(client, user)
        page = Page(client.get("/users"))
        assert page.title.endswith("| All users")
        assert page.has("h1", "All users")

    def test_index_is_paginated_and_lists_the_first_30_users(self, client, make_user) -> None:
        users = [make_user() for _ in range(31)]
        client.force_login(users[0])
        page = Page(client.get("/users"))
        assert page.has("div.pagination")
        names = [li.select("a")[0].text for li in page.select("ul.users li")]
        assert names == [u.name for u in users[:30]]
        page2 = Page(client.get("/users?page=2"))
        assert [li.select("a")[0].text for li in page2.select("ul.users li")] == [users[30].name]

    @pytest.mark.parametrize("number", ["0", "-1", "-30"])
    def test_page_zero_or_a_negative_page_shows_the_first_page(
        self, client, make_user, number: str
    ) -> None:
        users = [make_user() for _ in range(31)]
        client.force_login(users[0])
        page = Page(client.get(f"/users?page={number}"))
        names = [li.select("a")[0].text for li in page.select("ul.users li")]
        assert names == [u.name for u in users[:30]]

    def test_index_has_no_delete_links_for_a_non_admin(self, client, make_user) -> None:
        user, _ = make_user(), make_user()
        client.force_login(user)
        assert not Page(client.get("/users")).buttons("delete")

    def test_admin_sees_delete_links_except_on_own_row(self, client, make_user) -> None:
        user = make_user()
        admin = make_user(admin=True)
        sign_in(client, admin)
        page = Page(client.get("/users"))
        assert page.has_button("delete", action=f"/users/{user.pk}")
        actions = [f.get("action") for f in page.select("ul.users form")]
        assert f"/users/{admin.pk}" not in actions

    def test_admin_can_delete_another_user(self, client, make_user) -> None:
        user = make_user()
        admin = make_user(admin=True)
        sign_in(client, admin)
        page = click(client, Page(client.get("/users")), "delete")
        assert not User.objects.filter(pk=user.pk).exists()
        assert page.has("div.alert.alert-success", "User destroyed.")
        assert page.title.endswith("All users")


class TestProfile:
    def test_profile_shows_name_title_and_microposts(self, client, user, make_micropost) -> None:
        make_micropost(user, "Foo")
        make_micropost(user, "Bar")
        page = Page(client.get(f"/users/{user.pk}"))
        assert page.has("h1", user.name)
        assert page.title.endswith(f"| {user.name}")
        assert [s.text for s in page.select("ol.microposts span.content")] == ["Bar", "Foo"]
        assert page.has("h3", "Microposts (2)")

    def test_profile_microposts_are_paginated(self, client, user, make_micropost) -> None:
        for i in range(31):
            make_micropost(user, f"post {i}")
        page = Page(client.get(f"/users/{user.pk}"))
        assert len(page.select("ol.microposts li")) == 30
        assert page.has("div.pagination")
        assert len(Page(client.get(f"/users/{user.pk}?page=2")).select("ol.microposts li")) == 1

    def test_unknown_user_is_a_friendly_404_page(self, client: Client) -> None:
        response = client.get("/users/987654")
        assert response.status_code == 404
        page = Page(response)
        assert page.has("h1", "doesn't exist")
        assert page.has_link("sample app", "/")

    def test_name_is_escaped(self, client, make_user) -> None:
        user = make_user(name="<script>alert(1)</script>")
        response = client.get(f"/users/{user.pk}")
        assert b"<script>alert(1)" not in response.content
        assert Page(response).has("h1", "<script>alert(1)</script>")

    def test_no_follow_form_on_own_profile_or_when_signed_out(self, client, user) -> None:
        assert not Page(client.get(f"/users/{user.pk}")).has("#follow_form")
        client.force_login(user)
        assert not Page(client.get(f"/users/{user.pk}")).has("#follow_form")


class TestFollowButtons:
    @pytest.fixture
    def other(self, make_user):
        return make_user()

    def test_following_increments_both_counts_and_toggles_the_button(
        self, client, user, other
    ) -> None:
        sign_in(client, user)
        page = click(client, Page(client.get(f"/users/{other.pk}")), "Follow")
        assert user.followed_users.count() == 1
        assert other.followers.count() == 1
        assert page.buttons("Unfollow")
        assert page.select("#followers")[0].text == "1"
        assert page.title.endswith(other.name)

    def test_unfollowing_decrements_both_counts_and_toggles_the_button(
        self, client, user, other
    ) -> None:
        user.follow(other)
        sign_in(client, user)
        page = click(client, Page(client.get(f"/users/{other.pk}")), "Unfollow")
        assert user.followed_users.count() == 0
        assert other.followers.count() == 0
        assert page.buttons("Follow")


class TestSignup:
    def test_signup_page_has_heading_and_title(self, client: Client) -> None:
        page = Page(client.get("/signup"))
        assert page.has("h1", "Sign up")
        assert page.title == "Ruby on Rails Tutorial Sample App | Sign up"
        assert Page(client.get("/users/new")).title == page.title

    def test_blank_signup_creates_no_user_and_shows_the_five_errors(self, client) -> None:
        page = click(client, Page(client.get("/signup")), "Create my account")
        assert User.objects.count() == 0
        assert page.has("div.alert.alert-error", "The form contains 5 errors.")
        assert [li.text for li in page.select("#error_explanation li")] == [
            "* Name can't be blank",
            "* Email can't be blank",
            "* Email is invalid",
            "* Password can't be blank",
            "* Password is too short (minimum is 6 characters)",
        ]
        assert len(page.select("div.field_with_errors input")) == 3

    def test_invalid_signup_keeps_what_was_typed_except_passwords(self, client) -> None:
        data = {**SIGNUP, "user[email]": "user@invalid", "user[password_confirmation]": "nope"}
        page = Page(client.post("/users", data))
        assert page.select("#user_name")[0]["value"] == "Example User"
        assert page.select("#user_email")[0]["value"] == "user@invalid"
        assert not page.select("#user_password")[0].get("value")
        assert [li.text for li in page.select("#error_explanation li")] == [
            "* Email is invalid",
            "* Password confirmation doesn't match Password",
        ]
        assert page.has("div.alert-error", "The form contains 2 errors.")

    def test_valid_signup_creates_an_inactive_user_and_asks_to_check_email(self, client) -> None:
        page = Page(client.post("/users", SIGNUP, follow=True))
        user = User.objects.get(email="user@example.com")
        assert not page.has_button("Sign out")
        assert page.has("div.alert", "Please check your email to activate your account.")
        assert user.admin is False
        assert user.activated is False

    def test_signup_ignores_an_admin_field(self, client) -> None:
        client.post("/users", {**SIGNUP, "user[admin]": "1", "admin": "1"})
        assert User.objects.get().admin is False


class TestEdit:
    def test_edit_page_has_heading_title_and_gravatar_link(self, client, user) -> None:
        sign_in(client, user)
        page = Page(client.get(f"/users/{user.pk}/edit"))
        assert page.has("h1", "Update your profile")
        assert page.title.endswith("| Edit user")
        assert page.has_link("change", "http://gravatar.com/emails")
        assert page.select("#user_name")[0]["value"] == user.name
        assert page.select("label[for=user_password_confirmation]")[0].text == "Confirm Password"

    def test_saving_without_a_password_shows_an_error(self, client, user) -> None:
        sign_in(client, user)
        page = click(
            client,
            Page(client.get(f"/users/{user.pk}/edit")),
            "Save changes",
            **{"user[name]": user.name, "user[email]": user.email},
        )
        assert page.has("#error_explanation", "error")
        assert [li.text for li in page.select("#error_explanation li")] == [
            "* Password is too short (minimum is 6 characters)"
        ]

    def test_saving_valid_information_updates_the_profile(self, client, user) -> None:
        sign_in(client, user)
        page = click(
            client,
            Page(client.get(f"/users/{user.pk}/edit")),
            "Save changes",
            **{
                "user[name]": "New Name",
                "user[email]": "new@example.com",
                "user[password]": "foobar",
                "user[password_confirmation]": "foobar",
            },
        )
        assert page.title.endswith("New Name")
        assert page.has("div.alert.alert-success", "Profile updated")
        assert page.has_button("Sign out", action="/signout")
        user.refresh_from_db()
        assert (user.name, user.email) == ("New Name", "new@example.com")

    def change(self, client: Client, user: User, name: str, password: str) -> Page:
        return click(
            client,
            Page(client.get(f"/users/{user.pk}/edit")),
            "Save changes",
            **{
                "user[name]": name,
                "user[email]": user.email,
                "user[password]": password,
                "user[password_confirmation]": password,
            },
        )

    def test_editing_only_the_name_keeps_other_sessions_signed_in(self, client, user) -> None:
        elsewhere = Client()
        sign_in(elsewhere, user)
        sign_in(client, user)
        assert self.change(client, user, "New Name", "foobar").has("div.alert", "Profile updated")
        assert client.get("/users").status_code == 200
        assert elsewhere.get("/users").status_code == 200

    def test_changing_the_password_signs_out_other_sessions_only(self, client, user) -> None:
        elsewhere = Client()
        sign_in(elsewhere, user)
        sign_in(client, user)
        assert self.change(client, user, user.name, "barbaz").has("div.alert", "Profile updated")
        assert client.get("/users").status_code == 200
        assert elsewhere.get("/users").status_code == 302

    def test_admin_attribute_cannot_be_set_through_update(self, client, user) -> None:
        client.force_login(user)
        client.post(
            f"/users/{user.pk}",
            {
                "_method": "patch",
                "user[admin]": "true",
                "admin": "true",
                "user[name]": user.name,
                "user[email]": user.email,
                "user[password]": "foobar",
                "user[password_confirmation]": "foobar",
            },
        )
        user.refresh_from_db()
        assert user.admin is False


class TestFollowLists:
    @pytest.fixture
    def pair(self, make_user):
        user, other = make_user(), make_user()
        user.follow(other)
        return user, other

    def test_following_page_lists_followed_users(self, client, pair) -> None:
        user, other = pair
        sign_in(client, user)
        page = Page(client.get(f"/users/{user.pk}/following"))
        assert page.title == "Ruby on Rails Tutorial Sample App | Following"
        assert page.has("h3", "Following")
        assert page.has_link(other.name, f"/users/{other.pk}")

    def test_followers_page_lists_followers(self, client, pair) -> None:
        user, other = pair
        sign_in(client, other)
        page = Page(client.get(f"/users/{other.pk}/followers"))
        assert page.title == "Ruby on Rails Tutorial Sample App | Followers"
        assert page.has("h3", "Followers")
        assert page.has_link(user.name, f"/users/{user.pk}")
        assert len(page.select("div.user_avatars img.gravatar")) == 1

    def test_unknown_user_follow_list_is_a_404(self, client, user) -> None:
        client.force_login(user)
        assert client.get("/users/987654/following").status_code == 404


def test_signing_up_with_a_10005_character_email_says_it_is_too_long(client: Client) -> None:
    email = "a" * 9993 + "@example.com"
    assert len(email) == 10_005
    page = Page(client.post("/users", {**SIGNUP, "user[email]": email}))
    assert error_list(page) == ["* Email is too long (maximum is 255 characters)"]
    assert User.objects.count() == 0


def test_a_name_and_a_post_with_markup_are_text_in_every_list(client, make_user, make_micropost):
    """The lists are written by helpers in Python (users/helpers.py, microposts/helpers.py), not
    by the autoescaping templates: what users typed must still come out as text everywhere."""
    markup = '<script>alert(1)</script>"><marquee x="'
    author = make_user(name=markup)
    make_micropost(author, content=markup)
    admin = make_user(admin=True)
    admin.follow(author)
    author.follow(admin)
    client.force_login(admin)
    feed, index = Page(client.get("/")), Page(client.get("/users"))
    client.force_login(author)
    profile = Page(client.get(f"/users/{author.pk}"))
    followers = Page(client.get(f"/users/{admin.pk}/followers"))
    for page in (feed, index, profile, followers):
        assert "<script>" not in page.html
        assert not page.has("marquee")
    assert feed.has("ol.microposts li span.user a", markup)
    assert feed.has("ol.microposts li span.content", markup)
    assert feed.select("ol.microposts li img.gravatar")[0]["alt"] == markup
    assert index.has("ul.users li a", markup)
    assert followers.has("ul.users li a", markup)
    assert profile.has("ol.microposts li span.content", markup)
    assert profile.select("ol.microposts li button")[0]["title"] == markup
