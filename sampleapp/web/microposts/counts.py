"""The triggers that keep ``micropost_counts`` (models.MicropostCount) equal to the posts there are.

PostgreSQL runs one statement-level trigger per insert, delete or update of ``microposts``, which
reads the rows the statement changed (its transition tables) and adds their number per author: a
``bulk_create`` of 100,000 posts is one upsert of a row per author, not 100,000 updates. An
insert statement takes its authors' rows in id order, so two insert statements over the same
authors lock them in the same order. A TRUNCATE of ``microposts`` empties the counts too. SQLite
has row triggers only, run in the writing process (its ``DELETE FROM`` without a WHERE fires
them: SQLite skips its truncate shortcut for a table with triggers).

Migrations call these. Django's SQLite schema editor rebuilds a table to alter it (a copy, then a
rename), which breaks both ways: a rebuilt ``microposts`` has lost its triggers, and rebuilding
``micropost_counts`` fails while triggers name it. A migration that alters either table calls
``drop_triggers`` before and ``create_triggers`` after. On PostgreSQL, ``create_triggers`` over
existing triggers holds ``microposts`` locked (DROP TRIGGER) until the migration commits, reads
included: run it in a migration that needs it, not as upkeep.
"""

from __future__ import annotations

from typing import Any

# The triggers, by the name each has on both databases.
POSTGRESQL_TRIGGERS = {
    "micropost_counts_insert": "AFTER INSERT ON microposts REFERENCING NEW TABLE AS added",
    "micropost_counts_delete": "AFTER DELETE ON microposts REFERENCING OLD TABLE AS removed",
    "micropost_counts_update": (
        "AFTER UPDATE ON microposts REFERENCING OLD TABLE AS removed NEW TABLE AS added"
    ),
    "micropost_counts_truncate": "AFTER TRUNCATE ON microposts",
}

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
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO micropost_counts (user_id, total)
        SELECT user_id, SUM(change) FROM (
            SELECT user_id, 1 AS change FROM added
            UNION ALL SELECT user_id, -1 FROM removed
        ) moved GROUP BY user_id HAVING SUM(change) <> 0 ORDER BY user_id
        ON CONFLICT (user_id) DO UPDATE SET total = micropost_counts.total + EXCLUDED.total;
    ELSE
        DELETE FROM micropost_counts;
    END IF;
    RETURN NULL;
END
$$
"""

ADD = (
    "INSERT INTO micropost_counts (user_id, total) VALUES (NEW.user_id, 1) "
    "ON CONFLICT (user_id) DO UPDATE SET total = total + 1;"
)
SUBTRACT = "UPDATE micropost_counts SET total = total - 1 WHERE user_id = OLD.user_id;"
SQLITE_TRIGGERS = {
    "micropost_counts_insert": f"AFTER INSERT ON microposts FOR EACH ROW BEGIN {ADD} END",
    "micropost_counts_delete": f"AFTER DELETE ON microposts FOR EACH ROW BEGIN {SUBTRACT} END",
    # Django's save() of a post writes user_id too: only a change of author counts.
    "micropost_counts_update": (
        "AFTER UPDATE OF user_id ON microposts FOR EACH ROW "
        f"WHEN OLD.user_id IS NOT NEW.user_id BEGIN {SUBTRACT} {ADD} END"
    ),
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
        for name, when in POSTGRESQL_TRIGGERS.items():
            schema_editor.execute(
                f"CREATE TRIGGER {name} {when} FOR EACH STATEMENT "
                "EXECUTE FUNCTION micropost_counts_follow()"
            )
    else:
        for name, definition in SQLITE_TRIGGERS.items():
            schema_editor.execute(f"CREATE TRIGGER {name} {definition}")
    schema_editor.execute("DELETE FROM micropost_counts")
    schema_editor.execute(BACKFILL)


def drop_triggers(schema_editor: Any) -> None:
    """The triggers gone, the counts left as they are (stale from the next write on)."""
    if schema_editor.connection.vendor == "postgresql":
        for name in POSTGRESQL_TRIGGERS:
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {name} ON microposts")
        schema_editor.execute("DROP FUNCTION IF EXISTS micropost_counts_follow()")
    else:
        for name in SQLITE_TRIGGERS:
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {name}")
