"""The URL map: the Rails app's paths (spec A, one urls.py per app) plus the ops endpoints."""

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
