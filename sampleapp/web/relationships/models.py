"""Relationships: who follows whom, one row per pair.

The database enforces what the Rails app left to luck or to the view: a pair is unique (the
Rails unique index) and nobody follows themselves (a check constraint; the Rails app only hid the
button). The verbs that use this table (follow, unfollow, is_following) live on the User model.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone


class Relationship(models.Model):
    follower = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="relationships"
    )
    followed = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reverse_relationships"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "relationships"
        constraints = (
            models.UniqueConstraint(fields=["follower", "followed"], name="relationships_unique"),
            models.CheckConstraint(
                condition=~Q(follower=F("followed")), name="relationships_no_self_follow"
            ),
        )

    def __str__(self) -> str:
        return f"{self.follower_id} follows {self.followed_id}"
