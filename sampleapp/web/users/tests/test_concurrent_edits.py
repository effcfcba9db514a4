# mypy: disable-error-code="no-untyped-def"
"""Sign-ups and profile edits racing for one email: one wins, the others are told it is taken.

Validation checks that the email is free, then the row is saved: two requests arriving together
can both pass the check. The unique index decides; the loser must get the form back, not a 500.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
from django.http import HttpResponse
from django.test import Client

from sampleapp.web.conftest import SIGNUP, each_in_a_thread, error_list
from sampleapp.web.users.models import User, email_errors
from tests.support.html import Page

pytestmark = pytest.mark.django_db(transaction=True)


def at_the_same_moment(monkeypatch, requests: list[Callable[[], Any]]) -> list[HttpResponse]:
    """Send each request from its own thread (so its own database connection), every one
    passing the "email taken?" check before any of them saves: the window in which two
    real requests arriving together both find the email free. Then they save at once."""
    barrier = threading.Barrier(len(requests), timeout=30)

    def check_then_wait(*args, **kwargs) -> list[str]:
        errors = email_errors(*args, **kwargs)
        barrier.wait()
        return errors

    monkeypatch.setattr("sampleapp.web.users.forms.email_errors", check_then_wait)
    with each_in_a_thread(requests) as responses:
        pass
    return [responses[i] for i in range(len(requests))]  # type: ignore[misc]


def test_two_sign_ups_with_one_email_at_the_same_moment_make_one_user(monkeypatch) -> None:
    names = ["First Racer", "Second Racer"]
    responses = at_the_same_moment(
        monkeypatch,
        [partial(Client().post, "/users", {**SIGNUP, "user[name]": name}) for name in names],
    )
    assert sorted(r.status_code for r in responses) == [200, 302]
    winner = User.objects.get()
    loser = Page(next(r for r in responses if r.status_code == 200))
    assert error_list(loser) == ["* Email has already been taken"]
    assert loser.select("#user_email")[0]["value"] == "user@example.com"
    assert loser.select("#user_name")[0]["value"] == ({*names} - {winner.name}).pop()
    assert not loser.select("#user_password")[0].get("value")


def test_two_profile_edits_to_one_email_at_the_same_moment_save_one(monkeypatch) -> None:
    users = [
        User.objects.create_user(
            name=f"Editor {n}", email=f"editor{n}@example.com", password="foobar", activated=True
        )
        for n in (1, 2)
    ]
    clients = [Client() for _ in users]
    for client, user in zip(clients, users, strict=True):
        client.force_login(user)
    edit = {
        "_method": "patch",
        "user[email]": "wanted@example.com",
        "user[password]": "foobar",
        "user[password_confirmation]": "foobar",
    }
    responses = at_the_same_moment(
        monkeypatch,
        [
            partial(client.post, f"/users/{user.pk}", {**edit, "user[name]": user.name})
            for client, user in zip(clients, users, strict=True)
        ],
    )
    assert sorted(r.status_code for r in responses) == [200, 302]
    emails = sorted(User.objects.values_list("email", flat=True))
    assert emails in (
        ["editor1@example.com", "wanted@example.com"],
        ["editor2@example.com", "wanted@example.com"],
    )
    loser = Page(next(r for r in responses if r.status_code == 200))
    assert loser.title.endswith("| Edit user")
    assert error_list(loser) == ["* Email has already been taken"]
    assert loser.select("#user_email")[0]["value"] == "wanted@example.com"
