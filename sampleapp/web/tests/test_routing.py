# mypy: disable-error-code="no-untyped-def"
"""Rails routing on Django: one path, one view per verb; forms send ``_method``."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_a_verb_the_path_does_not_have_is_405(client: Client) -> None:
    assert client.post("/help").status_code == 405
    assert client.delete("/users").status_code == 405
    assert client.get("/microposts").status_code == 405


def test_form_post_with_method_delete_signs_out(client: Client, user) -> None:
    client.force_login(user)
    assert client.post("/signout", {"_method": "delete"})["Location"] == "/"
    assert client.get("/users")["Location"] == "/signin"


def test_plain_post_is_not_turned_into_delete(client: Client, user) -> None:
    client.force_login(user)
    assert client.post("/signout").status_code == 405
    assert client.get("/users").status_code == 200


def test_get_cannot_be_overridden(client: Client, user) -> None:
    client.force_login(user)
    assert client.get("/signout", {"_method": "delete"}).status_code == 405


def test_head_is_answered_like_get(client: Client) -> None:
    assert client.head("/help").status_code == 200


@pytest.mark.parametrize(
    ("name", "args", "path"),
    [
        ("root", [], "/"),
        ("help", [], "/help"),
        ("about", [], "/about"),
        ("contact", [], "/contact"),
        ("signup", [], "/signup"),
        ("signin", [], "/signin"),
        ("signout", [], "/signout"),
        ("users", [], "/users"),
        ("new_user", [], "/users/new"),
        ("user", [1], "/users/1"),
        ("edit_user", [1], "/users/1/edit"),
        ("following_user", [1], "/users/1/following"),
        ("followers_user", [1], "/users/1/followers"),
        ("sessions", [], "/sessions"),
        ("new_session", [], "/sessions/new"),
        ("session", [1], "/sessions/1"),
        ("microposts", [], "/microposts"),
        ("micropost", [1], "/microposts/1"),
        ("relationships", [], "/relationships"),
        ("relationship", [1], "/relationships/1"),
        ("healthz", [], "/healthz"),
        ("readyz", [], "/readyz"),
    ],
)
def test_every_url_name_of_the_spec_resolves_to_the_rails_path(name, args, path) -> None:
    assert reverse(name, args=args) == path
