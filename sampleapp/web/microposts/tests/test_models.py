# mypy: disable-error-code="no-untyped-def"
"""spec/models/micropost_spec.rb: a micropost needs a user and 1 to 140 characters."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Count
from django.utils import timezone

from sampleapp.web.microposts.helpers import time_ago_in_words
from sampleapp.web.microposts.models import Micropost, MicropostCount
from sampleapp.web.users.models import User

pytestmark = pytest.mark.django_db


def errors_of(post: Micropost) -> dict[str, list[str]]:
    try:
        post.full_clean()
    except ValidationError as exc:
        return exc.message_dict
    return {}


def test_micropost_with_user_and_content_is_valid(user) -> None:
    assert errors_of(Micropost(user=user, content="Lorem ipsum")) == {}


def test_micropost_without_user_is_invalid() -> None:
    assert "user" in errors_of(Micropost(content="Lorem ipsum"))


def test_blank_content_is_invalid(user) -> None:
    assert errors_of(Micropost(user=user, content=" ")) == {"content": ["Content can't be blank"]}


def test_content_of_141_characters_is_too_long(user) -> None:
    assert errors_of(Micropost(user=user, content="a" * 141)) == {
        "content": ["Content is too long (maximum is 140 characters)"]
    }
    assert errors_of(Micropost(user=user, content="a" * 140)) == {}


NOW = dt.datetime(2013, 3, 15, 12, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (10, "less than a minute"),
        (60, "1 minute"),
        (44 * 60, "44 minutes"),
        (50 * 60, "about 1 hour"),
        (5 * 3600, "about 5 hours"),
        (30 * 3600, "1 day"),
        (5 * 86400, "5 days"),
        (40 * 86400, "about 1 month"),
        (100 * 86400, "3 months"),
        (370 * 86400, "about 1 year"),
        (550 * 86400, "over 1 year"),
        (700 * 86400, "almost 2 years"),
    ],
)
def test_time_ago_in_words_reads_like_rails(seconds: int, words: str) -> None:
    assert time_ago_in_words(NOW - dt.timedelta(seconds=seconds), NOW) == words


def post_counts() -> tuple[dict[int, int], dict[int, int]]:
    """What micropost_counts says each user has, and what counting their posts gives (users with
    no post left out of both)."""
    kept = {c.pk: c.total for c in MicropostCount.objects.exclude(total=0)}
    counted = dict(Micropost.objects.values_list("user_id").annotate(n=Count("id")))
    return kept, counted


def test_the_post_counts_follow_every_way_posts_come_and_go(make_user, make_micropost) -> None:
    a, b, c = make_user(), make_user(), make_user()
    make_micropost(a)
    Micropost.objects.bulk_create([Micropost(user=u, content="bulk") for u in (a, a, b, c)])
    with connection.cursor() as cursor:  # behind the ORM's back
        cursor.execute(
            "INSERT INTO microposts (user_id, content, created_at, updated_at) "
            "VALUES (%s, 'raw', %s, %s)",
            [b.pk, timezone.now(), timezone.now()],
        )
    kept, counted = post_counts()
    assert kept == counted == {a.pk: 3, b.pk: 2, c.pk: 1}

    Micropost.objects.filter(user=a, content="bulk").first().delete()  # type: ignore[union-attr]
    Micropost.objects.filter(user=b, content="raw").update(user=c)  # moved to another author
    Micropost.objects.filter(user=c).update(content="edited")  # changes no number
    kept, counted = post_counts()
    assert kept == counted == {a.pk: 2, b.pk: 1, c.pk: 2}

    c.delete()  # its posts and its count go with it
    Micropost.objects.filter(user=b).delete()
    kept, counted = post_counts()
    assert kept == counted == {a.pk: 2}
    assert not MicropostCount.objects.filter(pk=c.pk).exists()
    users = User.objects.with_stats()
    assert [users.get(pk=u.pk).microposts_count for u in (a, b)] == [2, 0]

    make_micropost(b)
    with connection.cursor() as cursor:  # every post at once (SQLite has no TRUNCATE)
        if connection.vendor == "sqlite":
            cursor.execute("DELETE FROM microposts")
        else:  # the foreign keys' checks, deferred to the test's end, would forbid TRUNCATE
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("TRUNCATE microposts")
    kept, counted = post_counts()
    assert kept == counted == {}


def test_a_count_cannot_be_saved_from_python(make_user, make_micropost) -> None:
    user = make_user()
    make_micropost(user)
    count = MicropostCount.objects.get(pk=user.pk)
    count.total = 0
    with pytest.raises(TypeError, match="never save it"):
        count.save()
    assert MicropostCount.objects.get(pk=user.pk).total == 1
