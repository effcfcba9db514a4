"""The embedded mode behind ``make run``: SQLite, one app server, nothing else to install.

Preparing is the same idempotent steps a deployment's migrate job runs (migrate, collect static
files, populate, delete expired sessions), so a second ``make run`` starts in seconds and keeps
the data.
"""

from __future__ import annotations

from collections.abc import Callable

from django.core.management import call_command


def prepare(progress: Callable[[str], None] = print) -> None:
    progress("▶ Applying database migrations")
    call_command("migrate", interactive=False, verbosity=0)
    progress("▶ Collecting static files")
    call_command("collectstatic", interactive=False, verbosity=0)
    progress("▶ Loading the sample data (skipped when already there)")
    call_command("populate", verbosity=0)
    call_command("clearsessions")
