# mypy: disable-error-code="no-untyped-def"
"""spec/requests/micropost_pages_spec.rb: posting and deleting from the home page."""

from __future__ import annotations

import pytest
from django.test import Client

from sampleapp.web.conftest import click, sign_in
from sampleapp.web.microposts.models import Micropost
from tests.support.html import Page

pytestmark = pytest.mark.django_db


@pytest.fixture
def home(client: Client, user) -> Page:
    sign_in(client, user)
    return Page(client.get("/"))


def test_empty_post_creates_nothing_and_shows_an_error(client, home) -> None:
    page = click(client, home, "Post")
    assert Micropost.objects.count() == 0
    assert page.has("#error_explanation", "error")
    assert [li.text for li in page.select("#error_explanation li")] == ["* Content can't be blank"]
    assert not page.has("ol.microposts")


def test_valid_post_creates_a_micropost_and_shows_it_in_the_feed(client, home, user) -> None:
    page = click(client, home, "Post", **{"micropost[content]": "Lorem ipsum"})
    assert Micropost.objects.filter(user=user, content="Lorem ipsum").count() == 1
    assert page.has("div.alert.alert-success", "Micropost created!")
    assert page.has("ol.microposts span.content", "Lorem ipsum")


def test_141_character_post_is_refused_and_its_text_stays_in_the_box(client, home) -> None:
    text = "a" * 141
    response = client.post("/microposts", {"micropost[content]": text})
    page = Page(response)
    assert response.status_code == 200
    assert Micropost.objects.count() == 0
    assert page.select("textarea#micropost_content")[0].text == text
    assert page.has("div.field_with_errors textarea#micropost_content")
    assert page.has("#error_explanation li", "Content is too long (maximum is 140 characters)")


def test_micropost_text_is_escaped(client, home) -> None:
    click(client, home, "Post", **{"micropost[content]": "<script>alert('x')</script>"})
    response = client.get("/")
    assert b"<script>alert" not in response.content
    assert Page(response).has("span.content", "<script>alert('x')</script>")


def test_own_micropost_can_be_deleted(client, user, make_micropost) -> None:
    make_micropost(user)
    sign_in(client, user)
    click(client, Page(client.get("/")), "delete")
    assert Micropost.objects.count() == 0


def test_someone_elses_micropost_cannot_be_deleted(client, user, make_user, make_micropost) -> None:
    theirs = make_micropost(make_user())
    user.follow(theirs.user)
    client.force_login(user)
    page = Page(client.get("/"))
    assert page.has(f"li#{theirs.pk} span.content", "Lorem ipsum")
    assert not page.buttons("delete")
    assert client.delete(f"/microposts/{theirs.pk}").status_code == 404
    assert Micropost.objects.filter(pk=theirs.pk).exists()


def test_post_without_csrf_token_is_refused(user) -> None:
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    response = browser.post("/microposts", {"micropost[content]": "forged"})
    assert response.status_code == 403
    assert Micropost.objects.count() == 0
