"""A pytest plugin loaded before anything else (``-p`` in pyproject): a clean environment.

pytest-django imports the Django settings before any conftest runs, and the settings read the
environment. A person who exported a deployment's variables (POSTGRES_USER for ``sampleapp up``,
a DATABASE_URL, SAMPLEAPP_ENV=production) must still get the test configuration, so those are
removed here, at import time, before pytest-django looks. The root conftest then chooses the
test database.
"""

from __future__ import annotations

import os

DEPLOYMENT_VARIABLES = (
    "DATABASE_URL",
    "POSTGRES_USER",
    "POSTGRES_PASSWORD",
    "POSTGRES_PASSWORD_FILE",
    "POSTGRES_HOST",
    "POSTGRES_PORT",
    "POSTGRES_DB",
    "SECRET_KEY",
    "SECRET_KEY_FILE",
    "STATIC_ROOT",
    "ALLOWED_HOSTS",
    "DEBUG",
    "ETCD_ENDPOINTS",
)

for name in DEPLOYMENT_VARIABLES:
    os.environ.pop(name, None)
os.environ["SAMPLEAPP_ENV"] = "test"
