# mypy: disable-error-code="no-untyped-def"
"""spec/models/user_spec.rb: validations, authentication, microposts, feed and following."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from django.contrib.auth import authenticate
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection
from django.utils import timezone

from sampleapp.web import reads
from sampleapp.web.microposts.models import Micropost
from sampleapp.web.relationships.models import Relationship
from sampleapp.web.users.forms import SignupForm
from sampleapp.web.users.models import User, password_errors

pytestmark = pytest.mark.django_db


def new_user(**fields: str) -> User:
    values = {"name": "Example User", "email": "user@example.com", **fields}
    user = User(**values)
    user.set_password("foobar")
    return user


def is_valid(user: User) -> bool:
    try:
        user.full_clean()
    except ValidationError:
        return False
    return True


def signup_errors(**fields: str) -> list[str]:
    values = {
        "name": "Example User",
        "email": "user@example.com",
        "password": "foobar",
        "password_confirmation": "foobar",
        **fields,
    }
    form = SignupForm({f"user[{k}]": v for k, v in values.items()})
    form.is_valid()
    return form.full_messages()


def test_a_user_with_name_email_and_password_is_valid_and_not_admin() -> None:
    user = new_user()
    assert is_valid(user)
    assert user.admin is False


def test_admin_flag_can_be_toggled_and_is_saved() -> None:
    user = new_user()
    user.save()
    user.admin = not user.admin
    user.save()
    user.refresh_from_db()
    assert user.admin is True


def test_blank_name_is_invalid() -> None:
    assert not is_valid(new_user(name=" "))


def test_blank_email_is_invalid() -> None:
    assert not is_valid(new_user(email=" "))


def test_name_of_51_characters_is_too_long() -> None:
    assert not is_valid(new_user(name="a" * 51))
    assert is_valid(new_user(name="a" * 50))


@pytest.mark.parametrize(
    "email",
    [
        "user@foo,com",
        "user_at_foo.org",
        "example.user@foo.",
        "foo@bar_baz.com",
        "foo@bar+baz.com",
        "foo@bar..com",
    ],
)
def test_malformed_email_is_invalid(email: str) -> None:
    assert not is_valid(new_user(email=email))


@pytest.mark.parametrize(
    "email", ["user@foo.COM", "A_US-ER@f.b.org", "frst.lst@foo.jp", "a+b@baz.cn"]
)
def test_wellformed_email_is_valid(email: str) -> None:
    assert is_valid(new_user(email=email))


def test_email_taken_in_another_case_is_invalid() -> None:
    new_user().save()
    duplicate = new_user(email="USER@EXAMPLE.COM")
    with pytest.raises(ValidationError) as error:
        duplicate.full_clean()
    assert error.value.message_dict["email"] == ["Email has already been taken"]


def test_email_is_saved_lower_case() -> None:
    user = new_user(email="Foo@ExAMPle.CoM")
    user.save()
    user.refresh_from_db()
    assert user.email == "foo@example.com"


def test_database_refuses_a_duplicate_email() -> None:
    new_user().save()
    with pytest.raises(IntegrityError):
        new_user(email="USER@example.com").save()


def test_blank_password_is_invalid() -> None:
    assert "Password can't be blank" in signup_errors(password=" ", password_confirmation=" ")


def test_password_not_matching_confirmation_is_invalid() -> None:
    assert signup_errors(password_confirmation="mismatch") == [
        "Password confirmation doesn't match Password"
    ]


def test_password_of_5_characters_is_too_short() -> None:
    assert signup_errors(password="a" * 5, password_confirmation="a" * 5) == [
        "Password is too short (minimum is 6 characters)"
    ]


def test_password_rules_on_update_ask_for_a_long_enough_password_but_not_presence() -> None:
    assert password_errors("", "", creating=False) == {
        "password": ["Password is too short (minimum is 6 characters)"]
    }


def test_authenticate_returns_the_user_for_the_right_password_only() -> None:
    user = new_user()
    user.save()
    user.activate()
    found = User.objects.get(email=user.email)
    assert authenticate(username="user@example.com", password="foobar") == found
    assert authenticate(username="user@example.com", password="invalid") is None
    assert found.check_password("invalid") is False


def test_authenticate_refuses_an_account_not_activated_yet() -> None:
    new_user().save()
    assert authenticate(username="user@example.com", password="foobar") is None


def test_active_users_are_the_activated_ones() -> None:
    new_user().save()
    active = new_user(email="active@example.com")
    active.save()
    active.activate()
    assert list(User.objects.active()) == [active]


def test_password_is_stored_hashed() -> None:
    user = new_user()
    user.save()
    assert "foobar" not in user.password
    assert user.check_password("foobar")


def test_microposts_come_newest_first() -> None:
    user = new_user()
    user.save()
    older = Micropost.objects.create(
        user=user, content="older", created_at=timezone.now() - dt.timedelta(days=1)
    )
    newer = Micropost.objects.create(
        user=user, content="newer", created_at=timezone.now() - dt.timedelta(hours=1)
    )
    assert list(user.microposts.newest_first()) == [newer, older]


def test_destroying_a_user_destroys_their_microposts_and_relationships() -> None:
    user, other = new_user(), new_user(email="other@example.com")
    user.save()
    other.save()
    post = Micropost.objects.create(user=user, content="Lorem ipsum")
    user.follow(other)
    other.follow(user)
    user.delete()
    assert not Micropost.objects.filter(pk=post.pk).exists()
    assert Relationship.objects.count() == 0


class TestStatus:
    @pytest.fixture
    def setup(self, make_user, make_micropost):
        user, followed, stranger = make_user(), make_user(), make_user()
        own = make_micropost(user, "own")
        unfollowed_post = make_micropost(stranger, "stranger")
        user.follow(followed)
        followed_posts = [make_micropost(followed, f"Lorem ipsum {i}") for i in range(3)]
        return user, own, unfollowed_post, followed_posts

    def test_feed_has_own_posts(self, setup) -> None:
        user, own, _, _ = setup
        assert own in user.feed()

    def test_feed_has_every_post_of_followed_users(self, setup) -> None:
        user, _, _, followed_posts = setup
        assert set(followed_posts) <= set(user.feed())

    def test_feed_excludes_posts_of_unfollowed_users(self, setup) -> None:
        user, _, unfollowed_post, _ = setup
        assert unfollowed_post not in user.feed()

    def test_feed_is_newest_first(self, setup) -> None:
        user = setup[0]
        times = [(p.created_at, p.pk) for p in user.feed()]
        assert times == sorted(times, reverse=True)

    def test_unfollow_removes_posts_from_feed(self, setup) -> None:
        user, _, _, followed_posts = setup
        user.unfollow(followed_posts[0].user)
        assert not set(followed_posts) & set(user.feed())


def feed_plan(user: User) -> str:
    """The database's plan for the first page of ``user``'s feed, as the home page reads it."""
    if connection.vendor == "postgresql":
        sql, params = f"{reads.FEED_PAGE_POSTGRESQL} LIMIT 30", [user.pk, user.pk, 30]
    else:
        sql, params = f"{reads.FEED_PAGE} LIMIT 30", [user.pk, user.pk]
    explain = "EXPLAIN" if connection.vendor == "postgresql" else "EXPLAIN QUERY PLAN"
    with connection.cursor() as cursor:
        cursor.execute(f"{explain} {sql}", params)
        return "\n".join(str(row[-1]) for row in cursor.fetchall())


def test_the_feeds_first_page_is_read_through_an_index_among_100000_posts() -> None:
    authors = User.objects.bulk_create(
        User(name=f"Author {n}", email=f"author{n}@example.com", password="!") for n in range(100)
    )
    user, followed = authors[0], authors[1:6]
    for other in followed:
        user.follow(other)
    start = timezone.now()
    Micropost.objects.bulk_create(
        (
            Micropost(
                user=authors[n % 100],
                content="Lorem ipsum",
                created_at=start - dt.timedelta(seconds=n),
            )
            for n in range(100_000)
        ),
        batch_size=5000,
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    plan = feed_plan(user)
    print(f"\nFeed plan ({connection.vendor}, 100,000 microposts):\n{plan}")
    full_scan = "Seq Scan on microposts" if connection.vendor == "postgresql" else "SCAN microposts"
    assert full_scan not in plan
    authors_ids = [user.pk, *(u.pk for u in followed)]
    expected = Micropost.objects.filter(user_id__in=authors_ids).newest_first()[:30]
    assert list(user.feed()[:30]) == list(expected)
    newest = Micropost.objects.filter(user_id__in=authors_ids).newest_first()
    listed = reads.feed(user.pk)  # what the home page reads, a page at a time
    assert listed.count() == newest.count() == 6 * 1000
    for first in (0, 30, 5970):
        page = listed[first : first + 30]
        assert [p.id for p in page] == [p.pk for p in newest[first : first + 30]]


def test_following_a_user_shows_in_both_directions(make_user) -> None:
    user, other = make_user(), make_user()
    user.follow(other)
    assert user.is_following(other)
    assert other in user.followed_users
    assert user in other.followers
    assert not other.is_following(user)


def test_unfollowing_a_user_removes_them(make_user) -> None:
    user, other = make_user(), make_user()
    user.follow(other)
    user.unfollow(other)
    assert not user.is_following(other)
    assert other not in user.followed_users
    assert user not in other.followers


def test_following_twice_keeps_one_relationship(make_user) -> None:
    user, other = make_user(), make_user()
    user.follow(other)
    user.follow(other)
    assert Relationship.objects.filter(follower=user).count() == 1


def test_with_stats_counts_posts_following_and_followers(make_user, make_micropost) -> None:
    user, a, b = make_user(), make_user(), make_user()
    make_micropost(user)
    make_micropost(user)
    user.follow(a)
    a.follow(user)
    b.follow(user)
    stats = User.objects.with_stats().get(pk=user.pk)
    assert (stats.microposts_count, stats.following_count, stats.followers_count) == (2, 1, 2)
    lonely = User.objects.with_stats().get(pk=b.pk)
    assert (lonely.microposts_count, lonely.following_count, lonely.followers_count) == (0, 1, 0)


def test_gravatar_id_is_the_md5_of_the_lower_case_email(make_user) -> None:
    user = make_user(email="MHartl@example.COM")
    assert user.gravatar_id == hashlib.md5(b"mhartl@example.com").hexdigest()


def test_email_over_255_characters_is_too_long() -> None:
    user = new_user(email="a" * 244 + "@example.com")  # 256 characters
    with pytest.raises(ValidationError) as raised:
        user.full_clean()
    assert raised.value.message_dict["email"] == ["Email is too long (maximum is 255 characters)"]
    assert is_valid(new_user(email="a" * 243 + "@example.com"))
