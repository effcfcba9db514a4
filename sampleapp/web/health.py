"""Operations endpoints for load balancers, orchestrators and the registrar.

``/healthz`` says the process answers and touches nothing else, so a slow database never gets a
live server killed. ``/readyz`` says the server can do real work: the database answers and every
migration is applied. The registrar only announces a server whose ``/readyz`` is 200, and the
image's HEALTHCHECK uses it too.
"""

from __future__ import annotations

from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    checks: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except DatabaseError as exc:
        checks["database"] = f"unreachable: {exc}".strip()
        checks["migrations"] = "unknown"
        return JsonResponse({"status": "unavailable", "checks": checks}, status=503)
    try:
        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except DatabaseError as exc:
        checks["migrations"] = f"unknown: {exc}".strip()
        return JsonResponse({"status": "unavailable", "checks": checks}, status=503)
    if pending:
        names = ", ".join(f"{m.app_label}.{m.name}" for m, _ in pending[:5])
        checks["migrations"] = f"{len(pending)} pending ({names}): run `sampleapp migrate`"
        return JsonResponse({"status": "unavailable", "checks": checks}, status=503)
    checks["migrations"] = "ok"
    return JsonResponse({"status": "ok", "checks": checks})
