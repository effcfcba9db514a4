"""Operations endpoints for load balancers, orchestrators and the registrar.

``/healthz`` says the process answers and touches nothing else, so a slow database never gets a
live server killed. ``/readyz`` says the server can do real work: the database answers and every
migration is applied. The registrar only announces a server whose ``/readyz`` is 200, and the
image's HEALTHCHECK uses it too, every few seconds: so the migration graph (files on disk) is
loaded once per process and each call costs one query on ``django_migrations``. Both answer
HEAD as GET (a probe may ask for the status only). The public answer says "unreachable" and no
more: the database's host, port and driver message go to the log, not to whoever asks.
"""

from __future__ import annotations

import logging
from functools import cache

from django.db import DatabaseError, connection
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_safe

log = logging.getLogger(__name__)


@cache
def known_migrations() -> frozenset[tuple[str, str]]:
    """Every migration of the installed apps, read from disk once."""
    return frozenset(MigrationLoader(None, ignore_no_migrations=True).graph.nodes)


@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@require_safe
def readyz(request: HttpRequest) -> JsonResponse:
    checks: dict[str, str] = {}
    try:
        applied = set(MigrationRecorder(connection).applied_migrations())
        checks["database"] = "ok"
    except DatabaseError as exc:  # applied_migrations() is empty, not an error, before migrate
        log.warning("readyz: database unreachable: %s", str(exc).strip())
        checks["database"] = "unreachable"
        checks["migrations"] = "unknown"
        return JsonResponse({"status": "unavailable", "checks": checks}, status=503)
    pending = sorted(known_migrations() - applied)
    if pending:
        names = ", ".join(f"{app}.{name}" for app, name in pending[:5])
        checks["migrations"] = f"{len(pending)} pending ({names}): run `sampleapp migrate`"
        return JsonResponse({"status": "unavailable", "checks": checks}, status=503)
    checks["migrations"] = "ok"
    return JsonResponse({"status": "ok", "checks": checks})
