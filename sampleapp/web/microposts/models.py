"""Microposts: at most 140 characters, and the feed query.

There is no default ordering (the Rails ``default_scope``): every list orders explicitly, newest
first with the id as tie-break, so posts created in the same instant keep a stable order.
``feed_for(user)`` is the one place the feed's SQL is written: the user's own posts plus those of
the users they follow, as the Rails ``from_users_followed_by`` subselect. The authors are one
subquery (the followed ids, UNION the user's own id) rather than ``IN (...) OR user_id = ?``:
PostgreSQL cannot answer that OR from an index and scans every micropost, while a single IN list
is a nested loop of index scans on ``microposts.user_id``, one per author.

How many posts each user has is kept by the database itself (``MicropostCount``, below), so the
stats panel and the feed's total read a row per author instead of counting every post.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.expressions import RawSQL
from django.utils import timezone

from sampleapp.web.reads import FEED_AUTHORS

if TYPE_CHECKING:
    from sampleapp.web.users.models import User

CONTENT_MAX = 140
NEWEST_FIRST = ("-created_at", "-id")
LISTED = ("id", "user_id", "content", "created_at")
USER_LISTED = ("id", "name", "email")


def content_errors(content: str | None) -> list[str]:
    errors = []
    if not (content or "").strip():
        errors.append("Content can't be blank")
    if len(content or "") > CONTENT_MAX:
        errors.append(f"Content is too long (maximum is {CONTENT_MAX} characters)")
    return errors


class MicropostQuerySet(models.QuerySet["Micropost"]):
    def newest_first(self) -> MicropostQuerySet:
        return self.order_by(*NEWEST_FIRST)

    def for_listing(self) -> MicropostQuerySet:
        """Only the columns a list shows, with the author: fewer values to convert per row."""
        return self.select_related("user").only(*LISTED, *(f"user__{f}" for f in USER_LISTED))

    def feed_for(self, user: User) -> MicropostQuerySet:
        return self.filter(user_id__in=RawSQL(FEED_AUTHORS, (user.pk, user.pk))).newest_first()


class Micropost(models.Model):
    # No index of its own: microposts_user_newest below starts with it. With both, PostgreSQL
    # read every post of an author through this one and sorted them, for a page of 30.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="microposts",
        db_index=False,
    )
    content = models.CharField(max_length=CONTENT_MAX)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects: ClassVar[MicropostQuerySet] = MicropostQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        db_table = "microposts"
        # A user's posts newest first, in the order every list shows them (NEWEST_FIRST): the
        # profile's page and the feed's per-author reads (web/reads.py) stop after a page.
        indexes = (
            models.Index(fields=["user", "-created_at", "-id"], name="microposts_user_newest"),
        )

    def __str__(self) -> str:
        return self.content

    def clean_fields(self, exclude: Any = None) -> None:
        exclude = set(exclude or ())
        errors = {} if "content" in exclude else {"content": content_errors(self.content)}
        errors = {k: v for k, v in errors.items() if v}
        try:
            super().clean_fields(exclude=exclude | {"content"})
        except ValidationError as exc:
            errors.update(exc.message_dict)
        if errors:
            raise ValidationError(errors)


class MicropostCount(models.Model):
    """How many microposts a user has: Rails' ``counter_cache``, kept by the database.

    Triggers on ``microposts`` (counts.py, migration 0003) add and subtract as posts are
    inserted, deleted, moved or truncated, however that happens (a view, ``bulk_create``, a
    cascade, raw SQL), in the same transaction, so the number is never stale. No Python writes
    it: a model that saved a count it had read would undo a post made meanwhile. Read it, never
    save it. A user who never posted has no row; one whose posts are all gone has 0. Why: the
    feed's total counted every post of every author, 5,000 rows for the example user at 100,000
    microposts, most of the database's time for the home page; summing this table reads one row
    per author (docs/BENCHMARKS.md). A migration that alters this table or ``microposts`` must
    drop and re-create the triggers around it on SQLite (counts.py says why); the test
    ``test_the_post_counts_follow_every_way_posts_come_and_go`` fails until it does.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    total = models.IntegerField()

    class Meta:
        db_table = "micropost_counts"

    def __str__(self) -> str:
        return f"{self.total} microposts of user {self.pk}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError(
            "micropost_counts is kept by the database's triggers (microposts/counts.py): "
            "read it, never save it"
        )
