"""Fixtures shared by the apps' tests: the spec's factories and its sign-in helpers.

``make_user`` and ``make_micropost`` are the FactoryGirl factories of spec/factories.rb
("Person N", person_N@example.com, password "foobar"). ``sign_in`` goes through the sign-in
form as Capybara did; ``client.force_login`` is the spec's ``no_capybara: true`` variant.
``click`` submits the form that holds a button, as ``click_button``/``click_link`` did.
``mailbox`` (the root conftest) is a real SMTP server the app's mails go to.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connections
from django.http import HttpResponse
from django.test import Client

from sampleapp.web.microposts.models import Micropost
from sampleapp.web.users.models import User
from tests.support.html import Page

# The sign-up form of the spec's "Example User", filled in correctly.
SIGNUP = {
    "user[name]": "Example User",
    "user[email]": "user@example.com",
    "user[password]": "foobar",
    "user[password_confirmation]": "foobar",
}

_sequence = itertools.count(1)


@pytest.fixture
def make_user(db: None) -> Callable[..., User]:
    def make(**fields: Any) -> User:
        n = next(_sequence)
        password = fields.pop("password", "foobar")
        fields.setdefault("name", f"Person {n}")
        fields.setdefault("email", f"person_{n}@example.com")
        fields.setdefault("activated", True)  # the later editions' factory: activated users
        user = User.objects.create_user(password=password, **fields)
        user.raw_password = password  # type: ignore[attr-defined]
        return user

    return make


@pytest.fixture
def user(make_user: Callable[..., User]) -> User:
    return make_user()


@pytest.fixture
def make_micropost(db: None) -> Callable[..., Micropost]:
    def make(user: User, content: str = "Lorem ipsum", **fields: Any) -> Micropost:
        return Micropost.objects.create(user=user, content=content, **fields)

    return make


@pytest.fixture
def fresh_database_url(tmp_path: Path, test_database_vendor: str) -> Iterator[str]:
    """A new, empty database of the kind under test that child processes can reach."""
    if test_database_vendor == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
        return
    import psycopg

    db = settings.DATABASES["default"]
    name = f"fresh_{uuid.uuid4().hex[:12]}"
    server = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield f"{server}/{name}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def django_command(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    """Start ``django-admin <args>`` in a child process with this test run's settings."""
    return subprocess.Popen(
        [sys.executable, "-m", "django", *args],
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def finish(process: subprocess.Popen[str]) -> str:
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, f"{process.args!r} failed:\n{out}{err}"
    return out


def shell_json(env: dict[str, str], code: str) -> Any:
    """Run Python in a child Django process; its last printed line is read as JSON."""
    out = finish(django_command(env, "shell", "-c", code))
    return json.loads(out.strip().splitlines()[-1])


def sign_in(client: Client, user: User, email: str | None = None) -> Page:
    response = client.post(
        "/sessions",
        {"session[email]": email or user.email, "session[password]": user.raw_password},  # type: ignore[attr-defined]
        follow=True,
    )
    return Page(response)


def click(client: Client, page: Page, button: str, **fields: str) -> Page:
    """Submit the form holding ``button`` with its hidden fields and ``fields``, then follow."""
    form = page.form_of(button)
    action = form.pop("_action")
    return Page(client.post(action, {**form, **fields}, follow=True))


def error_list(page: Page) -> list[str]:
    """The messages of a rejected form (Rails' ``#error_explanation``)."""
    return [li.text for li in page.select("#error_explanation li")]


@contextmanager
def each_in_a_thread(
    requests: list[Callable[[], HttpResponse]],
) -> Iterator[dict[int, HttpResponse | BaseException]]:
    """Send each request from a thread of its own (so its own database connection); the dict
    fills as they are answered. On the way out, wait for every thread and raise what a request
    raised, in the test's thread."""
    responses: dict[int, HttpResponse | BaseException] = {}

    def send(i: int) -> None:
        try:
            responses[i] = requests[i]()
        except BaseException as exc:
            responses[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(requests))]
    for thread in threads:
        thread.start()
    try:
        yield responses
    finally:
        for thread in threads:
            thread.join(timeout=60)
    for response in responses.values():
        if isinstance(response, BaseException):
            raise response
