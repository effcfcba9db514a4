"""The relationships routes of the Rails app: create and destroy only."""

from __future__ import annotations

from django.urls import path

from sampleapp.web.relationships import views
from sampleapp.web.routing import verbs

urlpatterns = [
    path("relationships", verbs(POST=views.create), name="relationships"),
    path("relationships/<int:pk>", verbs(DELETE=views.destroy), name="relationship"),
]
