# mypy: disable-error-code="no-untyped-def"
"""spec/requests/static_pages_spec.rb and spec/helpers/application_helper_spec.rb."""

from __future__ import annotations

import pytest
from django.test import Client

from sampleapp.web.conftest import sign_in
from sampleapp.web.pages.helpers import full_title
from tests.support.html import Page

pytestmark = pytest.mark.django_db

BASE = "Ruby on Rails Tutorial Sample App"


def test_full_title_includes_the_page_title() -> None:
    assert "foo" in full_title("foo")


def test_full_title_starts_with_the_base_title() -> None:
    assert full_title("foo").startswith(BASE)


def test_full_title_has_no_bar_for_the_home_page() -> None:
    assert "|" not in full_title("")


def test_home_page_has_the_base_title_and_no_home_suffix(client: Client) -> None:
    page = Page(client.get("/"))
    assert "Sample App" in page.text
    assert page.title == BASE
    assert "| Home" not in page.title


def test_home_page_invites_to_sign_up_when_signed_out(client: Client) -> None:
    page = Page(client.get("/"))
    assert page.has("div.center.hero-unit h1", "Welcome to the Sample App")
    assert page.has_link("Sign up now!", "/signup")
    assert page.has_link("Sign in", "/signin")
    assert page.has_link("Ruby on Rails Tutorial", "http://railstutorial.org/")


@pytest.mark.parametrize(
    ("path", "heading", "title"),
    [
        ("/help", "Help", "Help"),
        ("/about", "About Us", "About Us"),
        ("/contact", "Contact", "Contact"),
    ],
)
def test_static_page_has_heading_and_title(client: Client, path, heading, title) -> None:
    page = Page(client.get(path))
    assert page.has("h1", heading)
    assert page.title == f"{BASE} | {title}"


def test_layout_links_lead_to_the_right_pages(client: Client) -> None:
    page = Page(client.get("/"))
    for text, href in [
        ("Home", "/"),
        ("Help", "/help"),
        ("About", "/about"),
        ("Contact", "/contact"),
        ("sample app", "/"),
    ]:
        assert page.has_link(text, href), text
    assert Page(client.get("/about")).has("h1", "About Us")


class TestSignedInHome:
    def test_home_renders_the_users_feed(self, client, user, make_micropost) -> None:
        make_micropost(user, "Lorem")
        make_micropost(user, "Ipsum")
        sign_in(client, user)
        page = Page(client.get("/"))
        for item in user.feed():
            assert page.has(f"li#{item.pk}", item.content)
        assert page.has("h3", "Micropost Feed")
        assert page.has("aside span", "2 microposts")

    def test_home_shows_follower_and_following_counts(self, client, user, make_user) -> None:
        make_user().follow(user)
        sign_in(client, user)
        page = Page(client.get("/"))
        assert page.has_link("0 following", f"/users/{user.pk}/following")
        assert page.has_link("1 followers", f"/users/{user.pk}/followers")

    def test_home_feed_is_paginated_30_per_page(self, client, user, make_micropost) -> None:
        for i in range(31):
            make_micropost(user, f"post {i}")
        client.force_login(user)
        page = Page(client.get("/"))
        assert len(page.select("ol.microposts li")) == 30
        assert page.has("div.pagination")
        assert page.has("span.content", "post 30")
        page2 = Page(client.get("/?page=2"))
        assert [s.text for s in page2.select("ol.microposts span.content")] == ["post 0"]

    def test_a_single_micropost_is_counted_in_the_singular(self, client, user, make_micropost):
        make_micropost(user)
        client.force_login(user)
        assert Page(client.get("/")).has("aside span", "1 micropost")
        assert not Page(client.get("/")).has("aside span", "1 microposts")
