"""The microposts routes of the Rails app: create and destroy only."""

from __future__ import annotations

from django.urls import path

from sampleapp.web.microposts import views
from sampleapp.web.routing import verbs

urlpatterns = [
    path("microposts", verbs(POST=views.create), name="microposts"),
    path("microposts/<int:pk>", verbs(DELETE=views.destroy), name="micropost"),
]
