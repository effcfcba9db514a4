# mypy: disable-error-code="no-untyped-def"
"""The populate command: the tutorial's data, with the admin first; twice adds nothing; so do
several runs at once (spec F.2 and the port's decisions)."""

from __future__ import annotations

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.db.models import Count

from sampleapp.web.conftest import django_command, finish, shell_json
from sampleapp.web.microposts.models import Micropost
from sampleapp.web.relationships.models import Relationship
from sampleapp.web.users.management.commands import populate
from sampleapp.web.users.models import User

COUNTS = (
    "import json; from sampleapp.web.users.models import User; "
    "from sampleapp.web.microposts.models import Micropost; "
    "from sampleapp.web.relationships.models import Relationship; "
    "print(json.dumps([User.objects.count(), Micropost.objects.count(), "
    "Relationship.objects.count(), list(User.objects.filter(admin=True).values_list('id', "
    "flat=True))]))"
)


@pytest.mark.django_db
def test_populate_creates_the_tutorial_sample_data() -> None:
    call_command("populate", verbosity=0)
    users = list(User.objects.order_by("id"))
    admin = users[0]
    assert len(users) == 100
    assert (admin.name, admin.email, admin.admin) == (
        "Example User",
        "example@railstutorial.org",
        True,
    )
    assert [u.email for u in users[1:4]] == [f"example-{n}@railstutorial.org" for n in (1, 2, 3)]
    assert not any(u.admin for u in users[1:])
    assert [Micropost.objects.filter(user=u).count() for u in users[:7]] == [50] * 6 + [0]
    assert list(admin.followed_users.order_by("id")) == users[2:51]
    assert list(admin.followers.order_by("id")) == users[3:41]
    assert Relationship.objects.count() == 49 + 38


@pytest.mark.django_db
def test_populate_data_signs_in_with_the_demo_logins() -> None:
    call_command("populate", verbosity=0)
    assert authenticate(username="example@railstutorial.org", password="foobar") is not None
    assert authenticate(username="example-99@railstutorial.org", password="password") is not None


@pytest.mark.django_db
def test_populate_users_are_all_activated() -> None:
    call_command("populate", verbosity=0)
    assert User.objects.active().count() == User.objects.count() == 100


@pytest.mark.django_db
def test_populate_twice_adds_nothing() -> None:
    call_command("populate", verbosity=0)
    before = (User.objects.count(), Micropost.objects.count(), Relationship.objects.count())
    call_command("populate", verbosity=0)
    after = (User.objects.count(), Micropost.objects.count(), Relationship.objects.count())
    assert before == after == (100, 300, 87)


@pytest.mark.django_db
def test_populate_feed_of_the_example_user_has_posts_of_followed_users() -> None:
    call_command("populate", verbosity=0)
    admin = User.objects.get(email="example@railstutorial.org")
    authors = set(admin.feed().values_list("user_id", flat=True))
    ids = list(User.objects.order_by("id").values_list("id", flat=True))
    assert authors == {ids[0], *ids[2:6]}  # user 2 posts, but user 1 does not follow them
    assert admin.feed().count() == 250


def test_populate_names_are_the_same_on_every_database(subprocess_env, fresh_database_url):
    env = {**subprocess_env, "DATABASE_URL": fresh_database_url}
    finish(django_command(env, "migrate", "-v0"))
    finish(django_command(env, "populate"))
    names = shell_json(
        env,
        "import json; from sampleapp.web.users.models import User; "
        "print(json.dumps(list(User.objects.order_by('id')"
        ".values_list('name', flat=True)[:3])))",
    )
    from faker import Faker

    from sampleapp.web.users.management.commands.populate import SEED

    fake = Faker()
    fake.seed_instance(SEED)
    assert names == ["Example User", fake.name(), fake.name()]


def test_concurrent_populates_create_one_data_set(subprocess_env, fresh_database_url) -> None:
    env = {**subprocess_env, "DATABASE_URL": fresh_database_url}
    finish(django_command(env, "migrate", "-v0"))
    runs = [django_command(env, "populate") for _ in range(3)]
    outputs = [finish(run) for run in runs]
    assert sum("Created 100 users" in out for out in outputs) == 1
    assert shell_json(env, COUNTS)[:3] == [100, 300, 87]
    assert len(shell_json(env, COUNTS)[3]) == 1


@pytest.mark.django_db
def test_populate_scale_grows_the_data_once_keeping_the_sample(monkeypatch) -> None:
    monkeypatch.setattr(populate, "SCALE_USERS", 130)
    monkeypatch.setattr(populate, "SCALE_POSTS_PER_USER", 60)
    call_command("populate", "--scale", verbosity=0)
    assert User.objects.count() == User.objects.active().count() == 130
    assert Micropost.objects.count() == 130 * 60
    assert set(
        Micropost.objects.values_list("user_id").annotate(n=Count("id")).values_list("n", flat=True)
    ) == {60}
    admin = User.objects.get(email="example@railstutorial.org")
    assert admin.followed_users.count() == 49  # the sample's graph is untouched
    assert Relationship.objects.count() == 87 + 30 * populate.SCALE_FOLLOWS
    before = (User.objects.count(), Micropost.objects.count(), Relationship.objects.count())
    call_command("populate", "--scale", verbosity=0)
    after = (User.objects.count(), Micropost.objects.count(), Relationship.objects.count())
    assert before == after
