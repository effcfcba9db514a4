# mypy: disable-error-code="no-untyped-def"
"""spec/models/micropost_spec.rb: a micropost needs a user and 1 to 140 characters."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from sampleapp.web.microposts.helpers import time_ago_in_words
from sampleapp.web.microposts.models import Micropost

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
