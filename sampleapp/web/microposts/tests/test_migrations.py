# mypy: disable-error-code="no-untyped-def"
"""The counts migration (``0003_micropost_counts``) on a database that already has posts: each
author's count is their posts, and posts made afterwards are counted.

The real migrations run on the test database, as in users/tests/test_migrations.py: microposts
goes back to 0002 (no counts, no triggers), posts are made, and ``migrate`` takes it forward.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.management import call_command
from django.db import connection

from sampleapp.web.microposts.models import Micropost, MicropostCount

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def before_counts() -> Iterator[None]:
    """microposts migrated back to 0002; every migration applied again afterwards."""
    call_command("migrate", "microposts", "0002", verbosity=0)
    yield
    call_command("migrate", verbosity=0)


def test_posts_made_before_the_counts_existed_are_counted_by_the_migration(
    before_counts: None, make_user
) -> None:
    assert "micropost_counts" not in connection.introspection.table_names()
    a, b = make_user(), make_user()
    Micropost.objects.bulk_create([Micropost(user=u, content="early") for u in (a, a, a, b)])

    call_command("migrate", "microposts", verbosity=0)

    assert {c.pk: c.total for c in MicropostCount.objects.all()} == {a.pk: 3, b.pk: 1}
    Micropost.objects.create(user=b, content="later")
    assert MicropostCount.objects.get(pk=b.pk).total == 2
