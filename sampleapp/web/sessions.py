"""Sessions in the database, as Django's own ``db`` engine, read with one line of SQL.

Every signed-in request loads its session first; Django's engine builds that query through the
ORM each time, which cost ten times what the database took to answer it (web/reads.py).
Writing, expiry and ``clearsessions`` are Django's, unchanged.
"""

from __future__ import annotations

from typing import Any

from django.contrib.sessions.backends import db

from sampleapp.web import reads


class SessionStore(db.SessionStore):
    def load(self) -> dict[str, Any]:
        data = reads.session_data(self.session_key) if self.session_key else None
        if data is None:
            self._session_key = None  # as Django's engine: a new session on the next write
            return {}
        return self.decode(data)
