"""The URL map: the Rails app's paths (spec A, one urls.py per app) plus the ops endpoints.

``handler500`` answers a database outage with 503 and the "unavailable" page (see unavailable.py).
"""

from __future__ import annotations

from django.urls import include, path

from sampleapp.web import health

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("", include("sampleapp.web.pages.urls")),
    path("", include("sampleapp.web.users.urls")),
    path("", include("sampleapp.web.microposts.urls")),
    path("", include("sampleapp.web.relationships.urls")),
]

handler500 = "sampleapp.web.unavailable.server_error"
