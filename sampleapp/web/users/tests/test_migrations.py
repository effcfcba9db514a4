# mypy: disable-error-code="no-untyped-def"
"""The users app's data migration (issue 10, item 2): accounts made before activation existed
are active after ``0002_activation``, and accounts signed up after it are not until activated.

The real migrations run on the test database: users goes back to ``0001_initial`` (before
activation), accounts are made with that migration's historical model, and ``migrate`` takes
the app forward to its latest migration, as a deployment would. A transactional test, since
migrations change the schema and run outside the test's transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client

from sampleapp.web.conftest import SIGNUP
from sampleapp.web.users.models import User

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = ("users", "0001_initial")
SIGNED_UP = dt.datetime(2013, 5, 14, 9, 30, tzinfo=dt.UTC)


@pytest.fixture
def before_activation() -> Iterator[None]:
    """users migrated back to 0001_initial; every migration applied again afterwards, whatever
    the test did, so that the next tests find the schema they expect."""
    call_command("migrate", *BEFORE, verbosity=0)
    yield
    call_command("migrate", verbosity=0)


def test_accounts_made_before_activation_existed_are_active_after_the_migration(
    before_activation: None,
) -> None:
    with connection.cursor() as cursor:
        columns = {c.name for c in connection.introspection.get_table_description(cursor, "users")}
    assert "activated" not in columns, "users is back before activation"
    old_apps = MigrationExecutor(connection).loader.project_state(BEFORE).apps
    OldUser = old_apps.get_model("users", "User")
    for n in (1, 2):
        OldUser.objects.create(
            name=f"Early User {n}",
            email=f"early-{n}@example.com",
            password="!",
            created_at=SIGNED_UP + dt.timedelta(days=n),
        )

    call_command("migrate", "users", verbosity=0)

    early = list(User.objects.order_by("email"))
    assert [u.email for u in early] == ["early-1@example.com", "early-2@example.com"]
    assert [u.activated for u in early] == [True, True]
    assert [u.activated_at for u in early] == [u.created_at for u in early]
    assert early[0].activated_at == SIGNED_UP + dt.timedelta(days=1)
    assert User.objects.active().count() == 2

    assert Client().post("/users", SIGNUP).status_code == 302
    new = User.objects.get(email=SIGNUP["user[email]"])
    assert new.activated is False and new.activated_at is None
    assert User.objects.active().count() == 2
