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
from django.db import connections
from django.http import HttpResponse
from django.test import Client

from sampleapp.web.conftest import SIGNUP, error_list
from sampleapp.web.users import throttle
from sampleapp.web.users.models import User, email_errors
from tests.support.html import Page

pytestmark = pytest.mark.django_db(transaction=True)


def at_the_same_moment(monkeypatch, requests: list[Callable[[], Any]]) -> list[HttpResponse]:
    """Send each request from its own thread (so its own database connection), every one
    passing the "email taken?" check before any of them saves: the window in which two
    real requests arriving together both find the email free. On PostgreSQL they then save
    at once too. SQLite's test database lives in memory, where a second writer fails ("table
    is locked") instead of waiting for the lock as it does on the file a server uses: there
    the saves take turns, still after every check, and so do the sign-up throttle's counts
    before it (``throttle._admit`` writes)."""
    barrier = threading.Barrier(len(requests), timeout=30)
    turn, mine = threading.Lock(), threading.local()
    taking_turns = connections["default"].vendor == "sqlite"

    def check_then_wait(*args, **kwargs) -> list[str]:
        errors = email_errors(*args, **kwargs)
        barrier.wait()
        if taking_turns:
            mine.turn = turn.acquire()  # released when this thread's request is over
        return errors

    monkeypatch.setattr("sampleapp.web.users.forms.email_errors", check_then_wait)
    if taking_turns:
        admit, counting = throttle._admit, threading.Lock()

        def one_count_at_a_time(*args, **kwargs):
            with counting:
                return admit(*args, **kwargs)

        monkeypatch.setattr(throttle, "_admit", one_count_at_a_time)
    responses: list[HttpResponse | BaseException] = [RuntimeError("no response")] * len(requests)

    def send(i: int) -> None:
        try:
            responses[i] = requests[i]()
        except BaseException as exc:  # re-raised below, in the test's thread
            responses[i] = exc
        finally:
            connections.close_all()
            if getattr(mine, "turn", False):
                turn.release()

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(requests))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for response in responses:
        if isinstance(response, BaseException):
            raise response
    return responses  # type: ignore[return-value]


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
