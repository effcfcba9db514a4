"""The ``migrate`` job of a deployment: wait for the database, migrate, populate, clear sessions.

The thesis's ``app-job`` ran ``setup.sh`` on every node at once, so migrations and seeding raced.
Here each run waits for the database with a deadline (the ``nc -z`` loop of ``setup.sh``), then
holds a PostgreSQL session advisory lock around ``migrate`` and ``populate``: when several jobs
start together exactly one does the work, the others wait for it and then find nothing to do.
Static files are not collected here: they are baked into the image. Each run also deletes the
expired sessions (``clearsessions``), such as the short ones left by anonymous visitors.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.core.management import call_command
from django.db import OperationalError, connection

from sampleapp.errors import StackError
from sampleapp.poll import Pending, poll
from sampleapp.progress import Progress

MIGRATE_LOCK = 0x5A4D_4D47  # "ZMMG", distinct from populate's transaction lock


def wait_for_database(timeout: float, progress: Progress) -> None:
    def check() -> bool | Pending:
        try:
            connection.ensure_connection()
            return True
        except OperationalError as exc:
            connection.close()
            return Pending(str(exc).strip())

    poll(
        "Waiting for the database",
        check,
        timeout,
        progress=progress,
        interval=0.5,
        fail=lambda why: StackError(
            f"{why}: check that the db service is running and POSTGRES_HOST/POSTGRES_USER are right"
        ),
    )


@contextmanager
def exclusive() -> Iterator[None]:
    """Hold the migrate lock for the session. Only PostgreSQL needs it: deployments run on
    PostgreSQL, and SQLite is the embedded single-server mode, where one job runs at a time."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [MIGRATE_LOCK])
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [MIGRATE_LOCK])


def run(timeout: float = 120.0, progress: Progress | None = None) -> None:
    progress = progress or Progress()
    wait_for_database(timeout, progress)
    with exclusive():
        progress.step("Applying database migrations")
        call_command("migrate", interactive=False, verbosity=1)
        progress.step("Loading the sample data (skipped when already there)")
        call_command("populate", verbosity=1)
        progress.step("Deleting expired sessions")
        call_command("clearsessions")
    progress.done("Database ready")
