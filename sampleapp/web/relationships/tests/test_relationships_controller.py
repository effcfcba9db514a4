# mypy: disable-error-code="no-untyped-def"
"""spec/controllers/relationships_controller_spec.rb: follow and unfollow, with and without Ajax."""

from __future__ import annotations

import pytest
from django.test import Client

from sampleapp.web.relationships.models import Relationship
from tests.support.html import Page

pytestmark = pytest.mark.django_db

XHR = {"X-Requested-With": "XMLHttpRequest", "Accept": "application/json"}


@pytest.fixture
def pair(client: Client, make_user):
    user, other = make_user(), make_user()
    client.force_login(user)
    return user, other


def test_ajax_follow_creates_a_relationship_and_answers_the_new_form(client, pair) -> None:
    user, other = pair
    response = client.post("/relationships", {"relationship[followed_id]": other.pk}, headers=XHR)
    assert response.status_code == 200
    assert Relationship.objects.count() == 1
    data = response.json()
    assert data["followers"] == 1
    relationship = user.relationship_with(other.pk)
    assert Page(data["follow_form"]).has_button("Unfollow", f"/relationships/{relationship.pk}")


def test_ajax_unfollow_deletes_the_relationship_and_answers_the_follow_form(client, pair) -> None:
    user, other = pair
    relationship = user.follow(other)
    response = client.post(f"/relationships/{relationship.pk}", {"_method": "delete"}, headers=XHR)
    assert response.status_code == 200
    assert Relationship.objects.count() == 0
    data = response.json()
    assert data["followers"] == 0
    form = Page(data["follow_form"])
    assert form.has_button("Follow", "/relationships")
    assert form.select("input[name='relationship[followed_id]']")[0]["value"] == str(other.pk)


def test_real_delete_request_also_unfollows(client, pair) -> None:
    user, other = pair
    relationship = user.follow(other)
    assert client.delete(f"/relationships/{relationship.pk}", headers=XHR).status_code == 200
    assert not user.is_following(other)


def test_follow_without_javascript_redirects_to_the_profile(client, pair) -> None:
    _, other = pair
    response = client.post("/relationships", {"relationship[followed_id]": other.pk})
    assert response["Location"] == f"/users/{other.pk}"


def test_unfollowing_someone_elses_relationship_is_a_404(client, pair, make_user) -> None:
    _, other = pair
    stranger = make_user()
    theirs = stranger.follow(other)
    assert client.delete(f"/relationships/{theirs.pk}").status_code == 404
    assert stranger.is_following(other)


def test_following_yourself_or_nobody_is_a_404(client, pair) -> None:
    user, _ = pair
    assert client.post("/relationships", {"relationship[followed_id]": user.pk}).status_code == 404
    assert client.post("/relationships", {"relationship[followed_id]": "x"}).status_code == 404
    assert Relationship.objects.count() == 0


def test_follow_without_csrf_token_is_refused(pair) -> None:
    user, other = pair
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    response = browser.post("/relationships", {"relationship[followed_id]": other.pk}, headers=XHR)
    assert response.status_code == 403
    assert Relationship.objects.count() == 0
