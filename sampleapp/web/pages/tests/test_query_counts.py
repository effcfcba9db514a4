# mypy: disable-error-code="no-untyped-def"
"""The feed and the users index cost the same number of queries on any page (spec issue #9).

Measured on the populated sample data, signed in as the example user, through the whole stack
(session, user, page): a per-row query would make page 1 (30 rows) and the last page differ.
"""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from sampleapp.web.users.models import User

pytestmark = pytest.mark.django_db


@pytest.fixture
def example_client(client: Client) -> Client:
    call_command("populate", verbosity=0)
    client.force_login(User.objects.get(email="example@railstutorial.org"))
    return client


def queries_for(client: Client, path: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(path).status_code == 200
    return len(captured.captured_queries)


def test_home_feed_query_count_does_not_depend_on_the_page(example_client: Client) -> None:
    counts = {page: queries_for(example_client, f"/?page={page}") for page in (1, 2, 11)}
    assert counts == {1: 4, 2: 4, 11: 4}


def test_users_index_query_count_does_not_depend_on_the_page(example_client: Client) -> None:
    counts = {page: queries_for(example_client, f"/users?page={page}") for page in (1, 2, 4)}
    assert counts == {1: 4, 2: 4, 4: 4}


def test_profile_query_count_does_not_depend_on_the_page(example_client: Client) -> None:
    second = User.objects.order_by("id")[1]  # 50 microposts, followed by nobody
    path = f"/users/{second.pk}?page="
    counts = {page: queries_for(example_client, f"{path}{page}") for page in (1, 2)}
    assert counts == {1: 5, 2: 5}
