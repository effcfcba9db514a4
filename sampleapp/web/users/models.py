"""Users: the account, the Rails model's validation rules, and the verbs of the follow graph.

Email is the username and is stored lower-case (the Rails ``before_save``), so uniqueness is
case-insensitive with a plain unique index. Validation returns the Rails full messages ("Name
can't be blank") because the forms show them verbatim, and a blank field reports every rule it
breaks, as Rails does. The graph's rows live in ``relationships.Relationship``; the verbs that
read and write them (follow, unfollow, is_following, feed) live here, as on the Rails User.
Counts for the stats panel come from ``with_stats()``: one query, whatever is shown.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, ClassVar, cast

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.expressions import RawSQL
from django.utils import timezone
from django.utils.functional import cached_property

from sampleapp.web.microposts.models import Micropost
from sampleapp.web.reads import STATS_SQL, gravatar_hash
from sampleapp.web.relationships.models import Relationship

if TYPE_CHECKING:
    from sampleapp.web.microposts.models import MicropostQuerySet

# Ruby's \w is ASCII-only and its \z is Python's \Z (spec B.2).
EMAIL_RE = re.compile(r"\A[\w+\-.]+@[a-z\d\-]+(\.[a-z]+)*\.[a-z]+\Z", re.IGNORECASE | re.ASCII)
NAME_MAX = 50
EMAIL_MAX = 255  # the column's length: PostgreSQL refuses more, SQLite would store anything
EMAIL_TAKEN = "Email has already been taken"
PASSWORD_MIN = 6


def name_errors(name: str | None) -> list[str]:
    errors = []
    if not (name or "").strip():
        errors.append("Name can't be blank")
    if len(name or "") > NAME_MAX:
        errors.append(f"Name is too long (maximum is {NAME_MAX} characters)")
    return errors


def email_errors(email: str | None, exclude_pk: int | None = None) -> list[str]:
    email = email or ""
    if not email.strip():
        return ["Email can't be blank", "Email is invalid"]
    errors = [] if EMAIL_RE.match(email) else ["Email is invalid"]
    if len(email) > EMAIL_MAX:
        errors.append(f"Email is too long (maximum is {EMAIL_MAX} characters)")
    if not errors and email_taken(email, exclude_pk):
        errors.append(EMAIL_TAKEN)
    return errors


def email_taken(email: str, exclude_pk: int | None = None) -> bool:
    """Someone else has this email (case-insensitive: emails are stored lower-case)."""
    return bool(User.objects.filter(email=email.lower()).exclude(pk=exclude_pk).exists())


def password_errors(
    password: str, confirmation: str | None, *, creating: bool
) -> dict[str, list[str]]:
    """has_secure_password plus ``length: {minimum: 6}``: a blank password counts as none."""
    password = password if password.strip() else ""
    errors: dict[str, list[str]] = {"password": [], "password_confirmation": []}
    if creating and not password:
        errors["password"].append("Password can't be blank")
    if len(password) < PASSWORD_MIN:
        errors["password"].append(f"Password is too short (minimum is {PASSWORD_MIN} characters)")
    if password and confirmation is not None and confirmation != password:
        errors["password_confirmation"].append("Password confirmation doesn't match Password")
    return {field: messages for field, messages in errors.items() if messages}


class UserQuerySet(models.QuerySet["User"]):
    def with_stats(self) -> UserQuerySet:
        """Adds microposts_count, following_count and followers_count in the same query."""
        return self.annotate(**{name: RawSQL(sql, ()) for name, sql in STATS_SQL.items()})

    def active(self) -> UserQuerySet:
        """Accounts whose owner followed the activation link: the only ones listed or shown."""
        return self.filter(activated=True)

    def for_listing(self) -> UserQuerySet:
        """Only the columns a list of users shows (name, gravatar, admin's delete link)."""
        return self.only("id", "name", "email", "admin")

    def followed_by(self, user: User) -> UserQuerySet:
        return self.filter(reverse_relationships__follower=user)

    def following(self, user: User) -> UserQuerySet:
        return self.filter(relationships__followed=user)


class UserManager(BaseUserManager.from_queryset(UserQuerySet)):  # type: ignore[misc]
    def create_user(self, email: str, name: str, password: str, **fields: Any) -> User:
        user: User = self.model(email=email, name=name, **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def get_by_natural_key(self, username: str | None) -> User:
        return self.get(email=(username or "").lower())  # type: ignore[no-any-return]


class User(AbstractBaseUser):
    name = models.CharField(max_length=NAME_MAX)
    email = models.CharField(max_length=EMAIL_MAX, unique=True)
    admin = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    activated = models.BooleanField(default=False)
    activated_at = models.DateTimeField(null=True, blank=True)

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = ["name"]

    objects: ClassVar[UserManager] = UserManager()

    class Meta:
        db_table = "users"

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.email = self.email.lower()
        super().save(*args, **kwargs)

    def clean_fields(self, exclude: Any = None) -> None:
        exclude = set(exclude or ())
        errors = {"name": name_errors(self.name), "email": email_errors(self.email, self.pk)}
        errors = {k: v for k, v in errors.items() if v and k not in exclude}
        try:
            super().clean_fields(exclude=exclude | {"name", "email", "password"})
        except ValidationError as exc:
            errors.update(exc.message_dict)
        if errors:
            raise ValidationError(errors)

    @property
    def is_active(self) -> bool:  # type: ignore[override]
        """Django's own check (sign-in, and every request's session): an account not activated
        yet signs in nowhere."""
        return self.activated

    def activate(self) -> None:
        self.activated = True
        self.activated_at = timezone.now()
        self.save(update_fields=["activated", "activated_at", "updated_at"])

    def reset_password(self, password: str) -> None:
        """A new password from a reset link; the link proved the mailbox, so it also activates."""
        self.set_password(password)
        self.activated = True
        self.activated_at = self.activated_at or timezone.now()
        self.save(update_fields=["password", "activated", "activated_at", "updated_at"])

    def validate_unique(self, exclude: Any = None) -> None:
        super().validate_unique(exclude={*(exclude or ()), "email"})  # checked in clean_fields

    @cached_property
    def gravatar_id(self) -> str:
        return gravatar_hash(self.email)

    @property
    def followed_users(self) -> UserQuerySet:
        return cast(UserQuerySet, User.objects.followed_by(self))

    @property
    def followers(self) -> UserQuerySet:
        return cast(UserQuerySet, User.objects.following(self))

    def follow(self, other: User) -> Relationship:
        relationship, _ = Relationship.objects.get_or_create(follower=self, followed=other)
        return relationship

    def unfollow(self, other: User) -> None:
        Relationship.objects.filter(follower=self, followed=other).delete()

    def is_following(self, other: User) -> bool:
        return Relationship.objects.filter(follower=self, followed=other).exists()

    def relationship_with(self, other_id: int) -> Relationship | None:
        """The row saying this user follows ``other_id`` (its id is the unfollow form's URL)."""
        return Relationship.objects.filter(follower=self, followed_id=other_id).first()

    def feed(self) -> MicropostQuerySet:
        return Micropost.objects.feed_for(self)


class Attempt(models.Model):
    """One attempt counted by the throttle of sign-in and sign-up (``users/throttle.py``): ``key``
    names the action and the account or client address (hashed), ``at`` is when it was made."""

    key = models.CharField(max_length=100)
    at = models.DateTimeField()

    class Meta:
        db_table = "throttle_attempts"
        indexes = (
            models.Index(fields=["key", "at"], name="throttle_attempts_key_at"),
            models.Index(fields=["at"], name="throttle_attempts_at"),
        )
