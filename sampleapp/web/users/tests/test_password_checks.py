# mypy: disable-error-code="no-untyped-def"
"""At most THROTTLE_PASSWORD_CHECKS password hashes at once per process (issue 10, item 5):
web/users/password_checks.py, applied to sign-in and sign-up by web/users/throttle.py.

Concurrency is observed, not timed: real threads send the sign-ins, and a hasher (the suite's
MD5 one) counts the hashes running at once and holds each until the test lets them finish, once
every thread is hashing, waiting for a slot, or answered. The speed this buys is the benchmark's
(``make bench-app``), never an assertion here.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import pytest
from django.contrib.auth.hashers import MD5PasswordHasher
from django.http import HttpResponse
from django.test import Client

from sampleapp.web.conftest import SIGNUP, each_in_a_thread
from sampleapp.web.users import password_checks, throttle
from sampleapp.web.users.models import Attempt, User
from tests.support.html import Page

pytestmark = pytest.mark.django_db(transaction=True)
WRONG = "not the password"
BUSY = "The server is busy checking other passwords. Try again in a few seconds."


class HeldHasher(MD5PasswordHasher):
    """Counts the hashes running at once (``most``: the peak) and every hash made; while
    ``finish`` is not set, each one waits for it before it returns."""

    lock = threading.Lock()
    running = most = hashed = 0
    finish = threading.Event()

    def encode(self, password: str, salt: str) -> str:
        cls = HeldHasher
        with cls.lock:
            cls.running += 1
            cls.hashed += 1
            cls.most = max(cls.most, cls.running)
        try:
            cls.finish.wait(timeout=60)
        finally:
            with cls.lock:
                cls.running -= 1
        return super().encode(password, salt)


@pytest.fixture
def held_hasher(settings: Any) -> Iterator[type[HeldHasher]]:
    settings.PASSWORD_HASHERS = [f"{__name__}.HeldHasher"]
    HeldHasher.running = HeldHasher.most = HeldHasher.hashed = 0
    HeldHasher.finish = threading.Event()
    HeldHasher.finish.set()  # not held until in_parallel()
    yield HeldHasher
    HeldHasher.finish.set()


def post_sign_in(email: str, password: str = WRONG):
    return Client().post("/sessions", {"session[email]": email, "session[password]": password})


def in_parallel(requests: list[Callable[[], HttpResponse]], hasher: type[HeldHasher]):
    """Send each request from its own thread; once each is hashing, waiting for a slot or
    answered, let the hashes finish. The responses, in the order of ``requests``."""
    hasher.running = hasher.most = hasher.hashed = 0
    hasher.finish.clear()
    with each_in_a_thread(requests) as responses:
        try:
            deadline = time.monotonic() + 60  # only against a hang: no figure is asserted
            while hasher.running + password_checks.gate.waiting + len(responses) < len(requests):
                assert time.monotonic() < deadline, "the requests never all settled"
                time.sleep(0.005)
        finally:
            hasher.finish.set()
    return [responses[i] for i in range(len(requests))]


def test_the_cap_and_wait_have_documented_defaults(settings: Any) -> None:
    assert settings.THROTTLE_PASSWORD_CHECKS == 1
    assert settings.THROTTLE_PASSWORD_WAIT == 2


def test_parallel_wrong_sign_ins_check_one_password_at_a_time(
    make_user: Callable[..., User], held_hasher: type[HeldHasher], settings: Any, monkeypatch
) -> None:
    emails = [make_user().email for _ in range(6)]
    settings.THROTTLE_PASSWORD_CHECKS = 1
    settings.THROTTLE_PASSWORD_WAIT = 60  # a waiting sign-in gets the slot, never times out
    # Not counted here: SQLite's in-memory test database refuses concurrent writers (the
    # counting is test_throttle.py's); every sign-in reaches the password check.
    monkeypatch.setattr(throttle, "_admit", lambda limits, now: (0, []))

    responses = in_parallel([partial(post_sign_in, email) for email in emails], held_hasher)

    assert held_hasher.most == 1, f"{held_hasher.most} passwords were hashed at once"
    assert held_hasher.hashed == 2, "the first sign-in and the one that waited for its slot"
    assert sorted(r.status_code for r in responses) == [200, 200, 429, 429, 429, 429]
    for response in responses:
        if response.status_code == 200:
            assert Page(response).has("div.alert.alert-error", "Invalid email/password")
        else:
            assert Page(response).has("div.alert.alert-error", BUSY)
            assert response["Retry-After"] == "2"


def test_a_configurable_few_may_hash_at_once(
    make_user: Callable[..., User], held_hasher: type[HeldHasher], settings: Any, monkeypatch
) -> None:
    emails = [make_user().email for _ in range(6)]
    settings.THROTTLE_PASSWORD_CHECKS = 2
    settings.THROTTLE_PASSWORD_WAIT = 60
    monkeypatch.setattr(throttle, "_admit", lambda limits, now: (0, []))

    responses = in_parallel([partial(post_sign_in, email) for email in emails], held_hasher)

    assert held_hasher.most == 2
    assert sorted(r.status_code for r in responses) == [200, 200, 200, 200, 429, 429]


def test_a_busy_sign_in_hashes_nothing_and_does_not_count(
    make_user: Callable[..., User], held_hasher: type[HeldHasher], settings: Any
) -> None:
    user = make_user()
    held_hasher.hashed = 0
    settings.THROTTLE_PASSWORD_CHECKS = 0  # no slot: every check is refused
    for _ in range(settings.THROTTLE_ACCOUNT_LIMIT + 1):
        response = post_sign_in(user.email, "foobar")
        assert response.status_code == 429
        assert Page(response).has("div.alert.alert-error", BUSY)
    assert held_hasher.hashed == 0
    assert Attempt.objects.count() == 0
    settings.THROTTLE_PASSWORD_CHECKS = 1
    assert post_sign_in(user.email, "foobar").status_code == 302, "signed in: nothing counted"


def test_a_sign_in_refused_at_the_check_itself_does_not_count(
    make_user: Callable[..., User], held_hasher: type[HeldHasher], settings: Any, monkeypatch
) -> None:
    """``busy()`` is only a hint, read before the attempt is counted; a slot taken between it
    and the check refuses the sign-in there, and the attempt is taken back."""
    user = make_user()
    held_hasher.hashed = 0
    settings.THROTTLE_PASSWORD_CHECKS = 0
    monkeypatch.setattr(password_checks, "busy", lambda: False)
    response = post_sign_in(user.email)
    assert response.status_code == 429
    assert Page(response).has("div.alert.alert-error", BUSY)
    assert held_hasher.hashed == 0
    assert Attempt.objects.count() == 0


def test_a_busy_sign_up_makes_no_account(held_hasher: type[HeldHasher], settings: Any) -> None:
    settings.THROTTLE_PASSWORD_CHECKS = 0
    response = Client().post("/users", SIGNUP)
    assert response.status_code == 429
    assert Page(response).has("div.alert.alert-error", BUSY)
    assert not User.objects.exists()
    assert Attempt.objects.count() == 0
    settings.THROTTLE_PASSWORD_CHECKS = 1
    assert Client().post("/users", SIGNUP).status_code == 302
    assert User.objects.filter(email=SIGNUP["user[email]"]).exists()


def test_password_resets_are_not_held_back_by_busy_password_checks(
    make_user: Callable[..., User], settings: Any
) -> None:
    user = make_user()
    settings.THROTTLE_PASSWORD_CHECKS = 0
    response = Client().post("/password_resets", {"password_reset[email]": user.email})
    assert response.status_code == 302


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_worker_inherits_no_taken_slot_or_held_lock() -> None:
    """gunicorn forks its workers: whatever the parent held then is free in the child."""
    gate = password_checks.gate
    assert gate.acquire(1, 0)
    try:
        with gate.condition:  # a lock held at the moment of the fork
            pid = os.fork()
            if pid == 0:  # the child: a slot at once, or its exit status says not
                os._exit(0 if gate.running == 0 and gate.acquire(1, 0) else 1)
        deadline = time.monotonic() + 60  # a child stuck on an inherited lock is killed
        while (status := os.waitpid(pid, os.WNOHANG))[0] == 0:
            if time.monotonic() > deadline:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
                pytest.fail("the child hung on the lock its parent held at the fork")
            time.sleep(0.01)
    finally:
        gate.release()
    assert os.waitstatus_to_exitcode(status[1]) == 0
