"""The triggers that keep ``micropost_counts`` (models.MicropostCount) equal to the posts there are.

PostgreSQL runs one statement-level trigger per insert, delete or update of ``microposts``, which
reads the rows the statement changed (its transition tables) and adds their number per author: a
``bulk_create`` of 100,000 posts is one upsert of a row per author, not 100,000 updates. An
insert takes its authors' rows in id order, so two inserts over the same authors (two populates,
two requests of one user) lock them in the same order and cannot deadlock. SQLite has row
triggers only, run in the writing process.

Migrations call these; a migration that makes Django rebuild ``microposts`` on SQLite (which
drops its triggers) must call ``create_triggers`` again.
"""

from __future__ import annotations

from typing import Any

EVENTS = ("INSERT", "DELETE", "UPDATE")

# Each statement's posts per author, +1 for a post there now, -1 for one gone (an UPDATE has both:
# moving a post to another author; any other update nets to nothing and writes nothing).
POSTGRESQL_FUNCTION = """
CREATE OR REPLACE FUNCTION micropost_counts_follow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO micropost_counts (user_id, total)
        SELECT user_id, COUNT(*) FROM added GROUP BY user_id ORDER BY user_id
        ON CONFLICT (user_id) DO UPDATE SET total = micropost_counts.total + EXCLUDED.total;
    ELSIF TG_OP = 'DELETE' THEN
        UPDATE micropost_counts c SET total = c.total - gone.n
        FROM (SELECT user_id, COUNT(*) AS n FROM removed GROUP BY user_id) gone
        WHERE c.user_id = gone.user_id;
    ELSE
        INSERT INTO micropost_counts (user_id, total)
        SELECT user_id, SUM(change) FROM (
            SELECT user_id, 1 AS change FROM added
            UNION ALL SELECT user_id, -1 FROM removed
        ) moved GROUP BY user_id HAVING SUM(change) <> 0 ORDER BY user_id
        ON CONFLICT (user_id) DO UPDATE SET total = micropost_counts.total + EXCLUDED.total;
    END IF;
    RETURN NULL;
END
$$
"""
POSTGRESQL_TABLES = {
    "INSERT": "NEW TABLE AS added",
    "DELETE": "OLD TABLE AS removed",
    "UPDATE": "OLD TABLE AS removed NEW TABLE AS added",
}

ADD = (
    "INSERT INTO micropost_counts (user_id, total) VALUES (NEW.user_id, 1) "
    "ON CONFLICT (user_id) DO UPDATE SET total = total + 1;"
)
SUBTRACT = "UPDATE micropost_counts SET total = total - 1 WHERE user_id = OLD.user_id;"
SQLITE_BODIES = {
    "INSERT": ADD,
    "DELETE": SUBTRACT,
    "UPDATE OF user_id": f"{SUBTRACT} {ADD}",
}

BACKFILL = (
    "INSERT INTO micropost_counts (user_id, total) "
    "SELECT user_id, COUNT(*) FROM microposts GROUP BY user_id"
)


def create_triggers(schema_editor: Any) -> None:
    """The triggers, and the counts of the posts already there (a migration's transaction:
    PostgreSQL's CREATE TRIGGER holds off other writers of ``microposts`` until it commits)."""
    drop_triggers(schema_editor)
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRESQL_FUNCTION)
        for event in EVENTS:
            schema_editor.execute(
                f"CREATE TRIGGER micropost_counts_{event.lower()} AFTER {event} ON microposts "
                f"REFERENCING {POSTGRESQL_TABLES[event]} FOR EACH STATEMENT "
                "EXECUTE FUNCTION micropost_counts_follow()"
            )
    else:
        for event, body in SQLITE_BODIES.items():
            name = event.split()[0].lower()
            schema_editor.execute(
                f"CREATE TRIGGER micropost_counts_{name} AFTER {event} ON microposts "
                f"FOR EACH ROW BEGIN {body} END"
            )
    schema_editor.execute("DELETE FROM micropost_counts")
    schema_editor.execute(BACKFILL)


def drop_triggers(schema_editor: Any) -> None:
    postgresql = schema_editor.connection.vendor == "postgresql"
    for event in EVENTS:
        on_table = " ON microposts" if postgresql else ""  # SQLite's names are the schema's
        schema_editor.execute(f"DROP TRIGGER IF EXISTS micropost_counts_{event.lower()}{on_table}")
    if postgresql:
        schema_editor.execute("DROP FUNCTION IF EXISTS micropost_counts_follow()")
