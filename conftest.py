"""Test-session wiring shared by every suite: test settings, and the database to test against.

pytest-django imports the settings before any conftest is read, so this module re-reads them
once with the test environment: ``SAMPLEAPP_ENV=test`` (fast password hashing), a temporary
data directory, and, when ``SAMPLEAPP_TEST_DB=postgres``, ``DATABASE_URL`` pointing at a real
PostgreSQL server started for the session from the installed binaries (tests/support/
postgres.py). ``mailbox`` is a real SMTP server (aiosmtpd) that a test's mails are
delivered to. Settings stay the only reader of the variables; nothing else is patched. The
reload happens in ``pytest_configure``, before any database connection or test database exists.
"""

from __future__ import annotations

import importlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.postgres import PostgresServer
from tests.support.smtp import Mailbox

_server: PostgresServer | None = None
_data_dir = tempfile.TemporaryDirectory(prefix="sampleapp-test-")


def wanted_database() -> str:
    wanted = os.environ.get("SAMPLEAPP_TEST_DB", "sqlite")
    if wanted not in {"sqlite", "postgres"}:
        raise pytest.UsageError(f"SAMPLEAPP_TEST_DB must be sqlite or postgres, not {wanted!r}")
    return wanted


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    global _server
    os.environ["SAMPLEAPP_ENV"] = "test"
    os.environ["SAMPLEAPP_DATA_DIR"] = _data_dir.name
    if wanted_database() == "postgres":
        # A server of the CI's own (GitHub Actions' service container), or one started here.
        external = os.environ.get("SAMPLEAPP_TEST_DATABASE_URL")
        if external:
            os.environ["DATABASE_URL"] = external
        else:
            _server = PostgresServer().start()
            os.environ["DATABASE_URL"] = _server.url
    from django.conf import settings
    from django.utils.functional import empty

    import sampleapp.web.settings as module

    importlib.reload(module)
    settings._wrapped = empty
    # Django set itself up with the first settings and may already have read DATABASES:
    # forget that, so the first connection is made with the test database's settings.
    from asgiref.local import Local
    from django.db import connections

    connections.__dict__.pop("settings", None)
    connections._settings = None
    connections._connections = Local(connections.thread_critical)


def pytest_unconfigure(config: pytest.Config) -> None:
    if _server is not None:
        _server.stop()
    _data_dir.cleanup()


def pytest_report_header(config: pytest.Config) -> str:
    where = os.environ.get("DATABASE_URL") or "SQLite (a file in a temporary data directory)"
    return f"sampleapp test database: {where}"


@pytest.fixture(scope="session")
def test_database_vendor() -> str:
    """The Django vendor this run was asked to test against (``SAMPLEAPP_TEST_DB``)."""
    return {"sqlite": "sqlite", "postgres": "postgresql"}[wanted_database()]


@pytest.fixture
def subprocess_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """The environment for a child ``sampleapp``/``django`` process: this run's settings."""
    env = dict(os.environ)
    env["SAMPLEAPP_DATA_DIR"] = str(tmp_path)
    env["DJANGO_SETTINGS_MODULE"] = "sampleapp.web.settings"
    env.pop("DATABASE_URL", None)
    yield env


@pytest.fixture
def mailbox(settings: Any) -> Iterator[Mailbox]:
    """A real SMTP server on 127.0.0.1 that the app's mails are delivered to for this test."""
    box = Mailbox().start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", box.port
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    try:
        yield box
    finally:
        box.stop()
