# mypy: disable-error-code="no-untyped-def"
"""The suite runs against the database it was asked for (``SAMPLEAPP_TEST_DB``)."""

from __future__ import annotations

import pytest
from django.db import connection


@pytest.mark.django_db
def test_tests_run_on_the_requested_database(test_database_vendor: str) -> None:
    assert connection.vendor == test_database_vendor
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)
