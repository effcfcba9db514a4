"""The users and sessions routes of the Rails app (spec A), with their Rails names."""

from __future__ import annotations

from django.urls import path

from sampleapp.web.routing import verbs
from sampleapp.web.users import account_activations, password_resets, views

urlpatterns = [
    path("signup", verbs(GET=views.new), name="signup"),
    path("users/new", verbs(GET=views.new), name="new_user"),
    path("users", verbs(GET=views.index, POST=views.create), name="users"),
    path(
        "users/<int:pk>",
        verbs(GET=views.show, PATCH=views.update, PUT=views.update, DELETE=views.destroy),
        name="user",
    ),
    path("users/<int:pk>/edit", verbs(GET=views.edit), name="edit_user"),
    path("users/<int:pk>/following", verbs(GET=views.following), name="following_user"),
    path("users/<int:pk>/followers", verbs(GET=views.followers), name="followers_user"),
    path("signin", verbs(GET=views.signin), name="signin"),
    path("sessions/new", verbs(GET=views.signin), name="new_session"),
    path("sessions", verbs(POST=views.create_session), name="sessions"),
    path("signout", verbs(DELETE=views.signout), name="signout"),
    path("sessions/<int:pk>", verbs(DELETE=views.signout), name="session"),
    path(
        "account_activations/<str:token>/edit",
        verbs(GET=account_activations.edit),
        name="edit_account_activation",
    ),
    path("password_resets/new", verbs(GET=password_resets.new), name="new_password_reset"),
    path("password_resets", verbs(POST=password_resets.create), name="password_resets"),
    path(
        "password_resets/<str:token>/edit",
        verbs(GET=password_resets.edit),
        name="edit_password_reset",
    ),
    path(
        "password_resets/<str:token>",
        verbs(PATCH=password_resets.update, PUT=password_resets.update),
        name="password_reset",
    ),
]
