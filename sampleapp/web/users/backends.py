"""Authentication as Django's ``ModelBackend``, with the signed-in user read in one line of SQL.

Every signed-in request loads its user; the ORM's ``get(pk=...)`` cost ten times what the
database took to answer it (web/reads.py). The user is a full ``User`` (every column loaded), so
saving it behaves as before. A session signed in under Django's own backend names that one, which
is no longer listed: such a session reads as signed out, once.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend

from sampleapp.web import reads
from sampleapp.web.users.models import User


class UserBackend(ModelBackend):
    def get_user(self, user_id: Any) -> User | None:
        values = reads.user_values(user_id)
        if values is None:
            return None
        user = User.from_db("default", reads.USER_COLUMNS, values)
        return user if self.user_can_authenticate(user) else None
