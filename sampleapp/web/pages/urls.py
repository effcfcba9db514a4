"""The static pages' routes (Rails StaticPagesController); the home page is the root."""

from __future__ import annotations

from django.urls import path

from sampleapp.web.pages import views
from sampleapp.web.routing import verbs

urlpatterns = [
    path("", verbs(GET=views.home), name="root"),
    path("help", verbs(GET=views.help), name="help"),
    path("about", verbs(GET=views.about), name="about"),
    path("contact", verbs(GET=views.contact), name="contact"),
]
