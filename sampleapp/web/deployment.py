"""The ``migrate`` job of a deployment: wait for the database, then migrate and populate, once.

The thesis's ``app-job`` ran ``setup.sh`` on every node at once, so migrations and seeding raced.
Here each run waits for the database with a deadline (the ``nc -z`` loop of ``setup.sh``), then
holds a PostgreSQL session advisory lock around ``migrate`` and ``populate``: when several jobs
start together exactly one does the work, the others wait for it and then find nothing to do.
Static files are not collected here: they are baked into the image.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.core.management import call_command
from django.db import OperationalError, connection

from sampleapp.errors import StackError

MIGRATE_LOCK = 0x5A4D_4D47  # "ZMMG", distinct from populate's transaction lock


def wait_for_database(timeout: float, progress: Callable[[str], None]) -> None:
    started = time.monotonic()
    last_report = 0.0
    while True:
        try:
            connection.ensure_connection()
            return
        except OperationalError as exc:
            waited = time.monotonic() - started
            if waited > timeout:
                raise StackError(
                    f"the database did not answer within {timeout:.0f} s ({exc}): check that "
                    "the db service is running and POSTGRES_HOST/POSTGRES_USER are right"
                ) from exc
            if waited - last_report >= 5:
                progress(f"▶ Waiting for the database ({waited:.0f} s): {str(exc).strip()}")
                last_report = waited
            connection.close()
            time.sleep(0.5)


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


def run(timeout: float = 120.0, progress: Callable[[str], None] = print) -> None:
    progress("▶ Waiting for the database")
    wait_for_database(timeout, progress)
    with exclusive():
        progress("▶ Applying database migrations")
        call_command("migrate", interactive=False, verbosity=1)
        progress("▶ Loading the sample data (skipped when already there)")
        call_command("populate", verbosity=1)
    progress("✔ Database ready")
