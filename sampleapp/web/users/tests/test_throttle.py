# mypy: disable-error-code="no-untyped-def"
"""Sign-in and sign-up throttling (issue 10, item 5): web/users/throttle.py.

A counting password hasher (the test suite's MD5 hasher, counting each hash) shows that a
refused attempt hashes nothing. The clock is moved by ageing the stored attempts, never by
sleeping; counters shared between processes are shown with child processes on one database.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.contrib.auth.hashers import MD5PasswordHasher
from django.test import Client, RequestFactory

from sampleapp.web.conftest import django_command, finish
from sampleapp.web.proxies import client_address
from sampleapp.web.users.models import Attempt, User
from tests.support.html import Page

pytestmark = pytest.mark.django_db
WRONG = "not the password"


class CountingHasher(MD5PasswordHasher):
    """The test suite's hasher, counting every password it hashes (checks included)."""

    hashed = 0

    def encode(self, password: str, salt: str) -> str:
        CountingHasher.hashed += 1
        return super().encode(password, salt)


@pytest.fixture(autouse=True)
def counting_hasher(settings: Any) -> Iterator[type[CountingHasher]]:
    settings.PASSWORD_HASHERS = [f"{__name__}.CountingHasher"]
    CountingHasher.hashed = 0
    yield CountingHasher


def post_sign_in(client: Client, email: str, password: str = WRONG, **extra: Any):
    return client.post(
        "/sessions", {"session[email]": email, "session[password]": password}, **extra
    )


def fail(client: Client, email: str, times: int, **extra: Any) -> None:
    for _ in range(times):
        response = post_sign_in(client, email, **extra)
        assert response.status_code == 200, "a wrong password is answered with the form again"
        assert Page(response).has("div.alert.alert-error", "Invalid")


def age_attempts(seconds: int) -> None:
    """Move the clock: every stored attempt happened ``seconds`` earlier."""
    for attempt in Attempt.objects.all():
        attempt.at -= dt.timedelta(seconds=seconds)
        attempt.save()


def test_the_limits_and_window_have_documented_defaults(settings: Any) -> None:
    assert settings.THROTTLE_WINDOW == 15 * 60
    assert settings.THROTTLE_ACCOUNT_LIMIT == 5
    assert settings.THROTTLE_ADDRESS_LIMIT == 20


def test_the_sixth_wrong_password_in_a_row_is_refused_without_checking_the_password(
    client: Client, user: User, counting_hasher: type[CountingHasher]
) -> None:
    fail(client, user.email, 5)
    hashed = counting_hasher.hashed
    assert hashed >= 5
    response = post_sign_in(client, user.email)
    assert response.status_code == 429
    assert counting_hasher.hashed == hashed


def test_a_refused_sign_in_says_when_to_try_again(client: Client, user: User) -> None:
    fail(client, user.email, 5)
    response = post_sign_in(client, user.email)
    assert response.status_code == 429
    assert 14 * 60 < int(response["Retry-After"]) <= 15 * 60
    page = Page(response)
    assert page.has("div.alert.alert-error", "Too many failed sign-ins. Try again in 15 minutes.")
    age_attempts(10 * 60 + 30)
    response = post_sign_in(client, user.email)
    assert 4 * 60 < int(response["Retry-After"]) <= 5 * 60
    assert Page(response).has("div.alert", "Try again in 5 minutes.")


def test_a_correct_password_after_the_limit_is_refused_until_the_window_ends(
    client: Client, user: User
) -> None:
    fail(client, user.email.upper(), 5)  # emails are one account whatever their case
    assert post_sign_in(client, user.email, "foobar").status_code == 429
    assert client.get("/users").status_code == 302, "not signed in"
    age_attempts(15 * 60 - 5)
    assert post_sign_in(client, user.email, "foobar").status_code == 429
    age_attempts(10)
    assert post_sign_in(client, user.email, "foobar").status_code == 302
    assert client.get("/users").status_code == 200, "signed in"


def test_a_successful_sign_in_resets_the_accounts_count(client: Client, user: User) -> None:
    fail(client, user.email, 4)
    assert post_sign_in(client, user.email, "foobar").status_code == 302
    fail(Client(), user.email, 5)
    assert post_sign_in(Client(), user.email).status_code == 429


def test_the_account_limit_holds_from_every_address(client: Client, user: User) -> None:
    for n in range(5):
        fail(client, user.email, 1, REMOTE_ADDR=f"203.0.113.{n}")
    refused = post_sign_in(client, user.email, "foobar", REMOTE_ADDR="198.51.100.7")
    assert refused.status_code == 429


def test_failures_from_one_address_are_limited_across_accounts(
    client: Client, make_user: Callable[..., User], counting_hasher: type[CountingHasher]
) -> None:
    for n in range(20):
        fail(client, f"nobody-{n}@example.com", 1)
    other = make_user()
    hashed = counting_hasher.hashed
    response = post_sign_in(client, other.email, "foobar")
    assert response.status_code == 429
    assert counting_hasher.hashed == hashed
    elsewhere = post_sign_in(Client(), other.email, "foobar", REMOTE_ADDR="203.0.113.9")
    assert elsewhere.status_code == 302, "another address and the account are not limited"


def test_the_limits_are_settings(client: Client, user: User, settings: Any) -> None:
    settings.THROTTLE_ACCOUNT_LIMIT = 2
    settings.THROTTLE_WINDOW = 60
    fail(client, user.email, 2)
    response = post_sign_in(client, user.email, "foobar")
    assert response.status_code == 429
    assert int(response["Retry-After"]) <= 60
    assert Page(response).has("div.alert", "Try again in 1 minute.")
    age_attempts(60)
    assert post_sign_in(client, user.email, "foobar").status_code == 302


def test_sign_ups_from_one_address_are_limited(
    client: Client, counting_hasher: type[CountingHasher]
) -> None:
    def sign_up(n: int):
        return client.post(
            "/users",
            {
                "user[name]": f"Visitor {n}",
                "user[email]": f"visitor-{n}@example.com",
                "user[password]": "foobar",
                "user[password_confirmation]": "foobar",
            },
        )

    for n in range(20):
        assert sign_up(n).status_code == 302
        client.logout()
    hashed = counting_hasher.hashed
    response = sign_up(20)
    assert response.status_code == 429
    assert counting_hasher.hashed == hashed
    assert Page(response).has("div.alert", "Too many sign-ups. Try again in 15 minutes.")
    assert not User.objects.filter(email="visitor-20@example.com").exists()


def test_the_client_address_comes_from_the_trusted_proxy_only(settings: Any) -> None:
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    factory = RequestFactory()
    spoofed = "1.2.3.4, 198.51.100.7"  # a client's own header, then the one nginx appended
    proxied = factory.post("/sessions", REMOTE_ADDR="10.1.2.3", HTTP_X_FORWARDED_FOR=spoofed)
    assert client_address(proxied) == "198.51.100.7"
    direct = factory.post("/sessions", REMOTE_ADDR="203.0.113.5", HTTP_X_FORWARDED_FOR=spoofed)
    assert client_address(direct) == "203.0.113.5"
    no_header = factory.post("/sessions", REMOTE_ADDR="10.1.2.3")
    assert client_address(no_header) == "10.1.2.3"


def test_addresses_behind_the_proxy_are_counted_apart(client: Client, user: User) -> None:
    for n in range(20):
        fail(client, f"nobody-{n}@example.com", 1, HTTP_X_FORWARDED_FOR="198.51.100.1")
    assert (
        post_sign_in(client, "x@example.com", HTTP_X_FORWARDED_FOR="198.51.100.1").status_code
        == 429
    )
    assert (
        post_sign_in(client, user.email, "foobar", HTTP_X_FORWARDED_FOR="198.51.100.2").status_code
        == 302
    )


SIGN_IN = """
import json
from django.test import Client
client = Client()
data = {{"session[email]": "{email}", "session[password]": "{password}"}}
print(json.dumps([client.post("/sessions", data).status_code for _ in range({times})]))
"""


def sign_ins(email: str, password: str, times: int = 1) -> str:
    return SIGN_IN.format(email=email, password=password, times=times)


def statuses(run: Any) -> list[int]:
    return list(json.loads(finish(run).splitlines()[-1]))


def test_counters_are_shared_by_every_process(subprocess_env, fresh_database_url) -> None:
    """Attempts made by several processes at once, as gunicorn's workers and the replicas make
    them, count together: no more than the limit are checked, the others are refused."""
    env = {**subprocess_env, "DATABASE_URL": fresh_database_url}
    finish(django_command(env, "migrate", "-v0"))
    create = (
        "from sampleapp.web.users.models import User; "
        "User.objects.create_user('a@b.cd', 'A', 'foobar')"
    )
    finish(django_command(env, "shell", "-c", create))
    runs = [django_command(env, "shell", "-c", sign_ins("a@b.cd", WRONG)) for _ in range(8)]
    parallel = [status for run in runs for status in statuses(run)]
    assert set(parallel) <= {200, 429}
    checked = parallel.count(200)
    assert checked <= 5
    after = statuses(django_command(env, "shell", "-c", sign_ins("a@b.cd", WRONG, 6)))
    assert after == [200] * (5 - checked) + [429] * (1 + checked)
    right = statuses(django_command(env, "shell", "-c", sign_ins("a@b.cd", "foobar")))
    assert right == [429]


def test_password_reset_requests_for_one_account_are_limited(
    client: Client, make_user: Callable[..., User]
) -> None:
    user = make_user()
    for _ in range(5):
        assert (
            client.post("/password_resets", {"password_reset[email]": user.email}).status_code
            == 302
        )
    response = client.post("/password_resets", {"password_reset[email]": user.email})
    assert response.status_code == 429
    assert Page(response).has(
        "div.alert", "Too many password reset requests. Try again in 15 minutes."
    )
