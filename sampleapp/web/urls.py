"""The URL map: the Rails app's paths (see docs in each app's urls.py) plus the ops endpoints."""

from __future__ import annotations

from django.urls import path

from sampleapp.web import health

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
]
