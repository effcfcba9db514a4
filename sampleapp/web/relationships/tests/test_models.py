# mypy: disable-error-code="no-untyped-def"
"""spec/models/relationship_spec.rb, plus the database rules the original lacked."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from sampleapp.web.relationships.models import Relationship

pytestmark = pytest.mark.django_db


def test_relationship_knows_its_follower_and_followed(make_user) -> None:
    follower, followed = make_user(), make_user()
    relationship = Relationship(follower=follower, followed=followed)
    relationship.full_clean()
    assert relationship.follower == follower
    assert relationship.followed == followed


def test_relationship_without_followed_is_invalid(make_user) -> None:
    with pytest.raises(ValidationError) as error:
        Relationship(follower=make_user()).full_clean()
    assert "followed" in error.value.message_dict


def test_relationship_without_follower_is_invalid(make_user) -> None:
    with pytest.raises(ValidationError) as error:
        Relationship(followed=make_user()).full_clean()
    assert "follower" in error.value.message_dict


def test_database_refuses_a_duplicate_relationship(make_user) -> None:
    follower, followed = make_user(), make_user()
    Relationship.objects.create(follower=follower, followed=followed)
    with pytest.raises(IntegrityError), transaction.atomic():
        Relationship.objects.create(follower=follower, followed=followed)


def test_nobody_can_follow_themselves(make_user) -> None:
    user = make_user()
    with pytest.raises(IntegrityError), transaction.atomic():
        Relationship.objects.create(follower=user, followed=user)
    with pytest.raises(ValidationError):
        Relationship(follower=user, followed=user).full_clean()
