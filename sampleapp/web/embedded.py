"""The embedded mode behind ``make run``: SQLite, one app server, nothing else to install.

Preparing is the same idempotent steps a deployment's migrate job runs (migrate, collect static
files, populate, delete expired sessions), so a second ``make run`` starts in seconds and keeps
the data. Mails (account activation, password reset) are printed to this console unless EMAIL_URL
says otherwise, and the start says so: the activation link of a new account is found there.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.core.management import call_command


def prepare(progress: Callable[[str], None] = print) -> None:
    progress("▶ Applying database migrations")
    call_command("migrate", interactive=False, verbosity=0)
    progress("▶ Collecting static files")
    call_command("collectstatic", interactive=False, verbosity=0)
    progress("▶ Loading the sample data (skipped when already there)")
    call_command("populate", verbosity=0)
    call_command("clearsessions")
    if settings.EMAIL_BACKEND.endswith("console.EmailBackend"):
        progress("▶ Mails are printed here, not sent (set EMAIL_URL to send them)")
