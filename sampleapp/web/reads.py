"""The reads every page view makes, as SQL written once: the session, the signed-in user, a
user's counts, and a page of the feed, of a user's microposts or of the users.

Why not querysets here: building and compiling them cost more than anything else on these pages.
The profile in docs/BENCHMARKS.md measured about 1.5 ms of Python to build and compile the feed's
count, and as much for its page, against 0.1-0.3 ms for the database to answer either. The SQL
below is what the ORM sent, written out; the querysets stay for everything else (writes, the
follow lists, the tests' own checks). Listed rows are tuples with what the templates show, not
model instances. Both databases take the same SQL; SQLite's datetimes come back naive (UTC).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any, NamedTuple

from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.utils import timezone

# The authors of a user's feed: whom they follow, and themselves. One IN subquery: PostgreSQL
# answers it with an index scan per author (microposts/models.py says why not an OR).
FEED_AUTHORS = "SELECT followed_id FROM relationships WHERE follower_id = %s UNION ALL SELECT %s"
NEWEST_FIRST = "ORDER BY m.created_at DESC, m.id DESC"
# Totals come from micropost_counts, kept by the database (microposts/models.py, MicropostCount):
# a row per author, where counting read every post (5,000 for the example user at 100,000 posts).
# A user who never posted has no row: SUM of nothing is NULL, read as 0.
FEED_COUNT = (
    f"SELECT COALESCE(SUM(total), 0) FROM micropost_counts WHERE user_id IN ({FEED_AUTHORS})"
)
FEED_PAGE = (
    "SELECT m.id, m.user_id, m.content, m.created_at, u.name, u.email FROM microposts m "
    f"JOIN users u ON u.id = m.user_id WHERE m.user_id IN ({FEED_AUTHORS}) {NEWEST_FIRST}"
)
# PostgreSQL reads only each author's newest posts down to the page's end (their index,
# microposts_user_newest, in order), then sorts those: the query above reads every post of every
# author, 5,000 of them for the example user at 100,000 microposts. SQLite has no LATERAL.
FEED_PAGE_POSTGRESQL = (
    "SELECT m.id, m.user_id, m.content, m.created_at, u.name, u.email "
    f"FROM ({FEED_AUTHORS}) AS a (id) JOIN users u ON u.id = a.id CROSS JOIN LATERAL "
    "(SELECT id, user_id, content, created_at FROM microposts WHERE user_id = a.id "
    "ORDER BY created_at DESC, id DESC LIMIT %s) m " + NEWEST_FIRST
)
POSTS_PAGE = (
    "SELECT m.id, m.user_id, m.content, m.created_at, u.name, u.email FROM microposts m "
    f"JOIN users u ON u.id = m.user_id WHERE m.user_id = %s {NEWEST_FIRST}"
)
USERS_COUNT = "SELECT COUNT(*) FROM users WHERE activated"
USERS_PAGE = "SELECT id, name, email, admin FROM users WHERE activated ORDER BY id"
# The stats panel's three counts, as correlated subqueries of the query that reads the user.
STATS_SQL = {
    "microposts_count": (
        "SELECT COALESCE(SUM(total), 0) FROM micropost_counts "
        "WHERE micropost_counts.user_id = users.id"
    ),
    "following_count": (
        "SELECT COUNT(*) FROM relationships WHERE relationships.follower_id = users.id"
    ),
    "followers_count": (
        "SELECT COUNT(*) FROM relationships WHERE relationships.followed_id = users.id"
    ),
}
PROFILE_COLUMNS = "users.id, users.name, users.email, users.admin, " + ", ".join(
    f"({sql})" for sql in STATS_SQL.values()
)
PROFILE = f"SELECT {PROFILE_COLUMNS} FROM users WHERE users.id = %s AND users.activated"
# The home page's aside and the total of its feed, one round trip (every parameter is the user).
HOME = (
    f"SELECT {PROFILE_COLUMNS}, ({FEED_COUNT}) FROM users WHERE users.id = %s AND users.activated"
)
SESSION = "SELECT session_data FROM django_session WHERE session_key = %s AND expire_date > %s"
# Every column of users, in the model's order (User.from_db needs them all: a user with deferred
# fields would save only those it loaded).
USER_COLUMNS = (
    "id",
    "password",
    "last_login",
    "name",
    "email",
    "admin",
    "created_at",
    "updated_at",
    "activated",
    "activated_at",
)
USER = f"SELECT {', '.join(USER_COLUMNS)} FROM users WHERE id = %s"


def rows(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """The rows ``sql`` answers, read on the driver's own connection (Django's open one).

    Django's cursor wrapper cost 0.07 ms a query here, twice what SQLite took to answer the
    feed's count: a new cursor, the wrappers, and on SQLite a regex to turn ``%s`` into ``?``.
    PostgreSQL's rows come in binary: Django loads a text ``timestamptz`` in Python, which was
    half the CPU of reading a page of the feed; psycopg's binary loaders are C, and give the same
    values. The driver's errors still become Django's (``wrap_database_errors``: a lost database
    stays a 503). Where queries are being recorded (``DEBUG``, a test counting them) or wrapped,
    Django's cursor is used, so that nothing read here goes unseen.
    """
    db = connections[DEFAULT_DB_ALIAS]  # once: each ``connection.x`` looks it up again
    if db.queries_logged or db.execute_wrappers:
        with db.cursor() as cursor:
            cursor.execute(sql, params)
            return list(cursor.fetchall())
    db.ensure_connection()
    with db.wrap_database_errors:
        if db.vendor == "sqlite":
            return list(db.connection.execute(_qmarks(sql), params).fetchall())
        return list(db.connection.execute(sql, params, binary=True).fetchall())


@lru_cache(maxsize=64)
def _qmarks(sql: str) -> str:
    """``sql`` with sqlite3's placeholders: ``?`` for ``%s``."""
    return sql.replace("%s", "?")


def aware(moment: dt.datetime | None) -> dt.datetime | None:
    """A datetime from the database in UTC, whichever database (SQLite's come back naive)."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=dt.UTC)


@lru_cache(maxsize=4096)
def gravatar_hash(email: str) -> str:
    """Gravatar's id of an address: the md5 of it lower-cased (kept: a page repeats authors)."""
    return hashlib.md5(email.lower().encode(), usedforsecurity=False).hexdigest()


class Author(NamedTuple):
    """A listed user: what a list of users or a micropost's byline shows."""

    id: int
    name: str
    email: str
    admin: bool = False

    @property
    def pk(self) -> int:
        return self.id

    @property
    def gravatar_id(self) -> str:
        return gravatar_hash(self.email)


class Post(NamedTuple):
    id: int
    user_id: int
    content: str
    created_at: dt.datetime
    user: Author

    @property
    def pk(self) -> int:
        return self.id


class Profile(NamedTuple):
    """A user with the stats panel's counts: the profile's and the home page's aside."""

    id: int
    name: str
    email: str
    admin: bool
    microposts_count: int
    following_count: int
    followers_count: int

    @property
    def pk(self) -> int:
        return self.id

    @property
    def gravatar_id(self) -> str:
        return gravatar_hash(self.email)


class Listing:
    """What ``Paginator`` reads, one query each: ``count()``, and a slice for the page shown."""

    def __init__(
        self,
        count_sql: str | int,
        page_sql: str,
        params: Sequence[Any],
        row: Callable[[tuple[Any, ...]], Any],
        *,
        until: bool = False,
    ) -> None:
        """``until``: ``page_sql`` takes the page's end (the rows to read before the page's last)
        as one more parameter, after ``params``."""
        self.count_sql, self.page_sql, self.params, self.row = count_sql, page_sql, params, row
        self.until = until

    def count(self) -> int:
        """The total: its query's answer, or the number the caller already knew."""
        if isinstance(self.count_sql, int):
            return self.count_sql
        return int(rows(self.count_sql, self.params)[0][0])

    def __getitem__(self, index: slice) -> list[Any]:
        start, stop = index.start or 0, index.stop
        sql = f"{self.page_sql} LIMIT %s OFFSET %s"
        params = [*self.params, *([stop] if self.until else []), stop - start, start]
        return [self.row(r) for r in rows(sql, params)]


def _post(row: tuple[Any, ...]) -> Post:
    id, user_id, content, created_at, name, email = row
    return Post(id, user_id, content, aware(created_at), Author(user_id, name, email))  # type: ignore[arg-type]


def feed(user_id: int, total: int | None = None) -> Listing:
    """The microposts of ``user_id`` and of everyone they follow, newest first (``total``: their
    number, when the caller read it already)."""
    count = FEED_COUNT if total is None else total
    if connection.vendor == "postgresql":
        return Listing(count, FEED_PAGE_POSTGRESQL, [user_id, user_id], _post, until=True)
    return Listing(count, FEED_PAGE, [user_id, user_id], _post)


def posts_of(profile: Profile) -> Listing:
    """A user's own microposts, newest first (their count is known from the profile)."""
    return Listing(profile.microposts_count, POSTS_PAGE, [profile.id], _post)


def active_users() -> Listing:
    """Every activated account, oldest first (the users index)."""
    return Listing(USERS_COUNT, USERS_PAGE, [], lambda r: Author(r[0], r[1], r[2], bool(r[3])))


def profile(user_id: int) -> Profile | None:
    """An activated user with their three counts, or None."""
    found = rows(PROFILE, [user_id])
    return _profile(found[0]) if found else None


def home(user_id: int) -> tuple[Profile, Listing] | None:
    """The home page's reads for a signed-in user: their profile, and their feed whose total came
    in the same query. None if the user is gone or not activated."""
    found = rows(HOME, [user_id] * 3)
    if not found:
        return None
    *profile_row, total = found[0]
    return _profile(profile_row), feed(user_id, total)


def _profile(row: Sequence[Any]) -> Profile:
    id, name, email, admin, *counts = row
    return Profile(id, name, email, bool(admin), *counts)


def session_data(session_key: str | None) -> str | None:
    """The encoded data of a session that has not expired."""
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    found = rows(SESSION, [session_key, now])
    return str(found[0][0]) if found else None


def user_values(user_id: int) -> list[Any] | None:
    """Every column of a user, in USER_COLUMNS' order, datetimes in UTC."""
    found = rows(USER, [user_id])
    if not found:
        return None
    return [aware(v) if isinstance(v, dt.datetime) else v for v in found[0]]
